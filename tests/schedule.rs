//! Schedules, retry and repeat: counts and delays, all on virtual time.

use crate::common;

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;

use common::test_env;
use effect::prelude::*;
use effect::{Context, Ref};

/// An effect factory failing the first `failures` calls, counting calls.
fn flaky(
    failures: u32,
) -> (
    Arc<AtomicU32>,
    impl Fn() -> Effect<u32, String> + Send + 'static,
) {
    let calls = Arc::new(AtomicU32::new(0));
    let counter = calls.clone();
    let make = move || {
        let counter = counter.clone();
        attempt(move || {
            let n = counter.fetch_add(1, Ordering::SeqCst);
            if n < failures {
                Err(format!("failure {n}"))
            } else {
                Ok(n)
            }
        })
    };
    (calls, make)
}

#[tokio::test]
async fn n_retries_mean_n_plus_one_attempts() {
    let (calls, make) = flaky(100);
    let cause = retry(make, Schedule::recurs(3))
        .run(&Context::new())
        .await
        .unwrap_err();
    assert_eq!(calls.load(Ordering::SeqCst), 4);
    assert_eq!(
        cause.failure(),
        Some(&"failure 3".to_string()),
        "the last failure is reported"
    );
    let (calls, make) = flaky(2);
    assert_eq!(
        retry(make, Schedule::recurs(3)).run(&Context::new()).await,
        Ok(2)
    );
    assert_eq!(calls.load(Ordering::SeqCst), 3);
    let (calls, make) = flaky(100);
    retry(make, Schedule::recurs(0))
        .run(&Context::new())
        .await
        .unwrap_err();
    assert_eq!(calls.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn a_ten_step_exponential_retry_takes_exactly_the_summed_virtual_delay() {
    let (clock, rt) = test_env();
    let (calls, make) = flaky(100);
    let fiber = rt.fork(retry(
        make,
        Schedule::exponential(ms(10)) & Schedule::recurs(10),
    ));
    let total = ms((0..10).map(|i| 10u64 << i).sum());
    clock.advance(total - ms(1)).await;
    assert!(!fiber.is_done());
    assert_eq!(calls.load(Ordering::SeqCst), 10);
    clock.advance(ms(1)).await;
    assert!(fiber.is_done());
    assert_eq!(calls.load(Ordering::SeqCst), 11);
    assert_eq!(clock.current_time(), total);
}

#[tokio::test]
async fn defects_are_not_retried() {
    let calls = Arc::new(AtomicU32::new(0));
    let counter = calls.clone();
    let make = move || {
        counter.fetch_add(1, Ordering::SeqCst);
        die::<u32, String>("bug")
    };
    assert!(retry(make, Schedule::recurs(5))
        .run(&Context::new())
        .await
        .unwrap_err()
        .is_die());
    assert_eq!(calls.load(Ordering::SeqCst), 1);
}

#[effect]
fn load(calls: Arc<AtomicU32>) -> Effect<u32, String> {
    let n = calls.fetch_add(1, Ordering::SeqCst);
    if n < 2 {
        fail(format!("attempt {n} failed"))?;
    }
    n
}

#[tokio::test]
async fn retrying_an_effect_fn_call_is_one_expression() {
    let calls = Arc::new(AtomicU32::new(0));
    let c = calls.clone();
    let exit = retry(move || load(c.clone()), Schedule::recurs(5))
        .run(&Context::new())
        .await;
    assert_eq!(exit, Ok(2));
}

#[tokio::test]
async fn repeat_runs_n_plus_one_times_and_stops_at_a_failure() {
    let counter = Ref::new(0u32);
    let c = counter.clone();
    let exit = repeat(
        move || {
            c.modify(|n| {
                *n += 1;
                *n
            })
        },
        Schedule::recurs(4),
    )
    .run(&Context::new())
    .await;
    assert_eq!(exit, Ok::<u32, Cause<String>>(5));
    let c = counter.clone();
    let until_failure = repeat(
        move || {
            c.modify(|n| {
                *n += 1;
                *n
            })
            .flat_map(|n| {
                if n > 7 {
                    fail("stop".to_string())
                } else {
                    succeed(n)
                }
            })
        },
        Schedule::forever(),
    );
    assert_eq!(
        until_failure
            .run(&Context::new())
            .await
            .unwrap_err()
            .failure(),
        Some(&"stop".to_string())
    );
    assert_eq!(counter.get_now(), 8);
}

#[test]
fn schedule_delays() {
    let input = ();
    assert_eq!(Schedule::<()>::spaced(ms(5)).delays(&input, 3), [ms(5); 3]);
    assert_eq!(
        Schedule::<()>::exponential(ms(1)).delays(&input, 4),
        [1, 2, 4, 8].map(ms)
    );
    assert_eq!(
        Schedule::<()>::exponential_with(ms(10), 3.0).delays(&input, 3),
        [10, 30, 90].map(ms)
    );
    assert_eq!(
        Schedule::<()>::fibonacci(ms(1)).delays(&input, 6),
        [1, 1, 2, 3, 5, 8].map(ms)
    );
    assert_eq!(Schedule::<()>::recurs(2).delays(&input, 10), [ms(0); 2]);
    assert_eq!(
        Schedule::<()>::exponential(ms(1))
            .max_delay(ms(5))
            .delays(&input, 5),
        [1, 2, 4, 5, 5].map(ms)
    );
    assert_eq!(
        Schedule::<()>::spaced(ms(10))
            .up_to(ms(35))
            .delays(&input, 10),
        [ms(10); 3]
    );
}

#[test]
fn composition_both_either_and_then() {
    let input = ();
    let both = Schedule::<()>::spaced(ms(10)) & Schedule::exponential(ms(1));
    assert_eq!(
        both.delays(&input, 5),
        [10, 10, 10, 10, 16].map(ms),
        "both: the longer delay"
    );
    let both_stops = Schedule::<()>::spaced(ms(1)) & Schedule::recurs(2);
    assert_eq!(
        both_stops.delays(&input, 10).len(),
        2,
        "both: stops when either stops"
    );
    let either = Schedule::<()>::spaced(ms(10)).either(Schedule::exponential(ms(1)));
    assert_eq!(
        either.delays(&input, 5),
        [1, 2, 4, 8, 10].map(ms),
        "either: the shorter delay"
    );
    let either_continues = Schedule::<()>::recurs(1) | Schedule::spaced(ms(3)).up_to(ms(6));
    assert_eq!(
        either_continues.delays(&input, 10),
        [0, 3].map(ms),
        "either: continues while one does"
    );
    let then = Schedule::<()>::recurs(2).and_then(Schedule::spaced(ms(7)).up_to(ms(14)));
    assert_eq!(then.delays(&input, 10), [0, 0, 7, 7].map(ms));
}

#[test]
fn predicates_on_input_and_output() {
    let only_timeouts =
        Schedule::<String>::forever().while_input(|e: &String| e.contains("timeout"));
    assert_eq!(only_timeouts.delays(&"timeout".to_string(), 3).len(), 3);
    assert!(only_timeouts.delays(&"refused".to_string(), 3).is_empty());
    let first_three = Schedule::<()>::spaced(ms(2)).while_output(|out| out.recurrence <= 3);
    assert_eq!(first_three.delays(&(), 10), [ms(2); 3]);
}

#[test]
fn jitter_stays_within_bounds_and_a_seed_reproduces_it() {
    let jittered = Schedule::<()>::spaced(ms(100)).jittered_seeded(42);
    let delays = jittered.delays(&(), 50);
    assert!(
        delays.iter().all(|d| *d >= ms(80) && *d < ms(120)),
        "{delays:?}"
    );
    assert_eq!(
        delays,
        jittered.delays(&(), 50),
        "the same seed gives the same delays"
    );
    assert_ne!(
        delays,
        Schedule::<()>::spaced(ms(100))
            .jittered_seeded(7)
            .delays(&(), 50)
    );
    let random = Schedule::<()>::spaced(ms(100)).jittered().delays(&(), 20);
    assert!(random.iter().all(|d| *d >= ms(80) && *d < ms(120)));
}
