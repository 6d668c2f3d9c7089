//! [`Deferred`]: a value set once, awaited by many.

use std::fmt;
use std::pin::pin;
use std::sync::{Arc, Mutex};

use tokio::sync::Notify;

use super::lock;
use crate::effect::Effect;

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
    pub fn wait<E: Send + 'static>(&self) -> Effect<T, E> {
        let inner = self.inner.clone();
        Effect::from_future(async move {
            loop {
                let mut done = pin!(inner.done.notified());
                done.as_mut().enable();
                if let Some(value) = lock(&inner.value).clone() {
                    return Ok(value);
                }
                done.await;
            }
        })
    }

    /// The value, if the cell is complete.
    pub fn try_get(&self) -> Option<T> {
        lock(&self.inner.value).clone()
    }
}
