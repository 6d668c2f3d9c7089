//! Shutting down: `Runtime::shutdown` interrupts every fiber a runtime started and waits for
//! their finalizers; a tokio runtime dropped under live fibers never aborts the process, and
//! finishes in place what the fibers owe without waiting.

use crate::common;

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use common::Log;
use effect::prelude::*;
use effect::Context;
use effect::{run_blocking, Deferred, Runtime};

fn flag() -> (Arc<AtomicBool>, Arc<AtomicBool>) {
    let flag = Arc::new(AtomicBool::new(false));
    (flag.clone(), flag)
}

fn set(flag: Arc<AtomicBool>) -> Effect<(), Never> {
    sync(move || flag.store(true, Ordering::SeqCst))
}

/// A worker that says it has started, then runs until interrupted, with `finalizer`.
fn worker(started: &Deferred<()>, finalizer: Effect<(), Never>) -> Effect<(), ()> {
    started
        .complete(())
        .flat_map(|_| never::<(), ()>())
        .ensuring(finalizer)
}

fn tokio_runtime(multi_thread: bool) -> tokio::runtime::Runtime {
    let mut builder = if multi_thread {
        let mut builder = tokio::runtime::Builder::new_multi_thread();
        builder.worker_threads(2);
        builder
    } else {
        tokio::runtime::Builder::new_current_thread()
    };
    builder.enable_all().build().unwrap()
}

#[test]
fn run_blocking_returns_while_a_daemon_owes_a_finalizer_and_the_finalizer_runs() {
    let (ran, seen) = flag();
    let started: Deferred<()> = Deferred::new();
    let wait = started.clone();
    let program = worker(&started, set(ran))
        .fork_daemon::<()>()
        .flat_map(move |_| wait.wait())
        .as_value(42);
    // The tokio runtime of `run_blocking` shuts down under the daemon: no abort, and its
    // synchronous finalizer runs in place.
    assert_eq!(run_blocking(program), Ok(42));
    assert!(seen.load(Ordering::SeqCst));
}

#[test]
fn a_background_worker_with_a_finalizer_survives_main_returning_on_either_flavour() {
    for multi_thread in [false, true] {
        let (ran, seen) = flag();
        let tokio = tokio_runtime(multi_thread);
        let runtime = Runtime::new(Context::new());
        tokio.block_on(async {
            let started: Deferred<()> = Deferred::new();
            let _worker = runtime.fork(worker(&started, set(ran)));
            runtime.run(started.wait::<()>()).await.unwrap();
        });
        // What `#[tokio::main]` does when main returns.
        drop(tokio);
        assert!(seen.load(Ordering::SeqCst), "multi_thread: {multi_thread}");
        assert_eq!(runtime.live_fibers(), 0, "multi_thread: {multi_thread}");
    }
}

#[test]
fn a_finalizer_that_must_wait_is_dropped_at_runtime_shutdown_after_what_came_before_it() {
    let log = Log::default();
    let tokio = tokio_runtime(false);
    let runtime = Runtime::new(Context::new());
    tokio.block_on(async {
        let started: Deferred<()> = Deferred::new();
        let finalizers = log
            .note::<Never>("before the wait")
            .flat_map(|()| sleep(secs(3600)))
            .flat_map({
                let log = log.clone();
                move |()| log.note("after the wait")
            });
        let inner = worker(&started, log.note("inner"));
        let _worker = runtime.fork(inner.ensuring(finalizers));
        runtime.run(started.wait::<()>()).await.unwrap();
    });
    drop(tokio);
    assert_eq!(log.events(), ["inner", "before the wait"]);
    assert_eq!(runtime.live_fibers(), 0);
}

