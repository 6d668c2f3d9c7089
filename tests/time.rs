//! Time: Clock, sleep, timeout and TestClock. No test here waits on the wall clock.

use crate::common;

use common::{after, test_env, Log};
use effect::prelude::*;
use effect::{Clock, Context, Runtime};

/// The guide's `time_dependent_operation`.
fn time_dependent_operation() -> Effect<String, String> {
    Effect::new(|ctx| async move {
        let clock = ctx.get::<Clock>();
        let start = clock.current_time();
        clock.sleep(secs(1)).await;
        let end = clock.current_time();
        Ok(format!(
            "Operation took {:.1}s",
            (end - start).as_secs_f64()
        ))
    })
}

#[tokio::test]
async fn guide_testing_with_test_clock() {
    let (test_clock, rt) = test_env();
    let operation_fiber = rt.fork(time_dependent_operation());
    test_clock.advance(secs(1)).await;
    assert_eq!(
        rt.run(operation_fiber.join()).await,
        Ok("Operation took 1.0s".to_string())
    );
}

#[tokio::test]
async fn a_sleep_finishes_only_when_virtual_time_reaches_it() {
    let (clock, rt) = test_env();
    let fiber = rt.fork(sleep::<String>(secs(5)));
    clock.advance(ms(4999)).await;
    assert!(!fiber.is_done());
    assert_eq!(clock.pending_sleepers(), 1);
    clock.advance(ms(1)).await;
    assert!(fiber.is_done());
    assert_eq!(clock.current_time(), secs(5));
    assert_eq!(clock.pending_sleepers(), 0);
}

#[tokio::test]
async fn advance_wakes_sleepers_in_deadline_order_and_lets_each_run() {
    let (clock, rt) = test_env();
    let log = Log::default();
    for (name, at) in [("c", 30), ("a", 10), ("b", 20)] {
        let note = log.note::<String>(name);
        let time_check = clock.clone();
        rt.fork(
            sleep(ms(at))
                .flat_map(move |()| note)
                .map(move |()| assert_eq!(time_check.current_time(), ms(at))),
        );
    }
    clock.advance(ms(30)).await;
    assert_eq!(log.events(), ["a", "b", "c"]);
    assert_eq!(rt.live_fibers(), 0);
}

#[tokio::test]
async fn sleepers_scheduled_during_an_advance_fire_within_it() {
    let (clock, rt) = test_env();
    let log = Log::default();
    let second = log.note::<String>("second");
    rt.fork(
        sleep(ms(10))
            .flat_map(move |()| sleep(ms(10)))
            .flat_map(move |()| second),
    );
    clock.advance(ms(20)).await;
    assert_eq!(log.events(), ["second"]);
}

#[tokio::test]
async fn set_time_moves_forward_only() {
    let (clock, rt) = test_env();
    let fiber = rt.fork(sleep::<String>(secs(3)));
    clock.set_time(secs(3)).await;
    assert!(fiber.is_done());
    clock.set_time(secs(1)).await;
    assert_eq!(clock.current_time(), secs(3));
}

#[tokio::test]
async fn timeout_interrupts_at_exactly_the_deadline() {
    let (clock, rt) = test_env();
    let interrupted_at = std::sync::Arc::new(std::sync::Mutex::new(None));
    let record = interrupted_at.clone();
    let time = clock.clone();
    let slow = sleep::<String>(secs(10))
        .as_value(1)
        .on_interrupt(sync(move || {
            *record.lock().unwrap() = Some(time.current_time())
        }));
    let fiber = rt.fork(slow.timeout(secs(5)));
    clock.advance(ms(4999)).await;
    assert!(!fiber.is_done());
    clock.advance(ms(1)).await;
    assert!(fiber.is_done());
    assert_eq!(rt.run(fiber.join()).await, Ok(None));
    assert_eq!(
        *interrupted_at.lock().unwrap(),
        Some(secs(5)),
        "finalizer ran at the deadline, before timeout returned"
    );
    assert_eq!(rt.live_fibers(), 0);
}

#[tokio::test]
async fn timeout_gives_the_value_or_the_failure_of_a_fast_effect() {
    let (clock, rt) = test_env();
    let fast = rt.fork(after::<_, String>(ms(10), 7).timeout(secs(1)));
    let failing = rt.fork(
        sleep(ms(10))
            .flat_map(|()| fail::<u8, String>("broken".into()))
            .timeout(secs(1)),
    );
    clock.advance(ms(10)).await;
    assert_eq!(rt.run(fast.join()).await, Ok(Some(7)));
    assert_eq!(
        rt.run(failing.join()).await.unwrap_err().failure(),
        Some(&"broken".to_string())
    );
}

