//! Running a program for real and comparing it with the model.
//!
//! Modes: run to the end; interrupted from outside (through the runtime) at a virtual time;
//! its `Run` future dropped at a virtual time; or on the live clock (delays in microseconds;
//! outcomes checked only where no timing can change them, times never).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use effect::prelude::*;
use effect::{Clock, Context, Queue, Runtime};

use crate::prog::{Fin, Prog};
use crate::real::World;
use crate::reference::{known, model, program, Ev, Model, Outcome, Tail};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Runs to its end.
    Plain,
    /// Interrupted from outside, through the runtime, at the virtual time (ms).
    Interrupt(u64),
    /// Its `Run` future is dropped at the virtual time (ms).
    Drop(u64),
    /// On the live clock, to its end.
    Live,
    // `Shutdown(u64)` goes here once `Runtime::shutdown()` exists: the runtime shut down
    // under the program at the virtual time. Expected like `Drop` (finalizers run exactly
    // once, nothing left alive), with what the shutdown promises about the exit.
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Everything matched the model.
    Matched,
    /// Simultaneous events: invariants checked only.
    Ambiguous,
}

/// How the suite runs: from the environment.
#[derive(Clone, Copy, Debug)]
pub struct Config {
    pub multi_thread: bool,
}

/// What the model expects of `prog` in `mode`.
pub fn expect(prog: &Prog, mode: Mode) -> Model {
    match mode {
        Mode::Plain | Mode::Live => program(prog, None, Tail::Observed),
        Mode::Interrupt(at) => program(prog, Some(at), Tail::Observed),
        // Nobody sees the exit of a dropped run.
        Mode::Drop(at) => program(prog, Some(at), Tail::Unobserved),
    }
}

fn tokio_runtime(config: &Config) -> tokio::runtime::Runtime {
    let mut builder = if config.multi_thread {
        let mut b = tokio::runtime::Builder::new_multi_thread();
        b.worker_threads(2);
        b
    } else {
        tokio::runtime::Builder::new_current_thread()
    };
    builder.enable_all().build().unwrap()
}

/// What a run produced.
struct Ran {
    /// `None` when the run was dropped before it finished.
    exit: Option<Exit<i64, i64>>,
    finished_at: Option<u64>,
    live: usize,
}

/// Runs `prog` in `mode` and checks it against the model. `Err` says what differed.
pub fn check(prog: &Prog, mode: Mode, config: &Config) -> Result<Verdict, String> {
    let expected = expect(prog, mode);
    let clock = TestClock::new();
    let world = World::new(clock.clone(), mode == Mode::Live);
    let ran = if mode == Mode::Live {
        run_live(prog, &world, config)?
    } else {
        run_virtual(prog, mode, &world, config)?
    };
    if ran.live != 0 {
        return Err(format!("{} fiber(s) alive after the run", ran.live));
    }
    let events = world.log.lock().unwrap().clone();
    invariants(prog, &events, &world)?;
    if mode == Mode::Live {
        return compare_live(prog, &expected, &ran);
    }
    if expected.ambiguous {
        return Ok(Verdict::Ambiguous);
    }
    let known_note = match expected.known {
        0 => String::new(),
        flags => format!(
            " [exercises what was once a bug: {}]",
            known::describe(flags)
        ),
    };
    if let Some(exit) = &ran.exit {
        let actual = outcome_of(exit);
        if actual != expected.outcome.observed() {
            return Err(format!(
                "outcome {actual:?}, model says {:?} (exit {exit:?}){known_note}",
                expected.outcome
            ));
        }
    } else if !expected.outcome.is_interrupted() {
        return Err(format!(
            "the run was dropped unfinished, the model says it ended at {} ms with {:?}",
            expected.end, expected.outcome
        ));
    }
    let ended = ran.finished_at.unwrap_or(u64::MAX);
    if ended != expected.end {
        return Err(format!(
            "finished at {ended} ms, model says {} ms{known_note}",
            expected.end
        ));
    }
    let (mut got, mut want) = (events.clone(), expected.log.clone());
    got.sort_unstable();
    want.sort_unstable();
    if got != want {
        return Err(format!(
            "log {events:?}, model says {:?}{known_note}",
            expected.log
        ));
    }
    check_pipes_against(&world, &want)?;
    Ok(Verdict::Matched)
}

/// The program, recording when it finished (in virtual time) from its own last finalizer.
fn instrumented(prog: &Prog, world: &World) -> (Effect<i64, i64>, Arc<Mutex<Option<u64>>>) {
    let finished_at: Arc<Mutex<Option<u64>>> = Arc::default();
    let (record, time) = (finished_at.clone(), world.clock.clone());
    let program = world.build(prog).on_exit(move |_| {
        sync(move || *record.lock().unwrap() = Some(time.current_time().as_millis() as u64))
    });
    (program, finished_at)
}

