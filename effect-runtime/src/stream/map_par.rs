//! `map_par` and `map_par_unordered`: a value's effect runs on a fiber of the stream while
//! the upstream goes on, up to `n` at once, in parallel across the runtime's worker threads.
//!
//! # Who runs what
//!
//! The fibers are daemons owned by the stream's scope ([`Workers`]), like every concurrent
//! operator's. On a current-thread runtime (or with `n == 1`) nothing can run in parallel,
//! and one producer fiber does everything: it pulls the upstream and polls up to `n` effects
//! in place, as `race` polls its branches ([`map_in_place`]): no task per value. On a
//! multi-thread runtime a **dispatcher** fiber pulls the upstream, calls `f` and queues each
//! effect as a job, and up to `n` **slot** fibers (tokio tasks of their own, started as jobs
//! wait and none is free) each run one job at a time, so effects that keep their thread busy
//! still run side by side on every worker. Every one of them is a producer of the channel to
//! the consumer; the last to end sends the end, and a failure of any fails the stream fast
//! (see [`Channel::fail_fast`]).
//!
//! # Bounds
//!
//! The channel's credits (`n`) count the values in flight: a credit is taken by the producer
//! before it lets a value in (and before each pull, so it holds no pulled value it could not
//! let in, beyond the rest of one chunk), and given back by the consumer as it emits the
//! value's result. So jobs queued + effects running + results waiting are at most `n`, and
//! the job queue (room for `n`) never refuses a job.
//!
//! # Never block a thread with a task in its LIFO slot
//!
//! A task woken by a tokio worker goes to that worker's LIFO slot, which no other worker can
//! steal; if the waking task then runs an effect that blocks the thread (CPU-bound work, a
//! `std::sync::Barrier`), the woken task waits for it, and if that task is the one that lets
//! the effect's partner in (the consumer giving back credits), they never meet. So the
//! dispatcher never runs an effect (it wakes slot fibers, then waits, giving its thread
//! back), and a slot fiber that sent a result (waking the consumer) reschedules itself before
//! its next job, so the thread runs the woken task first and the slot fiber can be stolen.

use std::collections::VecDeque;
use std::future::poll_fn;
use std::pin::pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::Poll;

use tokio::sync::Notify;

use super::channel::{Channel, Signal, Workers};
use super::concurrent::acquire;
use super::{Pull, Step, Stream};
use crate::kernel::cause::{Cause, Never};
use crate::kernel::context::Context;
use crate::kernel::effect::Effect;
use crate::kernel::fiber::handoff::current_fiber;
use crate::kernel::fiber::region::{Placement, Region};
use crate::ops::scope::{scoped, Scope};

impl<A: Send + 'static, E: Send + 'static> Stream<A, E> {
    /// Each value mapped by the effect `f` builds, running up to `n` of those effects at
    /// once, in parallel on a multi-thread runtime, and emitting the results **in input
    /// order**.
    ///
    /// At most `n` values are in flight: being mapped, or mapped and waiting for an earlier
    /// one to be emitted. So a slow effect at the head holds back the ones after it, and a
    /// slow consumer holds back the effects and the upstream (pulled only when a value may
    /// start, beyond the rest of one upstream chunk). `f` is called on a fiber of the
    /// stream, in order, as values start.
    ///
    /// **Parallel.** On a multi-thread runtime the effects run on up to `n` fibers of their
    /// own (started as values wait, each running one effect at a time), so effects that keep
    /// their thread busy run side by side on every worker thread. On a current-thread runtime,
    /// or with `n == 1`, they all run on one fiber, polled in place (no task per value).
    ///
    /// Reads ahead: at most `n` values (in flight or waiting to be emitted), beyond the rest
    /// of one upstream chunk. Exits: the upstream's end ends the stream once every value is
    /// mapped and emitted; an early stop (`take`) or an interruption interrupts every effect
    /// still running and closes the upstream's scope before the run goes on.
    ///
    /// Fail-fast: the first effect to fail (or die, or a panic in `f`, or a failure of the
    /// upstream) fails the stream at once, even if earlier values are still being mapped;
    /// every effect still running is interrupted, and its finalizers have run, before it
    /// does.
    ///
    /// # Panics
    /// When `n` is 0: no effect could ever run.
    ///
    /// ```
    /// use effect::{ms, run_blocking, sleep, stream::Stream};
    ///
    /// // The first value takes longest, yet comes out first.
    /// let delays = Stream::<u64, String>::from_iter([30, 10, 20])
    ///     .map_par(3, |delay| sleep(ms(delay)).as_value(delay));
    /// assert_eq!(run_blocking(delays.run_collect()), Ok(vec![30, 10, 20]));
    /// ```
    pub fn map_par<B, F>(self, n: usize, f: F) -> Stream<B, E>
    where
        B: Send + 'static,
        F: FnMut(A) -> Effect<B, E> + Send + 'static,
    {
        assert!(n > 0, "Stream::map_par: n must be at least 1");
        self.map_par_with(
            n,
            f,
            |index, value| (index, value),
            |channel, workers| in_order(channel, workers, Reorder::default()),
        )
    }