#[tokio::test]
async fn a_timeout_that_ended_leaves_no_sleeper_however_it_ended() {
    // A timeout's deadline becomes the frame it ends with: however it ended, its sleep is
    // gone once it has, and only the fibers' own sleeps remain.
    let (clock, rt) = test_env();
    let in_time = rt.fork(
        after::<_, String>(ms(10), 7)
            .timeout(secs(1))
            .flat_map(|value| sleep(secs(5)).as_value(value)),
    );
    let in_time_fail = rt.fork(
        after::<_, String>(ms(10), 8)
            .timeout_fail(secs(1), "too slow".into())
            .flat_map(|value| sleep(secs(5)).as_value(value)),
    );
    let timed_out = rt.fork(
        never::<u8, String>()
            .timeout_fail(ms(20), "too slow".into())
            .catch_all(|error: String| sleep::<String>(secs(5)).as_value(error.len() as u8)),
    );
    clock.advance(ms(20)).await;
    // Each fiber now sleeps its five seconds, and nothing else sleeps.
    assert_eq!(clock.pending_sleepers(), 3);
    clock.advance(secs(5)).await;
    assert_eq!(rt.run(in_time.join()).await, Ok(Some(7)));
    assert_eq!(rt.run(in_time_fail.join()).await, Ok(8));
    assert_eq!(rt.run(timed_out.join()).await, Ok(8));
    assert_eq!(clock.pending_sleepers(), 0);
}

#[tokio::test]
async fn timeout_fail_fails_with_the_given_error() {
    let (clock, rt) = test_env();
    let fiber = rt.fork(never::<u8, String>().timeout_fail(secs(1), "too slow".into()));
    clock.advance(secs(1)).await;
    assert_eq!(
        rt.run(fiber.join()).await.unwrap_err().failure(),
        Some(&"too slow".to_string())
    );
}

#[tokio::test]
async fn interrupting_a_timeout_waits_for_the_guarded_effects_finalizers() {
    let (clock, rt) = test_env();
    let log = Log::default();
    let cleanup = sleep::<Never>(secs(1)).flat_map({
        let note = log.note("guarded finalized");
        move |()| note
    });
    let fiber = rt.fork(never::<u8, String>().ensuring(cleanup).timeout(secs(100)));
    clock.advance(ms(1)).await;
    let interrupter = rt.fork(fiber.interrupt::<()>());
    clock.advance(ms(999)).await;
    assert!(
        !interrupter.is_done(),
        "the guarded effect's finalizer is still running"
    );
    clock.advance(ms(1)).await;
    assert!(interrupter.is_done());
    assert_eq!(log.events(), ["guarded finalized"]);
    assert_eq!(rt.live_fibers(), 0);
}

#[tokio::test]
async fn a_timeout_inside_an_uninterruptible_region_is_not_cut_short_by_an_interrupt() {
    let (clock, rt) = test_env();
    let guarded = sleep::<String>(secs(2)).as_value(7u8).timeout(secs(5));
    let fiber = rt.fork(guarded.uninterruptible());
    clock.advance(secs(1)).await;
    let interrupter = rt.fork(fiber.interrupt::<()>());
    clock.advance(ms(999)).await;
    assert!(
        !interrupter.is_done(),
        "the region runs on for another millisecond"
    );
    clock.advance(ms(1)).await;
    // The region finished (with its value, discarded) before the interrupt took effect.
    assert!(interrupter.is_done());
    assert_eq!(clock.current_time(), secs(2));
    assert_eq!(rt.live_fibers(), 0);
}

// ---- timeouts run on the timing-out fiber: its deadline against uninterruptible regions,
// nesting, failing cleanup, and deep nesting ----

#[tokio::test]
async fn a_timeout_inside_an_uninterruptible_region_still_cuts_its_effect_at_the_deadline() {
    let (clock, rt) = test_env();
    let log = Log::default();
    let guarded = never::<u8, String>()
        .on_interrupt(log.note("guarded interrupted"))
        .timeout(secs(5));
    let fiber = rt.fork(guarded.uninterruptible());
    clock.advance(ms(4999)).await;
    assert!(!fiber.is_done());
    clock.advance(ms(1)).await;
    assert!(fiber.is_done(), "the deadline cut the effect short");
    assert_eq!(rt.run(fiber.join()).await, Ok(None));
    assert_eq!(log.events(), ["guarded interrupted"]);
    assert_eq!(rt.live_fibers(), 0);
}

