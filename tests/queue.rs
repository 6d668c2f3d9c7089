//! Coordination: Queue, Semaphore, Ref, Deferred, Hub, including interruption while waiting.

use crate::common;

use common::{test_env, Gauge};
use effect::prelude::*;
use effect::{Context, Deferred, Hub, Queue, QueueShutdown, Ref, Semaphore};
use effect::{Runtime, Subscription, TestClock};
use std::sync::Arc;

#[tokio::test]
async fn offer_waits_while_full_and_take_waits_while_empty() {
    let (clock, rt) = test_env();
    let queue: Queue<u32> = Queue::bounded(1);
    queue.try_offer(1).unwrap();
    assert_eq!(queue.try_offer(2), Err(2), "full: the item is handed back");
    let blocked_offer = rt.fork(queue.offer::<QueueShutdown>(2));
    clock.advance(ms(1)).await;
    assert!(!blocked_offer.is_done());
    assert_eq!(queue.try_take(), Some(1));
    clock.advance(ms(1)).await;
    assert!(blocked_offer.is_done());
    assert_eq!(queue.try_take(), Some(2));
    let blocked_take = rt.fork(queue.take::<QueueShutdown>());
    clock.advance(ms(1)).await;
    assert!(!blocked_take.is_done());
    queue.try_offer(3).unwrap();
    assert_eq!(rt.run(blocked_take.join()).await, Ok(3));
    assert_eq!(rt.live_fibers(), 0);
}

#[tokio::test]
async fn items_come_out_in_order() {
    let queue: Queue<u32> = Queue::bounded(10);
    for i in 0..5 {
        queue.try_offer(i).unwrap();
    }
    let taken: Vec<u32> = std::iter::from_fn(|| queue.try_take()).collect();
    assert_eq!(taken, [0, 1, 2, 3, 4]);
    assert_eq!((queue.size(), queue.capacity()), (0, 10));
}

#[tokio::test]
async fn shutdown_fails_every_waiter_and_later_operations() {
    let (clock, rt) = test_env();
    let queue: Queue<u32> = Queue::bounded(1);
    let takers: Vec<_> = (0..3)
        .map(|_| rt.fork(queue.take::<QueueShutdown>()))
        .collect();
    clock.advance(ms(1)).await;
    queue.shutdown();
    for taker in takers {
        assert_eq!(
            rt.run(taker.join()).await.unwrap_err().failure(),
            Some(&QueueShutdown)
        );
    }
    assert_eq!(
        rt.run(queue.offer::<QueueShutdown>(1))
            .await
            .unwrap_err()
            .failure(),
        Some(&QueueShutdown)
    );
    assert_eq!(queue.try_offer(1), Err(1));
    assert!(queue.is_shutdown());
}

#[tokio::test]
async fn a_taker_interrupted_while_waiting_takes_nothing() {
    let (clock, rt) = test_env();
    let queue: Queue<u32> = Queue::bounded(1);
    let interrupted = rt.fork(queue.take::<QueueShutdown>());
    let patient = rt.fork(sleep::<QueueShutdown>(ms(5)).flat_map({
        let queue = queue.clone();
        move |()| queue.take()
    }));
    clock.advance(ms(1)).await;
    rt.run(interrupted.interrupt::<()>())
        .await
        .unwrap()
        .unwrap_err();
    queue.try_offer(7).unwrap();
    clock.advance(ms(5)).await;
    assert_eq!(
        rt.run(patient.join()).await,
        Ok(7),
        "the item went to the fiber still waiting"
    );
}

#[tokio::test]
async fn an_offer_interrupted_while_waiting_adds_nothing() {
    let (clock, rt) = test_env();
    let queue: Queue<u32> = Queue::bounded(1);
    queue.try_offer(1).unwrap();
    let offer = rt.fork(queue.offer::<QueueShutdown>(2));
    clock.advance(ms(1)).await;
    rt.run(offer.interrupt::<()>()).await.unwrap().unwrap_err();
    assert_eq!(queue.try_take(), Some(1));
    assert_eq!(
        queue.try_take(),
        None,
        "the interrupted offer left nothing behind"
    );
}