    /// Like [`map_par`](Stream::map_par), but emits each result as soon as its effect
    /// finishes: **in completion order**. At most `n` values are in flight (being mapped, or
    /// mapped and not yet emitted); a slow effect holds back nothing but its own slot.
    ///
    /// # Panics
    /// When `n` is 0.
    ///
    /// ```
    /// use effect::{ms, sleep, stream::Stream, Clock, Context, Runtime, TestClock};
    ///
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let clock = TestClock::new();
    /// let runtime = Runtime::new(Context::new().with(Clock::from(clock.clone())));
    /// let delays = Stream::<u64, String>::from_iter([30, 10, 20])
    ///     .map_par_unordered(3, |delay| sleep(ms(delay)).as_value(delay));
    /// let run = runtime.fork(delays.run_collect());
    /// clock.advance(ms(30)).await;
    /// assert_eq!(runtime.run(run.join()).await, Ok(vec![10, 20, 30]));
    /// # }
    /// ```
    pub fn map_par_unordered<B, F>(self, n: usize, f: F) -> Stream<B, E>
    where
        B: Send + 'static,
        F: FnMut(A) -> Effect<B, E> + Send + 'static,
    {
        assert!(n > 0, "Stream::map_par_unordered: n must be at least 1");
        self.map_par_with(n, f, |_, value| value, Channel::receive)
    }

    /// `map_par` and `map_par_unordered`: the effects of up to `n` values run at once (see
    /// the module docs for on which fibers), each result, tagged by `tag` with the value's
    /// index, goes to the channel, and `consume` makes the pull that emits them.
    fn map_par_with<B, T, F>(
        self,
        n: usize,
        f: F,
        tag: fn(u64, B) -> T,
        consume: fn(Channel<T, E>, Workers) -> Pull<B, E>,
    ) -> Stream<B, E>
    where
        B: Send + 'static,
        T: Send + 'static,
        F: FnMut(A) -> Effect<B, E> + Send + 'static,
    {
        Stream::from_open(move |scope| {
            let workers = Workers::new(&scope);
            // The one producer; slot fibers the dispatcher starts count themselves in.
            let channel: Channel<T, E> = Channel::with_value_bound(n, 1);
            let producer = if on_one_fiber(n) {
                map_in_place(self, f, tag, channel.clone())
            } else {
                dispatch_jobs(self, n, f, tag, channel.clone(), workers.clone())
            };
            workers.start(vec![producer], move |workers| consume(channel, workers))
        })
    }
}

/// Whether `map_par` runs on one fiber: on a current-thread runtime (or outside any) nothing
/// could run in parallel anyway, and with `n == 1` nothing runs at once.
fn on_one_fiber(n: usize) -> bool {
    n == 1
        || tokio::runtime::Handle::try_current()
            .map_or(true, |runtime| runtime.metrics().num_workers() == 1)
}

/// What the dispatcher hands a slot fiber: a value's index and the effect `f` made of it.
type Job<B, E> = (u64, Effect<B, E>);

/// The jobs waiting for a slot fiber, shared by the dispatcher and the slot fibers.
///
/// Invariant (under the lock): when a job is queued, there are at least as many slot fibers
/// that will take a job without finishing one first (the ones `waiting`, and the ones
/// started and not yet running) as jobs queued: the dispatcher starts a slot fiber whenever
/// its job would make `jobs` outnumber `waiting`, and a slot fiber stops counting as waiting
/// before it looks for a job, never after it has taken one. So no queued job waits for a
/// running one to end, as long as fewer than `n` slot fibers run.
struct Slots<B, E> {
    state: Mutex<SlotsState<B, E>>,
    /// Wakes a waiting slot fiber: once per job queued, and all at the end.
    job_queued: Notify,
}