#[tokio::test]
async fn an_uninterruptible_effect_under_a_timeout_finishes_then_times_out() {
    // Time is up at 5 s, while the effect cannot be interrupted; it runs to its end at 8 s,
    // and the deadline takes effect there: its value is discarded.
    let (clock, rt) = test_env();
    let log = Log::default();
    let guarded = sleep::<String>(secs(8))
        .flat_map({
            let note = log.note("uninterruptible part done");
            move |()| note
        })
        .uninterruptible()
        .as_value(7u8)
        .timeout(secs(5));
    let fiber = rt.fork(guarded);
    clock.advance(secs(7)).await;
    assert!(
        !fiber.is_done(),
        "the uninterruptible part runs on past the deadline"
    );
    clock.advance(secs(1)).await;
    assert!(fiber.is_done());
    assert_eq!(rt.run(fiber.join()).await, Ok(None));
    assert_eq!(log.events(), ["uninterruptible part done"]);
    assert_eq!(clock.current_time(), secs(8));
}

#[tokio::test]
async fn nested_timeouts_each_keep_their_own_deadline() {
    let (clock, rt) = test_env();
    // The inner deadline comes first: the inner timeout ends with `None`, the outer with it.
    let inner_first = rt.fork(never::<u8, String>().timeout(secs(1)).timeout(secs(10)));
    // The outer deadline comes first: it cuts the inner timeout short.
    let outer_first = rt.fork(never::<u8, String>().timeout(secs(10)).timeout(secs(1)));
    // Neither comes: the value passes through both.
    let neither = rt.fork(
        after::<_, String>(ms(500), 3u8)
            .timeout(secs(10))
            .timeout(secs(1)),
    );
    clock.advance(secs(1)).await;
    assert!(inner_first.is_done() && outer_first.is_done() && neither.is_done());
    assert_eq!(rt.run(inner_first.join()).await, Ok(Some(None)));
    assert_eq!(rt.run(outer_first.join()).await, Ok(None));
    assert_eq!(rt.run(neither.join()).await, Ok(Some(Some(3))));
    assert_eq!(rt.live_fibers(), 0);
}

#[tokio::test]
async fn a_timeout_whose_effect_cleans_up_with_a_defect_fails_with_it() {
    let (clock, rt) = test_env();
    let guarded = never::<u8, String>()
        .ensuring(sync(|| panic!("cleanup broke")))
        .timeout(secs(1));
    let fiber = rt.fork(guarded);
    clock.advance(secs(1)).await;
    assert!(fiber.is_done());
    let cause = rt.run(fiber.join()).await.unwrap_err();
    assert!(cause.is_interrupted(), "{cause}");
    assert!(!cause.is_interrupted_only(), "the defect is kept: {cause}");
    assert!(cause.to_string().contains("cleanup broke"), "{cause}");
}

#[tokio::test]
async fn the_fibers_own_interrupt_passes_through_a_timeout() {
    let (clock, rt) = test_env();
    let fiber = rt.fork(never::<u8, String>().timeout(secs(10)));
    clock.advance(secs(1)).await;
    let exit = rt.run(fiber.interrupt::<()>()).await.unwrap();
    assert!(
        exit.unwrap_err().is_interrupted(),
        "interrupted, not timed out"
    );
    assert_eq!(rt.live_fibers(), 0);
}

// Found by the model test when timeouts began to run on their own fiber: each once lost a
// defect, let an outer deadline reach into an uninterruptible region, or let a fork outlive
// its timeout.

#[tokio::test]
async fn a_defect_raised_while_an_inner_timeout_unwinds_survives_the_outer_one() {
    // The inner deadline (1 s) interrupts the work; its cleanup runs until 3 s and dies; the
    // outer deadline (2 s) passes meanwhile. The defect is the outer timeout's failure.
    let (clock, rt) = test_env();
    let guarded = sleep::<String>(secs(5))
        .as_value(1u8)
        .ensuring(sleep(secs(2)).flat_map(|()| sync(|| panic!("cleanup broke"))))
        .timeout(secs(1))
        .timeout(secs(2));
    let fiber = rt.fork(guarded);
    clock.advance(secs(3)).await;
    assert!(fiber.is_done());
    let cause = rt.run(fiber.join()).await.unwrap_err();
    assert!(cause.to_string().contains("cleanup broke"), "{cause}");
}

