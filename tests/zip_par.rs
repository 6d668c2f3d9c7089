//! zip_par: all values, in order; fail-fast with siblings interrupted and awaited.

use crate::common;

use common::{after, fail_after, test_env, Log};
use effect::prelude::*;
use effect::Context;

#[tokio::test]
async fn a_tuple_of_effects_gives_a_tuple_of_values() {
    let (clock, rt) = test_env();
    let all = zip_par((
        after::<_, String>(ms(30), 1),
        after(ms(10), "two"),
        after(ms(20), 3.0),
    ));
    let fiber = rt.fork(all);
    clock.advance(ms(30)).await;
    assert_eq!(rt.run(fiber.join()).await, Ok((1, "two", 3.0)));
    assert_eq!(rt.live_fibers(), 0);
}

#[tokio::test]
async fn branches_run_concurrently() {
    let (clock, rt) = test_env();
    let all = zip_par(
        (1..=10u64)
            .map(|i| after::<_, String>(ms(100), i))
            .collect::<Vec<_>>(),
    );
    let fiber = rt.fork(all);
    clock.advance(ms(100)).await;
    assert!(
        fiber.is_done(),
        "ten 100 ms branches finish together after 100 ms"
    );
    assert_eq!(rt.run(fiber.join()).await, Ok((1..=10).collect()));
}

#[tokio::test]
async fn a_vec_keeps_input_order_whatever_the_finishing_order() {
    let (clock, rt) = test_env();
    let effects: Vec<Effect<u64, String>> = (0..20).map(|i| after(ms(100 - i * 5), i)).collect();
    let fiber = rt.fork(zip_par(effects));
    clock.advance(ms(100)).await;
    assert_eq!(rt.run(fiber.join()).await, Ok((0..20).collect()));
}

#[tokio::test]
async fn an_empty_vec_succeeds_with_an_empty_vec() {
    let (_, rt) = test_env();
    assert_eq!(
        rt.run(zip_par(Vec::<Effect<u8, String>>::new())).await,
        Ok(vec![])
    );
}

#[tokio::test]
async fn a_failure_interrupts_the_siblings_and_their_finalizers_run_before_zip_par_returns() {
    let (clock, rt) = test_env();
    let log = Log::default();
    let slow = after::<u32, String>(secs(10), 1).ensuring(log.note("slow finalized"));
    let failing = fail_after::<u32, String>(ms(100), "broken".into());
    let fiber = rt.fork(zip_par((slow, failing)).ensuring(log.note("zip_par returned")));
    clock.advance(ms(100)).await;
    assert!(fiber.is_done(), "fail-fast: no waiting for the slow branch");
    assert_eq!(log.events(), ["slow finalized", "zip_par returned"]);
    let cause = rt.run(fiber.join()).await.unwrap_err();
    assert_eq!(cause.failures(), [&"broken".to_string()]);
    assert!(
        !cause.is_interrupted(),
        "an interrupted sibling adds nothing to the cause: {cause:?}"
    );
    assert_eq!(clock.current_time(), ms(100));
    assert_eq!(rt.live_fibers(), 0);
}

#[tokio::test]
async fn a_panicking_branch_becomes_a_defect_and_interrupts_the_others() {
    let (clock, rt) = test_env();
    let log = Log::default();
    let slow = after::<u32, String>(secs(10), 1).on_interrupt(log.note("slow interrupted"));
    let panics = sleep::<String>(ms(5)).map(|()| -> u32 { panic!("branch panicked") });
    let fiber = rt.fork(zip_par(vec![slow, panics]));
    clock.advance(ms(5)).await;
    let cause = rt.run(fiber.join()).await.unwrap_err();
    assert_eq!(cause.defects()[0].message(), "branch panicked");
    assert_eq!(log.events(), ["slow interrupted"]);
    assert_eq!(rt.live_fibers(), 0);
}

#[tokio::test]
async fn a_sibling_failing_during_its_interruption_is_kept_in_the_cause() {
    let (clock, rt) = test_env();
    let dying_cleanup = after::<u32, String>(secs(10), 1).ensuring(die("cleanup failed"));
    let failing = fail_after::<u32, String>(ms(1), "first".into());
    let fiber = rt.fork(zip_par((failing, dying_cleanup)));
    clock.advance(ms(1)).await;
    let cause = rt.run(fiber.join()).await.unwrap_err();
    assert_eq!(cause.failure(), Some(&"first".to_string()));
    assert_eq!(cause.defects()[0].message(), "cleanup failed");
}

#[tokio::test]
async fn interrupting_zip_par_interrupts_every_branch_first() {
    let (clock, rt) = test_env();
    let log = Log::default();
    let branch = |name: &str| never::<u32, String>().on_interrupt(log.note(name));
    let fiber = rt.fork(zip_par((branch("a"), branch("b"))).on_interrupt(log.note("zip_par")));
    clock.advance(ms(1)).await;
    rt.run(fiber.interrupt::<()>()).await.unwrap().unwrap_err();
    let events = log.events();
    assert_eq!(events.len(), 3);
    assert_eq!(
        events[2], "zip_par",
        "branches are finalized before the region around them"
    );
    assert_eq!(rt.live_fibers(), 0);
}

#[tokio::test]
async fn the_method_form_zips_two() {
    let (_, rt) = test_env();
    assert_eq!(
        rt.run(succeed::<_, String>(1).zip_par(succeed(2))).await,
        Ok((1, 2))
    );
}

#[tokio::test]
async fn fail_safe_collects_successes_and_counts_failures() {
    // The guide's fail-safe pattern: each branch turned into an Option.
    let (_, rt) = test_env();
    let effects: Vec<Effect<&str, &str>> = vec![succeed("ok1"), fail("error!"), succeed("ok3")];
    let safe: Vec<Effect<Option<&str>, Never>> = effects.into_iter().map(|e| e.option()).collect();
    let results = rt.run(zip_par(safe)).await.unwrap();
    let successes: Vec<&str> = results.iter().flatten().copied().collect();
    assert_eq!(successes, ["ok1", "ok3"]);
    assert_eq!(results.iter().filter(|r| r.is_none()).count(), 1);
}

#[test]
fn branches_run_in_parallel_on_a_multi_thread_runtime() {
    // Two CPU-bound branches spin until both have started: this can only finish if they run
    // at the same time on two worker threads.
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;
    let started = Arc::new(AtomicUsize::new(0));
    let branch = |started: Arc<AtomicUsize>| {
        sync::<(), String, _>(move || {
            started.fetch_add(1, Ordering::SeqCst);
            while started.load(Ordering::SeqCst) < 2 {
                std::hint::spin_loop();
            }
        })
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .build()
        .unwrap();
    let both = zip_par((branch(started.clone()), branch(started.clone())));
    assert_eq!(runtime.block_on(both.run(&Context::new())), Ok(((), ())));
}