/// What `#[effect::test] fn name` running `body` (on a current-thread runtime, within
/// `timeout` of real time) fails with: it must fail, with a formatted message.
fn failure_of(
    name: &'static str,
    body: impl FnOnce(TestClock) -> Effect<(), &'static str> + std::panic::UnwindSafe,
    timeout: Option<std::time::Duration>,
) -> String {
    let failure = std::panic::catch_unwind(move || {
        effect::__private::run_test_within(
            name,
            effect::__private::EntryRuntime::CurrentThread,
            <&str as std::fmt::Debug>::fmt,
            body,
            timeout,
        )
    })
    .expect_err("the test fails");
    failure
        .downcast_ref::<String>()
        .expect("the failure says why")
        .clone()
}

#[test]
fn an_effect_test_that_leaks_a_daemon_reports_the_leak_instead_of_aborting() {
    let (ran, seen) = flag();
    let leaky = move |_clock| {
        let started: Deferred<()> = Deferred::new();
        let wait = started.clone();
        worker(&started, set(ran))
            .fork_daemon::<()>()
            .flat_map(move |_| wait.wait::<()>())
            .map_err(|()| "unreachable")
    };
    let message = failure_of("leaky", leaky, None);
    assert!(message.contains("leaked 1 fiber"), "{message}");
    // With what the leaked fiber was doing: its line of the runtime's dump.
    assert!(
        message.contains("They were:\n1 live fiber(s)\n#"),
        "{message}"
    );
    assert!(message.contains("(started by #"), "{message}");
    assert!(
        seen.load(Ordering::SeqCst),
        "the leaked fiber was shut down"
    );
}

#[test]
fn an_effect_test_past_its_timeout_fails_with_what_each_fiber_waits_on() {
    let (ran, seen) = flag();
    let stuck = move |_clock| {
        // A wake-up that never comes, with cleanup to run when it is given up on.
        let never_completed: Deferred<()> = Deferred::new();
        never_completed
            .wait::<&str>()
            .named("waiter")
            .ensuring(set(ran))
    };
    // No real waiting: the test's first poll is all it gets.
    let message = failure_of("stuck", stuck, Some(std::time::Duration::ZERO));
    assert!(
        message.contains("effect test `stuck` timed out after 0ns of real time"),
        "{message}"
    );
    assert!(message.contains("1 live fiber(s)\n#"), "{message}");
    assert!(message.contains("\"waiter\""), "{message}");
    assert!(
        !message.contains("(interrupted)"),
        "dumped as it was, before being stopped: {message}"
    );
    // Random yields (`EFFECT_PERTURB`) may stop the first poll before the wait begins.
    if std::env::var_os("EFFECT_PERTURB").is_none() {
        assert!(message.contains("waiting: Deferred @"), "{message}");
    }
    assert!(seen.load(Ordering::SeqCst), "its fibers were shut down");
}