#[tokio::test]
async fn an_outer_deadline_waits_for_an_uninterruptible_region_around_an_inner_timeout() {
    // The outer deadline (1 s) passes inside an uninterruptible region, whose inner timeout
    // (10 s) lets its work run to its end (3 s): only then does the outer timeout end.
    let (clock, rt) = test_env();
    let inner = after::<_, String>(secs(3), 7u8).timeout(secs(10));
    let fiber = rt.fork(inner.uninterruptible().timeout(secs(1)));
    clock.advance(ms(2999)).await;
    assert!(
        !fiber.is_done(),
        "the region runs on past the outer deadline"
    );
    clock.advance(ms(1)).await;
    assert!(fiber.is_done());
    assert_eq!(rt.run(fiber.join()).await, Ok(None));
}

#[tokio::test]
async fn what_a_timeouts_effect_forks_is_interrupted_and_awaited_before_it_ends() {
    let (clock, rt) = test_env();
    let log = Log::default();
    let child = never::<u8, String>().ensuring(sleep(secs(2)).flat_map({
        let note = log.note("child cleaned up");
        move |()| note
    }));
    let guarded = child.fork().flat_map(|fiber| fiber.join()).timeout(secs(1));
    let fiber = rt.fork(guarded.ensuring(log.note("timeout ended")));
    clock.advance(secs(1)).await;
    assert!(!fiber.is_done(), "the child's cleanup runs first");
    clock.advance(secs(2)).await;
    assert!(fiber.is_done());
    assert_eq!(rt.run(fiber.join()).await, Ok(None));
    assert_eq!(log.events(), ["child cleaned up", "timeout ended"]);
    assert_eq!(rt.live_fibers(), 0);
}

/// A fiber `depth` timeouts deep, waiting at the bottom: on the live clock it arms one timer
/// (the earliest deadline), however deep it is.
#[effect]
fn timeouts_around_a_sleep(depth: u32) -> Effect<u32, Never> {
    if depth == 0 {
        sleep::<Never>(ms(5))?;
        return 0;
    }
    timeouts_around_a_sleep(depth - 1)
        .timeout(secs(3600))?
        .unwrap_or(0)
        + 1
}

#[test]
fn ten_thousand_nested_timeouts_around_a_wait_all_finish_in_time() {
    let paused = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()
        .expect("a current-thread runtime");
    paused.block_on(async {
        let start = tokio::time::Instant::now();
        let exit = timeouts_around_a_sleep(10_000).run(&Context::new()).await;
        assert_eq!(exit, Ok(10_000));
        assert_eq!(start.elapsed(), ms(5));
    });
}

/// The guide's `with_timeout_and_fallback`. The guide builds it with `race`, but `race` waits
/// for the first *success*, and a failing timer is not one: the slow primary would still win
/// after 2 s. `race_first` (first to finish) is what makes the timer cut the primary short.
fn with_timeout_and_fallback(
    primary: Effect<String, String>,
    timeout: std::time::Duration,
    fallback: Effect<String, String>,
) -> Effect<String, String> {
    let timed = race_first([
        primary,
        sleep(timeout).flat_map(|()| fail("timeout".to_string())),
    ]);
    timed.catch_all(move |_| fallback)
}

#[tokio::test]
async fn the_guides_timeout_with_fallback() {
    let (clock, rt) = test_env();
    let slow_service = after(secs(2), "slow".to_string());
    let fiber = rt.fork(with_timeout_and_fallback(
        slow_service,
        ms(500),
        succeed("Cached data".to_string()),
    ));
    clock.advance(ms(500)).await;
    assert_eq!(rt.run(fiber.join()).await, Ok("Cached data".to_string()));
    assert_eq!(rt.live_fibers(), 0);
}

#[tokio::test]
async fn with_race_the_failing_timer_does_not_cut_the_primary_short() {
    let (clock, rt) = test_env();
    let timed = race([
        after::<_, String>(secs(2), "slow".to_string()),
        sleep(ms(500)).flat_map(|()| fail("timeout".to_string())),
    ]);
    let fiber = rt.fork(timed);
    clock.advance(ms(500)).await;
    assert!(!fiber.is_done());
    clock.advance(ms(1500)).await;
    assert_eq!(rt.run(fiber.join()).await, Ok("slow".to_string()));
}

#[tokio::test]
async fn live_clock_is_the_default() {
    let ctx = Context::new();
    let now = Clock::of(&ctx).current_time();
    assert!(
        now > secs(1_600_000_000),
        "the live clock counts from the Unix epoch"
    );
    assert_eq!(
        sleep::<String>(std::time::Duration::ZERO).run(&ctx).await,
        Ok(())
    );
}

