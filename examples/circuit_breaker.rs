//! Guide section "Circuit Breaker Pattern": the guide's hand-rolled breaker, ported, and the
//! library's ready `CircuitBreaker`, side by side.
//!
//! Look for: after two failures the breaker opens and calls fail at once without reaching the
//! service. The 0.5 s pauses between calls run on a `TestClock`, so the program is instant,
//! and the "random" service fails on a fixed seed, so the output is the same every run.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use effect::prelude::*;
use effect::{CircuitBreaker, Clock, Context, Runtime};

/// The guide's breaker, as a user would port it: state behind a mutex, time from the clock.
#[derive(Clone)]
struct HandRolledBreaker {
    failure_threshold: u32,
    timeout: Duration,
    state: Arc<Mutex<(u32, Duration, bool)>>, // failures, last failure, is open
}

impl HandRolledBreaker {
    fn new(failure_threshold: u32, timeout: Duration) -> Self {
        HandRolledBreaker {
            failure_threshold,
            timeout,
            state: Arc::new(Mutex::new((0, Duration::ZERO, false))),
        }
    }

    fn call(&self, effect: Effect<String, String>) -> Effect<String, String> {
        let breaker = self.clone();
        Effect::new(move |ctx| async move {
            let now = ctx.get::<Clock>().current_time();
            {
                let mut state = breaker.state.lock().unwrap();
                // Check if circuit is open and timeout has passed
                if state.2 {
                    if now - state.1 > breaker.timeout {
                        *state = (0, state.1, false);
                    } else {
                        return Err(Cause::fail("Circuit breaker is OPEN".to_string()));
                    }
                }
            }
            match effect.await {
                Ok(result) => {
                    *breaker.state.lock().unwrap() = (0, now, false);
                    Ok(result)
                }
                Err(cause) => {
                    let error = cause.failure().cloned().unwrap_or_default();
                    let mut state = breaker.state.lock().unwrap();
                    *state = (state.0 + 1, now, state.2);
                    if state.0 >= breaker.failure_threshold {
                        state.2 = true;
                        return Err(Cause::fail(format!(
                            "Circuit breaker OPENED due to: {error}"
                        )));
                    }
                    Err(Cause::fail(error))
                }
            }
        })
    }
}

/// 80% failure rate, from a fixed seed.
fn unreliable_service(rng: &mut u64) -> Effect<String, String> {
    *rng ^= *rng << 13;
    *rng ^= *rng >> 7;
    *rng ^= *rng << 17;
    if *rng % 10 < 8 {
        fail("Service unavailable".to_string())
    } else {
        succeed("Service response".to_string())
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let clock = TestClock::new();
    let runtime = Runtime::new(Context::new().with(Clock::from(clock.clone())));

    println!("the guide's breaker (threshold 2, timeout 5 s):");
    let cb = HandRolledBreaker::new(2, secs(5));
    let mut rng = 0x2545_f491_4f6c_dd1d;
    for i in 0..10 {
        match runtime.run(cb.call(unreliable_service(&mut rng))).await {
            Ok(result) => println!("Call {}: SUCCESS - {result}", i + 1),
            Err(cause) => println!("Call {}: FAILED - {}", i + 1, cause.failure().unwrap()),
        }
        clock.advance(ms(500)).await;
    }

    println!("\nthe library's CircuitBreaker (threshold 2, reset 2 s):");
    let breaker = CircuitBreaker::new(2, secs(2));
    let mut rng = 0x2545_f491_4f6c_dd1d;
    for i in 0..10 {
        match runtime
            .run(breaker.call(unreliable_service(&mut rng)))
            .await
        {
            Ok(result) => println!("Call {}: SUCCESS - {result}", i + 1),
            Err(cause) => println!("Call {}: FAILED - {}", i + 1, cause.failure().unwrap()),
        }
        clock.advance(ms(500)).await;
    }
}