struct SlotsState<B, E> {
    jobs: VecDeque<Job<B, E>>,
    /// Slot fibers waiting for a job.
    waiting: usize,
    /// The dispatcher has ended: no job will come after those queued.
    ended: bool,
}

impl<B, E> Slots<B, E> {
    fn lock(&self) -> MutexGuard<'_, SlotsState<B, E>> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Queues `job`; whether a slot fiber must be started for it.
    fn queue(&self, job: Job<B, E>) -> bool {
        let mut state = self.lock();
        state.jobs.push_back(job);
        let short = state.jobs.len() > state.waiting;
        drop(state);
        self.job_queued.notify_one();
        short
    }

    fn end(&self) {
        self.lock().ended = true;
        self.job_queued.notify_waiters();
    }

    /// Whether a job is queued.
    fn has_jobs(&self) -> bool {
        !self.lock().jobs.is_empty()
    }

    /// The next job, waiting for one; `None` once the dispatcher has ended and every job is
    /// taken. Cancel-safe: a job is taken only in the poll that returns it.
    async fn take(&self) -> Option<Job<B, E>> {
        loop {
            let mut queued = pin!(self.job_queued.notified());
            queued.as_mut().enable();
            {
                let mut state = self.lock();
                if let Some(job) = state.jobs.pop_front() {
                    return Some(job);
                }
                if state.ended {
                    return None;
                }
                state.waiting += 1;
            }
            // Counted as waiting until woken (or dropped, interrupted): uncounted before it
            // looks again, so at worst the dispatcher starts a slot fiber it did not need.
            let _waiting = Waiting(self);
            queued.await;
        }
    }
}

/// A slot fiber counted in [`SlotsState::waiting`]; uncounts it when dropped.
struct Waiting<'a, B, E>(&'a Slots<B, E>);

impl<B, E> Drop for Waiting<'_, B, E> {
    fn drop(&mut self) {
        self.0.lock().waiting -= 1;
    }
}

/// `map_par`'s dispatcher on a multi-thread runtime, a producer of `channel`: pulls
/// `upstream` (in a scope of its own, closed as it ends), and for each value, once it holds a
/// credit for it, calls `f` and queues the effect as a job, starting one more slot fiber
/// (up to `n`, each owned by `workers` and a producer of `channel`) when more jobs wait than
/// slot fibers do. It ends the job queue when it ends, however it ends (the slot fibers then
/// finish the jobs queued and end), and never runs an effect itself (see the module docs).
fn dispatch_jobs<A, B, T, E, F>(
    upstream: Stream<A, E>,
    n: usize,
    mut f: F,
    tag: fn(u64, B) -> T,
    channel: Channel<T, E>,
    workers: Workers,
) -> Effect<(), Never>
where
    A: Send + 'static,
    B: Send + 'static,
    T: Send + 'static,
    E: Send + 'static,
    F: FnMut(A) -> Effect<B, E> + Send + 'static,
{
    let credits = channel.credits().expect("a value-bound channel").clone();
    let slots = Arc::new(Slots {
        state: Mutex::new(SlotsState {
            jobs: VecDeque::new(),
            waiting: 0,
            ended: false,
        }),
        job_queued: Notify::new(),
    });
    let (shared, out) = (slots.clone(), channel.clone());
    let run = scoped(Effect::new(move |ctx: Context| async move {
        let mut pull = upstream.open(ctx.get::<Scope>());
        let (mut index, mut started) = (0u64, 0usize);
        loop {
            // A credit before each pull: dropped (given back) if the upstream has ended.
            let mut credit = Some(acquire(&credits).await);
            match pull.await? {
                Step::Emit(chunk, rest) => {
                    for value in chunk {
                        let credit = match credit.take() {
                            Some(credit) => credit,
                            None => acquire(&credits).await,
                        };
                        // The credit stays taken until the consumer emits the result.
                        credit.forget();
                        let job = (index, f(value));
                        index += 1;
                        if shared.queue(job) && started < n {
                            // Counted before it starts, so the channel cannot end before it
                            // does.
                            out.add_producer();
                            let slot = run_slot(shared.clone(), tag, out.clone());
                            workers.fork(slot).await.map_err(Cause::widen)?;
                            started += 1;
                        }
                    }
                    pull = *rest;
                }
                Step::End => return Ok(()),
            }
        }
    }));
    let run = Effect::from_future(async move {
        let exit = run.await;
        // No more jobs: the slot fibers finish those queued, then end.
        slots.end();
        exit
    });
    channel.finishing(run, None)
}