/// Found by the model test on two worker threads: a fiber's end wakes whoever waits for it
/// after its last poll, and `advance` must not see the clock idle in between (it used to move
/// time on before the waiting `zip_par` had taken the result). Repeated, since the window is a
/// race between threads.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn advance_sees_a_fibers_end_and_the_wake_ups_it_causes_as_one_step() {
    for _ in 0..50 {
        let (clock, rt) = test_env();
        let pair = zip_par((after::<u32, String>(ms(1335), 1), after(ms(1000), 2)));
        let fiber = rt.fork(pair);
        clock.advance(ms(1335)).await;
        assert!(
            fiber.is_done(),
            "zip_par finished at 1335 ms, within the advance"
        );
        assert_eq!(rt.run(fiber.join()).await, Ok((1, 2)));
    }
}

#[tokio::test]
async fn an_interrupted_sleep_leaves_the_clock_and_never_fires() {
    let (clock, rt) = test_env();
    let log = Log::default();
    let doomed = rt.fork(sleep::<()>(secs(10)).flat_map({
        let note = log.note::<()>("doomed woke");
        move |()| note
    }));
    let survivor = rt.fork(sleep::<()>(secs(20)).flat_map({
        let note = log.note::<()>("survivor woke");
        move |()| note
    }));
    clock.advance(secs(1)).await;
    assert_eq!(clock.pending_sleepers(), 2);
    let _ = rt.run(doomed.interrupt::<()>()).await;
    assert_eq!(
        clock.pending_sleepers(),
        1,
        "the interrupted sleep left the queue"
    );
    clock.advance(secs(30)).await;
    assert!(survivor.is_done());
    assert_eq!(log.events(), ["survivor woke"]);
    assert_eq!(clock.pending_sleepers(), 0);
}

#[tokio::test]
async fn sleepers_with_one_deadline_wake_in_the_order_they_slept() {
    let (clock, rt) = test_env();
    let log = Log::default();
    for name in ["first", "second", "third"] {
        let note = log.note::<()>(name);
        rt.fork(sleep::<()>(ms(50)).flat_map(move |()| note));
        // Each fiber reaches its sleep before the next one starts.
        clock.advance(std::time::Duration::ZERO).await;
    }
    clock.advance(ms(50)).await;
    assert_eq!(log.events(), ["first", "second", "third"]);
}

// ---- concurrent advances ----
//
// Advances (and `set_time`s) that overlap take turns, in the order they were first polled:
// each moves time by its own amount from where the one before left it.

/// Forks a fiber that sleeps for `delay` and records the virtual time it woke at.
fn wake_after(rt: &Runtime, clock: &TestClock, log: &Log, delay: std::time::Duration) {
    let (clock, log) = (clock.clone(), log.clone());
    rt.fork(
        sleep::<Never>(delay).flat_map(move |()| {
            sync(move || log.push(format!("woke at {:?}", clock.current_time())))
        }),
    );
}

/// Keeps its fiber busy for `turns` turns of the scheduler: each time it wakes its own task
/// before its poll ends, so the fiber is queued again at once. (Not `yield_now`: tokio defers
/// that wake until after the poll, and a test clock sees the fiber blocked in between.)
fn busy<E: Send + 'static>(turns: usize) -> Effect<(), E> {
    Effect::new(move |_| async move {
        for _ in 0..turns {
            let mut yielded = false;
            std::future::poll_fn(|cx| {
                if std::mem::replace(&mut yielded, true) {
                    return std::task::Poll::Ready(());
                }
                cx.waker().wake_by_ref();
                std::task::Poll::Pending
            })
            .await;
        }
        Ok(())
    })
}

/// Advances `clock` by `by` from inside a fiber; gives the time the advance returned at.
fn advance_inside<E: Send + 'static>(
    clock: &TestClock,
    by: std::time::Duration,
) -> Effect<std::time::Duration, E> {
    let clock = clock.clone();
    Effect::new(move |_| async move {
        clock.advance(by).await;
        Ok(clock.current_time())
    })
}

async fn check_concurrent_advances_add_up_and_fire_in_between_in_order() {
    let (clock, rt) = test_env();
    let log = Log::default();
    wake_after(&rt, &clock, &log, ms(2000));
    wake_after(&rt, &clock, &log, ms(1500));
    tokio::join!(clock.advance(secs(1)), clock.advance(secs(1)));
    assert_eq!(clock.current_time(), secs(2));
    assert_eq!(log.events(), ["woke at 1.5s", "woke at 2s"]);
    assert_eq!(clock.pending_sleepers(), 0);
    assert_eq!(rt.live_fibers(), 0);
}

