//! Guide section "Testing Race Conditions".
//!
//! Look for: the test decides exactly when each racer completes; "Fast" wins after one
//! virtual second, without any real sleep (the guide's 10 ms "let it start" sleep is not
//! needed: `advance` waits until the racers are blocked).

use std::time::Duration;

use effect::prelude::*;
use effect::{Clock, Context, Runtime, Scope, TestClockLayer};

fn timed_effect(name: &'static str, delay: Duration) -> Effect<String, String> {
    Effect::new(move |ctx| async move {
        let clock = ctx.get::<Clock>();
        clock.sleep(delay).await;
        Ok(format!("{name} completed"))
    })
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let test_clock = TestClock::new();
    let scope = Scope::new();
    let env = TestClockLayer(test_clock.clone())
        .build_scoped(&Context::new(), &scope)
        .await
        .unwrap();
    let runtime = Runtime::new(env);
    // Start race
    let race_fiber = runtime.fork(race([
        timed_effect("Fast", secs(1)),
        timed_effect("Slow", secs(2)),
    ]));
    // Control exactly when each effect completes
    test_clock.advance(secs(1)).await; // Fast effect completes
    let result = runtime.run(race_fiber.join()).await.unwrap();
    assert_eq!(result, "Fast completed");
    println!("Race result: {result}");
    scope.close(Ok(())).await.unwrap();
}
