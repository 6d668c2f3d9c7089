//! [`Hub`]: broadcast to every subscriber, bounded, with back-pressure.

use std::fmt;
use std::pin::pin;
use std::sync::{Arc, Mutex, Weak};

use tokio::sync::Notify;

use super::lock;
use super::queue::{Queue, QueueShutdown};
use crate::cause::Cause;
use crate::effect::Effect;

/// Broadcasts each published item to every current subscriber. Each subscriber has a
/// bounded buffer; [`publish`](Hub::publish) waits until every subscriber has room, so a slow
/// subscriber slows publishers down rather than missing items. A published item reaches
/// every subscriber or none: see [`publish`](Hub::publish). A dropped [`Subscription`]
/// unsubscribes.
///
/// ```
/// use effect::{run_blocking, Effect, Hub, QueueShutdown};
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
    /// Publishers deliver under this lock, and it is the only place that locks several
    /// subscriber queues at once (see [`Queue::offer_to_all`]).
    state: Mutex<HubState<T>>,
    /// Told whenever a subscriber takes an item, unsubscribes, or is shut down: publishers
    /// waiting for room check again.
    room: Arc<Notify>,
}

struct HubState<T> {
    subscribers: Vec<Weak<Queue<T>>>,
    shutdown: bool,
}

/// What one attempt at delivering a published item came to.
enum Delivery<T> {
    Delivered,
    /// Some subscriber is full: nobody got the item, handed back.
    NoRoom(T),
    ShutDown,
}

impl<T: Clone + Send + 'static> Inner<T> {
    /// Gives `item` to every live subscriber if each has room, or to none.
    fn try_deliver(&self, item: T) -> Delivery<T> {
        let mut state = lock(&self.state);
        if state.shutdown {
            return Delivery::ShutDown;
        }
        let subscribers = state.live_subscribers();
        let delivered = Queue::offer_to_all(&subscribers, item);
        drop(state);
        // Released after the hub's lock: if a subscription was dropped meanwhile, the last
        // handle on its queue (and the items in it) goes here.
        drop(subscribers);
        match delivered {
            Ok(()) => Delivery::Delivered,
            Err(item) => Delivery::NoRoom(item),
        }
    }
}

impl<T> HubState<T> {
    /// The subscriptions still alive, forgetting the dropped ones.
    fn live_subscribers(&mut self) -> Vec<Arc<Queue<T>>> {
        self.subscribers.retain(|s| s.strong_count() > 0);
        self.subscribers.iter().filter_map(Weak::upgrade).collect()
    }
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
    ///
    /// The effect does not keep the subscription alive: once the `Subscription` is dropped
    /// (unsubscribing), a take still to run gets the items already buffered, then fails with
    /// [`QueueShutdown`].
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
                state: Mutex::new(HubState {
                    subscribers: Vec::new(),
                    shutdown: false,
                }),
                room: Arc::new(Notify::new()),
            }),
        }
    }

    /// A new subscriber, receiving the items delivered from now on (including those of a
    /// publish already waiting for room).
    pub fn subscribe(&self) -> Subscription<T> {
        let queue = Arc::new(Queue::watched(
            self.inner.capacity,
            Some(self.inner.room.clone()),
        ));
        let mut state = lock(&self.inner.state);
        if state.shutdown {
            queue.shutdown();
        }
        state.subscribers.push(Arc::downgrade(&queue));
        drop(state);
        Subscription { queue }
    }

    /// How many subscriptions are alive.
    pub fn subscribers(&self) -> usize {
        lock(&self.inner.state)
            .subscribers
            .iter()
            .filter(|s| s.strong_count() > 0)
            .count()
    }

    /// An effect that delivers `item` to every current subscriber, waiting until each has
    /// room. With no subscriber it succeeds at once and the item is dropped.
    ///
    /// All or nothing: the item reaches every subscriber or none. The publish waits until
    /// every subscriber has room at the same time, then gives it to all of them in one step
    /// with no suspension point in between; a concurrent publisher cannot take the room it
    /// saw, since deliveries happen one at a time under the hub's lock. So every subscriber
    /// sees the items in the same order. A subscriber that unsubscribes (drops its
    /// [`Subscription`]) while a publish waits on it stops holding the publish up, and
    /// subscribers that join while it waits get the item too. A hub shut down before or
    /// while the publish waits fails it with [`QueueShutdown`], having delivered nothing.
    ///
    /// # Cancel safety
    ///
    /// Interrupted while it waits (fiber interruption, `timeout`, a lost `race`), the
    /// publish has delivered the item to no subscriber.
    pub fn publish<E: From<QueueShutdown> + Send + 'static>(&self, item: T) -> Effect<(), E> {
        let inner = self.inner.clone();
        Effect::from_future(async move {
            let mut item = item;
            loop {
                // Registered before the check, so room made in between still wakes us.
                let mut room = pin!(inner.room.notified());
                room.as_mut().enable();
                item = match inner.try_deliver(item) {
                    Delivery::Delivered => return Ok(()),
                    Delivery::ShutDown => return Err(Cause::Fail(E::from(QueueShutdown))),
                    Delivery::NoRoom(item) => item,
                };
                room.await;
            }
        })
    }

    /// Shuts the hub and every subscription down.
    pub fn shutdown(&self) {
        let mut state = lock(&self.inner.state);
        state.shutdown = true;
        let subscribers = state.live_subscribers();
        drop(state);
        // Each queue's shutdown also wakes the publishers waiting for room, to fail.
        for subscriber in &subscribers {
            subscriber.shutdown();
        }
        self.inner.room.notify_waiters();
    }
}