#[tokio::test(flavor = "current_thread")]
async fn concurrent_advances_add_up_and_fire_the_sleepers_in_between_in_order() {
    check_concurrent_advances_add_up_and_fire_in_between_in_order().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_advances_add_up_on_two_worker_threads() {
    for _ in 0..50 {
        check_concurrent_advances_add_up_and_fire_in_between_in_order().await;
    }
}

async fn check_concurrent_advances_add_up_while_a_fiber_is_busy() {
    let (clock, rt) = test_env();
    let log = Log::default();
    let note = log.note::<Never>("busy fiber woke");
    let fiber = rt.fork(busy(5).flat_map(|()| sleep(ms(1500))).flat_map(|()| note));
    tokio::join!(clock.advance(secs(1)), clock.advance(secs(1)));
    assert_eq!(clock.current_time(), secs(2));
    assert!(
        fiber.is_done(),
        "its sleep ended at 1.5 s, within the advances"
    );
    assert_eq!(log.events(), ["busy fiber woke"]);
}

#[tokio::test(flavor = "current_thread")]
async fn concurrent_advances_add_up_while_a_fiber_is_busy() {
    check_concurrent_advances_add_up_while_a_fiber_is_busy().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_advances_add_up_while_a_fiber_is_busy_on_two_worker_threads() {
    for _ in 0..50 {
        check_concurrent_advances_add_up_while_a_fiber_is_busy().await;
    }
}

/// A busy fiber advances the clock while the test does; gives the time the fiber's advance
/// returned at. Whichever comes first, the two add up and the sleepers fire in order.
async fn check_an_advance_inside_a_fiber_and_one_outside_add_up() -> std::time::Duration {
    let (clock, rt) = test_env();
    let log = Log::default();
    wake_after(&rt, &clock, &log, ms(1500));
    wake_after(&rt, &clock, &log, ms(2000));
    let inside = rt.fork(busy(5).flat_map({
        let clock = clock.clone();
        move |()| advance_inside::<Never>(&clock, secs(1))
    }));
    clock.advance(secs(1)).await;
    let inside_returned_at = rt.run(inside.join()).await.unwrap();
    assert_eq!(clock.current_time(), secs(2));
    assert_eq!(log.events(), ["woke at 1.5s", "woke at 2s"]);
    assert_eq!(rt.live_fibers(), 0);
    inside_returned_at
}

/// On one thread the fiber is still busy when the test's advance starts, so its own advance
/// comes second: the test's moves time to 1 s, then the fiber's to 2 s.
#[tokio::test(flavor = "current_thread")]
async fn an_advance_inside_a_fiber_and_one_outside_add_up() {
    assert_eq!(
        check_an_advance_inside_a_fiber_and_one_outside_add_up().await,
        secs(2)
    );
}

/// On two threads either may come first.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_advance_inside_a_fiber_and_one_outside_add_up_on_two_worker_threads() {
    for _ in 0..50 {
        let inside_returned_at = check_an_advance_inside_a_fiber_and_one_outside_add_up().await;
        assert!([secs(1), secs(2)].contains(&inside_returned_at));
    }
}

/// The fiber's advance starts while the test's is under way (a sleeper the test's fires wakes
/// the fiber): it waits for the test's to return, then goes on from 1 s.
async fn check_an_advance_a_sleeper_starts_goes_on_after_the_one_that_woke_it() {
    let (clock, rt) = test_env();
    let log = Log::default();
    wake_after(&rt, &clock, &log, ms(1500));
    wake_after(&rt, &clock, &log, ms(2000));
    let inside = rt.fork(sleep(ms(500)).flat_map({
        let clock = clock.clone();
        move |()| advance_inside::<Never>(&clock, secs(1))
    }));
    clock.advance(secs(1)).await;
    assert_eq!(rt.run(inside.join()).await, Ok(secs(2)));
    assert_eq!(clock.current_time(), secs(2));
    assert_eq!(log.events(), ["woke at 1.5s", "woke at 2s"]);
    assert_eq!(rt.live_fibers(), 0);
}

#[tokio::test(flavor = "current_thread")]
async fn an_advance_a_sleeper_starts_goes_on_after_the_one_that_woke_it() {
    check_an_advance_a_sleeper_starts_goes_on_after_the_one_that_woke_it().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_advance_a_sleeper_starts_goes_on_after_the_one_that_woke_it_on_two_worker_threads() {
    for _ in 0..50 {
        check_an_advance_a_sleeper_starts_goes_on_after_the_one_that_woke_it().await;
    }
}

/// `set_time` takes its turn like an advance, and compares its time with where the ones
/// before it left the clock: it never moves time backwards.
#[tokio::test(flavor = "current_thread")]
async fn set_time_among_concurrent_advances_applies_in_turn_and_never_moves_back() {
    let (clock, rt) = test_env();
    let log = Log::default();
    for delay in [1500, 3500, 4000] {
        wake_after(&rt, &clock, &log, ms(delay));
    }
    tokio::join!(
        clock.advance(secs(1)),
        clock.set_time(secs(3)),
        clock.advance(secs(1))
    );
    assert_eq!(
        clock.current_time(),
        secs(4),
        "1 s, then to 3 s, then 1 s more"
    );
    assert_eq!(log.events(), ["woke at 1.5s", "woke at 3.5s", "woke at 4s"]);

    wake_after(&rt, &clock, &log, ms(1500));
    tokio::join!(clock.advance(secs(2)), clock.set_time(secs(5)));
    assert_eq!(
        clock.current_time(),
        secs(6),
        "the advance went past 5 s first"
    );
    assert_eq!(log.count("woke at 5.5s"), 1);
    assert_eq!(rt.live_fibers(), 0);
}

/// An advance dropped at the front of the line (waiting for a fiber to block) or behind it
/// moves time no further, and the next one goes on from where time is.
#[tokio::test(flavor = "current_thread")]
async fn a_dropped_advance_gives_up_its_turn_and_moves_time_no_further() {
    let (clock, rt) = test_env();
    let log = Log::default();
    wake_after(&rt, &clock, &log, secs(3));
    let mut front = Box::pin(clock.advance(secs(10)));
    let mut behind = Box::pin(clock.advance(secs(20)));
    let mut next = Box::pin(clock.advance(secs(1)));
    assert!(futures::poll!(front.as_mut()).is_pending());
    assert!(futures::poll!(behind.as_mut()).is_pending());
    assert!(futures::poll!(next.as_mut()).is_pending());
    drop(front);
    drop(behind);
    next.await;
    assert_eq!(clock.current_time(), secs(1));
    assert_eq!(clock.pending_sleepers(), 1);
    assert!(
        log.events().is_empty(),
        "the dropped advances moved nothing"
    );
    clock.advance(secs(2)).await;
    assert_eq!(log.events(), ["woke at 3s"]);
}

#[tokio::test(flavor = "current_thread")]
async fn advance_waits_for_a_fiber_that_provides_the_test_clock_itself() {
    use effect::TestClockLayer;
    let clock = effect::TestClock::new();
    // The runtime's context has no clock: the fiber brings its own.
    let runtime = effect::Runtime::new(Context::new());
    let log = common::Log::default();
    let work = sleep::<()>(secs(1))
        .flat_map({
            let log = log.clone();
            move |()| log.note("woke")
        })
        .flat_map(|()| yield_now())
        .flat_map({
            let log = log.clone();
            move |()| log.note("after a yield")
        })
        .flat_map(|()| sleep(secs(1)))
        .flat_map({
            let log = log.clone();
            move |()| log.note("woke again")
        });
    let fiber = runtime.fork(work.provide(TestClockLayer(clock.clone())));
    // No guessing: advance first lets the new fiber reach its sleep.
    clock.advance(secs(1)).await;
    assert_eq!(log.events(), ["woke", "after a yield"]);
    clock.advance(secs(1)).await;
    assert_eq!(log.events(), ["woke", "after a yield", "woke again"]);
    assert!(fiber.is_done());
    assert_eq!(runtime.run(fiber.join()).await, Ok(()));
    assert_eq!(runtime.live_fibers(), 0);
}

#[tokio::test(flavor = "current_thread")]
async fn a_fiber_that_yields_before_it_sleeps_is_not_skipped_by_advance() {
    let (clock, runtime) = common::test_env();
    let fiber = runtime.fork(yield_now::<()>().flat_map(|()| sleep(ms(1500))));
    clock.advance(secs(2)).await;
    assert!(
        fiber.is_done(),
        "the sleep started before time moved past it"
    );
    assert_eq!(clock.pending_sleepers(), 0);
}

// ---- live timers: a cancelled timer is handed on to the next sleep on its thread ----
//
// These run on paused tokio time (which jumps straight to the next timer's deadline), so a
// sleep's deadline can be checked exactly without waiting.

/// One race of a live one-hour timer against a value that comes after a yield: the timer
/// loses, is cancelled, and becomes the thread's spare.
fn race_against_an_hour(i: u64) -> Effect<u64, Never> {
    race([sleep(secs(3600)).as_value(0), yield_now().as_value(i)])
}

fn paused_current_thread() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()
        .expect("a current-thread runtime")
}

#[test]
fn live_timers_cancelled_one_after_another_still_fire_at_their_own_deadlines() {
    paused_current_thread().block_on(async {
        let ctx = Context::new();
        for i in 1..=100 {
            assert_eq!(race_against_an_hour(i).run(&ctx).await, Ok(i));
        }
        let start = tokio::time::Instant::now();
        // Each of these starts on the spare the previous one left.
        assert_eq!(
            never::<(), Never>().timeout(ms(20)).run(&ctx).await,
            Ok(None)
        );
        assert_eq!(start.elapsed(), ms(20));
        assert_eq!(sleep::<Never>(ms(5)).run(&ctx).await, Ok(()));
        assert_eq!(start.elapsed(), ms(25));
        let clock_sleep = Effect::<(), Never>::new(|ctx| async move {
            Clock::of(&ctx).sleep(ms(7)).await;
            Ok(())
        });
        assert_eq!(race_against_an_hour(1).run(&ctx).await, Ok(1));
        assert_eq!(clock_sleep.run(&ctx).await, Ok(()));
        assert_eq!(start.elapsed(), ms(32));
    });
}

#[test]
fn a_spare_timer_is_never_reused_on_another_runtime() {
    // Runtime A leaves a spare timer on this thread, then shuts down; runtime B, on the
    // same thread, must sleep on a timer of its own (A's driver no longer fires anything).
    let first = paused_current_thread();
    assert_eq!(
        first.block_on(race_against_an_hour(7).run(&Context::new())),
        Ok(7)
    );
    drop(first);
    let second = paused_current_thread();
    second.block_on(async {
        let start = tokio::time::Instant::now();
        assert_eq!(sleep::<Never>(ms(5)).run(&Context::new()).await, Ok(()));
        assert_eq!(start.elapsed(), ms(5));
    });
}

#[test]
fn worker_threads_holding_spare_timers_shut_down_cleanly() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_time()
        .build()
        .expect("a multi-thread runtime");
    let total = runtime.block_on(async {
        let races = (0..64u64).map(|i| tokio::spawn(race_against_an_hour(i).run(&Context::new())));
        let mut total = 0;
        for race in races.collect::<Vec<_>>() {
            total += race.await.expect("the race's task").unwrap_or_default();
        }
        total
    });
    assert_eq!(total, (0..64).sum::<u64>());
    // The workers exit with their spares (each a timer an hour from now) still registered.
    runtime.shutdown_timeout(secs(5));
}

