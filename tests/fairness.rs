//! Fairness: every step of a fiber, a bind of a ready value included, and every step of a
//! schedule, spends the task's budget; so any loop yields now and then, can be interrupted,
//! and cannot starve its siblings, even on a current-thread runtime.

use crate::common;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

use common::test_env;
use effect::prelude::*;
use effect::Context;
use effect::{Runtime, Schedule};

/// A DSL loop binding ready values (as good as forever), counting its turns.
fn busy_loop(turns: Arc<AtomicU64>) -> Effect<(), ()> {
    effect::effect! {
        while turns.load(Ordering::Relaxed) < u64::MAX {
            let one: u64 = succeed(1)?;
            turns.fetch_add(one, Ordering::Relaxed);
        }
    }
}

#[tokio::test(flavor = "current_thread")]
async fn a_loop_of_ready_binds_can_be_interrupted_on_a_current_thread_runtime() {
    let runtime = Runtime::new(Context::new());
    let turns = Arc::new(AtomicU64::new(0));
    let fiber = runtime.fork(busy_loop(turns.clone()));
    // Let the loop start; this task runs again, and interrupts it, only because it yields.
    tokio::task::yield_now().await;
    assert!(turns.load(Ordering::Relaxed) > 0);
    let exit = runtime.run(fiber.interrupt::<()>()).await.unwrap();
    assert!(exit.unwrap_err().is_interrupted());
    assert_eq!(runtime.live_fibers(), 0);
}

/// A DSL loop binding `sync` effects, which a body makes in place (no frame, no trip
/// through the interpreter), counting its turns.
fn busy_sync_loop(turns: Arc<AtomicU64>) -> Effect<(), ()> {
    effect::effect! {
        while turns.load(Ordering::Relaxed) < u64::MAX {
            let counted = turns.clone();
            sync(move || counted.fetch_add(1, Ordering::Relaxed))?;
        }
    }
}

/// Runs the endless loop `busy` makes: it turns, it stops once interrupted, and raced against
/// a sibling that yields once, it lets the sibling run and win.
async fn check_busy_loop_can_be_interrupted_and_does_not_starve_a_sibling(
    busy: fn(Arc<AtomicU64>) -> Effect<(), ()>,
) {
    let runtime = Runtime::new(Context::new());
    let turns = Arc::new(AtomicU64::new(0));
    let fiber = runtime.fork(busy(turns.clone()));
    tokio::task::yield_now().await;
    assert!(turns.load(Ordering::Relaxed) > 0);
    let exit = runtime.run(fiber.interrupt::<()>()).await.unwrap();
    assert!(exit.unwrap_err().is_interrupted());
    let after = turns.load(Ordering::Relaxed);
    tokio::task::yield_now().await;
    assert_eq!(
        turns.load(Ordering::Relaxed),
        after,
        "nothing runs once interrupted"
    );
    let sibling_ran = Arc::new(AtomicBool::new(false));
    let ran = sibling_ran.clone();
    let sibling = sync::<(), (), _>(move || ran.store(true, Ordering::SeqCst));
    let raced = race_first([busy(turns), yield_now().flat_map(|()| sibling)]);
    assert_eq!(runtime.run(raced).await, Ok(()));
    assert!(sibling_ran.load(Ordering::SeqCst));
    assert_eq!(runtime.live_fibers(), 0);
}

#[tokio::test(flavor = "current_thread")]
async fn a_loop_of_sync_binds_can_be_interrupted_and_does_not_starve_a_sibling() {
    check_busy_loop_can_be_interrupted_and_does_not_starve_a_sibling(busy_sync_loop).await;
}

/// A sibling that runs until it has seen the busy loop make progress: the race can end only
/// if both ran (whatever order the scheduler, or `EFFECT_PERTURB`, runs them in).
fn sibling_after_progress(turns: Arc<AtomicU64>, ran: Arc<AtomicBool>) -> Effect<(), ()> {
    effect::effect! {
        while turns.load(Ordering::Relaxed) == 0 {
            yield_now()?;
        }
        ran.store(true, Ordering::SeqCst);
    }
}

#[tokio::test(flavor = "current_thread")]
async fn a_loop_of_ready_binds_does_not_starve_a_sibling() {
    let runtime = Runtime::new(Context::new());
    let turns = Arc::new(AtomicU64::new(0));
    let sibling_ran = Arc::new(AtomicBool::new(false));
    let sibling = sibling_after_progress(turns.clone(), sibling_ran.clone());
    let exit = runtime
        .run(race_first([busy_loop(turns.clone()), sibling]))
        .await;
    assert_eq!(exit, Ok(()));
    assert!(sibling_ran.load(Ordering::SeqCst));
    assert!(turns.load(Ordering::Relaxed) > 0, "both made progress");
    assert_eq!(runtime.live_fibers(), 0);
}

/// A loop written with combinators alone: `flat_map` over ready values, recursing forever.
/// Each turn is a continuation on the interpreter's stack (no body is polled), and each
/// spends the budget all the same.
fn flat_map_loop(turns: Arc<AtomicU64>) -> Effect<(), ()> {
    succeed(1).flat_map(move |one: u64| {
        turns.fetch_add(one, Ordering::Relaxed);
        flat_map_loop(turns)
    })
}

#[tokio::test(flavor = "current_thread")]
async fn a_flat_map_loop_over_ready_values_can_be_interrupted_and_does_not_starve_a_sibling() {
    check_busy_loop_can_be_interrupted_and_does_not_starve_a_sibling(flat_map_loop).await;
}

#[tokio::test(flavor = "current_thread")]
async fn repeat_forever_under_a_test_clock_can_be_interrupted() {
    let (_clock, runtime) = test_env();
    let fiber = runtime.fork(repeat(|| succeed::<u32, ()>(1), Schedule::forever()));
    tokio::task::yield_now().await;
    let exit = runtime.run(fiber.interrupt::<()>()).await.unwrap();
    assert!(exit.unwrap_err().is_interrupted());
    assert_eq!(runtime.live_fibers(), 0);
}

#[tokio::test(flavor = "current_thread")]
async fn retry_forever_under_a_test_clock_can_be_interrupted() {
    let (_clock, runtime) = test_env();
    let attempts = Arc::new(AtomicU64::new(0));
    let counter = attempts.clone();
    let always_failing = move || {
        let counter = counter.clone();
        attempt::<u32, &str, _>(move || {
            counter.fetch_add(1, Ordering::Relaxed);
            Err("no")
        })
    };
    let fiber = runtime.fork(retry(always_failing, Schedule::forever()));
    tokio::task::yield_now().await;
    assert!(attempts.load(Ordering::Relaxed) > 0);
    let exit = runtime.run(fiber.interrupt::<()>()).await.unwrap();
    assert!(exit.unwrap_err().is_interrupted());
    assert_eq!(runtime.live_fibers(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn interrupt_storms_on_busy_loops_leave_nothing_alive() {
    let runtime = Runtime::new(Context::new());
    for _ in 0..200 {
        let turns = Arc::new(AtomicU64::new(0));
        let fibers: Vec<_> = (0..8)
            .map(|_| runtime.fork(busy_loop(turns.clone())))
            .collect();
        for fiber in fibers {
            let exit = runtime.run(fiber.interrupt::<()>()).await.unwrap();
            assert!(exit.unwrap_err().is_interrupted());
        }
    }
    assert_eq!(runtime.live_fibers(), 0);
}
