//! Guide section "Timeout and Fallback".
//!
//! Look for: the 2 s service is cut off at 0.5 s and the cached data is used.
//!
//! The guide races the primary against a *failing* timer with `race`, but `race` waits for
//! the first **success**: the failing timer cannot win, and the slow primary would be used
//! after 2 s. The timer must win by finishing first: `race_first`, or simply `timeout`.

#[path = "shared/mod.rs"]
mod shared;

use std::time::{Duration, Instant};

use effect::prelude::*;
use shared::{fetch_data, Data};

fn with_timeout_and_fallback(
    primary: Effect<Data, String>,
    timeout: Duration,
    fallback: Effect<Data, String>,
) -> Effect<Data, String> {
    // Race primary operation against timeout
    let timed_primary = race_first([
        primary,
        sleep(timeout).flat_map(|()| fail("timeout".to_string())),
    ]);
    // If timed primary fails, try fallback
    timed_primary.catch_all(move |_| fallback)
}

fn main() {
    let started = Instant::now();
    let slow_service = fetch_data("SlowService", secs(2));
    let fast_fallback = succeed(Data::new("Cache", "Cached data"));
    let result = effect::run_blocking(with_timeout_and_fallback(
        slow_service,
        ms(500),
        fast_fallback,
    ))
    .unwrap();
    println!(
        "Result: {result:?} (after {:.1} s)",
        started.elapsed().as_secs_f64()
    );

    // The same with the built-in combinator.
    let result = effect::run_blocking(
        fetch_data("SlowService", secs(2))
            .timeout(ms(500))
            .map(|data| data.unwrap_or_else(|| Data::new("Cache", "Cached data"))),
    );
    println!("With timeout(): {result:?}");
}
