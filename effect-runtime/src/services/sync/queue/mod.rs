//! [`Queue`]: a FIFO queue with shutdown, bounded with back-pressure, sliding, dropping or
//! unbounded. The batch operations are in `batch.rs`.

use std::collections::VecDeque;
use std::fmt;
use std::pin::pin;
use std::sync::{Arc, Mutex};

use tokio::sync::Notify;

mod batch;
mod metered;

use super::lock;
use crate::kernel::cause::{Cause, HoldsFailure};
use crate::kernel::effect::Effect;
use crate::kernel::fiber::waiting::{self, Wait};

/// The failure of an operation on a queue (or hub) that was shut down.
///
/// ```
/// use effect::{run_blocking, Effect, Queue, QueueShutdown};
///
/// let queue = Queue::<u32>::bounded(1);
/// queue.shutdown();
/// let offered: Effect<bool, QueueShutdown> = queue.offer(1);
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

/// A FIFO queue. [`take`](Queue::take) waits while it is empty; what
/// [`offer`](Queue::offer) does when it is full is the queue's strategy:
///
/// | made with | when full, `offer` |
/// |---|---|
/// | [`bounded(n)`](Queue::bounded) | waits for room (back-pressure) |
/// | [`sliding(n)`](Queue::sliding) | drops the oldest item to make room |
/// | [`dropping(n)`](Queue::dropping) | refuses the new item: `offer` gives `false` |
/// | [`unbounded()`](Queue::unbounded) | is never full |
///
/// [`shutdown`](Queue::shutdown) fails every waiter and every later operation with
/// [`QueueShutdown`] (items already queued are still taken). Clones share the queue.
///
/// ```
/// use effect::prelude::*;
/// use effect::{Queue, QueueShutdown};
///
/// #[effect]
/// fn pair(queue: Queue<u32>) -> Effect<(u32, u32), QueueShutdown> {
///     queue.offer::<QueueShutdown>(1)?;
///     queue.offer::<QueueShutdown>(2)?;
///     (queue.take()?, queue.take()?)
/// }
/// assert_eq!(effect::run_blocking(pair(Queue::bounded(2))), Ok((1, 2)));
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

/// What a full queue does with a new item.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Strategy {
    /// The offer waits for room.
    BackPressure,
    /// The oldest item is dropped to make room.
    Sliding,
    /// The new item is refused.
    Dropping,
    /// Never full.
    Unbounded,
}

/// Where a new item went.
enum Pushed<T> {
    /// It is in the queue (for a sliding queue, perhaps in the place of the oldest).
    Added,
    /// A dropping queue was full: the item was not added.
    Refused(T),
    /// A back-pressure queue is full: the item is handed back, to wait for room.
    Full(T),
}

struct Inner<T> {
    capacity: usize,
    strategy: Strategy,
    state: Mutex<State<T>>,
    /// One waiting `take` is woken per item added.
    not_empty: Notify,
    /// Every waiting `take_between` is woken whenever items are added: each decides for itself
    /// whether there are now enough (a single wake-up could go to one that must go on
    /// waiting, and a plain `take` would miss it).
    grew: Notify,
    not_full: Notify,
    /// Told (every waiter at once) whenever room appears or the queue shuts down, for a
    /// [`Hub`](super::Hub) waiting for room in all its subscribers' queues together.
    room_watch: Option<Arc<Notify>>,
    /// Its name, the label of its metrics (see `Queue::named`).
    name: std::sync::OnceLock<&'static str>,
}

struct State<T> {
    items: VecDeque<T>,
    shutdown: bool,
}

impl<T> Queue<T> {
    fn with_strategy(capacity: usize, strategy: Strategy, room_watch: Option<Arc<Notify>>) -> Self {
        Queue {
            inner: Arc::new(Inner {
                capacity,
                strategy,
                state: Mutex::new(State {
                    items: VecDeque::with_capacity(capacity.min(1024)),
                    shutdown: false,
                }),
                not_empty: Notify::new(),
                grew: Notify::new(),
                not_full: Notify::new(),
                room_watch,
                name: std::sync::OnceLock::new(),
            }),
        }
    }

