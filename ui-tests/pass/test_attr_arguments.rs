// `#[effect::test]` with the runtime arguments of `#[tokio::test]`, in every form.
use effect::prelude::*;

#[effect::test(flavor = "multi_thread", worker_threads = 1)]
fn one_worker() -> Effect<(), String> {}

#[effect::test(worker_threads = 2, flavor = "multi_thread",)]
fn reordered_with_trailing_comma(clock: TestClock) -> Effect<(), String> {
    clock.advance(secs(1)).await;
}

#[effect::test(flavor = "current_thread")]
fn current_thread() -> Effect<(), String> {}

fn main() {}
