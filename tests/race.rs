//! race and race_first: the first success (or completion) wins; losers are interrupted and
//! awaited before the race yields.

use crate::common;

use common::{after, fail_after, test_env, Log};
use effect::prelude::*;
use effect::{Clock, TestClock};

#[tokio::test]
async fn the_first_success_wins_and_the_losers_finalizers_ran_before_it_returns() {
    let (clock, rt) = test_env();
    let log = Log::default();
    let contender = |name: &'static str, delay| {
        after::<_, String>(delay, name).on_interrupt(log.note(&format!("{name} interrupted")))
    };
    let winner = race([
        contender("primary", ms(300)),
        contender("backup", ms(200)),
        contender("fallback", ms(400)),
    ])
    .ensuring(log.note("race returned"));
    let fiber = rt.fork(winner);
    clock.advance(ms(200)).await;
    assert!(fiber.is_done());
    assert_eq!(rt.run(fiber.join()).await, Ok("backup"));
    let events = log.events();
    assert_eq!(events.last().unwrap(), "race returned");
    assert_eq!(events.len(), 3, "both losers were interrupted: {events:?}");
    assert_eq!(rt.live_fibers(), 0);
}

/// The losers of a decided race are interrupted without a wake-up (the racing fiber polls
/// them itself right away): in a small race (polled together) and a wide one (a waker each),
/// each must still be polled to its end, its finalizer run, before the race returns.
#[tokio::test]
async fn losers_interrupted_without_a_wake_up_still_finish_before_the_race_returns() {
    for width in [2, 3, 8, 64] {
        let (clock, rt) = test_env();
        let log = Log::default();
        let mut branches: Vec<Effect<usize, String>> = (1..width)
            .map(|i| never().on_interrupt(log.note(&format!("loser {i} interrupted"))))
            .collect();
        branches.insert(width / 2, after(ms(1), width));
        let fiber = rt.fork(race(branches).ensuring(log.note("race returned")));
        clock.advance(ms(1)).await;
        assert!(
            fiber.is_done(),
            "a race of {width} hung after its winner finished"
        );
        assert_eq!(rt.run(fiber.join()).await, Ok(width));
        let events = log.events();
        assert_eq!(events.len(), width, "width {width}: {events:?}");
        assert_eq!(events.last().unwrap(), "race returned");
        assert_eq!(rt.live_fibers(), 0);
    }
}

#[tokio::test]
async fn a_slow_success_beats_a_fast_failure() {
    let (clock, rt) = test_env();
    let fiber = rt.fork(race([
        after::<_, String>(ms(500), "slow"),
        fail_after(ms(10), "fast failure".to_string()),
    ]));
    clock.advance(ms(10)).await;
    assert!(!fiber.is_done(), "a failure does not decide the race");
    clock.advance(ms(490)).await;
    assert_eq!(rt.run(fiber.join()).await, Ok("slow"));
}

#[tokio::test]
async fn when_every_branch_fails_the_causes_are_combined() {
    let (clock, rt) = test_env();
    let fiber = rt.fork(race([
        fail_after::<u8, String>(ms(1), "a".into()),
        fail_after(ms(2), "b".into()),
        die("c"),
    ]));
    clock.advance(ms(2)).await;
    let cause = rt.run(fiber.join()).await.unwrap_err();
    let mut failures: Vec<&String> = cause.failures();
    failures.sort();
    assert_eq!(failures, [&"a".to_string(), &"b".to_string()]);
    assert_eq!(cause.defects()[0].message(), "c");
}

#[tokio::test]
async fn an_empty_race_dies_with_a_clear_message() {
    let (_, rt) = test_env();
    let cause = rt
        .run(race(Vec::<Effect<u8, String>>::new()))
        .await
        .unwrap_err();
    assert!(cause.defects()[0].message().contains("race of no effects"));
    let cause = rt
        .run(race_first(Vec::<Effect<u8, String>>::new()))
        .await
        .unwrap_err();
    assert!(cause.defects()[0]
        .message()
        .contains("race_first of no effects"));
}

#[tokio::test]
async fn race_first_takes_the_first_to_finish_even_a_failure() {
    let (clock, rt) = test_env();
    let log = Log::default();
    let slow = after::<_, String>(ms(500), "slow").on_interrupt(log.note("slow interrupted"));
    let fiber = rt.fork(race_first([
        slow,
        fail_after(ms(10), "fast failure".to_string()),
    ]));
    clock.advance(ms(10)).await;
    let cause = rt.run(fiber.join()).await.unwrap_err();
    assert_eq!(cause.failure(), Some(&"fast failure".to_string()));
    assert_eq!(log.events(), ["slow interrupted"]);
}

#[tokio::test]
async fn the_method_form_races_two() {
    let (clock, rt) = test_env();
    let fiber = rt.fork(after::<_, String>(ms(2), 2).race(after(ms(1), 1)));
    clock.advance(ms(2)).await;
    assert_eq!(rt.run(fiber.join()).await, Ok(1));
}

