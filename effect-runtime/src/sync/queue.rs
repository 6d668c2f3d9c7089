//! [`Queue`]: a bounded FIFO queue with back-pressure and shutdown.

use std::collections::VecDeque;
use std::fmt;
use std::pin::pin;
use std::sync::{Arc, Mutex};

use tokio::sync::Notify;

use super::lock;
use crate::cause::Cause;
use crate::effect::Effect;

/// The failure of an operation on a queue (or hub) that was shut down.
///
/// ```
/// use effect::{run_blocking, Effect, Queue, QueueShutdown};
///
/// let queue = Queue::<u32>::bounded(1);
/// queue.shutdown();
/// let offered: Effect<(), QueueShutdown> = queue.offer(1);
/// assert_eq!(run_blocking(offered).unwrap_err().failure(), Some(&QueueShutdown));
/// assert_eq!(QueueShutdown.to_string(), "the queue was shut down");
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct QueueShutdown;

impl fmt::Display for QueueShutdown {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("the queue was shut down")
    }
}

impl std::error::Error for QueueShutdown {}

/// A bounded queue: [`offer`](Queue::offer) waits while it is full, [`take`](Queue::take)
/// while it is empty. [`shutdown`](Queue::shutdown) fails every waiter and every later
/// operation with [`QueueShutdown`]. Clones share the queue.
///
/// ```
/// use effect::{run_blocking, Effect, Queue, QueueShutdown};
///
/// let queue = Queue::bounded(2);
/// let program: Effect<(u32, u32), QueueShutdown> = queue
///     .offer(1)
///     .flat_map({ let q = queue.clone(); move |()| q.offer(2) })
///     .flat_map({ let q = queue.clone(); move |()| q.take().zip(q.take()) });
/// assert_eq!(run_blocking(program), Ok((1, 2)));
/// ```
pub struct Queue<T> {
    inner: Arc<Inner<T>>,
}

impl<T> Clone for Queue<T> {
    fn clone(&self) -> Self {
        Queue {
            inner: self.inner.clone(),
        }
    }
}

impl<T> fmt::Debug for Queue<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = lock(&self.inner.state);
        f.debug_struct("Queue")
            .field("size", &state.items.len())
            .field("capacity", &self.inner.capacity)
            .field("shutdown", &state.shutdown)
            .finish()
    }
}

struct Inner<T> {
    capacity: usize,
    state: Mutex<State<T>>,
    not_empty: Notify,
    not_full: Notify,
    /// Told (every waiter at once) whenever room appears or the queue shuts down, for a
    /// [`Hub`](super::Hub) waiting for room in all its subscribers' queues together.
    room_watch: Option<Arc<Notify>>,
}

struct State<T> {
    items: VecDeque<T>,
    shutdown: bool,
}

impl<T> Queue<T> {
    /// Shuts down without the `Send` bound, for destructors.
    pub(crate) fn close(&self) {
        lock(&self.inner.state).shutdown = true;
        self.inner.not_empty.notify_waiters();
        self.inner.not_full.notify_waiters();
        if let Some(watch) = &self.inner.room_watch {
            watch.notify_waiters();
        }
    }

    /// Wakes whoever waits for room, after an item was taken.
    fn room_made(&self) {
        self.inner.not_full.notify_one();
        if let Some(watch) = &self.inner.room_watch {
            watch.notify_waiters();
        }
    }
}

