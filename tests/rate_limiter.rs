//! RateLimiter and KeyedRateLimiter: token buckets and fixed windows, exact to the virtual
//! millisecond on a TestClock, waiters served in order, interrupted waiters taking nothing
//! and holding nobody up, keys independent and forgotten when idle. Each scenario runs on
//! both runtime flavours, with `live_fibers() == 0` checked after it.

use crate::common;

use std::time::Duration;

use common::Log;
use effect::prelude::*;
use std::sync::{Arc, Mutex};

use effect::{KeyedRateLimiter, RateLimiter};

crate::effect_tests_on_both_flavours! {
    limits:
    a_token_bucket_lets_a_burst_through_then_one_per_interval => token_bucket_timings;
    a_fixed_window_lets_its_limit_through_per_window => fixed_window_timings;
    a_cost_takes_that_many_tokens => costs;
    waiters_are_served_in_the_order_they_asked => fifo_order;
    an_interrupted_waiter_takes_nothing_and_holds_nobody_up => interrupted_waiter;
    an_interrupt_storm_of_a_thousand_waiters_leaks_nothing_and_keeps_the_rate => interrupt_storm;
    keyed_limits_are_independent_per_key => keyed_independent;
    idle_keys_are_forgotten_and_busy_ones_kept => keyed_forgetting;
    bad_arguments_are_refused_clearly => bad_arguments;
}

/// The virtual time of `clock` when `effect` starts, in milliseconds, once `limiter` lets it.
fn start_times(
    clock: &TestClock,
    limiter: &RateLimiter,
    count: usize,
    cost: u64,
) -> Vec<Effect<u128, String>> {
    (0..count)
        .map(|_| {
            let clock = clock.clone();
            limiter.run_with_cost(cost, sync(move || clock.current_time().as_millis()))
        })
        .collect()
}

/// Starts `calls` one after another (each waiting at the limiter before the next starts, so
/// they ask in order), then advances `clock` by `step` until all are done; their values.
#[effect]
fn run_all(
    clock: TestClock,
    calls: Vec<Effect<u128, String>>,
    step: Duration,
) -> Effect<Vec<u128>, String> {
    let mut fibers = Vec::new();
    for call in calls {
        fibers.push(call.fork()?);
        clock.advance(Duration::ZERO).await;
    }
    while !fibers.iter().all(|fiber| fiber.is_done()) {
        clock.advance(step).await;
    }
    let mut values = Vec::new();
    for fiber in fibers {
        values.push(fiber.join()?);
    }
    values
}

fn token_bucket_timings(clock: TestClock) -> Effect<(), String> {
    effect_block! {
        let limiter = RateLimiter::token_bucket(10, 10, secs(1));
        let started = run_all(clock.clone(), start_times(&clock, &limiter, 25, 1), ms(1))?;
        let expected: Vec<u128> = (0..25).map(|i| if i < 10 { 0 } else { (i - 9) * 100 }).collect();
        assert_eq!(started, expected, "ten at once, then one every 100 ms");
        // Idle for 2 s: full again (10), not more.
        clock.advance(secs(2)).await;
        let base = clock.current_time().as_millis();
        let started = run_all(clock.clone(), start_times(&clock, &limiter, 12, 1), ms(1))?;
        let expected: Vec<u128> =
            (0..12).map(|i| base + if i < 10 { 0 } else { (i - 9) * 100 }).collect();
        assert_eq!(started, expected, "a bucket never holds more than its capacity");
    }
}

fn fixed_window_timings(clock: TestClock) -> Effect<(), String> {
    effect_block! {
        let limiter = RateLimiter::fixed_window(3, secs(60));
        let started = run_all(clock.clone(), start_times(&clock, &limiter, 7, 1), ms(500))?;
        assert_eq!(started, [0, 0, 0, 60_000, 60_000, 60_000, 120_000]);
        // Windows follow each other from the first use, not from the last wait.
        clock.advance(secs(30)).await; // 150 s: the window of 120..180 has one left
        let started = run_all(clock.clone(), start_times(&clock, &limiter, 3, 1), ms(500))?;
        assert_eq!(started, [150_000, 150_000, 180_000]);
    }
}

fn costs(clock: TestClock) -> Effect<(), String> {
    effect_block! {
        // 4 tokens, one a second.
        let limiter = RateLimiter::token_bucket(4, 1, secs(1));
        let started = run_all(clock.clone(), start_times(&clock, &limiter, 3, 3), ms(100))?;
        // 3 of 4 at once; the next 3 need 2 more tokens (2 s); the last 3 more (3 s).
        assert_eq!(started, [0, 2_000, 5_000]);
        // Cost zero never waits, even behind others.
        let waiting = limiter.acquire::<String>(4).fork()?;
        clock.advance(ms(1)).await;
        limiter.acquire::<String>(0)?;
        clock.advance(secs(4)).await;
        waiting.join()?;
    }
}

fn fifo_order(clock: TestClock) -> Effect<(), String> {
    effect_block! {
        let limiter = RateLimiter::token_bucket(1, 1, secs(1));
        limiter.acquire::<String>(1)?; // empty now
        let log = Log::default();
        let mut waiters = Vec::new();
        for i in 0..6 {
            waiters.push(limiter.run(log.note::<String>(&i.to_string())).fork()?);
            clock.advance(Duration::ZERO).await;
        }
        assert_eq!(limiter.waiting(), 6);
        clock.advance(secs(6)).await;
        for waiter in waiters {
            waiter.join()?;
        }
        assert_eq!(log.events(), ["0", "1", "2", "3", "4", "5"]);
    }
}

