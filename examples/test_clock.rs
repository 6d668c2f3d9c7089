//! Guide section "Testing with TestClock".
//!
//! Look for: on the live clock the operation really takes a second; on the test clock it
//! takes none. Unlike the guide, the Rust version does not sleep 10 ms "to let the operation
//! start" before advancing (a race on a loaded machine): `advance` itself waits until every
//! fiber on the clock is blocked.

use std::time::Instant;

use effect::prelude::*;
use effect::{Clock, ClockLayer, Context, Runtime, Scope, TestClockLayer};

fn time_dependent_operation() -> Effect<String, Never> {
    Effect::new(|ctx| async move {
        let clock = ctx.get::<Clock>();
        let start = clock.current_time();
        clock.sleep(secs(1)).await; // Wait 1 second
        let end = clock.current_time();
        Ok(format!(
            "Operation took {:.1}s",
            (end - start).as_secs_f64()
        ))
    })
}

async fn test_with_real_clock() {
    let scope = Scope::new();
    let env = ClockLayer
        .build_scoped(&Context::new(), &scope)
        .await
        .unwrap();
    let start_time = Instant::now();
    let result = time_dependent_operation().run(&env).await.unwrap();
    println!(
        "Real clock: {result}, actual time: {:.1}s",
        start_time.elapsed().as_secs_f64()
    );
    scope.close(Ok(())).await.unwrap();
}

async fn test_with_test_clock() {
    let test_clock = TestClock::new();
    let scope = Scope::new();
    let env = TestClockLayer(test_clock.clone())
        .build_scoped(&Context::new(), &scope)
        .await
        .unwrap();
    let runtime = Runtime::new(env);
    let start_time = Instant::now();
    // Run operation in background
    let operation_fiber = runtime.fork(time_dependent_operation());
    // Advance test clock by 1 second instantly (it first waits for the fiber to block)
    test_clock.advance(secs(1)).await;
    let result = runtime.run(operation_fiber.join()).await.unwrap();
    println!(
        "Test clock: {result} (instant: {:.3}s)",
        start_time.elapsed().as_secs_f64()
    );
    scope.close(Ok(())).await.unwrap();
}

#[tokio::main]
async fn main() {
    test_with_real_clock().await;
    test_with_test_clock().await;
}
