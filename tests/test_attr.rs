//! The entry points: `#[effect::test]` on the runtime its arguments ask for, whose test
//! clock works on every flavor.

mod common;

use std::fmt::Debug;
use std::sync::{Arc, Barrier};
use std::thread::ThreadId;

use common::Log;
use effect::__private::EntryRuntime;
use effect::prelude::*;

#[derive(Debug)]
enum AppError {
    NotFound,
}

// ---- #[effect::test(flavor = .., worker_threads = ..)] ----

/// Blocks its worker thread until the other branch arrives too, then says where it ran.
#[effect]
fn meet_at(barrier: Arc<Barrier>) -> Effect<ThreadId, String> {
    barrier.wait();
    std::thread::current().id()
}

#[effect::test(flavor = "multi_thread", worker_threads = 2)]
fn a_multi_thread_test_runs_par_branches_on_two_worker_threads() -> Effect<(), String> {
    // Each branch blocks its thread at a barrier of two (a std one, which cannot yield): both
    // pass only when they run at the same time, on two threads.
    let barrier = Arc::new(Barrier::new(2));
    let (left, right) = par!(meet_at(barrier.clone()), meet_at(barrier))?;
    assert_ne!(left, right);
}

#[effect::test(flavor = "multi_thread", worker_threads = 2)]
fn a_multi_thread_test_clock_waits_for_fibers_on_the_workers(
    clock: TestClock,
) -> Effect<(), String> {
    // The forked fibers start on the workers; `advance` waits until each has reached its
    // sleep, fires the sleeps in deadline order and runs each woken fiber until it ends.
    let log = Log::default();
    let mut fibers = Vec::new();
    for n in [3u64, 1, 2] {
        let woke = log.note(&format!("woke at {n}s"));
        let fiber = effect_block! {
            yield_now()?;
            sleep(secs(n))?;
            woke?;
        }
        .fork()?;
        fibers.push(fiber);
    }
    clock.advance(secs(2)).await;
    assert_eq!(log.events(), ["woke at 1s", "woke at 2s"]);
    clock.advance(secs(1)).await;
    assert!(fibers.iter().all(|fiber| fiber.is_done()));
    assert_eq!(log.events(), ["woke at 1s", "woke at 2s", "woke at 3s"]);
    assert_eq!(clock.current_time(), secs(3));
    for fiber in fibers {
        fiber.join()?;
    }
}

#[effect::test(flavor = "multi_thread")]
fn a_multi_thread_test_defaults_to_tokios_worker_count(clock: TestClock) -> Effect<(), String> {
    let late = sleep::<String>(secs(60)).as_value("late").fork()?;
    clock.advance(secs(60)).await;
    assert_eq!(late.join()?, "late");
}

#[effect::test(flavor = "current_thread")]
fn a_current_thread_test_runs_every_fiber_on_the_test_thread() -> Effect<(), String> {
    let here = std::thread::current().id();
    let (left, right) = par!(
        sync(|| std::thread::current().id()),
        sync(|| std::thread::current().id())
    )?;
    assert_eq!((left, right), (here, here));
}

#[test]
#[should_panic(expected = "effect test `failing_on_workers` failed with cause:\nNotFound")]
fn a_failing_multi_thread_test_fails_with_its_cause_rendered_by_debug() {
    effect::__private::run_test(
        "failing_on_workers",
        EntryRuntime::MultiThread {
            worker_threads: Some(2),
        },
        <AppError as Debug>::fmt,
        |_| fail(AppError::NotFound),
    );
}
