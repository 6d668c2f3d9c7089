//! Coordination: Queue, Semaphore, Ref, Deferred, Hub, including interruption while waiting.

mod common;

use common::{test_env, Gauge};
use effect::prelude::*;
use effect::{Context, Deferred, Hub, Queue, QueueShutdown, Ref, Semaphore};
use effect::{Runtime, Subscription};
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
