//! CircuitBreaker: closed, open and half-open, with the reset timeout on the clock.

use crate::common;

use common::test_env;
use effect::prelude::*;
use effect::BreakerState;
use effect::{BreakerError, CircuitBreaker};

fn call(
    breaker: &CircuitBreaker,
    succeed_now: bool,
) -> Effect<&'static str, BreakerError<&'static str>> {
    breaker.call(if succeed_now {
        succeed("ok")
    } else {
        fail("unavailable")
    })
}

#[tokio::test]
async fn opens_after_the_threshold_rejects_then_half_opens_after_the_timeout() {
    let (clock, rt) = test_env();
    let breaker = CircuitBreaker::new(3, secs(60));
    for _ in 0..2 {
        assert_eq!(
            rt.run(call(&breaker, false)).await.unwrap_err().failure(),
            Some(&BreakerError::Failed("unavailable"))
        );
    }
    assert_eq!(breaker.state(), BreakerState::Closed { failures: 2 });
    rt.run(call(&breaker, false)).await.unwrap_err();
    assert_eq!(breaker.state(), BreakerState::Open { since: secs(0) });
    assert_eq!(
        rt.run(call(&breaker, true)).await.unwrap_err().failure(),
        Some(&BreakerError::Open),
        "open: not called"
    );
    clock.advance(secs(59)).await;
    assert_eq!(
        rt.run(call(&breaker, true)).await.unwrap_err().failure(),
        Some(&BreakerError::Open)
    );
    clock.advance(secs(1)).await;
    assert_eq!(
        rt.run(call(&breaker, true)).await,
        Ok("ok"),
        "the trial call goes through"
    );
    assert_eq!(breaker.state(), BreakerState::Closed { failures: 0 });
}

#[tokio::test]
async fn a_failed_trial_reopens_and_a_success_resets_the_count() {
    let (clock, rt) = test_env();
    let breaker = CircuitBreaker::new(2, secs(10));
    rt.run(call(&breaker, false)).await.unwrap_err();
    rt.run(call(&breaker, true)).await.unwrap();
    assert_eq!(
        breaker.state(),
        BreakerState::Closed { failures: 0 },
        "a success resets the count"
    );
    rt.run(call(&breaker, false)).await.unwrap_err();
    rt.run(call(&breaker, false)).await.unwrap_err();
    clock.advance(secs(10)).await;
    rt.run(call(&breaker, false)).await.unwrap_err();
    assert_eq!(
        breaker.state(),
        BreakerState::Open { since: secs(10) },
        "the failed trial reopened it"
    );
}

#[tokio::test]
async fn only_one_trial_runs_while_half_open() {
    let (clock, rt) = test_env();
    let breaker = CircuitBreaker::new(1, secs(5));
    rt.run(call(&breaker, false)).await.unwrap_err();
    clock.advance(secs(5)).await;
    let trial = rt.fork(breaker.call(sleep::<&str>(secs(1)).as_value("slow ok")));
    clock.advance(ms(1)).await;
    assert_eq!(breaker.state(), BreakerState::HalfOpen);
    assert_eq!(
        rt.run(call(&breaker, true)).await.unwrap_err().failure(),
        Some(&BreakerError::Open)
    );
    clock.advance(secs(1)).await;
    assert_eq!(rt.run(trial.join()).await, Ok("slow ok"));
    assert_eq!(breaker.state(), BreakerState::Closed { failures: 0 });
}

#[tokio::test]
async fn defects_count_as_failures() {
    let (_, rt) = test_env();
    let breaker = CircuitBreaker::new(1, secs(5));
    rt.run(breaker.call(die::<u8, &str>("bug")))
        .await
        .unwrap_err();
    assert!(matches!(breaker.state(), BreakerState::Open { .. }));
}

/// The guide's example: an unreliable service behind a breaker with threshold 2, called ten
/// times half a second apart. Deterministic: the service fails on a fixed pattern.
#[tokio::test]
async fn guide_circuit_breaker_example() {
    let (clock, rt) = test_env();
    let breaker = CircuitBreaker::new(2, secs(5));
    let pattern = [false, false, true, true, true, true, true, true, true, true];
    let mut outcomes = Vec::new();
    for (i, ok) in pattern.into_iter().enumerate() {
        let service: Effect<&str, &str> = if ok {
            succeed("Service response")
        } else {
            fail("Service unavailable")
        };
        let outcome = match rt.run(breaker.call(service)).await {
            Ok(response) => format!("Call {}: SUCCESS - {response}", i + 1),
            Err(cause) => format!("Call {}: FAILED - {}", i + 1, cause.failure().unwrap()),
        };
        outcomes.push(outcome);
        clock.advance(ms(500)).await;
    }
    assert_eq!(outcomes[1], "Call 2: FAILED - Service unavailable");
    assert_eq!(outcomes[2], "Call 3: FAILED - circuit breaker is open");
    assert_eq!(
        outcomes[9], "Call 10: FAILED - circuit breaker is open",
        "4.5 s later, still open"
    );
    clock.advance(secs(1)).await;
    assert_eq!(
        rt.run(breaker.call(succeed::<_, &str>("Service response")))
            .await,
        Ok("Service response")
    );
}
