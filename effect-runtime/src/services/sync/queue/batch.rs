//! A queue's batch operations: [`offer_all`](Queue::offer_all),
//! [`take_up_to`](Queue::take_up_to), [`take_between`](Queue::take_between) and
//! [`take_all`](Queue::take_all).

use std::pin::pin;

use super::{Pushed, Queue, QueueShutdown};
use crate::kernel::cause::{Cause, HoldsFailure};
use crate::kernel::effect::Effect;
use crate::services::sync::lock;

impl<T: Send + 'static> Queue<T> {
    /// An effect that offers `items` in order, each as [`offer`](Queue::offer) does (a
    /// bounded queue waits for room for each in turn), and gives back the items the queue
    /// refused: none, except from a full dropping queue.
    ///
    /// # Errors
    /// Fails with `E::from(QueueShutdown)` if the queue is shut down before or while it
    /// waits; the items not yet added are dropped.
    ///
    /// # Cancel safety
    /// Interrupted while it waits for room, the items added so far stay in the queue and
    /// the rest are dropped.
    ///
    /// ```
    /// use effect::prelude::*;
    /// use effect::{Queue, QueueShutdown};
    ///
    /// #[effect]
    /// fn fill(queue: Queue<u32>) -> Effect<(Vec<u32>, Vec<u32>), QueueShutdown> {
    ///     let refused = queue.offer_all(vec![1, 2, 3, 4])?;
    ///     (refused, queue.take_all()?)
    /// }
    /// assert_eq!(
    ///     effect::run_blocking(fill(Queue::dropping(3))),
    ///     Ok((vec![4], vec![1, 2, 3]))
    /// );
    /// ```
    pub fn offer_all<E, I>(&self, items: I) -> Effect<Vec<T>, E>
    where
        E: HoldsFailure<QueueShutdown> + Send + 'static,
        I: IntoIterator<Item = T>,
        I::IntoIter: Send + 'static,
    {
        let queue = self.clone();
        let items = items.into_iter();
        Effect::from_future(async move {
            let mut items = items;
            let mut refused = Vec::new();
            // An item a full bounded queue could not take yet, to wait for room for.
            let mut waiting: Option<T> = None;
            loop {
                if let Some(item) = waiting.take() {
                    queue
                        .send(item)
                        .await
                        .map_err(|s| Cause::Fail(E::from(s)))?;
                }
                // As many as there is room for, under one lock.
                let mut state = lock(&queue.inner.state);
                if state.shutdown {
                    return Err(Cause::Fail(E::from(QueueShutdown)));
                }
                let mut added = 0;
                for item in items.by_ref() {
                    match queue.push(&mut state, item) {
                        Pushed::Added => added += 1,
                        Pushed::Refused(item) => refused.push(item),
                        Pushed::Full(item) => {
                            waiting = Some(item);
                            break;
                        }
                    }
                }
                drop(state);
                queue.items_added(added);
                if waiting.is_none() {
                    return Ok(refused);
                }
            }
        })
    }

    /// An effect that takes up to `max` items at once, oldest first, without waiting: none
    /// when the queue is empty.
    ///
    /// # Errors
    /// Fails with `E::from(QueueShutdown)` if the queue is shut down and empty.
    ///
    /// ```
    /// use effect::prelude::*;
    /// use effect::{Queue, QueueShutdown};
    ///
    /// #[effect]
    /// fn batches(queue: Queue<u32>) -> Effect<Vec<Vec<u32>>, QueueShutdown> {
    ///     queue.offer_all(1..=5)?;
    ///     vec![queue.take_up_to(2)?, queue.take_up_to(2)?, queue.take_up_to(2)?, queue.take_up_to(2)?]
    /// }
    /// assert_eq!(
    ///     effect::run_blocking(batches(Queue::bounded(8))),
    ///     Ok(vec![vec![1, 2], vec![3, 4], vec![5], vec![]])
    /// );
    /// ```
    pub fn take_up_to<E: HoldsFailure<QueueShutdown> + Send + 'static>(
        &self,
        max: usize,
    ) -> Effect<Vec<T>, E> {
        let queue = self.clone();
        Effect::from_future(async move {
            let mut state = lock(&queue.inner.state);
            if state.items.is_empty() && state.shutdown {
                return Err(Cause::Fail(E::from(QueueShutdown)));
            }
            let count = max.min(state.items.len());
            let taken: Vec<T> = state.items.drain(..count).collect();
            drop(state);
            queue.room_made(taken.len());
            Ok(taken)
        })
    }

    /// An effect that takes every queued item, oldest first, without waiting.
    ///
    /// # Errors
    /// Fails with `E::from(QueueShutdown)` if the queue is shut down and empty.
    ///
    /// ```
    /// use effect::{run_blocking, Effect, Queue, QueueShutdown};
    ///
    /// let queue = Queue::bounded(4);
    /// queue.try_offer('a').unwrap();
    /// queue.try_offer('b').unwrap();
    /// let all: Effect<Vec<char>, QueueShutdown> = queue.take_all();
    /// assert_eq!(run_blocking(all), Ok(vec!['a', 'b']));
    /// ```
    pub fn take_all<E: HoldsFailure<QueueShutdown> + Send + 'static>(&self) -> Effect<Vec<T>, E> {
        self.take_up_to(usize::MAX)
    }

    /// An effect that waits until at least `min` items are queued, then takes up to `max`
    /// of them at once, oldest first. With `min` of zero it does not wait.
    ///
    /// A queue shut down with fewer than `min` items still gives those it has: nothing
    /// queued is lost.
    ///
    /// # Errors
    /// Fails with `E::from(QueueShutdown)` if the queue is shut down and empty. `min` greater
    /// than `max` dies with a message saying so (it could never take).
    ///
    /// # Cancel safety
    /// Interrupted while it waits, it takes nothing: the items are taken in one step, once
    /// there are enough.
    ///
    /// ```
    /// use effect::prelude::*;
    /// use effect::{Queue, QueueShutdown};
    ///
    /// #[effect]
    /// fn at_least_two(queue: Queue<u32>) -> Effect<Vec<u32>, QueueShutdown> {
    ///     let batch = queue.take_between::<QueueShutdown>(2, 3).fork()?;
    ///     queue.offer::<QueueShutdown>(1)?;
    ///     yield_now()?; // one is not enough: it goes on waiting
    ///     queue.offer_all::<QueueShutdown, _>(vec![2, 3, 4])?;
    ///     batch.join()?
    /// }
    /// assert_eq!(effect::run_blocking(at_least_two(Queue::bounded(8))), Ok(vec![1, 2, 3]));
    /// ```
    pub fn take_between<E: HoldsFailure<QueueShutdown> + Send + 'static>(
        &self,
        min: usize,
        max: usize,
    ) -> Effect<Vec<T>, E> {
        let queue = self.clone();
        Effect::from_future(async move {
            if min > max {
                return Err(Cause::die(format!(
                    "Queue::take_between: at least {min} and at most {max} items can never be taken"
                )));
            }
            loop {
                let mut grew = pin!(queue.inner.grew.notified());
                grew.as_mut().enable();
                {
                    let mut state = lock(&queue.inner.state);
                    let queued = state.items.len();
                    if queued >= min || (state.shutdown && queued > 0) {
                        let taken: Vec<T> = state.items.drain(..max.min(queued)).collect();
                        drop(state);
                        queue.room_made(taken.len());
                        return Ok(taken);
                    }
                    if state.shutdown {
                        return Err(Cause::Fail(E::from(QueueShutdown)));
                    }
                }
                grew.await;
            }
        })
    }
}