/// A slot fiber of `map_par`, a producer of `channel`: takes a job, runs its effect, sends
/// the result tagged by `tag`, and again, until the job queue has ended. A job's failure (or
/// defect) ends it with that failure; the stream's scope interrupting it interrupts the job.
fn run_slot<B, T, E>(
    slots: Arc<Slots<B, E>>,
    tag: fn(u64, B) -> T,
    channel: Channel<T, E>,
) -> Effect<(), Never>
where
    B: Send + 'static,
    T: Send + 'static,
    E: Send + 'static,
{
    let out = channel.clone();
    let run = Effect::from_future(async move {
        loop {
            let Some((at, work)) = slots.take().await else {
                return Ok(());
            };
            let value = work.await?;
            out.send_chunk(vec![tag(at, value)]).await;
            // Sending may have woken the consumer into this thread's LIFO slot, where no
            // other worker can take it: the next job could block this thread (CPU-bound
            // work does) while the consumer is what would let the job's partner in. With no
            // job waiting, waiting for one gives the thread back anyway.
            if slots.has_jobs() {
                reschedule().await;
            }
        }
    });
    channel.finishing(run, None)
}

/// Gives the worker thread back for one turn: the fiber wakes itself and returns `Pending`,
/// which tokio reschedules as a yield, at the back of the thread's run queue where other
/// workers may steal it, while the thread first runs the task in its LIFO slot.
/// (`tokio::task::yield_now` would instead defer the wake-up to the thread's next park,
/// which a thread blocked by the next job never reaches.)
async fn reschedule() {
    let mut yielded = false;
    poll_fn(|cx| {
        if yielded {
            return Poll::Ready(());
        }
        yielded = true;
        cx.waker().wake_by_ref();
        Poll::Pending
    })
    .await
}

/// What a member of `map_par`'s region gives: the upstream's next step, or the result of
/// the value with this index.
enum Done<A, B, E> {
    Pulled(Step<A, E>),
    Mapped(u64, B),
}

/// `map_par`'s producer on one fiber: the fiber that pulls `upstream` and maps its values.
///
/// Invariants: a value starts only with a credit of the channel (its value bound, `n`), kept
/// until the consumer emits its result, so at most `n` values are being mapped or waiting to
/// be emitted. The upstream is pulled only when no pulled value waits for a credit and a
/// credit is free, as a member of the same region, so mapping goes on while it is pulled; a
/// pull is never interrupted but by the end of the whole stream. Everything runs in the
/// region on this fiber's stack: when this fiber ends (the upstream and every value done, or
/// a failure, or the stream's scope interrupting it), the region interrupts and awaits
/// whatever is still running. This fiber polls its members continuously, whatever the
/// consumer is doing, so a `TestClock` sees them block like any fiber.
fn map_in_place<A, B, T, E, F>(
    upstream: Stream<A, E>,
    mut f: F,
    tag: fn(u64, B) -> T,
    channel: Channel<T, E>,
) -> Effect<(), Never>
where
    A: Send + 'static,
    B: Send + 'static,
    T: Send + 'static,
    E: Send + 'static,
    F: FnMut(A) -> Effect<B, E> + Send + 'static,
{
    let out = channel.clone();
    let credits = channel.credits().expect("a value-bound channel").clone();
    let run = scoped(Effect::new(move |ctx: Context| async move {
        let mut upstream = Some(upstream.open(ctx.get::<Scope>()));
        let region: Arc<Region<Done<A, B, E>, E>> = Arc::default();
        let members = region.clone();
        Region::effect(region, async move {
            let (ctx, family) = current_fiber();
            let mut pending: VecDeque<A> = VecDeque::new();
            let (mut pulling, mut mapping, mut index) = (false, 0usize, 0u64);
            loop {
                while !pending.is_empty() {
                    let Ok(credit) = credits.try_acquire() else {
                        break;
                    };
                    // The credit stays taken until the consumer emits the result.
                    credit.forget();
                    let value = pending.pop_front().expect("a pending value");
                    let at = index;
                    index += 1;
                    let work = f(value).map(move |out| Done::Mapped(at, out));
                    members.start(work, Placement::InPlace, true, &ctx, &family);
                    mapping += 1;
                }
                if pending.is_empty() && !pulling && credits.available_permits() > 0 {
                    if let Some(pull) = upstream.take() {
                        let step = pull.map(Done::Pulled);
                        members.start(step, Placement::InPlace, true, &ctx, &family);
                        pulling = true;
                    }
                }
                if !pulling && mapping == 0 && pending.is_empty() && upstream.is_none() {
                    return Ok(());
                }
                // Wait for a member to finish, or (values or the upstream waiting) for a
                // credit to free up.
                let waiting_for_credit = !pending.is_empty() || (!pulling && upstream.is_some());
                let finished = if waiting_for_credit && mapping == 0 && !pulling {
                    // Nothing runs: only the consumer can make room.
                    drop(acquire(&credits).await);
                    continue;
                } else if waiting_for_credit {
                    let credit = pin!(acquire(&credits));
                    let next = pin!(members.next_finished());
                    match futures::future::select(next, credit).await {
                        futures::future::Either::Left((finished, _)) => finished,
                        futures::future::Either::Right((credit, _)) => {
                            drop(credit);
                            continue;
                        }
                    }
                } else {
                    members.next_finished().await
                };
                let mut results = Vec::new();
                let mut next = finished;
                // Whatever else has finished goes out in the same chunk.
                while let Some((_, exit)) = next {
                    match exit? {
                        Done::Mapped(at, value) => {
                            mapping -= 1;
                            results.push(tag(at, value));
                        }
                        Done::Pulled(Step::Emit(chunk, rest)) => {
                            pulling = false;
                            pending.extend(chunk);
                            upstream = Some(*rest);
                        }
                        Done::Pulled(Step::End) => pulling = false,
                    }
                    next = members.try_next_finished().await;
                }
                if !results.is_empty() {
                    out.send_chunk(results).await;
                }
            }
        })
        .await
    }));
    channel.finishing(run, None)
}