/// Far enough for anything a program does, and its daemons, to be over.
const LATER: u64 = 1_000_000;

fn run_virtual(prog: &Prog, mode: Mode, world: &World, config: &Config) -> Result<Ran, String> {
    let tokio = tokio_runtime(config);
    let clock = world.clock.clone();
    let rt = Runtime::new(Context::new().with(Clock::from(clock.clone())));
    let (program, finished_at) = instrumented(prog, world);
    let exit = tokio.block_on(async {
        match mode {
            Mode::Drop(at) => {
                let (drop_now, dropped) = tokio::sync::oneshot::channel::<()>();
                let run = rt.run(program);
                let task = tokio::spawn(async move {
                    tokio::select! {
                        biased;
                        _ = dropped => None,
                        exit = run => Some(exit),
                    }
                });
                clock.advance(ms(at)).await;
                let _ = drop_now.send(());
                let exit = task
                    .await
                    .map_err(|e| format!("the run's task failed: {e}"))?;
                // The finalizers of a dropped run go on in a task of their own.
                clock.advance(ms(LATER)).await;
                Ok(exit)
            }
            _ => {
                let fiber = rt.fork(program);
                let waited = match mode {
                    Mode::Interrupt(at) => {
                        clock.advance(ms(at)).await;
                        let interrupter = rt.fork(fiber.interrupt::<Never>());
                        clock.advance(ms(LATER)).await;
                        interrupter
                    }
                    _ => {
                        clock.advance(ms(LATER)).await;
                        if !fiber.is_done() {
                            return Err(format!("not done after {LATER} ms of virtual time"));
                        }
                        rt.fork(fiber.await_exit::<Never>())
                    }
                };
                if !waited.is_done() && matches!(mode, Mode::Interrupt(_)) {
                    return Err(format!("not done after {LATER} ms of virtual time"));
                }
                rt.run(waited.join())
                    .await
                    .map(Some)
                    .map_err(|c| c.to_string())
            }
        }
    })?;
    let finished_at = *finished_at.lock().unwrap();
    Ok(Ran {
        exit,
        finished_at,
        live: rt.live_fibers(),
    })
}

fn run_live(prog: &Prog, world: &World, config: &Config) -> Result<Ran, String> {
    let tokio = tokio_runtime(config);
    let rt = Runtime::new(Context::new());
    let (program, finished_at) = instrumented(prog, world);
    let exit = tokio.block_on(async {
        let exit = tokio::time::timeout(Duration::from_secs(20), rt.run(program))
            .await
            .map_err(|_| "not done after 20 s on the live clock".to_string())?;
        // Daemons may outlive the program: wait until they are done (their delays are
        // microseconds of real time; a daemon still alive after 5 s fails the check below).
        let _ = tokio::time::timeout(Duration::from_secs(5), rt.until_idle()).await;
        Ok::<_, String>(exit)
    })?;
    let finished_at = *finished_at.lock().unwrap();
    Ok(Ran {
        exit: Some(exit),
        finished_at,
        live: rt.live_fibers(),
    })
}

/// On the live clock the outcome is checked when no timing can change it.
fn compare_live(prog: &Prog, expected: &Model, ran: &Ran) -> Result<Verdict, String> {
    if ran.finished_at.is_none() {
        return Err("the program's own finalizer never ran".to_string());
    }
    if expected.ambiguous || !timing_free(prog) {
        return Ok(Verdict::Ambiguous);
    }
    let exit = ran.exit.as_ref().expect("a live run is never dropped");
    let actual = outcome_of(exit);
    if actual != expected.outcome.observed() {
        return Err(format!(
            "on the live clock: outcome {actual:?}, model says {:?} (exit {exit:?})",
            expected.outcome
        ));
    }
    Ok(Verdict::Matched)
}

/// Whether the outcome of `prog` (run to its end) is the same however long its steps take:
/// no race or timeout decides anything, and a group has at most one failing member, whose
/// siblings have no finalizer that could die (or not) depending on when they are stopped.
pub fn timing_free(prog: &Prog) -> bool {
    match prog {
        Prog::Race(_) | Prog::RaceFirst(_) | Prog::Timeout(..) | Prog::ForkInterrupt(..) => false,
        Prog::Daemon(_, false) => true,
        // Giving up and failing acquisitions depend on timing; a cost beyond the limit is a
        // failing member its program does not show.
        Prog::ItemPool(spec, holders) => {
            spec.fails == 0
                && holders.iter().all(|h| h.patience.is_none())
                && group_timing_free(&members(prog))
        }
        Prog::Limited(_, limit, asks) => {
            asks.iter()
                .all(|a| a.patience.is_none() && a.cost <= limit.capacity())
                && group_timing_free(&members(prog))
        }
        Prog::ZipPar(ps) | Prog::ForEachPar(ps, _) | Prog::Pool(_, ps) => group_timing_free(ps),
        other => other.children().into_iter().all(timing_free),
    }
}

