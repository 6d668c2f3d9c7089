//! Deep recursion, long bind chains and long loops run and drop without growing the native
//! stack: the interpreter keeps nesting on the heap. Every case runs on a default tokio
//! multi-thread worker thread (2 MiB stack), where hand-written async recursion of this depth
//! overflows.

use effect::prelude::*;
use effect::Context;

const DEPTH: u64 = 1_000_000;

/// Each level binds the next level, then adds one.
fn count_down(n: u64) -> Effect<u64, String> {
    if n == 0 {
        return succeed(0);
    }
    Effect::from_future(async move {
        let below = count_down(n - 1).await?;
        Ok(below + 1)
    })
}

/// The same recursion written with combinators.
fn count_down_combinators(n: u64) -> Effect<u64, String> {
    if n == 0 {
        return succeed(0);
    }
    suspend(move || count_down_combinators(n - 1)).map(|below| below + 1)
}

/// Runs `effect` on a worker thread of a multi-thread runtime and returns its exit.
async fn on_worker<A: Send + 'static, E: Send + 'static>(effect: Effect<A, E>) -> Exit<A, E> {
    tokio::spawn(async move { effect.run(&Context::new()).await })
        .await
        .expect("the worker task must not panic")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recursion_a_million_deep_runs_on_a_worker_thread() {
    assert_eq!(on_worker(count_down(DEPTH)).await, Ok(DEPTH));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recursion_through_combinators_a_million_deep_runs() {
    assert_eq!(on_worker(count_down_combinators(DEPTH)).await, Ok(DEPTH));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failure_at_the_bottom_of_deep_recursion_reaches_the_top() {
    fn fails_at_bottom(n: u64) -> Effect<u64, String> {
        if n == 0 {
            return fail("bottom".to_string());
        }
        suspend(move || fails_at_bottom(n - 1)).map(|below| below + 1)
    }
    let exit = on_worker(fails_at_bottom(DEPTH)).await;
    assert_eq!(exit.unwrap_err().failure(), Some(&"bottom".to_string()));
}

fn left_nested_chain(steps: u64) -> Effect<u64, String> {
    let mut chain: Effect<u64, String> = succeed(0);
    for _ in 0..steps {
        chain = chain.flat_map(|n| succeed(n + 1));
    }
    chain
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_million_step_left_nested_flat_map_chain_runs() {
    assert_eq!(on_worker(left_nested_chain(DEPTH)).await, Ok(DEPTH));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_million_step_chain_that_never_runs_drops_on_a_worker_thread() {
    tokio::spawn(async {
        let chain = left_nested_chain(DEPTH);
        drop(chain);
    })
    .await
    .expect("dropping a long chain must not overflow");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_half_run_deep_recursion_drops_cleanly_when_abandoned() {
    // Run a deep recursion whose bottom never finishes, poll it until it is deep, then drop it.
    fn deep_then_wait(n: u64) -> Effect<u64, String> {
        if n == 0 {
            return never();
        }
        suspend(move || deep_then_wait(n - 1)).map(|below| below + 1)
    }
    tokio::spawn(async {
        let run = deep_then_wait(DEPTH).run(&Context::new());
        let mut run = Box::pin(run);
        for _ in 0..2_000 {
            let polled = futures::poll!(run.as_mut());
            assert!(polled.is_pending());
        }
        drop(run);
    })
    .await
    .expect("dropping a deep run must not overflow");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_million_binds_in_one_loop_run() {
    let pure_loop: Effect<u64, String> = Effect::from_future(async {
        let mut total = 0;
        for i in 0..DEPTH {
            total += succeed(i % 2).await?;
        }
        Ok(total)
    });
    assert_eq!(on_worker(pure_loop).await, Ok(DEPTH / 2));

    let effectful_loop: Effect<u64, String> = Effect::from_future(async {
        let mut total = 0;
        for i in 0..DEPTH {
            total += sync(move || i % 2).await?;
        }
        Ok(total)
    });
    assert_eq!(on_worker(effectful_loop).await, Ok(DEPTH / 2));
}

/// Nested timeouts and races: each level runs the next inside a `timeout` (a deadline on the
/// fiber's own stack) or a `race` (whose members are polled in place by the level's task
/// until the nesting gets deep, then on tasks of their own); either way the native stack
/// stays flat.
const NESTED_REGIONS: u64 = 100_000;

fn nested_timeouts(n: u64) -> Effect<u64, String> {
    if n == 0 {
        return yield_now().as_value(0);
    }
    suspend(move || nested_timeouts(n - 1))
        .timeout(secs(3600))
        .map(|below| below.expect("within the hour") + 1)
}

/// `depth` timeouts built one around the other before anything runs, around `inner`.
fn timeouts_built_around(inner: Effect<u64, String>, depth: u64) -> Effect<u64, String> {
    let mut chain = inner;
    for _ in 0..depth {
        chain = chain
            .timeout(secs(3600))
            .map(|below| below.map_or(0, |n| n + 1));
    }
    chain
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hundred_thousand_timeouts_built_around_an_effect_run_and_drop_unrun() {
    let built = timeouts_built_around(yield_now().as_value(0), NESTED_REGIONS);
    assert_eq!(on_worker(built).await, Ok(NESTED_REGIONS));
    tokio::spawn(async {
        drop(timeouts_built_around(never(), NESTED_REGIONS));
    })
    .await
    .expect("dropping the unrun chain must not overflow the worker's stack");
}

fn nested_races(n: u64) -> Effect<u64, String> {
    if n == 0 {
        return yield_now().as_value(0);
    }
    race([suspend(move || nested_races(n - 1)), never()]).map(|below| below + 1)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hundred_thousand_nested_timeouts_run_on_a_worker_thread() {
    assert_eq!(
        on_worker(nested_timeouts(NESTED_REGIONS)).await,
        Ok(NESTED_REGIONS)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hundred_thousand_nested_races_run_on_a_worker_thread() {
    assert_eq!(
        on_worker(nested_races(NESTED_REGIONS)).await,
        Ok(NESTED_REGIONS)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hundred_thousand_nested_timeouts_interrupted_at_the_bottom_unwind_every_level() {
    use effect::Deferred;
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::sync::Arc;
    // Each level has a finalizer; the bottom says it is reached and waits forever, and the
    // whole is interrupted from the top.
    fn nested(n: u64, finalized: Arc<AtomicU64>, bottom: Deferred<()>) -> Effect<u64, String> {
        let counter = finalized.clone();
        let level = if n == 0 {
            bottom.complete(()).flat_map(|_| never())
        } else {
            suspend(move || nested(n - 1, finalized, bottom))
                .timeout(secs(3600))
                .map(|below| below.unwrap_or(0) + 1)
        };
        level.ensuring(sync(move || {
            counter.fetch_add(1, Ordering::SeqCst);
        }))
    }
    let finalized = Arc::new(AtomicU64::new(0));
    let runtime = effect::Runtime::new(Context::new());
    let bottom: Deferred<()> = Deferred::new();
    let program = nested(NESTED_REGIONS, finalized.clone(), bottom.clone());
    let fiber = tokio::spawn({
        let runtime = runtime.clone();
        async move {
            let fiber = runtime.fork(program);
            runtime.run(bottom.wait::<()>()).await.unwrap();
            runtime.run(fiber.interrupt::<()>()).await
        }
    });
    let exit = fiber.await.expect("no overflow").unwrap();
    assert!(exit.unwrap_err().is_interrupted());
    assert_eq!(finalized.load(Ordering::SeqCst), NESTED_REGIONS + 1);
    assert_eq!(runtime.live_fibers(), 0);
}

#[tokio::test(flavor = "current_thread")]
async fn a_hundred_thousand_nested_timeouts_and_races_run_on_a_current_thread_runtime() {
    // On the test's own thread (2 MiB), polled by the current-thread scheduler.
    let exit = nested_timeouts(NESTED_REGIONS).run(&Context::new()).await;
    assert_eq!(exit, Ok(NESTED_REGIONS));
    let exit = nested_races(NESTED_REGIONS).run(&Context::new()).await;
    assert_eq!(exit, Ok(NESTED_REGIONS));
}
