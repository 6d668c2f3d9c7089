//! for_each_par: bounded parallelism, input order, fail-fast without further starts.

use crate::common;

use common::{after, test_env, Gauge, Log};
use effect::prelude::*;

#[tokio::test]
async fn a_hundred_items_with_parallelism_three_never_exceed_three_and_keep_order() {
    let (clock, rt) = test_env();
    let gauge = Gauge::default();
    let g = gauge.clone();
    let work = for_each_par(
        1..=100u64,
        move |i| g.track(after::<_, String>(ms(10 + i % 7), i * 2)),
        3,
    );
    let fiber = rt.fork(work);
    clock.advance(secs(10)).await;
    assert_eq!(
        rt.run(fiber.join()).await,
        Ok((1..=100).map(|i| i * 2).collect())
    );
    assert_eq!(
        gauge.max(),
        3,
        "exactly three in flight at the peak, never more"
    );
    assert_eq!(rt.live_fibers(), 0);
}

#[tokio::test]
async fn the_guides_batches_take_ceil_of_batches_over_parallelism_rounds() {
    let (clock, rt) = test_env();
    let batches: Vec<Vec<u32>> = (0..1000)
        .collect::<Vec<_>>()
        .chunks(50)
        .map(<[u32]>::to_vec)
        .collect();
    let process =
        |batch: Vec<u32>| after::<Vec<u32>, String>(ms(100), batch.iter().map(|x| x * 2).collect());
    let fiber = rt.fork(for_each_par(batches, process, 5));
    clock.advance(ms(399)).await;
    assert!(
        !fiber.is_done(),
        "20 batches, 5 at a time: 4 rounds of 100 ms"
    );
    clock.advance(ms(1)).await;
    let results: Vec<u32> = rt
        .run(fiber.join())
        .await
        .unwrap()
        .into_iter()
        .flatten()
        .collect();
    assert_eq!(results.len(), 1000);
    assert_eq!(results[999], 1998);
}

#[tokio::test]
async fn a_failure_stops_new_starts_and_interrupts_the_items_in_flight() {
    let (clock, rt) = test_env();
    let log = Log::default();
    let l = log.clone();
    let work = for_each_par(
        0..10u32,
        move |i| {
            let started = l.note::<String>(&format!("start {i}"));
            let body = if i == 1 {
                sleep(ms(5)).flat_map(|()| fail("item 1 failed".to_string()))
            } else {
                after(ms(100), i)
            };
            started
                .flat_map(move |()| body)
                .on_interrupt(l.note(&format!("interrupted {i}")))
        },
        2,
    );
    let fiber = rt.fork(work);
    clock.advance(ms(5)).await;
    let cause = rt.run(fiber.join()).await.unwrap_err();
    assert_eq!(cause.failures(), [&"item 1 failed".to_string()]);
    // Items 0 and 1 start together (in either order under random yields); item 2 never does.
    let mut events = log.events();
    events[..2].sort();
    assert_eq!(
        events,
        ["start 0", "start 1", "interrupted 0"]
            .map(String::from)
            .to_vec()
    );
    assert_eq!(rt.live_fibers(), 0);
}

#[tokio::test]
async fn zero_parallelism_dies_with_a_clear_message() {
    let (_, rt) = test_env();
    let cause = rt
        .run(for_each_par(vec![1], succeed::<u8, String>, 0))
        .await
        .unwrap_err();
    assert_eq!(
        cause.defects()[0].message(),
        "for_each_par: parallelism must be at least 1"
    );
}

#[tokio::test]
async fn no_items_give_no_values() {
    let (_, rt) = test_env();
    assert_eq!(
        rt.run(for_each_par(Vec::<u8>::new(), succeed::<u8, String>, 4))
            .await,
        Ok(vec![])
    );
}

#[tokio::test]
async fn a_panicking_item_is_a_defect() {
    let (_, rt) = test_env();
    let work = for_each_par(
        0..5u8,
        |i| {
            sync::<u8, String, _>(move || {
                if i == 3 {
                    panic!("item {i} panicked")
                } else {
                    i
                }
            })
        },
        2,
    );
    let cause = rt.run(work).await.unwrap_err();
    assert_eq!(cause.defects()[0].message(), "item 3 panicked");
    assert_eq!(rt.live_fibers(), 0);
}

#[tokio::test]
async fn interrupting_for_each_par_interrupts_the_items_in_flight() {
    let (clock, rt) = test_env();
    let log = Log::default();
    let l = log.clone();
    let fiber = rt.fork(for_each_par(
        0..4u8,
        move |_| never::<u8, String>().on_interrupt(l.note("interrupted")),
        2,
    ));
    clock.advance(ms(1)).await;
    rt.run(fiber.interrupt::<()>()).await.unwrap().unwrap_err();
    assert_eq!(
        log.count("interrupted"),
        2,
        "only the two in flight had started"
    );
    assert_eq!(rt.live_fibers(), 0);
}