/// A fail-fast group is timing-free when its members are, and at most one of them fails, with
/// siblings that have no finalizer that could die (or not) depending on when they are stopped.
fn group_timing_free(ps: &[Prog]) -> bool {
    let failing: Vec<usize> = (0..ps.len())
        .filter(|&i| !model(&ps[i], 0, None, Tail::Inner).outcome.is_ok())
        .collect();
    ps.iter().all(timing_free)
        && match failing[..] {
            [] => true,
            [one] => (0..ps.len()).all(|i| i == one || !may_die_finalizing(&ps[i])),
            _ => false,
        }
}

fn members(group: &Prog) -> Vec<Prog> {
    group.children().into_iter().cloned().collect()
}

fn may_die_finalizing(prog: &Prog) -> bool {
    let mut fins = Vec::new();
    prog.finalizers(&mut fins);
    fins.iter().any(|(_, fin)| fin.dies())
}

pub fn outcome_of(exit: &Exit<i64, i64>) -> Outcome {
    match exit {
        Ok(v) => Outcome::Ok(*v),
        Err(cause) if cause.is_interrupted_only() => Outcome::Interrupted(0),
        Err(cause) => crate::reference::failed(
            cause.failures().into_iter().copied().collect(),
            cause.defects().len(),
        ),
    }
}

/// What holds whatever the scheduler decided: every event at most once; every acquired
/// resource released exactly once; every finalizer that started finished; every pool's
/// permits all back and never more holders than permits; every item pool's and rate
/// limiter's rules kept (`real_pool::check`, `real_limiter::check`); no pipe item taken twice
/// or both taken and still queued.
fn invariants(prog: &Prog, events: &[(u64, Ev)], world: &World) -> Result<(), String> {
    let mut counts: BTreeMap<Ev, usize> = BTreeMap::new();
    for (_, event) in events {
        *counts.entry(*event).or_default() += 1;
    }
    let mut fins: Vec<(i64, Fin)> = Vec::new();
    prog.finalizers(&mut fins);
    let fins: BTreeMap<i64, Fin> = fins.into_iter().collect();
    let seen = |event: Ev| counts.get(&event).copied().unwrap_or(0);
    for (event, count) in &counts {
        if *count != 1 {
            return Err(format!(
                "event {event:?} happened {count} times: {events:?}"
            ));
        }
        match *event {
            Ev::Acquire(id) if seen(Ev::Fin(id)) != 1 => {
                return Err(format!(
                    "resource {id} acquired but not released exactly once: {events:?}"
                ));
            }
            Ev::Fin(id)
                if fins.get(&id).is_some_and(Fin::logs_end) && seen(Ev::FinEnd(id)) != 1 =>
            {
                return Err(format!(
                    "finalizer {id} started but never finished: {events:?}"
                ));
            }
            _ => {}
        }
    }
    for (i, pool) in world.pools.lock().unwrap().iter().enumerate() {
        let (available, max) = (
            pool.semaphore.available(),
            pool.gauge.max.load(std::sync::atomic::Ordering::SeqCst),
        );
        if available != pool.permits {
            return Err(format!(
                "pool {i}: {available} of {} permits available after the run",
                pool.permits
            ));
        }
        if max > pool.permits {
            return Err(format!(
                "pool {i}: {max} holders at once with {} permits",
                pool.permits
            ));
        }
    }
    crate::real_pool::check(world)?;
    crate::real_limiter::check(world)?;
    for (pipe, queue) in world.pipes.lock().unwrap().iter() {
        let queued = drain(queue);
        for item in &queued {
            if seen(Ev::Take(pipe.id, *item)) > 0 || *item == 0 || *item > pipe.items {
                return Err(format!(
                    "pipe {}: item {item} still queued, taken, or never offered (queued {queued:?}, log {events:?})",
                    pipe.id
                ));
            }
        }
        // Put them back for the check against the model.
        for item in queued {
            let _ = queue.try_offer(item);
        }
    }
    Ok(())
}

fn drain(queue: &Queue<u32>) -> Vec<u32> {
    std::iter::from_fn(|| queue.try_take()).collect()
}

/// Every item a pipe offered and did not take is still queued: nothing lost.
fn check_pipes_against(world: &World, log: &[(u64, Ev)]) -> Result<(), String> {
    for (pipe, queue) in world.pipes.lock().unwrap().iter() {
        let queued = drain(queue);
        let expected: Vec<u32> = (1..=pipe.items)
            .filter(|item| {
                log.iter().any(|(_, e)| *e == Ev::Offer(pipe.id, *item))
                    && !log.iter().any(|(_, e)| *e == Ev::Take(pipe.id, *item))
            })
            .collect();
        if queued != expected {
            return Err(format!(
                "pipe {}: {queued:?} left in the queue, model says {expected:?}",
                pipe.id
            ));
        }
    }
    Ok(())
}