#[test]
#[should_panic(expected = "capacity must be at least 1")]
fn a_zero_capacity_queue_is_refused() {
    let _ = Queue::<u8>::bounded(0);
}

#[tokio::test]
async fn semaphore_limits_concurrency_and_returns_permits_on_every_path() {
    let (clock, rt) = test_env();
    let semaphore = Semaphore::new(2);
    let gauge = Gauge::default();
    let work: Vec<Effect<(), String>> = (0..6)
        .map(|_| semaphore.with_permit(gauge.track(sleep(ms(10)))))
        .collect();
    let fiber = rt.fork(zip_par(work));
    clock.advance(ms(30)).await;
    rt.run(fiber.join()).await.unwrap();
    assert_eq!(gauge.max(), 2);
    assert_eq!(semaphore.available(), 2);
    let failing = semaphore.with_permits(2, fail::<(), String>("x".into()));
    rt.run(failing).await.unwrap_err();
    let panicking = semaphore.with_permit(sync::<(), String, _>(|| panic!("bug")));
    rt.run(panicking).await.unwrap_err();
    let interrupted = rt.fork(semaphore.with_permit(never::<(), String>()));
    clock.advance(ms(1)).await;
    assert_eq!(semaphore.available(), 1);
    rt.run(interrupted.interrupt::<()>())
        .await
        .unwrap()
        .unwrap_err();
    assert_eq!(semaphore.available(), 2, "every path returned its permits");
}

#[tokio::test]
async fn a_fiber_interrupted_while_waiting_for_a_permit_leaks_none() {
    let (clock, rt) = test_env();
    let semaphore = Semaphore::new(1);
    let holder = rt.fork(semaphore.with_permit(sleep::<String>(ms(10))));
    clock.advance(ms(1)).await; // the holder has the permit
    let waiter = rt.fork(semaphore.with_permit(succeed::<(), String>(())));
    clock.advance(ms(1)).await; // the waiter waits for it
    rt.run(waiter.interrupt::<()>()).await.unwrap().unwrap_err();
    clock.advance(ms(9)).await;
    rt.run(holder.join()).await.unwrap();
    assert_eq!(semaphore.available(), 1);
}

