//! Where race branches run: in place on the racing fiber's task while they wait (no task to
//! spawn), on tasks of their own once they are busy (a branch that spends its whole step
//! budget without waiting), so that CPU-bound branches run side by side on a multi-thread
//! runtime, still owned, interrupted and awaited by their race.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::common;

use common::Log;
use effect::prelude::*;
use effect::{Context, TestClock};

/// More steps than one poll's budget: a branch taking them is busy, not waiting.
const BUSY_STEPS: u64 = 40_000;

/// How long a branch waits for the other to make progress beside it before it gives up (a
/// bound on a failing run, never reached by a passing one).
const PATIENCE: Duration = Duration::from_secs(20);

/// `steps` ready steps in a row, each one bind, counted in `counter`.
fn busy(steps: u64, counter: Arc<AtomicU64>) -> Effect<(), String> {
    effect_block! {
        for _ in 0..steps {
            let counter = counter.clone();
            sync(move || { counter.fetch_add(1, Ordering::Relaxed); })?;
        }
    }
}

/// Two busy branches of one race, on a two-worker runtime: the first, once busy, spins in a
/// single step (holding its worker) until it sees the second's counter move. It can only
/// see that if the second runs at the same time on the other worker: taking turns on the
/// race's task, the second would never run while the first spins.
#[test]
fn two_busy_branches_of_a_race_run_at_once_on_two_workers() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let (a_steps, b_steps) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
    let a_done = Arc::new(AtomicBool::new(false));
    let watched = b_steps.clone();
    let done = a_done.clone();
    let spin_until_the_other_moves = sync(move || {
        let (seen, started) = (watched.load(Ordering::SeqCst), Instant::now());
        while started.elapsed() < PATIENCE {
            if watched.load(Ordering::SeqCst) != seen {
                done.store(true, Ordering::SeqCst);
                return Ok("saw the other branch run beside it");
            }
            std::hint::spin_loop();
        }
        Err("the other branch never ran while this one held its worker".to_string())
    })
    .flat_map(|result| match result {
        Ok(seen) => succeed(seen),
        Err(why) => fail(why),
    });
    let first = busy(BUSY_STEPS, a_steps.clone()).flat_map(move |()| spin_until_the_other_moves);
    let (counter, stop) = (b_steps.clone(), a_done.clone());
    let give_up_at = Instant::now() + PATIENCE;
    let second: Effect<&'static str, String> = effect_block! {
        while !stop.load(Ordering::SeqCst) {
            if Instant::now() > give_up_at {
                fail("the first branch never saw this one run".to_string())?;
            }
            let counter = counter.clone();
            sync(move || { counter.fetch_add(1, Ordering::Relaxed); })?;
        }
        // Never the winner: the first branch is what the test waits for.
        never::<&'static str, String>()?
    };
    let outcome = runtime.block_on(race([first, second]).run(&Context::new()));
    assert_eq!(outcome, Ok("saw the other branch run beside it"));
    assert!(a_steps.load(Ordering::SeqCst) >= BUSY_STEPS);
}

/// A busy branch that moved to a task is still its race's: interrupted when the other
/// branch wins, its finalizer run, and awaited before the race returns; on both runtimes.
fn a_busy_loser_is_interrupted_and_awaited(_clock: TestClock) -> Effect<(), String> {
    let log = Log::default();
    let forever = Arc::new(AtomicU64::new(0));
    let loser = busy(u64::MAX, forever.clone())
        .as_value("loser")
        .ensuring(log.note("loser cleaned up"));
    // The winner takes a few hundred thousand steps: by then the loser has spent its budget
    // many times over, and (on a multi-thread runtime) moved.
    let winner = busy(300_000, Arc::default()).as_value("winner");
    let returned = log.clone();
    effect_block! {
        let won = race([loser, winner])?;
        assert_eq!(won, "winner");
        assert_eq!(returned.events(), ["loser cleaned up"], "the loser was awaited");
        assert!(forever.load(Ordering::SeqCst) > 0, "the loser ran");
    }
}

/// A busy branch on a test clock keeps the clock from moving on while it runs, on its own
/// task too: its sleep of 5 ms, begun after its busy steps, starts at time zero and ends
/// before the idle branch's 10 ms, however the steps are placed.
fn a_busy_branch_keeps_the_test_clock_still_while_it_runs(clock: TestClock) -> Effect<(), String> {
    effect_block! {
        for _ in 0..5 {
            let busy_then_sleep = busy(BUSY_STEPS, Arc::default())
                .flat_map(|()| sleep(ms(5)))
                .as_value("busy");
            let idle = sleep::<String>(ms(10)).as_value("idle");
            let racing = race([busy_then_sleep, idle]).fork()?;
            clock.advance(ms(10)).await;
            assert_eq!(racing.join()?, "busy");
        }
    }
}

crate::effect_tests_on_both_flavours! {
    placement:
    a_busy_loser_moved_to_a_task_is_interrupted_and_awaited => a_busy_loser_is_interrupted_and_awaited;
    a_busy_branch_keeps_the_test_clock_still => a_busy_branch_keeps_the_test_clock_still_while_it_runs;
}