#[tokio::test]
async fn interrupting_a_race_interrupts_every_branch() {
    let (clock, rt) = test_env();
    let log = Log::default();
    let fiber = rt.fork(race([
        never::<u8, String>().on_interrupt(log.note("a")),
        never().on_interrupt(log.note("b")),
    ]));
    clock.advance(ms(1)).await;
    rt.run(fiber.interrupt::<()>()).await.unwrap().unwrap_err();
    assert_eq!(log.events().len(), 2);
    assert_eq!(rt.live_fibers(), 0);
}

/// The guide's "Testing Race Conditions", ported: no real sleep, the test decides exactly
/// when each branch completes.
#[tokio::test]
async fn guide_testing_race_conditions() {
    let (test_clock, rt) = test_env();
    fn timed_effect(name: &'static str, delay: std::time::Duration) -> Effect<String, String> {
        Effect::new(move |ctx| async move {
            let clock = ctx.get::<Clock>();
            clock.sleep(delay).await;
            Ok(format!("{name} completed"))
        })
    }
    let race_fiber = rt.fork(race([
        timed_effect("Fast", secs(1)),
        timed_effect("Slow", secs(2)),
    ]));
    // No "sleep to let it start": advance waits until the racers are blocked on the clock.
    test_clock.advance(secs(1)).await;
    let result = rt.run(race_fiber.join()).await;
    assert_eq!(result, Ok("Fast completed".to_string()));
    assert_eq!(rt.live_fibers(), 0);
}

/// Found by the model test: a race branch inside an uninterruptible region, whose race is
/// interrupted because a `zip_par` sibling failed, must finish its region before the race's
/// fiber is done (dropping a nested run used to cut the region short).
#[tokio::test]
async fn an_uninterruptible_branch_finishes_its_region_when_its_race_is_interrupted() {
    let (clock, rt) = test_env();
    let log = Log::default();
    let region = sleep::<String>(ms(3782)).flat_map({
        let note = log.note("region finished");
        move |()| note
    });
    let racing = race_first([region.as_value(49u32).uninterruptible()]);
    let failing = sleep(ms(1400)).flat_map(|()| die::<u32, String>("sibling died"));
    let fiber = rt.fork(zip_par((failing, racing)));
    clock.advance(ms(1400)).await;
    assert!(
        !fiber.is_done(),
        "zip_par waits for the interrupted branch's region"
    );
    clock.advance(ms(2382)).await;
    assert!(fiber.is_done());
    assert_eq!(log.events(), ["region finished"]);
    assert!(rt.run(fiber.join()).await.unwrap_err().is_die());
    assert_eq!(rt.live_fibers(), 0);
}

/// A future that counts how often it is polled.
struct Counted<F> {
    polls: std::sync::Arc<std::sync::atomic::AtomicUsize>,
    inner: std::pin::Pin<Box<F>>,
}

