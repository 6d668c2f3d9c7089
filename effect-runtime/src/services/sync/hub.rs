//! [`Hub`]: broadcast to every subscriber, bounded, with back-pressure.

use std::fmt;
use std::pin::pin;
use std::sync::{Arc, Mutex, Weak};

use tokio::sync::Notify;

use super::lock;
use super::queue::{Queue, QueueShutdown};
use crate::kernel::cause::{Cause, HoldsFailure};
use crate::kernel::effect::Effect;

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
///
/// ```
/// use effect::{run_blocking, Effect, Hub, QueueShutdown};
///
/// let hub = Hub::bounded(2);
/// let subscription = hub.subscribe();
/// run_blocking(hub.publish::<QueueShutdown>("news")).unwrap();
/// assert_eq!(subscription.try_take(), Some("news"));
/// drop(subscription); // unsubscribes
/// assert_eq!(hub.subscribers(), 0);
/// ```
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
    ///
    /// # Errors
    /// Fails with `E::from(QueueShutdown)` once the hub is shut down (or the subscription
    /// dropped) and the buffered items are taken.
    ///
    /// # Cancel safety
    /// Interrupted while waiting, it takes nothing: no item is lost.
    ///
    /// ```
    /// use effect::prelude::*;
    /// use effect::{Hub, QueueShutdown};
    ///
    /// #[effect]
    /// fn listen() -> Effect<(u32, bool), QueueShutdown> {
    ///     let hub = Hub::bounded(1);
    ///     let subscription = hub.subscribe();
    ///     let listener = subscription.take::<QueueShutdown>().fork()?;
    ///     hub.publish::<QueueShutdown>(1)?;
    ///     let first = listener.join()?;
    ///     hub.shutdown();
    ///     let after_shutdown = subscription.take::<QueueShutdown>().result()?;
    ///     (first, after_shutdown.is_err())
    /// }
    /// assert_eq!(effect::run_blocking(listen()), Ok((1, true)));
    /// ```
    pub fn take<E: HoldsFailure<QueueShutdown> + Send + 'static>(&self) -> Effect<T, E> {
        self.queue.take()
    }

    /// The next item, if one is waiting.
    ///
    /// ```
    /// use effect::Hub;
    ///
    /// let hub = Hub::<u8>::bounded(1);
    /// assert_eq!(hub.subscribe().try_take(), None);
    /// ```
    pub fn try_take(&self) -> Option<T> {
        self.queue.try_take()
    }
}

impl<T: Clone + Send + 'static> Hub<T> {
    /// A hub whose subscribers each buffer up to `capacity` items.
    ///
    /// # Panics
    /// When `capacity` is zero.
    ///
    /// ```
    /// use effect::Hub;
    ///
    /// let hub = Hub::<String>::bounded(16);
    /// assert_eq!(hub.subscribers(), 0);
    /// ```
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
    ///
    /// ```
    /// use effect::{run_blocking, Hub, QueueShutdown};
    ///
    /// let hub = Hub::bounded(4);
    /// run_blocking(hub.publish::<QueueShutdown>(1)).unwrap(); // nobody listens: dropped
    /// let late = hub.subscribe();
    /// run_blocking(hub.publish::<QueueShutdown>(2)).unwrap();
    /// assert_eq!(late.try_take(), Some(2));
    /// ```
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
    ///
    /// ```
    /// use effect::Hub;
    ///
    /// let hub = Hub::<()>::bounded(1);
    /// let (a, _b) = (hub.subscribe(), hub.subscribe());
    /// assert_eq!(hub.subscribers(), 2);
    /// drop(a);
    /// assert_eq!(hub.subscribers(), 1);
    /// ```
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
    ///
    /// # Errors
    /// Fails with `E::from(QueueShutdown)` if the hub is shut down before or while it waits.
    ///
    /// ```
    /// use effect::prelude::*;
    /// use effect::{Hub, QueueShutdown};
    ///
    /// #[effect]
    /// fn fan_out() -> Effect<Vec<u32>, QueueShutdown> {
    ///     let hub = Hub::bounded(1);
    ///     let (a, b) = (hub.subscribe(), hub.subscribe());
    ///     hub.publish::<QueueShutdown>(1)?;
    ///     // Both buffers are full: this publish waits until both subscribers took an item.
    ///     let second = hub.publish::<QueueShutdown>(2).fork()?;
    ///     let firsts = (a.take::<QueueShutdown>()?, b.take::<QueueShutdown>()?);
    ///     second.join()?;
    ///     vec![firsts.0, firsts.1, a.take::<QueueShutdown>()?, b.take::<QueueShutdown>()?]
    /// }
    /// assert_eq!(effect::run_blocking(fan_out()), Ok(vec![1, 1, 2, 2]));
    /// ```
    pub fn publish<E: HoldsFailure<QueueShutdown> + Send + 'static>(
        &self,
        item: T,
    ) -> Effect<(), E> {
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
    ///
    /// ```
    /// use effect::{run_blocking, Effect, Hub, QueueShutdown};
    ///
    /// let hub = Hub::bounded(1);
    /// let subscription = hub.subscribe();
    /// hub.shutdown();
    /// let published: Effect<(), QueueShutdown> = hub.publish(1);
    /// assert!(run_blocking(published).is_err());
    /// let taken: Effect<u32, QueueShutdown> = subscription.take();
    /// assert!(run_blocking(taken).is_err());
    /// ```
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