#[tokio::test(flavor = "current_thread")]
async fn shutdown_interrupts_every_fiber_and_waits_for_async_finalizers() {
    shutdown_waits_for_everything().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_waits_for_everything_on_a_multi_thread_runtime() {
    shutdown_waits_for_everything().await;
}

async fn shutdown_waits_for_everything() {
    let runtime = Runtime::new(Context::new());
    let finalized = Arc::new(AtomicUsize::new(0));
    // A finalizer that takes several scheduler turns (async, but needing no clock).
    let slow_finalizer = |finalized: &Arc<AtomicUsize>| {
        let finalized = finalized.clone();
        let mut turns = yield_now::<Never>();
        for _ in 0..10 {
            turns = turns.flat_map(|()| yield_now());
        }
        turns.flat_map(move |()| {
            sync(move || {
                finalized.fetch_add(1, Ordering::SeqCst);
            })
        })
    };
    // Each fiber says when it has started (a fiber interrupted before its first step has no
    // finalizer to run yet).
    let started: Vec<Deferred<()>> = (0..4).map(|_| Deferred::new()).collect();
    let running = {
        let started = started.clone();
        move |i: usize| {
            let started: Deferred<()> = started[i].clone();
            started.complete::<()>(()).flat_map(|_| never::<(), ()>())
        }
    };
    // A forked worker with a supervised child and a daemon of its own, all with finalizers.
    let child = running(0).ensuring(slow_finalizer(&finalized));
    let daemon = running(1).ensuring(slow_finalizer(&finalized));
    let parent = child
        .fork::<()>()
        .zip(daemon.fork_daemon::<()>())
        .flat_map({
            let running = running.clone();
            move |_| running(2)
        })
        .ensuring(slow_finalizer(&finalized));
    let _parent = runtime.fork(parent);
    // A root run being awaited elsewhere.
    let root = tokio::spawn(runtime.run(running(3).ensuring(slow_finalizer(&finalized))));
    for started in &started {
        started.wait::<()>().run(&Context::new()).await.unwrap();
    }

    runtime.shutdown().await;
    assert_eq!(runtime.live_fibers(), 0);
    assert_eq!(finalized.load(Ordering::SeqCst), 4);
    assert!(root.await.unwrap().unwrap_err().is_interrupted());

    // For good: what starts afterwards is interrupted before its first step.
    let late = runtime.run(succeed::<u32, ()>(1).flat_map(|n| sync(move || n + 1)));
    assert!(late.await.unwrap_err().is_interrupted());
    let late_fork = runtime.fork(sleep::<()>(ms(1)));
    let joined = late_fork.join().run(&Context::new()).await;
    assert!(joined.unwrap_err().is_interrupted());
    assert_eq!(runtime.live_fibers(), 0);
}

#[tokio::test(flavor = "current_thread")]
async fn shutdown_of_an_idle_runtime_returns_at_once() {
    let runtime = Runtime::new(Context::new());
    runtime.shutdown().await;
    assert_eq!(runtime.shutdown_timeout(secs(1)).await, Ok(()));
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn shutdown_with_a_deadline_gives_up_and_says_how_many_fibers_were_finalizing() {
    let runtime = Runtime::new(Context::new());
    let started: Deferred<()> = Deferred::new();
    // One fiber finishes its finalizer in time, one never does.
    let _quick = runtime.fork(worker(&started, sleep(secs(1))));
    let stuck_started: Deferred<()> = Deferred::new();
    let _stuck = runtime.fork(worker(&stuck_started, never()));
    runtime.run(started.wait::<()>()).await.unwrap();
    runtime.run(stuck_started.wait::<()>()).await.unwrap();

    let gave_up = runtime
        .shutdown_timeout(Duration::from_secs(5))
        .await
        .unwrap_err();
    assert_eq!(gave_up.still_running(), 1);
    assert_eq!(
        gave_up.to_string(),
        "runtime shutdown gave up after 5s: 1 fiber(s) were still finalizing"
    );
}

#[tokio::test(flavor = "current_thread")]
async fn a_fiber_in_an_uninterruptible_region_finishes_it_before_shutdown_returns() {
    let runtime = Runtime::new(Context::new());
    let log = Log::default();
    let started: Deferred<()> = Deferred::new();
    let release: Deferred<()> = Deferred::new();
    let region = started
        .complete(())
        .flat_map({
            let release = release.clone();
            move |_| release.wait::<()>()
        })
        .flat_map({
            let log = log.clone();
            move |()| log.note("region finished")
        })
        .uninterruptible();
    let _fiber = runtime.fork(region);
    runtime.run(started.wait::<()>()).await.unwrap();
    let shutdown = tokio::spawn({
        let runtime = runtime.clone();
        async move { runtime.shutdown().await }
    });
    for _ in 0..10 {
        tokio::task::yield_now().await;
    }
    assert!(!shutdown.is_finished(), "the region is not done yet");
    release
        .complete::<()>(())
        .run(&Context::new())
        .await
        .unwrap();
    shutdown.await.unwrap();
    assert_eq!(log.events(), ["region finished"]);
    assert_eq!(runtime.live_fibers(), 0);
}

#[test]
fn the_daemon_one_liner_from_the_bug_report_returns_its_value_without_aborting() {
    for _ in 0..20 {
        let program = never::<(), ()>()
            .ensuring(sync(|| ()))
            .fork_daemon::<()>()
            .as_value(42);
        assert_eq!(run_blocking(program), Ok(42));
    }
}