#[tokio::test]
async fn asking_for_more_permits_than_exist_dies() {
    let semaphore = Semaphore::new(2);
    let cause = semaphore
        .with_permits(3, succeed::<(), String>(()))
        .run(&Context::new())
        .await
        .unwrap_err();
    assert!(cause.defects()[0]
        .message()
        .contains("asked for 3 permits of a semaphore that has 2"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ref_updates_are_atomic_across_parallel_fibers() {
    let counter = Ref::new(0u64);
    let bumps: Vec<Effect<(), String>> = (0..100).map(|_| counter.update(|n| *n += 1)).collect();
    let ctx = Context::new();
    zip_par(bumps).run(&ctx).await.unwrap();
    assert_eq!(counter.get_now(), 100);
    let swapped: Effect<u64, String> = counter.modify(|n| std::mem::replace(n, 7));
    assert_eq!(swapped.run(&ctx).await, Ok(100));
    assert_eq!(counter.get::<String>().run(&ctx).await, Ok(7));
    counter.set::<String>(1).run(&ctx).await.unwrap();
    assert_eq!(counter.get_now(), 1);
}

#[tokio::test]
async fn deferred_completes_once_and_wakes_every_waiter() {
    let (clock, rt) = test_env();
    let ready: Deferred<&str> = Deferred::new();
    let waiters: Vec<_> = (0..3).map(|_| rt.fork(ready.wait::<String>())).collect();
    clock.advance(ms(1)).await;
    assert!(ready.try_get().is_none());
    assert_eq!(rt.run(ready.complete::<String>("go")).await, Ok(true));
    assert_eq!(rt.run(ready.complete::<String>("again")).await, Ok(false));
    for waiter in waiters {
        assert_eq!(rt.run(waiter.join()).await, Ok("go"));
    }
    assert_eq!(
        rt.run(ready.wait::<String>()).await,
        Ok("go"),
        "late waiters get it at once"
    );
}

#[tokio::test]
async fn hub_broadcasts_to_every_subscriber_with_back_pressure() {
    let (clock, rt) = test_env();
    let hub: Hub<u32> = Hub::bounded(1);
    let (a, b) = (hub.subscribe(), hub.subscribe());
    assert_eq!(hub.subscribers(), 2);
    rt.run(hub.publish::<QueueShutdown>(1)).await.unwrap();
    let second = rt.fork(hub.publish::<QueueShutdown>(2));
    clock.advance(ms(1)).await;
    assert!(
        !second.is_done(),
        "subscriber buffers are full: publish waits"
    );
    assert_eq!((a.try_take(), b.try_take()), (Some(1), Some(1)));
    clock.advance(ms(1)).await;
    assert!(second.is_done());
    assert_eq!((a.try_take(), b.try_take()), (Some(2), Some(2)));
    drop(b);
    assert_eq!(hub.subscribers(), 1);
    rt.run(hub.publish::<QueueShutdown>(3)).await.unwrap();
    assert_eq!(a.try_take(), Some(3));
    hub.shutdown();
    assert_eq!(
        rt.run(a.take::<QueueShutdown>())
            .await
            .unwrap_err()
            .failure(),
        Some(&QueueShutdown)
    );
    assert_eq!(
        rt.run(hub.publish::<QueueShutdown>(4))
            .await
            .unwrap_err()
            .failure(),
        Some(&QueueShutdown)
    );
}

#[tokio::test]
async fn a_dropped_subscriber_does_not_block_publishers() {
    let (clock, rt) = test_env();
    let hub: Hub<u32> = Hub::bounded(1);
    let (keep, gone) = (hub.subscribe(), hub.subscribe());
    rt.run(hub.publish::<QueueShutdown>(1)).await.unwrap();
    assert_eq!(keep.try_take(), Some(1));
    let blocked = rt.fork(hub.publish::<QueueShutdown>(2));
    clock.advance(ms(1)).await;
    assert!(
        !blocked.is_done(),
        "waiting for room in the slow subscriber"
    );
    drop(gone);
    clock.advance(ms(1)).await;
    assert_eq!(rt.run(blocked.join()).await, Ok(()));
    assert_eq!(keep.try_take(), Some(2));
}

/// A hub of capacity 1 with two subscribers: `a` has room, `b` is full (holds `0`).
async fn hub_with_one_full_subscriber(
    rt: &Runtime,
) -> (Hub<u32>, Subscription<u32>, Subscription<u32>) {
    let hub: Hub<u32> = Hub::bounded(1);
    let (a, b) = (hub.subscribe(), hub.subscribe());
    rt.run(hub.publish::<QueueShutdown>(0)).await.unwrap();
    assert_eq!(a.try_take(), Some(0));
    (hub, a, b)
}

#[tokio::test]
async fn an_interrupted_publish_delivers_to_no_subscriber() {
    let (clock, rt) = test_env();
    let (hub, a, b) = hub_with_one_full_subscriber(&rt).await;
    let publish = rt.fork(hub.publish::<QueueShutdown>(1));
    clock.advance(ms(1)).await;
    assert!(!publish.is_done(), "waiting for room in `b`");
    rt.run(publish.interrupt::<()>())
        .await
        .unwrap()
        .unwrap_err();
    assert_eq!(a.try_take(), None, "`a` had room, yet got nothing");
    assert_eq!((b.try_take(), b.try_take()), (Some(0), None));
    rt.run(hub.publish::<QueueShutdown>(2)).await.unwrap();
    assert_eq!((a.try_take(), b.try_take()), (Some(2), Some(2)));
    assert_eq!(rt.live_fibers(), 0);
}

#[tokio::test]
async fn a_waiting_publish_delivers_to_every_subscriber_at_once() {
    let (clock, rt) = test_env();
    let (hub, a, b) = hub_with_one_full_subscriber(&rt).await;
    let publish = rt.fork(hub.publish::<QueueShutdown>(1));
    clock.advance(ms(1)).await;
    assert_eq!(
        a.try_take(),
        None,
        "no subscriber sees it before all have room"
    );
    assert_eq!(b.try_take(), Some(0));
    clock.advance(ms(1)).await;
    assert_eq!(rt.run(publish.join()).await, Ok(()));
    assert_eq!((a.try_take(), b.try_take()), (Some(1), Some(1)));
    assert_eq!(rt.live_fibers(), 0);
}

#[tokio::test]
async fn a_subscriber_dropped_while_a_publish_waits_on_it_lets_the_rest_have_the_item() {
    let (clock, rt) = test_env();
    let (hub, a, b) = hub_with_one_full_subscriber(&rt).await;
    let c = hub.subscribe();
    let publish = rt.fork(hub.publish::<QueueShutdown>(1));
    clock.advance(ms(1)).await;
    assert!(!publish.is_done(), "waiting for room in `b`");
    assert_eq!((a.try_take(), c.try_take()), (None, None));
    drop(b);
    clock.advance(ms(1)).await;
    assert_eq!(rt.run(publish.join()).await, Ok(()));
    assert_eq!((a.try_take(), c.try_take()), (Some(1), Some(1)));
    assert_eq!(rt.live_fibers(), 0);
}

#[tokio::test]
async fn shutting_a_hub_down_fails_a_waiting_publish_which_delivers_nothing() {
    let (clock, rt) = test_env();
    let (hub, a, b) = hub_with_one_full_subscriber(&rt).await;
    let publish = rt.fork(hub.publish::<QueueShutdown>(1));
    clock.advance(ms(1)).await;
    hub.shutdown();
    assert_eq!(
        rt.run(publish.join()).await.unwrap_err().failure(),
        Some(&QueueShutdown)
    );
    assert_eq!(
        (a.try_take(), b.try_take(), b.try_take()),
        (None, Some(0), None)
    );
    assert_eq!(rt.live_fibers(), 0);
}

#[tokio::test]
async fn concurrent_publishers_each_deliver_whole_items_in_one_order() {
    let (clock, rt) = test_env();
    let (hub, a, b) = hub_with_one_full_subscriber(&rt).await;
    let first = rt.fork(hub.publish::<QueueShutdown>(1));
    let second = rt.fork(hub.publish::<QueueShutdown>(2));
    clock.advance(ms(1)).await;
    assert_eq!(a.try_take(), None, "neither publish went half-way");
    // Room for exactly one item in each subscriber: one publisher takes it, whole; the
    // other keeps waiting rather than taking the room the first waited for.
    assert_eq!(b.try_take(), Some(0));
    clock.advance(ms(1)).await;
    assert_eq!(
        [first.is_done(), second.is_done()]
            .iter()
            .filter(|d| **d)
            .count(),
        1
    );
    let winner = a.try_take().expect("the finished publish reached `a`");
    assert_eq!(b.try_take(), Some(winner));
    clock.advance(ms(1)).await;
    assert!(first.is_done() && second.is_done());
    let later = a.try_take().expect("the other publish reached `a`");
    assert_eq!(b.try_take(), Some(later));
    let mut items = [winner, later];
    items.sort();
    assert_eq!(items, [1, 2], "each item once, none lost");
    assert_eq!((a.try_take(), b.try_take()), (None, None));
    assert_eq!(rt.live_fibers(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn parallel_publishers_lose_and_duplicate_nothing() {
    const PER_PUBLISHER: u32 = 200;
    let hub: Hub<u32> = Hub::bounded(1);
    // Kept here until the end: dropping a subscription unsubscribes it.
    let subscribers = [Arc::new(hub.subscribe()), Arc::new(hub.subscribe())];
    let ctx = Context::new();
    let publishers: Vec<Effect<(), QueueShutdown>> = (0..2)
        .map(|p| {
            let hub = hub.clone();
            let items: Vec<Effect<(), QueueShutdown>> = (0..PER_PUBLISHER)
                .map(|i| hub.publish(p * PER_PUBLISHER + i))
                .collect();
            items
                .into_iter()
                .fold(succeed(()), |done, next| done.flat_map(move |()| next))
        })
        .collect();
    let consumers = subscribers.clone().map(|subscriber| {
        (0..2 * PER_PUBLISHER).fold(succeed::<Vec<u32>, QueueShutdown>(Vec::new()), |seen, _| {
            let subscriber = subscriber.clone();
            seen.flat_map(move |mut seen| {
                subscriber.take().map(move |item| {
                    seen.push(item);
                    seen
                })
            })
        })
    });
    let [first, second] = consumers;
    let (seen_a, seen_b) = zip_par(publishers)
        .zip_par(first.zip_par(second))
        .run(&ctx)
        .await
        .unwrap()
        .1;
    assert_eq!(
        seen_a, seen_b,
        "every subscriber sees the items in one order"
    );
    let mut sorted = seen_a.clone();
    sorted.sort();
    assert_eq!(sorted, (0..2 * PER_PUBLISHER).collect::<Vec<_>>());
}

// ---- queue strategies and batch operations, on both runtime flavours ----

crate::effect_tests_on_both_flavours! {
    strategies:
    a_sliding_queue_keeps_the_newest_and_never_waits => sliding_keeps_the_newest;
    a_dropping_queue_refuses_the_newest_and_says_so => dropping_refuses_the_newest;
    an_unbounded_queue_never_waits_nor_drops => unbounded_never_waits;
    every_strategy_fails_waiters_and_later_offers_on_shutdown => shutdown_for_every_strategy;
    offer_all_waits_for_room_item_by_item_in_order => offer_all_on_a_bounded_queue;
    offer_all_gives_back_what_a_dropping_queue_refused => offer_all_on_a_dropping_queue;
    take_up_to_takes_what_is_there_without_waiting => take_up_to_never_waits;
    take_between_waits_for_the_least_and_takes_the_most => take_between_waits_for_min;
    take_between_interrupted_while_waiting_takes_nothing => take_between_interrupted;
    take_between_and_take_waiting_together_both_get_their_items => take_between_beside_take;
    take_between_after_shutdown_gives_what_is_left => take_between_after_shutdown;
    bad_batch_arguments_are_refused_clearly => bad_batch_arguments;
}

fn sliding_keeps_the_newest(_clock: TestClock) -> Effect<(), String> {
    effect_block! {
        let queue = Queue::sliding(3);
        for i in 1..=5 {
            // Offers to a full sliding queue succeed at once.
            assert!(queue.offer::<QueueShutdown>(i).map_err(|e| e.to_string())?);
        }
        assert_eq!(queue.size(), 3);
        assert_eq!(queue.try_offer(6), Ok(()), "try_offer slides too");
        assert_eq!(queue.take_all::<QueueShutdown>().map_err(|e| e.to_string())?, [4, 5, 6]);
    }
}

fn dropping_refuses_the_newest(_clock: TestClock) -> Effect<(), String> {
    effect_block! {
        let queue = Queue::dropping(2);
        let offered = (
            queue.offer::<QueueShutdown>(1).map_err(|e| e.to_string())?,
            queue.offer::<QueueShutdown>(2).map_err(|e| e.to_string())?,
            queue.offer::<QueueShutdown>(3).map_err(|e| e.to_string())?,
        );
        assert_eq!(offered, (true, true, false));
        assert_eq!(queue.try_offer(4), Err(4), "try_offer hands the refused item back");
        assert_eq!(queue.try_take(), Some(1));
        assert!(queue.offer::<QueueShutdown>(5).map_err(|e| e.to_string())?, "room again");
        assert_eq!(queue.take_all::<QueueShutdown>().map_err(|e| e.to_string())?, [2, 5]);
    }
}

fn unbounded_never_waits(_clock: TestClock) -> Effect<(), String> {
    effect_block! {
        let queue = Queue::unbounded();
        for i in 0..10_000u32 {
            assert!(queue.offer::<QueueShutdown>(i).map_err(|e| e.to_string())?);
        }
        assert_eq!(queue.size(), 10_000);
        let all = queue.take_all::<QueueShutdown>().map_err(|e| e.to_string())?;
        assert!(all.iter().copied().eq(0..10_000), "in order, none lost");
    }
}

/// A taker waiting on each kind of queue fails when it is shut down; later offers fail;
/// items queued before the shutdown are still taken.
fn shutdown_for_every_strategy(clock: TestClock) -> Effect<(), String> {
    effect_block! {
        for queue in [Queue::bounded(2), Queue::sliding(2), Queue::dropping(2), Queue::unbounded()] {
            let waiting = queue.take::<QueueShutdown>().fork()?;
            clock.advance(ms(1)).await;
            assert!(!waiting.is_done(), "a take waits on an empty queue");
            queue.shutdown();
            assert_eq!(waiting.join().result()?, Err(QueueShutdown));
            assert_eq!(queue.offer::<QueueShutdown>(1).result()?, Err(QueueShutdown));
            assert_eq!(queue.try_offer(1), Err(1));
        }
        let queue = Queue::sliding(2);
        queue.try_offer(7).unwrap();
        queue.shutdown();
        assert_eq!(queue.take::<QueueShutdown>().result()?, Ok(7));
        assert_eq!(queue.take_up_to::<QueueShutdown>(5).result()?, Err(QueueShutdown));
    }
}

fn offer_all_on_a_bounded_queue(clock: TestClock) -> Effect<(), String> {
    effect_block! {
        let queue = Queue::bounded(2);
        let offering = queue.offer_all::<QueueShutdown, _>(1..=5).fork()?;
        clock.advance(ms(1)).await;
        assert!(!offering.is_done(), "waits for room for the third item");
        assert_eq!(queue.size(), 2);
        let mut taken = Vec::new();
        while taken.len() < 5 {
            taken.push(queue.take::<QueueShutdown>().map_err(|e| e.to_string())?);
        }
        assert_eq!(offering.join().map_err(|e| e.to_string())?, Vec::<u32>::new());
        assert_eq!(taken, [1, 2, 3, 4, 5]);
        // Interrupted while waiting: what went in stays, the rest is dropped.
        let offering = queue.offer_all::<QueueShutdown, _>(10..=13).fork()?;
        clock.advance(ms(1)).await;
        assert!(offering.interrupt()?.unwrap_err().is_interrupted());
        assert_eq!(queue.take_all::<QueueShutdown>().map_err(|e| e.to_string())?, [10, 11]);
    }
}

fn offer_all_on_a_dropping_queue(_clock: TestClock) -> Effect<(), String> {
    effect_block! {
        let queue = Queue::dropping(3);
        queue.try_offer(0).unwrap();
        let refused = queue.offer_all::<QueueShutdown, _>(vec![1, 2, 3, 4]).map_err(|e| e.to_string())?;
        assert_eq!(refused, [3, 4], "nothing lost: the refused items come back");
        let sliding = Queue::sliding(2);
        let refused = sliding.offer_all::<QueueShutdown, _>(vec![1, 2, 3]).map_err(|e| e.to_string())?;
        assert!(refused.is_empty());
        assert_eq!(sliding.take_all::<QueueShutdown>().map_err(|e| e.to_string())?, [2, 3]);
        assert_eq!(queue.take_all::<QueueShutdown>().map_err(|e| e.to_string())?, [0, 1, 2]);
    }
}

fn take_up_to_never_waits(_clock: TestClock) -> Effect<(), String> {
    effect_block! {
        let queue = Queue::bounded(8);
        assert_eq!(queue.take_up_to::<QueueShutdown>(3).map_err(|e| e.to_string())?, Vec::<u32>::new());
        queue.offer_all::<QueueShutdown, _>(1..=4).map_err(|e| e.to_string())?;
        assert_eq!(queue.take_up_to::<QueueShutdown>(3).map_err(|e| e.to_string())?, [1, 2, 3]);
        assert_eq!(queue.take_up_to::<QueueShutdown>(0).map_err(|e| e.to_string())?, Vec::<u32>::new());
        assert_eq!(queue.take_up_to::<QueueShutdown>(3).map_err(|e| e.to_string())?, [4]);
    }
}

fn take_between_waits_for_min(clock: TestClock) -> Effect<(), String> {
    effect_block! {
        let queue = Queue::bounded(8);
        let batch = queue.take_between::<QueueShutdown>(3, 4).fork()?;
        for i in 1..=2 {
            queue.offer::<QueueShutdown>(i).map_err(|e| e.to_string())?;
            clock.advance(ms(1)).await;
            assert!(!batch.is_done(), "{i} items are fewer than 3");
        }
        queue.offer_all::<QueueShutdown, _>(3..=6).map_err(|e| e.to_string())?;
        assert_eq!(batch.join().map_err(|e| e.to_string())?, [1, 2, 3, 4]);
        assert_eq!(queue.size(), 2);
        // `min` of zero: no wait.
        assert_eq!(queue.take_between::<QueueShutdown>(0, 1).map_err(|e| e.to_string())?, [5]);
    }
}

fn take_between_interrupted(clock: TestClock) -> Effect<(), String> {
    effect_block! {
        let queue = Queue::bounded(8);
        let batch = queue.take_between::<QueueShutdown>(3, 3).fork()?;
        queue.offer_all::<QueueShutdown, _>(vec![1, 2]).map_err(|e| e.to_string())?;
        clock.advance(ms(1)).await;
        assert!(batch.interrupt()?.unwrap_err().is_interrupted());
        assert_eq!(queue.take_all::<QueueShutdown>().map_err(|e| e.to_string())?, [1, 2], "it took nothing");
    }
}

/// A `take_between` that cannot go on yet must not swallow the wake-up a plain `take`
/// waiting beside it needs.
fn take_between_beside_take(clock: TestClock) -> Effect<(), String> {
    effect_block! {
        let queue = Queue::bounded(8);
        let batch = queue.take_between::<QueueShutdown>(5, 5).fork()?;
        let single = queue.take::<QueueShutdown>().fork()?;
        clock.advance(ms(1)).await;
        queue.offer::<QueueShutdown>(1).map_err(|e| e.to_string())?;
        clock.advance(ms(1)).await;
        assert!(single.is_done(), "the plain take got the one item");
        assert_eq!(single.join().map_err(|e| e.to_string())?, 1);
        queue.offer_all::<QueueShutdown, _>(2..=6).map_err(|e| e.to_string())?;
        assert_eq!(batch.join().map_err(|e| e.to_string())?, [2, 3, 4, 5, 6]);
    }
}

fn take_between_after_shutdown(clock: TestClock) -> Effect<(), String> {
    effect_block! {
        let queue = Queue::bounded(8);
        let batch = queue.take_between::<QueueShutdown>(5, 8).fork()?;
        queue.offer_all::<QueueShutdown, _>(vec![1, 2]).map_err(|e| e.to_string())?;
        clock.advance(ms(1)).await;
        queue.shutdown();
        assert_eq!(batch.join().map_err(|e| e.to_string())?, [1, 2], "what was queued is not lost");
        assert_eq!(queue.take_between::<QueueShutdown>(1, 2).result()?, Err(QueueShutdown));
    }
}

fn bad_batch_arguments(_clock: TestClock) -> Effect<(), String> {
    effect_block! {
        let queue = Queue::<u32>::bounded(4);
        let cause = exit_of(queue.take_between::<QueueShutdown>(3, 2))?.unwrap_err();
        let message = cause.defects()[0].message().to_string();
        assert!(message.contains("at least 3 and at most 2"), "{message}");
        let zero = std::panic::catch_unwind(|| Queue::<u32>::sliding(0));
        assert!(zero.is_err(), "a sliding queue of capacity 0 is refused");
        assert!(std::panic::catch_unwind(|| Queue::<u32>::dropping(0)).is_err());
    }
}

/// The exit of `effect`, as a value.
fn exit_of<A: Send + 'static, E: Send + 'static>(
    effect: Effect<A, E>,
) -> Effect<Exit<A, E>, String> {
    effect.map(Ok).catch_all_cause(|cause| succeed(Err(cause)))
}

// ---- scoped permits ----

crate::effect_tests_on_both_flavours! {
    scoped_permits:
    a_scoped_permit_is_held_until_the_scope_closes_however_it_ends => permits_held_until_scope_closes;
    a_fiber_interrupted_waiting_for_a_scoped_permit_takes_none => scoped_permit_interrupted;
    scoped_permits_are_granted_in_the_order_asked => scoped_permits_in_order;
    scoped_permits_refuse_bad_requests_clearly => scoped_permits_bad_requests;
}

fn permits_held_until_scope_closes(_clock: TestClock) -> Effect<(), String> {
    effect_block! {
        let semaphore = Semaphore::new(3);
        let inside = semaphore.clone();
        let seen = scoped(effect_block! {
            inside.permits::<String>(2)?;
            inside.available()
        })?;
        assert_eq!(seen, 1);
        assert_eq!(semaphore.available(), 3, "returned when the scope closed");
        // On failure, and on a defect, too.
        let failing = semaphore.clone();
        let failed = scoped(failing.permit::<String>().flat_map(|()| fail::<(), _>("boom".to_string())));
        assert!(failed.result()?.is_err());
        let dying = semaphore.clone();
        let died = scoped(dying.permit::<String>().flat_map(|()| die::<(), String>("bug")));
        assert!(exit_of(died)?.unwrap_err().is_die());
        assert_eq!(semaphore.available(), 3);
    }
}

fn scoped_permit_interrupted(clock: TestClock) -> Effect<(), String> {
    effect_block! {
        let semaphore = Semaphore::new(1);
        let holder = semaphore.clone();
        let held = scoped(holder.permit::<String>().flat_map(|()| never::<(), String>())).fork()?;
        clock.advance(ms(1)).await;
        assert_eq!(semaphore.available(), 0);
        let waiter = scoped(semaphore.permit::<String>()).fork()?;
        clock.advance(ms(1)).await;
        assert!(!waiter.is_done());
        assert!(waiter.interrupt()?.unwrap_err().is_interrupted());
        assert!(held.interrupt()?.unwrap_err().is_interrupted());
        assert_eq!(semaphore.available(), 1, "neither the holder's nor the waiter's permit leaked");
    }
}

fn scoped_permits_in_order(clock: TestClock) -> Effect<(), String> {
    effect_block! {
        let semaphore = Semaphore::new(1);
        let log = common::Log::default();
        let gate = Deferred::<()>::new();
        let first = {
            let (semaphore, gate) = (semaphore.clone(), gate.clone());
            scoped(semaphore.permit::<String>().flat_map(move |()| gate.wait())).fork()?
        };
        clock.advance(ms(1)).await;
        let mut waiters = Vec::new();
        for i in 0..5 {
            let (semaphore, log) = (semaphore.clone(), log.clone());
            waiters.push(scoped(semaphore.permit::<String>().flat_map(move |()| log.note(&i.to_string()))).fork()?);
            clock.advance(ms(1)).await;
        }
        gate.complete::<String>(())?;
        first.join()?;
        for waiter in waiters {
            waiter.join()?;
        }
        assert_eq!(log.events(), ["0", "1", "2", "3", "4"]);
    }
}

fn scoped_permits_bad_requests(_clock: TestClock) -> Effect<(), String> {
    effect_block! {
        let semaphore = Semaphore::new(2);
        let outside = exit_of(semaphore.permit::<String>())?.unwrap_err();
        assert!(outside.defects()[0].message().contains("outside a scope"), "{outside:?}");
        let too_many = exit_of(scoped(semaphore.permits::<String>(3)))?.unwrap_err();
        assert!(too_many.defects()[0].message().contains("3 permits of a semaphore that has 2"));
        assert_eq!(semaphore.available(), 2);
    }
}
