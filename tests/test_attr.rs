//! The entry points: `#[effect::test]` on the runtime its arguments ask for (its test clock
//! works on every flavor), and `#[effect::main]`'s program run: its exit code, its report of
//! a failure, and its graceful shutdown.

use crate::common;

use std::fmt::Debug;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Barrier};
use std::thread::ThreadId;

use common::Log;
use effect::__private::{run_main_reporting, EntryRuntime};
use effect::prelude::*;
use effect::Deferred;

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

// ---- #[effect::main] ----

/// Runs `program` as `#[effect::main]` does; its exit code and its report.
fn run_main(program: Effect<(), AppError>) -> (i32, String) {
    let mut report = Vec::new();
    let code = run_main_reporting(
        EntryRuntime::MultiThread {
            worker_threads: Some(2),
        },
        <AppError as Debug>::fmt,
        || program,
        &mut report,
    );
    (code, String::from_utf8_lossy(&report).into_owned())
}

#[test]
fn a_main_that_succeeds_exits_0_and_reports_nothing() {
    // The context holds the live clock: the sleep ends by itself.
    let (code, report) = run_main(sleep(ms(1)));
    assert_eq!(code, 0);
    assert_eq!(report, "");
}

#[test]
fn a_main_that_fails_exits_1_and_reports_its_cause_as_a_tree() {
    let (program, line) = (
        fail(AppError::NotFound).ensuring(die("cleanup panicked")),
        line!(),
    );
    let (code, report) = run_main(program);
    assert_eq!(code, 1);
    // A defect says where it happened: here, where `die` was called.
    assert_eq!(
        report,
        format!(
            "error: the program failed with cause:\n\
             sequential causes:\n\
             ├─ NotFound\n\
             └─ defect: cleanup panicked (at {}:{}:43)\n",
            file!(),
            line - 1
        )
    );
}

#[test]
fn a_main_that_dies_exits_1() {
    let (program, line) = (sync(|| panic!("boom")), line!());
    let (code, report) = run_main(program);
    assert_eq!(code, 1);
    let location = format!("{}:{line}:", file!());
    assert!(
        report.contains(&format!("defect: boom (at {location}")),
        "{report}"
    );
}

#[test]
fn a_main_shuts_its_runtime_down_gracefully_so_daemons_finalize() {
    let finalized = Arc::new(AtomicBool::new(false));
    let flag = finalized.clone();
    // A daemon that has started (so its finalizer is registered) and runs until interrupted,
    // with an async finalizer.
    let started: Deferred<()> = Deferred::new();
    let wait = started.clone();
    let flush = sleep(ms(1)).flat_map(move |()| sync(move || flag.store(true, Ordering::SeqCst)));
    let daemon = started
        .complete(())
        .flat_map(|_| never::<(), AppError>())
        .ensuring(flush);
    let program = daemon
        .fork_daemon::<AppError>()
        .flat_map(move |_| wait.wait());
    let (code, report) = run_main(program);
    assert_eq!(code, 0);
    assert_eq!(report, "");
    assert!(
        finalized.load(Ordering::SeqCst),
        "the daemon's async finalizer ran"
    );
}

#[test]
fn a_main_on_a_current_thread_runtime_runs_on_the_calling_thread() {
    let here = std::thread::current().id();
    let mut report = Vec::new();
    let code = run_main_reporting(
        EntryRuntime::CurrentThread,
        <AppError as Debug>::fmt,
        move || {
            sync(move || {
                assert_eq!(std::thread::current().id(), here);
            })
        },
        &mut report,
    );
    assert_eq!(code, 0);
}