    /// Adds `item` to `state` as the queue's strategy says.
    fn push(&self, state: &mut State<T>, item: T) -> Pushed<T> {
        if state.items.len() < self.inner.capacity {
            state.items.push_back(item);
            return Pushed::Added;
        }
        match self.inner.strategy {
            Strategy::BackPressure => Pushed::Full(item),
            Strategy::Dropping => {
                self.count_lost(false);
                Pushed::Refused(item)
            }
            Strategy::Sliding => {
                // Full at a capacity of at least one: there is an oldest item to drop.
                self.count_lost(true);
                state.items.pop_front();
                state.items.push_back(item);
                Pushed::Added
            }
            // An unbounded queue's capacity is `usize::MAX`: never full.
            Strategy::Unbounded => {
                state.items.push_back(item);
                Pushed::Added
            }
        }
    }

    /// Wakes whoever waits for items, after `added` were added.
    fn items_added(&self, added: usize) {
        self.depth_changed();
        for _ in 0..added.min(self.inner.capacity) {
            self.inner.not_empty.notify_one();
        }
        self.inner.grew.notify_waiters();
    }

    /// Shuts down without the `Send` bound, for destructors.
    pub(crate) fn close(&self) {
        lock(&self.inner.state).shutdown = true;
        self.inner.not_empty.notify_waiters();
        self.inner.grew.notify_waiters();
        self.inner.not_full.notify_waiters();
        if let Some(watch) = &self.inner.room_watch {
            watch.notify_waiters();
        }
    }

    /// Wakes whoever waits for room, after `taken` items were taken.
    fn room_made(&self, taken: usize) {
        self.depth_changed();
        for _ in 0..taken {
            self.inner.not_full.notify_one();
        }
        if let Some(watch) = &self.inner.room_watch {
            watch.notify_waiters();
        }
    }
}

