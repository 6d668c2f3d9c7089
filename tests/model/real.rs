//! Building the real effect of a program, with everything it logs and the semaphores,
//! queues, pools and rate limiters it makes kept aside for the checks after the run
//! (`effect::Pool` is built in `real_pool`, `effect::RateLimiter` in `real_limiter`).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use effect::prelude::*;
use effect::{Queue, QueueShutdown, Semaphore};

use crate::prog::{Fin, FinKind, Pipe, Prog, Sched};
use crate::real_limiter::LimiterCheck;
use crate::real_pool::PoolCheck;
use crate::reference::Ev;

/// Every panic a program makes on purpose starts with this; the panic hook keeps them quiet.
pub const PANIC: &str = "model panic";

/// How many holders a pool's semaphore had at once.
#[derive(Default)]
pub struct Gauge {
    now: AtomicUsize,
    pub max: AtomicUsize,
}

/// A pool's semaphore, its permits, and its gauge.
pub struct SemaphoreCheck {
    pub semaphore: Semaphore,
    pub permits: usize,
    pub gauge: Arc<Gauge>,
}

/// A pipe and the queue it runs on.
pub type PipeQueue = (Pipe, Queue<u32>);

/// A model delay (ms) as a real duration: microseconds on the live clock.
pub fn duration(live: bool, d: u64) -> Duration {
    if live {
        Duration::from_micros(d)
    } else {
        ms(d)
    }
}

/// What a program touches: the log, the clock that times it, and the pools, pipes and rate
/// limiters it made.
#[derive(Clone)]
pub struct World {
    pub log: Arc<Mutex<Vec<(u64, Ev)>>>,
    pub clock: TestClock,
    /// Delays run on the live clock, as microseconds instead of milliseconds.
    pub live: bool,
    pub pools: Arc<Mutex<Vec<SemaphoreCheck>>>,
    pub pipes: Arc<Mutex<Vec<PipeQueue>>>,
    pub item_pools: Arc<Mutex<Vec<Arc<PoolCheck>>>>,
    pub limiters: Arc<Mutex<Vec<Arc<LimiterCheck>>>>,
}

impl World {
    pub fn new(clock: TestClock, live: bool) -> World {
        World {
            log: Arc::default(),
            clock,
            live,
            pools: Arc::default(),
            pipes: Arc::default(),
            item_pools: Arc::default(),
            limiters: Arc::default(),
        }
    }

    /// A model delay as a real duration.
    pub fn dur(&self, d: u64) -> Duration {
        duration(self.live, d)
    }