fn interrupted_waiter(clock: TestClock) -> Effect<(), String> {
    effect_block! {
        let limiter = RateLimiter::token_bucket(1, 1, secs(1));
        limiter.acquire::<String>(1)?; // at 0; the next token at 1 s
        let started = Arc::new(Mutex::new(Vec::<(char, u128)>::new()));
        let call = |name: char| {
            let (clock, started) = (clock.clone(), started.clone());
            limiter.run(sync(move || started.lock().unwrap().push((name, clock.current_time().as_millis()))))
        };
        let b = call('b').fork()?;
        clock.advance(Duration::ZERO).await;
        let c = call('c').fork()?;
        clock.advance(ms(500)).await;
        assert!(b.interrupt()?.unwrap_err().is_interrupted());
        assert_eq!(limiter.waiting(), 1, "the interrupted waiter left the queue");
        clock.advance(ms(500)).await;
        c.join()?;
        // c got b's turn: at 1 s, not 2 s.
        assert_eq!(*started.lock().unwrap(), [('c', 1_000)]);
    }
}

const STORM: usize = 1_000;

fn interrupt_storm(clock: TestClock) -> Effect<(), String> {
    effect_block! {
        let limiter = RateLimiter::token_bucket(10, 10, secs(1));
        limiter.acquire::<String>(10)?; // empty: every call below waits
        let served = Arc::new(Mutex::new(Vec::<(usize, u128)>::new()));
        let mut fibers = Vec::new();
        for i in 0..STORM {
            let (clock, served) = (clock.clone(), served.clone());
            let call = limiter.run(sync(move || {
                served.lock().unwrap().push((i, clock.current_time().as_millis()))
            }));
            fibers.push(call.fork()?);
        }
        clock.advance(Duration::ZERO).await;
        assert_eq!(limiter.waiting(), STORM);
        // Every third waiter is interrupted, in a storm, while they all wait.
        let mut kept = Vec::new();
        for (i, fiber) in fibers.into_iter().enumerate() {
            if i % 3 == 1 {
                assert!(fiber.interrupt()?.unwrap_err().is_interrupted());
            } else {
                kept.push(fiber);
            }
        }
        let remaining = kept.len();
        assert_eq!(limiter.waiting(), remaining);
        clock.advance(ms(remaining as u64 * 100)).await;
        for fiber in kept {
            fiber.join()?;
        }
        let served = served.lock().unwrap().clone();
        assert_eq!(served.len(), remaining);
        assert!(served.iter().all(|(i, _)| i % 3 != 1), "no interrupted waiter was served");
        let times: Vec<u128> = served.iter().map(|(_, t)| *t).collect();
        let expected: Vec<u128> = (1..=remaining as u128).map(|k| k * 100).collect();
        assert_eq!(times, expected, "the interrupted ones' turns went to the next at once");
        assert_eq!(limiter.waiting(), 0);
    }
}

fn keyed_independent(clock: TestClock) -> Effect<(), String> {
    effect_block! {
        let limiter = KeyedRateLimiter::token_bucket(1, 1, secs(10));
        limiter.acquire::<String>("a", 1)?;
        let second_a = limiter.acquire::<String>("a", 1).fork()?;
        clock.advance(ms(1)).await;
        // A waiter on "a" holds nobody up on "b".
        limiter.acquire::<String>("b", 1)?;
        assert_eq!(clock.current_time(), ms(1));
        assert!(!second_a.is_done());
        clock.advance(ms(9_999)).await;
        second_a.join()?;
        assert_eq!(limiter.keys(), 2);
    }
}

fn keyed_forgetting(clock: TestClock) -> Effect<(), String> {
    effect_block! {
        let limiter = KeyedRateLimiter::fixed_window(2, secs(1));
        for key in 0..100u32 {
            limiter.acquire::<String>(key, 1)?;
        }
        assert_eq!(limiter.keys(), 100, "their windows still count");
        // Key 7 fills its window and has a waiter: it must not be forgotten.
        limiter.acquire::<String>(7, 1)?;
        let waiting = limiter.acquire::<String>(7, 1).fork()?;
        clock.advance(ms(999)).await;
        assert!(!waiting.is_done());
        // At 1 s every window has passed; key 7's waiter is served in the new one.
        clock.advance(ms(1)).await;
        waiting.join()?;
        assert_eq!(limiter.keys(), 1, "only key 7 still counts what it took");
        // Forgetting changes nothing: key 7 still has one left in this window, not two.
        limiter.acquire::<String>(7, 1)?;
        let third = limiter.acquire::<String>(7, 1).fork()?;
        clock.advance(ms(1)).await;
        assert!(!third.is_done());
        clock.advance(secs(1)).await;
        third.join()?;
    }
}

fn bad_arguments(_clock: TestClock) -> Effect<(), String> {
    effect_block! {
        let limiter = RateLimiter::token_bucket(3, 1, secs(1));
        let cause = limiter
            .acquire::<String>(4)
            .map(Ok)
            .catch_all_cause(|cause| succeed::<_, String>(Err(cause)))?
            .unwrap_err();
        assert!(cause.defects()[0].message().contains("a cost of 4 can never be taken from a limiter of 3"));
        for refused in [
            std::panic::catch_unwind(|| RateLimiter::token_bucket(0, 1, secs(1))),
            std::panic::catch_unwind(|| RateLimiter::token_bucket(1, 0, secs(1))),
            std::panic::catch_unwind(|| RateLimiter::token_bucket(1, 1, Duration::ZERO)),
            std::panic::catch_unwind(|| RateLimiter::fixed_window(0, secs(1))),
            std::panic::catch_unwind(|| RateLimiter::fixed_window(1, Duration::ZERO)),
        ] {
            assert!(refused.is_err());
        }
    }
}