impl<T: Send + 'static> Queue<T> {
    /// A queue holding at most `capacity` items: [`offer`](Queue::offer) waits while it is
    /// full (back-pressure).
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

    /// A queue holding at most `capacity` items, where an offer to a full queue drops the
    /// oldest item to make room: the newest `capacity` items are kept, and `offer` never
    /// waits.
    ///
    /// # Panics
    /// When `capacity` is zero.
    ///
    /// ```
    /// use effect::prelude::*;
    /// use effect::{Queue, QueueShutdown};
    ///
    /// #[effect]
    /// fn latest(queue: Queue<u32>) -> Effect<Vec<u32>, QueueShutdown> {
    ///     for reading in 1..=5 {
    ///         queue.offer::<QueueShutdown>(reading)?; // never waits
    ///     }
    ///     queue.take_all()?
    /// }
    /// assert_eq!(effect::run_blocking(latest(Queue::sliding(2))), Ok(vec![4, 5]));
    /// ```
    pub fn sliding(capacity: usize) -> Self {
        assert!(capacity > 0, "Queue::sliding: capacity must be at least 1");
        Queue::with_strategy(capacity, Strategy::Sliding, None)
    }

    /// A queue holding at most `capacity` items, where an offer to a full queue refuses the
    /// new item: [`offer`](Queue::offer) gives `false` (and drops it),
    /// [`try_offer`](Queue::try_offer) hands it back. Offers never wait.
    ///
    /// # Panics
    /// When `capacity` is zero.
    ///
    /// ```
    /// use effect::prelude::*;
    /// use effect::{Queue, QueueShutdown};
    ///
    /// #[effect]
    /// fn accepted(queue: Queue<u32>) -> Effect<Vec<bool>, QueueShutdown> {
    ///     vec![queue.offer(1)?, queue.offer(2)?, queue.offer(3)?]
    /// }
    /// let queue = Queue::dropping(2);
    /// assert_eq!(effect::run_blocking(accepted(queue.clone())), Ok(vec![true, true, false]));
    /// assert_eq!(queue.try_offer(4), Err(4)); // handed back
    /// ```
    pub fn dropping(capacity: usize) -> Self {
        assert!(capacity > 0, "Queue::dropping: capacity must be at least 1");
        Queue::with_strategy(capacity, Strategy::Dropping, None)
    }

    /// A queue without a bound: offers never wait and never drop. Its
    /// [`capacity`](Queue::capacity) is `usize::MAX`.
    ///
    /// ```
    /// use effect::Queue;
    ///
    /// let queue = Queue::unbounded();
    /// for i in 0..10_000 {
    ///     queue.try_offer(i).unwrap();
    /// }
    /// assert_eq!((queue.size(), queue.capacity()), (10_000, usize::MAX));
    /// ```
    pub fn unbounded() -> Self {
        Queue::with_strategy(usize::MAX, Strategy::Unbounded, None)
    }

    /// A back-pressure queue of `capacity` that also tells `room_watch` whenever room appears
    /// in it or it shuts down.
    ///
    /// # Panics
    /// When `capacity` is zero.
    pub(crate) fn watched(capacity: usize, room_watch: Option<Arc<Notify>>) -> Self {
        assert!(capacity > 0, "Queue::bounded: capacity must be at least 1");
        Queue::with_strategy(capacity, Strategy::BackPressure, room_watch)
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
            queue.items_added(1);
        }
        Ok(())
    }

    /// Adds `item` now, as the queue's strategy allows; otherwise hands it back: a full
    /// bounded or dropping queue, or one that is shut down. (A sliding queue takes it,
    /// dropping its oldest item.)
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
        if state.shutdown {
            return Err(item);
        }
        match self.push(&mut state, item) {
            Pushed::Added => {
                drop(state);
                self.items_added(1);
                Ok(())
            }
            Pushed::Refused(item) => Err(item),
            Pushed::Full(item) => {
                self.count_lost(false);
                Err(item)
            }
        }
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
            self.room_made(1);
        }
        item
    }

    /// An effect that adds `item` as the queue's strategy says, and gives whether it was
    /// added: a bounded queue waits while it is full (then `true`); a sliding queue drops its
    /// oldest item to make room (`true`); a full dropping queue refuses it (`false`, the item
    /// dropped; [`try_offer`](Queue::try_offer) hands it back instead); an unbounded queue
    /// always takes it.
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
    pub fn offer<E: HoldsFailure<QueueShutdown> + Send + 'static>(
        &self,
        item: T,
    ) -> Effect<bool, E> {
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
    pub fn take<E: HoldsFailure<QueueShutdown> + Send + 'static>(&self) -> Effect<T, E> {
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
    pub(crate) async fn send(&self, item: T) -> Result<bool, QueueShutdown> {
        let inner = &self.inner;
        let mut item = item;
        loop {
            let mut room = pin!(inner.not_full.notified());
            room.as_mut().enable();
            {
                let mut state = lock(&inner.state);
                if state.shutdown {
                    return Err(QueueShutdown);
                }
                match self.push(&mut state, item) {
                    Pushed::Added => {
                        drop(state);
                        self.items_added(1);
                        return Ok(true);
                    }
                    Pushed::Refused(_) => return Ok(false),
                    Pushed::Full(back) => item = back,
                }
            }
            waiting::marked(Wait::QueueOffer(waiting::address(inner)), room).await;
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
                    self.room_made(1);
                    return Ok(item);
                }
                if state.shutdown {
                    return Err(QueueShutdown);
                }
            }
            waiting::marked(Wait::QueueTake(waiting::address(inner)), item_ready).await;
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

    /// The most items the queue holds (`usize::MAX` for an unbounded one).
    ///
    /// ```
    /// use effect::Queue;
    ///
    /// assert_eq!(Queue::<()>::bounded(3).capacity(), 3);
    /// assert_eq!(Queue::<()>::unbounded().capacity(), usize::MAX);
    /// ```
    pub fn capacity(&self) -> usize {
        self.inner.capacity
    }
}
