//! [`Hub`]: broadcast to every subscriber, bounded, with back-pressure.

use std::fmt;
use std::sync::{Arc, Mutex, Weak};

use super::lock;
use super::queue::{Queue, QueueShutdown};
use crate::cause::Cause;
use crate::effect::Effect;

/// Broadcasts each published item to every current subscriber. Each subscriber has a
/// bounded buffer; [`publish`](Hub::publish) waits until every subscriber has room, so a slow
/// subscriber slows publishers down rather than missing items. A dropped [`Subscription`]
/// unsubscribes.
///
/// ```
/// use effect_runtime::{run_blocking, Effect, Hub, QueueShutdown};
///
/// let hub = Hub::bounded(4);
/// let (a, b) = (hub.subscribe(), hub.subscribe());
/// let program: Effect<(u32, u32), QueueShutdown> =
///     hub.publish(7).flat_map(move |()| a.take().zip(b.take()));
/// assert_eq!(run_blocking(program), Ok((7, 7)));
/// ```
pub struct Hub<T> {
    inner: Arc<Inner<T>>,
}

struct Inner<T> {
    capacity: usize,
    subscribers: Mutex<Vec<Weak<Queue<T>>>>,
    shutdown: Mutex<bool>,
}

impl<T> Clone for Hub<T> {
    fn clone(&self) -> Self {
        Hub {
            inner: self.inner.clone(),
        }
    }
}

impl<T> fmt::Debug for Hub<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Hub")
            .field("capacity", &self.inner.capacity)
            .finish()
    }
}

/// One subscriber's view of a [`Hub`]: the items published since it subscribed.
pub struct Subscription<T> {
    queue: Arc<Queue<T>>,
}

impl<T> fmt::Debug for Subscription<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Subscription")
    }
}

impl<T> Drop for Subscription<T> {
    fn drop(&mut self) {
        // Wakes a publisher waiting for room in this subscriber's buffer.
        self.queue.close();
    }
}

impl<T: Send + 'static> Subscription<T> {
    /// An effect that takes the next item, waiting for one.
    pub fn take<E: From<QueueShutdown> + Send + 'static>(&self) -> Effect<T, E> {
        self.queue.take()
    }

    /// The next item, if one is waiting.
    pub fn try_take(&self) -> Option<T> {
        self.queue.try_take()
    }
}

impl<T: Clone + Send + 'static> Hub<T> {
    /// A hub whose subscribers each buffer up to `capacity` items.
    ///
    /// # Panics
    /// When `capacity` is zero.
    pub fn bounded(capacity: usize) -> Self {
        assert!(capacity > 0, "Hub::bounded: capacity must be at least 1");
        Hub {
            inner: Arc::new(Inner {
                capacity,
                subscribers: Mutex::new(Vec::new()),
                shutdown: Mutex::new(false),
            }),
        }
    }

    /// A new subscriber, receiving items published from now on.
    pub fn subscribe(&self) -> Subscription<T> {
        let queue = Arc::new(Queue::bounded(self.inner.capacity));
        if *lock(&self.inner.shutdown) {
            queue.shutdown();
        }
        lock(&self.inner.subscribers).push(Arc::downgrade(&queue));
        Subscription { queue }
    }

    /// How many subscriptions are alive.
    pub fn subscribers(&self) -> usize {
        lock(&self.inner.subscribers)
            .iter()
            .filter(|s| s.strong_count() > 0)
            .count()
    }

    /// An effect that delivers `item` to every current subscriber, waiting for room in each.
    pub fn publish<E: From<QueueShutdown> + Send + 'static>(&self, item: T) -> Effect<(), E> {
        let inner = self.inner.clone();
        Effect::from_future(async move {
            if *lock(&inner.shutdown) {
                return Err(Cause::Fail(E::from(QueueShutdown)));
            }
            let subscribers: Vec<Arc<Queue<T>>> = {
                let mut list = lock(&inner.subscribers);
                list.retain(|s| s.strong_count() > 0);
                list.iter().filter_map(Weak::upgrade).collect()
            };
            for subscriber in subscribers {
                // A subscriber dropped meanwhile shuts its queue: skip it. A hub shut down
                // meanwhile fails the publish.
                if subscriber
                    .offer::<QueueShutdown>(item.clone())
                    .await
                    .is_err()
                    && *lock(&inner.shutdown)
                {
                    return Err(Cause::Fail(E::from(QueueShutdown)));
                }
            }
            Ok(())
        })
    }

    /// Shuts the hub and every subscription down.
    pub fn shutdown(&self) {
        *lock(&self.inner.shutdown) = true;
        for subscriber in lock(&self.inner.subscribers)
            .iter()
            .filter_map(Weak::upgrade)
        {
            subscriber.shutdown();
        }
    }
}