impl<F: std::future::Future> std::future::Future for Counted<F> {
    type Output = F::Output;
    fn poll(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<F::Output> {
        self.polls.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        self.inner.as_mut().poll(cx)
    }
}

/// Branch `i` of a wide race: sleeps `i + 1` ms on the test clock, polling a counted future,
/// then fails (all but the last) or succeeds.
fn wide_branches(
    clock: &effect::TestClock,
    width: u64,
    polls: &std::sync::Arc<std::sync::atomic::AtomicUsize>,
) -> Vec<Effect<u64, u64>> {
    (0..width)
        .map(|i| {
            let sleep = Counted {
                polls: polls.clone(),
                inner: Box::pin(clock.sleep(ms(i + 1))),
            };
            Effect::from_future(async move {
                sleep.await;
                if i + 1 == width {
                    Ok(i)
                } else {
                    Err(Cause::Fail(i))
                }
            })
        })
        .collect()
}

#[tokio::test]
async fn a_wake_up_polls_only_the_branches_it_woke_however_wide_the_race() {
    const WIDTH: u64 = 3_000;
    let (clock, rt) = test_env();
    let polls = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let fiber = rt.fork(race(wide_branches(&clock, WIDTH, &polls)));
    // The branches wake one by one, a millisecond apart.
    clock.advance(ms(WIDTH)).await;
    assert_eq!(rt.run(fiber.join()).await, Ok(WIDTH - 1));
    // Each branch: one poll to start its sleep, one when it fires. Re-polling every pending
    // branch at every wake-up would be millions.
    let polls = polls.load(std::sync::atomic::Ordering::SeqCst) as u64;
    assert!(polls <= 2 * WIDTH, "{polls} polls for {WIDTH} branches");
    assert_eq!(rt.live_fibers(), 0);
}

#[tokio::test]
async fn race_first_zip_par_and_for_each_par_poll_each_branch_a_bounded_number_of_times() {
    const WIDTH: u64 = 3_000;
    let (clock, rt) = test_env();
    let counter = || std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let count = |polls: &std::sync::Arc<std::sync::atomic::AtomicUsize>| {
        polls.load(std::sync::atomic::Ordering::SeqCst) as u64
    };

    // race_first: the first to finish decides; the rest are interrupted, not polled again.
    let polls = counter();
    let fiber = rt.fork(race_first(wide_branches(&clock, WIDTH, &polls)));
    clock.advance(ms(1)).await;
    assert_eq!(rt.run(fiber.join()).await, Err(Cause::Fail(0)));
    assert!(count(&polls) <= 2 * WIDTH, "race_first: {}", count(&polls));

    // zip_par of branches that all succeed, one by one.
    let polls = counter();
    let branches = wide_branches(&clock, WIDTH, &polls)
        .into_iter()
        .map(|branch| branch.catch_all(succeed::<u64, u64>))
        .collect::<Vec<_>>();
    let fiber = rt.fork(zip_par(branches));
    clock.advance(ms(WIDTH)).await;
    assert_eq!(
        rt.run(fiber.join()).await.map(|v| v.len()),
        Ok(WIDTH as usize)
    );
    assert!(count(&polls) <= 2 * WIDTH, "zip_par: {}", count(&polls));

    // for_each_par with 1,000 in flight.
    let polls = counter();
    let sleeps = {
        let (clock, polls) = (clock.clone(), polls.clone());
        move |i: u64| {
            let sleep = Counted {
                polls: polls.clone(),
                inner: Box::pin(clock.sleep(ms(i + 1))),
            };
            Effect::<u64, u64>::from_future(async move {
                sleep.await;
                Ok(i)
            })
        }
    };
    let fiber = rt.fork(for_each_par(0..WIDTH, sleeps, 1_000));
    clock.advance(ms(2 * WIDTH)).await;
    assert_eq!(
        rt.run(fiber.join()).await.map(|v| v.len()),
        Ok(WIDTH as usize)
    );
    assert!(
        count(&polls) <= 2 * WIDTH,
        "for_each_par: {}",
        count(&polls)
    );
    assert_eq!(rt.live_fibers(), 0);
}

/// A branch that sleeps, yields a few times and does some ready work, then sleeps again: the
/// test clock must not see it idle between its first wake-up and its second sleep, or it
/// moves time on and lets a later branch win.
fn sleeps_twice(first: u64, second: u64, value: &'static str) -> Effect<&'static str, String> {
    effect::effect_block! {
        sleep(ms(first))?;
        for _ in 0..3 {
            yield_now()?;
        }
        let later: u64 = succeed(second)?;
        sleep(ms(later))?;
        value
    }
}

/// Branches polled in place run inside their racing fiber's polls, and count for the test
/// clock as part of them: a branch busy between two sleeps keeps the clock from moving on,
/// in a small race and in a wide one, on both runtime flavours.
async fn check_in_place_branches_keep_the_test_clock_from_moving_on() {
    for width in [2, 8] {
        let (clock, rt) = test_env();
        let mut branches = vec![sleeps_twice(5, 5, "busy branch")];
        branches.extend((1..width).map(|_| after(ms(11), "later branch")));
        let fiber = rt.fork(race(branches));
        clock.advance(ms(20)).await;
        assert_eq!(
            rt.run(fiber.join()).await,
            Ok("busy branch"),
            "width {width}"
        );
        assert_eq!(rt.live_fibers(), 0);
    }
}

#[tokio::test]
async fn in_place_branches_keep_the_test_clock_from_moving_on() {
    check_in_place_branches_keep_the_test_clock_from_moving_on().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_place_branches_keep_the_test_clock_from_moving_on_multi_thread() {
    for _ in 0..50 {
        check_in_place_branches_keep_the_test_clock_from_moving_on().await;
    }
}

// ---- interrupt_when ----

crate::effect_tests_on_both_flavours! {
    interrupt_when:
    a_signal_completing_first_interrupts_the_effect_after_its_finalizers => signal_first;
    an_effect_finishing_first_interrupts_the_signal => effect_first;
    a_signal_that_dies_fails_the_effect_with_its_defect => signal_dies;
}

fn signal_first(clock: TestClock) -> Effect<(), String> {
    effect_block! {
        let log = Log::default();
        let work = never::<u32, String>()
            .ensuring(log.note("work cleaned up"))
            .interrupt_when(sleep(secs(5)))
            .fork()?;
        clock.advance(ms(4_999)).await;
        assert!(!work.is_done(), "not before the signal");
        clock.advance(ms(1)).await;
        let exit = work.await_exit()?;
        assert!(exit.unwrap_err().is_interrupted_only());
        assert_eq!(log.events(), ["work cleaned up"]);
    }
}

fn effect_first(clock: TestClock) -> Effect<(), String> {
    effect_block! {
        let log = Log::default();
        let signal = never::<(), Never>().ensuring(log.note("signal stopped"));
        let work = sleep(secs(1)).as_value(7).interrupt_when(signal).fork()?;
        clock.advance(secs(1)).await;
        assert_eq!(work.join()?, 7);
        assert_eq!(log.events(), ["signal stopped"]);
    }
}

fn signal_dies(_clock: TestClock) -> Effect<(), String> {
    effect_block! {
        let work = never::<u32, String>().interrupt_when(die::<(), Never>("signal broke"));
        let exit = work.map(Ok).catch_all_cause(|cause| succeed(Err(cause)))?;
        assert_eq!(exit.unwrap_err().defects()[0].message(), "signal broke");
    }
}