/// A fiber that runs through tokio's cooperative budget (here by taking a thousand permits
/// of a tokio semaphore) is made to yield by tokio with a wake-up deferred to its worker's
/// next park. On a test clock that yield must not look like the fiber blocking: the clock
/// would fire the sleepers forked so far and move time while the fiber is still forking.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fiber_yielding_for_tokios_budget_is_not_taken_for_blocked() {
    let (clock, rt) = test_env();
    let started = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counted = started.clone();
    let seen_at_ten = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let seen = seen_at_ten.clone();
    let permits = std::sync::Arc::new(tokio::sync::Semaphore::new(10_000));
    let forking = Effect::<(), String>::from_future(async move {
        let mut fibers = Vec::new();
        for _ in 0..1_000 {
            permits.clone().acquire_owned().await.unwrap().forget();
            counted.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            let (started, seen) = (counted.clone(), seen.clone());
            let sleeper = sleep::<String>(ms(10)).map(move |()| {
                seen.lock()
                    .unwrap()
                    .push(started.load(std::sync::atomic::Ordering::SeqCst))
            });
            fibers.push(sleeper.fork_daemon::<String>().await?);
        }
        for fiber in fibers {
            fiber.join().await?;
        }
        Ok(())
    });
    let run = rt.fork(forking);
    clock.advance(ms(10)).await;
    assert!(run.is_done());
    let seen = seen_at_ten.lock().unwrap().clone();
    assert_eq!(seen.len(), 1_000);
    assert!(
        seen.iter().all(|&forked| forked == 1_000),
        "every sleeper woke only after all were forked"
    );
    assert_eq!(started.load(std::sync::atomic::Ordering::SeqCst), 1_000);
}
