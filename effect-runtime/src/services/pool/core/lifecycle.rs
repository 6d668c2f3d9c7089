//! A pool's life after it is made: shrinking back to `min` with a time to live, and
//! closing (I5 of [`core`](super)).

use std::pin::pin;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::{Grant, Item, PoolCore};
use crate::kernel::cause::{Cause, Never};
use crate::kernel::clock::Clock;
use crate::kernel::effect::{succeed, Effect};

impl<R, E> PoolCore<R, E>
where
    R: Clone + PartialEq + Send + 'static,
    E: Send + 'static,
{
    /// The shrinking of a pool with a time to live: an idle item beyond `min` is released
    /// once it has been idle that long, at that instant on the context's clock, the longest
    /// idle first. Runs until the pool closes.
    pub(crate) fn reap(self: Arc<Self>, ttl: Duration) -> Effect<(), Never> {
        Effect::new(move |ctx| async move {
            let clock = Clock::of(&ctx);
            loop {
                let mut changed = pin!(self.changed.notified());
                changed.as_mut().enable();
                let now = clock.instant();
                let next = match self.clone().release_due(ttl, now, &clock).await? {
                    Reaped::Closed => return Ok(()),
                    Reaped::Some => continue,
                    Reaped::Nothing(next) => next,
                };
                match next {
                    // Until the next item is due, or something changes (an item checked out
                    // or returned, the pool closing): then look again.
                    Some(deadline) => {
                        let due = pin!(clock.sleep(deadline - now));
                        futures::future::select(due, changed).await;
                    }
                    None => changed.await,
                }
            }
        })
    }

    /// Releases the idle items beyond `min` that are due at `now`, the longest idle first.
    /// Taking them out of the idle list and releasing them is one uninterruptible step: the
    /// reaper is interrupted when the pool's scope closes, and an item taken out must not be
    /// lost on its way to its release (I2).
    fn release_due(
        self: Arc<Self>,
        ttl: Duration,
        now: Instant,
        clock: &Clock,
    ) -> Effect<Reaped, Never> {
        let clock = clock.clone();
        Effect::suspend_with(move |_| {
            let (expired, next) = {
                let mut state = self.lock();
                if state.closed {
                    return succeed(Reaped::Closed);
                }
                let excess = state.size().saturating_sub(self.min).min(state.idle.len());
                // The idle list is in the order items went idle: the front is the oldest.
                let due = state.idle[..excess]
                    .iter()
                    .take_while(|item| item.idle_since + ttl <= now)
                    .count();
                let expired: Vec<Item<R>> = state.idle.drain(..due).collect();
                state.releasing += expired.len();
                let next = (due < excess).then(|| state.idle[0].idle_since + ttl);
                (expired, next)
            };
            if expired.is_empty() {
                return succeed(Reaped::Nothing(next));
            }
            Effect::from_future(async move {
                for item in expired {
                    // A release's defect is its own; the others still run.
                    let _ = self.finish_release(item.scope, &clock).await;
                }
                Ok(Reaped::Some)
            })
        })
        .uninterruptible()
    }

    /// Closes the pool (I5): waiters interrupted, idle items released, then waits until what
    /// is checked out has come back (and been released) and no acquisition is under way.
    /// Closing twice does nothing more.
    pub(crate) fn close(self: Arc<Self>) -> Effect<(), Never> {
        Effect::new(move |ctx| async move {
            let waiters = {
                let mut state = self.lock();
                state.closed = true;
                std::mem::take(&mut state.waiters)
            };
            for waiter in waiters {
                waiter.give(Grant::Closed);
            }
            self.changed.notify_waiters();
            let mut failure: Option<Cause<Never>> = None;
            loop {
                let mut changed = pin!(self.changed.notified());
                changed.as_mut().enable();
                // Idle items now, and any handed back idle later (a waiter that never took
                // what it was granted), are released here.
                let idle = {
                    let mut state = self.lock();
                    if state.settled() {
                        break;
                    }
                    let idle = std::mem::take(&mut state.idle);
                    state.releasing += idle.len();
                    idle
                };
                if idle.is_empty() {
                    changed.await;
                    continue;
                }
                let clock = Clock::of(&ctx);
                for item in idle {
                    if let Err(cause) = self.finish_release(item.scope, &clock).await {
                        failure = Some(match failure {
                            None => cause,
                            Some(earlier) => earlier.then(cause),
                        });
                    }
                }
            }
            failure.map_or(Ok(()), Err)
        })
        // What closing takes out of the idle list it releases, however it was started.
        .uninterruptible()
    }
}

/// What a look for due items found.
enum Reaped {
    /// The pool has closed: the reaper ends.
    Closed,
    /// Some were released: look again.
    Some,
    /// None is due; the next will be at this instant (none: not until something changes).
    Nothing(Option<Instant>),
}
