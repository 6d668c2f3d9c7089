//! [`Deferred`]: a value set once, awaited by many.

use std::fmt;
use std::pin::pin;
use std::sync::{Arc, Mutex};

use tokio::sync::Notify;

use super::lock;
use crate::kernel::effect::Effect;
use crate::kernel::fiber::waiting::{self, Wait};

/// A cell completed once; every fiber waiting on it gets (a clone of) the value. Clones
/// share the cell.
///
/// ```
/// use effect::{run_blocking, Deferred, Effect};
///
/// let ready: Deferred<&str> = Deferred::new();
/// let waiter = ready.wait();
/// let program: Effect<&str, ()> = ready.complete("go").flat_map(move |_| waiter);
/// assert_eq!(run_blocking(program), Ok("go"));
/// ```
pub struct Deferred<T> {
    inner: Arc<Inner<T>>,
}

struct Inner<T> {
    value: Mutex<Option<T>>,
    done: Notify,
}

impl<T> Clone for Deferred<T> {
    fn clone(&self) -> Self {
        Deferred {
            inner: self.inner.clone(),
        }
    }
}

impl<T: fmt::Debug> fmt::Debug for Deferred<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Deferred")
            .field(&*lock(&self.inner.value))
            .finish()
    }
}

impl<T: Clone + Send + 'static> Default for Deferred<T> {
    fn default() -> Self {
        Deferred::new()
    }
}

impl<T: Clone + Send + 'static> Deferred<T> {
    /// An empty cell.
    ///
    /// ```
    /// use effect::Deferred;
    ///
    /// let cell: Deferred<u32> = Deferred::new();
    /// assert_eq!(cell.try_get(), None);
    /// ```
    pub fn new() -> Self {
        Deferred {
            inner: Arc::new(Inner {
                value: Mutex::new(None),
                done: Notify::new(),
            }),
        }
    }

    /// An effect that completes the cell with `value` and wakes every waiter; `true` if this
    /// call completed it, `false` if it was already complete (the value is then unchanged).
    ///
    /// ```
    /// use effect::prelude::*;
    /// use effect::Deferred;
    ///
    /// #[effect]
    /// fn complete_twice(cell: Deferred<u32>) -> Effect<(bool, bool), Never> {
    ///     (cell.complete(1)?, cell.complete(2)?)
    /// }
    /// let cell = Deferred::new();
    /// assert_eq!(effect::run_blocking(complete_twice(cell.clone())), Ok((true, false)));
    /// assert_eq!(cell.try_get(), Some(1)); // the first value stays
    /// ```
    pub fn complete<E: Send + 'static>(&self, value: T) -> Effect<bool, E> {
        let inner = self.inner.clone();
        Effect::from_future(async move {
            let mut slot = lock(&inner.value);
            if slot.is_some() {
                return Ok(false);
            }
            *slot = Some(value);
            drop(slot);
            inner.done.notify_waiters();
            Ok(true)
        })
    }

    /// An effect that waits until the cell is complete and gives its value.
    ///
    /// # Cancel safety
    /// Waiting takes nothing from the cell: an interrupted waiter leaves it as it was, and every
    /// other waiter still gets the value.
    ///
    /// ```
    /// use effect::prelude::*;
    /// use effect::Deferred;
    ///
    /// #[effect]
    /// fn handshake() -> Effect<(u32, u32), Never> {
    ///     let ready = Deferred::new();
    ///     let first = ready.wait().fork()?;
    ///     let second = ready.wait().fork()?;
    ///     ready.complete(42)?;
    ///     (first.join()?, second.join()?)
    /// }
    /// assert_eq!(effect::run_blocking(handshake()), Ok((42, 42)));
    /// ```
    pub fn wait<E: Send + 'static>(&self) -> Effect<T, E> {
        let inner = self.inner.clone();
        Effect::from_future(async move {
            loop {
                let mut done = pin!(inner.done.notified());
                done.as_mut().enable();
                if let Some(value) = lock(&inner.value).clone() {
                    return Ok(value);
                }
                waiting::marked(Wait::Deferred(waiting::address(&inner)), done).await;
            }
        })
    }

    /// The value, if the cell is complete.
    ///
    /// ```
    /// use effect::{run_blocking, Deferred};
    ///
    /// let cell = Deferred::new();
    /// run_blocking(cell.complete::<()>("done")).unwrap();
    /// assert_eq!(cell.try_get(), Some("done"));
    /// ```
    pub fn try_get(&self) -> Option<T> {
        lock(&self.inner.value).clone()
    }
}
