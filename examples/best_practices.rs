//! Guide section "Best Practices", one program per practice.
//!
//! Look for: 1. structured concurrency instead of raw tasks; 2. bounded parallelism;
//! 3. fail-fast for critical work, fail-safe for optional work; 4. a timeout tested on a
//! TestClock, past its deadline, instantly.

#[path = "shared/mod.rs"]
mod shared;

use effect::prelude::*;
use effect::{Clock, Context, Runtime};
use shared::fetch_data;

#[tokio::main]
async fn main() {
    let ctx = Context::new();

    // 1. Always use structured concurrency: both run, neither can outlive the call.
    let result = zip_par((
        fetch_data("service1", ms(50)),
        fetch_data("service2", ms(50)),
    ))
    .run(&ctx)
    .await;
    println!(
        "1. structured: {:?}",
        result.map(|(a, b)| (a.service, b.service))
    );

    // 2. Control parallelism: a large dataset, at most 10 at a time.
    let large_dataset: Vec<u32> = (0..200).collect();
    let processed = for_each_par(
        large_dataset,
        |item| sleep::<Never>(ms(5)).as_value(item * 2),
        10,
    );
    println!(
        "2. bounded: processed {} items",
        processed.run(&ctx).await.map(|v| v.len()).unwrap_or(0)
    );

    // 3. Handle failures appropriately: fail-fast for critical, fail-safe for optional.
    let critical = zip_par((
        fetch_data("auth_check", ms(10)),
        fetch_data("load_config", ms(10)),
    ))
    .run(&ctx)
    .await;
    println!(
        "3. critical (fail-fast): {}",
        if critical.is_ok() { "ok" } else { "failed" }
    );
    let optional_ops = vec![
        fetch_data("recommendations", ms(600)),
        fetch_data("analytics", ms(10)),
    ];
    let optional_results = zip_par(
        optional_ops
            .into_iter()
            .map(|op| op.option::<Never>())
            .collect::<Vec<_>>(),
    )
    .run(&ctx)
    .await;
    println!(
        "   optional (fail-safe): {:?}",
        optional_results.map(|r| r.iter().map(Option::is_some).collect::<Vec<_>>())
    );

    // 4. Use TestClock for testing: a 5 s timeout, checked by advancing 6 s.
    let test_clock = TestClock::new();
    let runtime = Runtime::new(Context::new().with(Clock::from(test_clock.clone())));
    let operation = sleep::<String>(secs(10))
        .as_value("done")
        .timeout_fail(secs(5), "timed out".to_string());
    let fiber = runtime.fork(operation);
    test_clock.advance(secs(6)).await; // Past timeout
    let outcome = runtime.run(fiber.join()).await;
    assert!(outcome.is_err());
    println!(
        "4. test clock: {:?} at virtual {:?}",
        outcome.map_err(|c| c.to_string()),
        test_clock.current_time()
    );
}