impl<T: Send + 'static> Queue<T> {
    /// A queue holding at most `capacity` items.
    ///
    /// # Panics
    /// When `capacity` is zero: such a queue could never hold an item.
    ///
    /// ```
    /// use effect::Queue;
    ///
    /// let queue = Queue::<String>::bounded(8);
    /// assert_eq!((queue.size(), queue.capacity()), (0, 8));
    /// ```
    pub fn bounded(capacity: usize) -> Self {
        Queue::watched(capacity, None)
    }

    /// A queue of `capacity` that also tells `room_watch` whenever room appears in it or it
    /// shuts down.
    ///
    /// # Panics
    /// When `capacity` is zero.
    pub(crate) fn watched(capacity: usize, room_watch: Option<Arc<Notify>>) -> Self {
        assert!(capacity > 0, "Queue::bounded: capacity must be at least 1");
        Queue {
            inner: Arc::new(Inner {
                capacity,
                state: Mutex::new(State {
                    items: VecDeque::with_capacity(capacity.min(1024)),
                    shutdown: false,
                }),
                not_empty: Notify::new(),
                not_full: Notify::new(),
                room_watch,
            }),
        }
    }

    /// Adds a clone of `item` to every queue of `queues` that is not shut down, if each of
    /// them has room; otherwise adds it to none and hands it back. All in one step: every
    /// queue's lock is held from the check to the last push, so the room the check saw is
    /// still there for the push, and the item appears in all the queues at once.
    ///
    /// Deadlock-free only if callers never hold two sets of queue locks at once: the hub
    /// calls it under its own lock, the only place that locks more than one queue.
    pub(crate) fn offer_to_all(queues: &[Arc<Queue<T>>], item: T) -> Result<(), T>
    where
        T: Clone,
    {
        let mut states: Vec<_> = queues.iter().map(|q| lock(&q.inner.state)).collect();
        let full = queues
            .iter()
            .zip(&states)
            .any(|(queue, state)| !state.shutdown && state.items.len() >= queue.inner.capacity);
        if full {
            return Err(item);
        }
        for state in states.iter_mut().filter(|state| !state.shutdown) {
            state.items.push_back(item.clone());
        }
        drop(states);
        for queue in queues {
            queue.inner.not_empty.notify_one();
        }
        Ok(())
    }

    /// Adds `item` now if there is room; otherwise hands it back.
    ///
    /// ```
    /// use effect::Queue;
    ///
    /// let queue = Queue::bounded(1);
    /// assert_eq!(queue.try_offer("first"), Ok(()));
    /// assert_eq!(queue.try_offer("second"), Err("second")); // full
    /// ```
    pub fn try_offer(&self, item: T) -> Result<(), T> {
        let mut state = lock(&self.inner.state);
        if state.shutdown || state.items.len() >= self.inner.capacity {
            return Err(item);
        }
        state.items.push_back(item);
        drop(state);
        self.inner.not_empty.notify_one();
        Ok(())
    }

    /// Takes the oldest item now, if there is one.
    ///
    /// ```
    /// use effect::Queue;
    ///
    /// let queue = Queue::bounded(2);
    /// assert_eq!(queue.try_take(), None::<u32>);
    /// queue.try_offer(7).unwrap();
    /// assert_eq!(queue.try_take(), Some(7));
    /// ```
    pub fn try_take(&self) -> Option<T> {
        let item = lock(&self.inner.state).items.pop_front();
        if item.is_some() {
            self.room_made();
        }
        item
    }

    /// An effect that adds `item`, waiting while the queue is full. Interrupted while
    /// waiting, it adds nothing.
    ///
    /// # Errors
    /// Fails with `E::from(QueueShutdown)` if the queue is shut down before or while it waits.
    ///
    /// # Cancel safety
    /// Interrupted (or dropped) while waiting for room, the item is not added and is dropped.
    ///
    /// ```
    /// use effect::prelude::*;
    /// use effect::{Queue, QueueShutdown};
    ///
    /// #[effect]
    /// fn producer(queue: Queue<u32>) -> Effect<usize, QueueShutdown> {
    ///     queue.offer::<QueueShutdown>(1)?;
    ///     queue.offer::<QueueShutdown>(2)?;
    ///     queue.size()
    /// }
    /// assert_eq!(effect::run_blocking(producer(Queue::bounded(2))), Ok(2));
    /// ```
    pub fn offer<E: From<QueueShutdown> + Send + 'static>(&self, item: T) -> Effect<(), E> {
        let queue = self.clone();
        Effect::from_future(async move {
            queue
                .send(item)
                .await
                .map_err(|shutdown| Cause::Fail(E::from(shutdown)))
        })
    }

    /// An effect that takes the oldest item, waiting while the queue is empty. Interrupted
    /// while waiting, it takes nothing.
    ///
    /// # Errors
    /// Fails with `E::from(QueueShutdown)` if the queue is shut down and empty, before or while it
    /// waits.
    ///
    /// # Cancel safety
    /// Interrupted (or dropped) while waiting for an item, it takes nothing: no item is lost.
    ///
    /// ```
    /// use effect::prelude::*;
    /// use effect::{Queue, QueueShutdown};
    ///
    /// #[effect]
    /// fn relay() -> Effect<Vec<u32>, QueueShutdown> {
    ///     let queue = Queue::bounded(1);
    ///     // The consumer waits for items; the producer waits for room.
    ///     let consumer = { let q = queue.clone(); q.take::<QueueShutdown>().zip(q.take()) }.fork()?;
    ///     queue.offer::<QueueShutdown>(1)?;
    ///     queue.offer::<QueueShutdown>(2)?;
    ///     let (a, b) = consumer.join()?;
    ///     vec![a, b]
    /// }
    /// assert_eq!(effect::run_blocking(relay()), Ok(vec![1, 2]));
    /// ```
    pub fn take<E: From<QueueShutdown> + Send + 'static>(&self) -> Effect<T, E> {
        let queue = self.clone();
        Effect::from_future(async move {
            queue
                .recv()
                .await
                .map_err(|shutdown| Cause::Fail(E::from(shutdown)))
        })
    }

    /// The future behind [`offer`](Queue::offer), for code that waits on a queue and on
    /// something else at once (a stream operator racing a take against a timer). Dropped
    /// while it waits, it has added nothing: the item goes in within the poll that returns
    /// `Ready`.
    pub(crate) async fn send(&self, item: T) -> Result<(), QueueShutdown> {
        let inner = &self.inner;
        let mut item = Some(item);
        loop {
            let mut room = pin!(inner.not_full.notified());
            room.as_mut().enable();
            {
                let mut state = lock(&inner.state);
                if state.shutdown {
                    return Err(QueueShutdown);
                }
                if state.items.len() < inner.capacity {
                    state.items.extend(item.take());
                    drop(state);
                    inner.not_empty.notify_one();
                    return Ok(());
                }
            }
            room.await;
        }
    }

    /// The future behind [`take`](Queue::take); see [`send`](Queue::send). Dropped while it
    /// waits, it has taken nothing: the item leaves the queue within the poll that returns
    /// `Ready`.
    pub(crate) async fn recv(&self) -> Result<T, QueueShutdown> {
        let inner = &self.inner;
        loop {
            let mut item_ready = pin!(inner.not_empty.notified());
            item_ready.as_mut().enable();
            {
                let mut state = lock(&inner.state);
                if let Some(item) = state.items.pop_front() {
                    drop(state);
                    self.room_made();
                    return Ok(item);
                }
                if state.shutdown {
                    return Err(QueueShutdown);
                }
            }
            item_ready.await;
        }
    }

    /// Shuts the queue down: every waiting and later `offer`/`take` fails with
    /// [`QueueShutdown`] (a `take` still gets the items already queued). Idempotent.
    ///
    /// ```
    /// use effect::{run_blocking, Effect, Queue, QueueShutdown};
    ///
    /// let queue = Queue::bounded(2);
    /// queue.try_offer(1).unwrap();
    /// queue.shutdown();
    /// assert!(queue.is_shutdown());
    /// let queued: Effect<u32, QueueShutdown> = queue.take();
    /// assert_eq!(run_blocking(queued), Ok(1)); // items already queued are still taken
    /// let after: Effect<u32, QueueShutdown> = queue.take();
    /// assert!(run_blocking(after).is_err());
    /// ```
    pub fn shutdown(&self) {
        self.close();
    }

    /// Whether [`shutdown`](Queue::shutdown) was called.
    ///
    /// ```
    /// use effect::Queue;
    ///
    /// let queue = Queue::<u8>::bounded(1);
    /// assert!(!queue.is_shutdown());
    /// queue.clone().shutdown(); // clones share the queue
    /// assert!(queue.is_shutdown());
    /// ```
    pub fn is_shutdown(&self) -> bool {
        lock(&self.inner.state).shutdown
    }

    /// How many items are queued.
    ///
    /// ```
    /// use effect::Queue;
    ///
    /// let queue = Queue::bounded(4);
    /// queue.try_offer('a').unwrap();
    /// queue.try_offer('b').unwrap();
    /// assert_eq!(queue.size(), 2);
    /// ```
    pub fn size(&self) -> usize {
        lock(&self.inner.state).items.len()
    }

    /// The most items the queue holds.
    ///
    /// ```
    /// use effect::Queue;
    ///
    /// assert_eq!(Queue::<()>::bounded(3).capacity(), 3);
    /// ```
    pub fn capacity(&self) -> usize {
        self.inner.capacity
    }
}