    pub fn sleep<E: Send + 'static>(&self, d: u64) -> Effect<(), E> {
        sleep(self.dur(d))
    }

    /// Logs `event` now, from plain code.
    pub fn record(&self, event: Ev) {
        let at = self.clock.current_time().as_millis() as u64;
        self.log.lock().unwrap().push((at, event));
    }

    /// An effect that logs `event` when it runs.
    fn note<E: Send + 'static>(&self, event: Ev) -> Effect<(), E> {
        let world = self.clone();
        sync(move || world.record(event))
    }

    /// The finalizer `fin` with id `id`: logs its start, sleeps, logs its end, then ends as
    /// its kind says. (`PanicOnBuild` is made where the finalizer is built: see `guard`.)
    fn finalizer(&self, id: i64, fin: Fin) -> Effect<(), Never> {
        let world = self.clone();
        let ran = self
            .note::<Never>(Ev::Fin(id))
            .flat_map(move |()| world.sleep(fin.delay))
            .flat_map({
                let world = self.clone();
                move |()| world.note(Ev::FinEnd(id))
            });
        match fin.kind {
            FinKind::Ok | FinKind::PanicOnBuild => ran,
            FinKind::Die => ran.flat_map(|()| die("model finalizer defect")),
            FinKind::OrDie => ran.flat_map(move |()| fail::<(), i64>(id).or_die()),
            FinKind::Panic => ran.flat_map(|()| sync(|| panic!("{PANIC} in a finalizer"))),
        }
    }

    /// The finalizer to run, built when it is needed (a `PanicOnBuild` one panics right then).
    fn guard(&self, id: i64, fin: Fin) -> impl FnOnce() -> Effect<(), Never> + Send + 'static {
        let world = self.clone();
        move || {
            if fin.kind == FinKind::PanicOnBuild {
                world.record(Ev::Fin(id));
                panic!("{PANIC} while building a finalizer");
            }
            world.finalizer(id, fin)
        }
    }

    pub fn build(&self, prog: &Prog) -> Effect<i64, i64> {
        match prog {
            Prog::Value(d, v) => self.sleep(*d).as_value(*v),
            Prog::Fail(d, e) => {
                let e = *e;
                self.sleep(*d).flat_map(move |()| fail(e))
            }
            Prog::Die(d) => self.sleep(*d).flat_map(|()| die("model defect")),
            Prog::Panic(d) => self
                .sleep(*d)
                .flat_map(|()| sync(|| panic!("{PANIC} in a program"))),
            Prog::Seq(a, b) => {
                let b = self.build(b);
                self.build(a).flat_map(move |_| b)
            }
            Prog::ZipPar(ps) => zip_par(self.build_all(ps)).map(|vs| vs.iter().sum()),
            Prog::Race(ps) => race(self.build_all(ps)),
            Prog::RaceFirst(ps) => race_first(self.build_all(ps)),
            Prog::Timeout(d, p) => self.build(p).timeout(self.dur(*d)).map(|v| v.unwrap_or(-1)),
            Prog::CatchAll(p, h) => {
                let h = self.build(h);
                self.build(p).catch_all(move |_| h)
            }
            Prog::Resource(id, fin, p) => {
                let (id, release) = (*id, self.guard(*id, *fin));
                let inner = self.build(p);
                scoped(
                    acquire_release(self.note(Ev::Acquire(id)).as_value(id), move |_, _| {
                        release()
                    })
                    .flat_map(move |_| inner),
                )
            }
            Prog::Ensuring(p, id, fin) => {
                let finalizer = self.guard(*id, *fin);
                self.build(p).on_exit(move |_| finalizer())
            }
            Prog::Uninterruptible(p) => self.build(p).uninterruptible(),
            Prog::ForkJoin(p) => self.build(p).fork::<i64>().flat_map(|f| f.join()),
            Prog::ForkInterrupt(p, d) => {
                let pause = self.sleep(*d);
                self.build(p).fork::<i64>().flat_map(move |fiber| {
                    pause
                        .flat_map(move |()| fiber.interrupt::<i64>())
                        .as_value(0)
                })
            }
            Prog::ForEachPar(items, parallelism) => {
                let (items, world) = (Arc::new(items.clone()), self.clone());
                let count = items.len();
                for_each_par(0..count, move |i| world.build(&items[i]), *parallelism)
                    .map(|vs| vs.iter().sum())
            }
            Prog::Daemon(p, true) => self.build(p).fork_daemon::<i64>().flat_map(|f| f.join()),
            Prog::Daemon(p, false) => self.build(p).fork_daemon::<i64>().as_value(0),
            Prog::Retry(id, sched, attempts) => {
                retry(self.attempts(*id, attempts), self.schedule(sched))
            }
            Prog::Repeat(id, sched, attempts) => {
                repeat(self.attempts(*id, attempts), self.schedule(sched))
            }
            Prog::Pool(permits, items) => self.pool(*permits, items),
            Prog::Pipe(pipe) => self.pipe(*pipe),
            Prog::ItemPool(spec, holders) => self.item_pool(*spec, holders),
            Prog::Limited(id, limit, asks) => self.limited(*id, *limit, asks),
        }
    }

    fn build_all(&self, ps: &[Prog]) -> Vec<Effect<i64, i64>> {
        ps.iter().map(|p| self.build(p)).collect()
    }

    /// The `make` of a retry/repeat: attempt k logs its start and runs the k-th program.
    fn attempts(&self, id: i64, attempts: &[Prog]) -> impl Fn() -> Effect<i64, i64> + Send + use<> {
        let (attempts, world) = (Arc::new(attempts.to_vec()), self.clone());
        let made = AtomicUsize::new(0);
        move || {
            let k = made.fetch_add(1, Ordering::SeqCst);
            match attempts.get(k) {
                Some(attempt) => {
                    let attempt = world.build(attempt);
                    world.note(Ev::Attempt(id, k)).flat_map(move |()| attempt)
                }
                None => die("the schedule allowed more attempts than the model"),
            }
        }
    }

    fn schedule<I: 'static>(&self, sched: &Sched) -> Schedule<I> {
        let spaced = |d: u64, n: u64| Schedule::spaced(self.dur(d)) & Schedule::recurs(n);
        match *sched {
            Sched::Recurs(n) => Schedule::recurs(n),
            Sched::Spaced(d, n) => spaced(d, n),
            Sched::Exponential(b, n) => Schedule::exponential(self.dur(b)) & Schedule::recurs(n),
            Sched::Fibonacci(b, n) => Schedule::fibonacci(self.dur(b)) & Schedule::recurs(n),
            Sched::AndThen(a, d, n) => Schedule::recurs(a).and_then(spaced(d, n)),
            Sched::Either(d1, n1, d2, n2) => spaced(d1, n1) | spaced(d2, n2),
            Sched::UpTo(d, limit, n) => spaced(d, n).up_to(self.dur(limit)),
        }
    }

    /// Item k asks for a permit k ms after the start (so the order is the model's), and
    /// counts itself among the holders while it has one.
    fn pool(&self, permits: usize, items: &[Prog]) -> Effect<i64, i64> {
        let (semaphore, gauge) = (Semaphore::new(permits), Arc::new(Gauge::default()));
        self.pools.lock().unwrap().push(SemaphoreCheck {
            semaphore: semaphore.clone(),
            permits,
            gauge: gauge.clone(),
        });
        let branches = items.iter().enumerate().map(|(k, item)| {
            let (item, gauge, semaphore) = (self.build(item), gauge.clone(), semaphore.clone());
            self.sleep(k as u64).flat_map(move |()| {
                let released = gauge.clone();
                let held = sync(move || {
                    let now = gauge.now.fetch_add(1, Ordering::SeqCst) + 1;
                    gauge.max.fetch_max(now, Ordering::SeqCst);
                });
                semaphore.with_permit(held.flat_map(move |()| {
                    item.ensuring(sync(move || {
                        released.now.fetch_sub(1, Ordering::SeqCst);
                    }))
                }))
            })
        });
        zip_par(branches.collect::<Vec<_>>()).map(|vs| vs.iter().sum())
    }

    fn pipe(&self, pipe: Pipe) -> Effect<i64, i64> {
        let queue = Queue::bounded(pipe.capacity);
        self.pipes.lock().unwrap().push((pipe, queue.clone()));
        let mut producer: Effect<(), i64> = succeed(());
        for item in 1..=pipe.items {
            let (pause, queue, world) = (self.sleep(pipe.produce), queue.clone(), self.clone());
            producer = producer.flat_map(move |()| {
                pause
                    .flat_map(move |()| queue.offer::<QueueShutdown>(item).map_err(|_| -998))
                    .flat_map(move |_offered| world.note(Ev::Offer(pipe.id, item)))
            });
        }
        let consumer = self.consume(pipe, queue, pipe.items, 0);
        zip_par((producer, consumer)).map(|((), sum)| sum)
    }

    /// Takes `left` more items, each logged, then a pause; the value is the sum taken.
    fn consume(&self, pipe: Pipe, queue: Queue<u32>, left: u32, sum: i64) -> Effect<i64, i64> {
        if left == 0 {
            return succeed(sum);
        }
        let world = self.clone();
        queue
            .take::<QueueShutdown>()
            .map_err(|_| -999)
            .flat_map(move |item| {
                let rest = world.consume(pipe, queue, left - 1, sum + item as i64);
                world
                    .note(Ev::Take(pipe.id, item))
                    .flat_map(move |()| world.sleep(pipe.consume))
                    .flat_map(move |()| rest)
            })
    }
}