/// The results of `map_par` waiting for the ones before them: `ready[i]` is the result of
/// value `next + i`, once it has one.
struct Reorder<B> {
    next: u64,
    ready: VecDeque<Option<B>>,
}

impl<B> Default for Reorder<B> {
    fn default() -> Self {
        Reorder {
            next: 0,
            ready: VecDeque::new(),
        }
    }
}

impl<B> Reorder<B> {
    fn insert(&mut self, index: u64, value: B) {
        let at = usize::try_from(index - self.next).expect("at most n results wait");
        if self.ready.len() <= at {
            self.ready.resize_with(at + 1, || None);
        }
        self.ready[at] = Some(value);
    }

    /// The results ready from `next` on, in order.
    fn pop_ready(&mut self) -> Vec<B> {
        let mut out = Vec::new();
        while let Some(Some(_)) = self.ready.front() {
            out.extend(self.ready.pop_front().flatten());
        }
        self.next += out.len() as u64;
        out
    }
}

/// The pull of `map_par`'s results in input order. A result's credit is given back only as
/// it is emitted, so results waiting for an earlier one still count against `n`.
fn in_order<B, E>(
    channel: Channel<(u64, B), E>,
    workers: Workers,
    mut reorder: Reorder<B>,
) -> Pull<B, E>
where
    B: Send + 'static,
    E: Send + 'static,
{
    Effect::from_future(async move {
        loop {
            // Every signal already waiting is taken before anything is emitted, so results
            // that arrived together leave together.
            let signal = match channel.try_recv() {
                Some(signal) => signal,
                None => {
                    let out = reorder.pop_ready();
                    if !out.is_empty() {
                        channel.release(out.len());
                        return Ok(Step::emit(out, in_order(channel, workers, reorder)));
                    }
                    channel.recv().await
                }
            };
            match signal {
                Signal::Chunk(results) => {
                    for (index, value) in results {
                        reorder.insert(index, value);
                    }
                }
                // Every worker sent its result before the last one ended: emit what is
                // left, then end.
                Signal::End => {
                    let out = reorder.pop_ready();
                    return Ok(match out.is_empty() {
                        true => Step::End,
                        false => Step::emit(out, super::sources::end()),
                    });
                }
                Signal::Failed => return channel.fail_fast(&workers).await,
            }
        }
    })
}
