//! [`Ref`]: a shared mutable value with atomic updates.

use std::fmt;
use std::sync::{Arc, Mutex};

use super::lock;
use crate::kernel::effect::Effect;

/// A value shared between fibers; [`update`](Ref::update) and [`modify`](Ref::modify) are
/// atomic. Clones share the value.
///
/// ```
/// use effect::{run_blocking, Effect, Ref};
///
/// let counter = Ref::new(0);
/// let bumped: Effect<u32, ()> = counter.update(|n| *n += 1).flat_map({
///     let counter = counter.clone();
///     move |()| counter.modify(|n| { *n += 1; *n * 10 })
/// });
/// assert_eq!(run_blocking(bumped), Ok(20));
/// assert_eq!(counter.get_now(), 2);
/// ```
pub struct Ref<T> {
    value: Arc<Mutex<T>>,
}

impl<T> Clone for Ref<T> {
    fn clone(&self) -> Self {
        Ref {
            value: self.value.clone(),
        }
    }
}

impl<T: fmt::Debug> fmt::Debug for Ref<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Ref").field(&*lock(&self.value)).finish()
    }
}

impl<T: Send + 'static> Ref<T> {
    /// A reference holding `value`.
    ///
    /// ```
    /// use effect::Ref;
    ///
    /// let name = Ref::new(String::from("ada"));
    /// assert_eq!(name.get_now(), "ada");
    /// ```
    pub fn new(value: T) -> Self {
        Ref {
            value: Arc::new(Mutex::new(value)),
        }
    }

    /// An effect giving a copy of the value.
    ///
    /// ```
    /// use effect::prelude::*;
    /// use effect::Ref;
    ///
    /// #[effect]
    /// fn read_twice(cell: Ref<u32>) -> Effect<(u32, u32), Never> {
    ///     let before = cell.get()?;
    ///     cell.set(5)?;
    ///     (before, cell.get()?)
    /// }
    /// assert_eq!(effect::run_blocking(read_twice(Ref::new(1))), Ok((1, 5)));
    /// ```
    pub fn get<E: Send + 'static>(&self) -> Effect<T, E>
    where
        T: Clone,
    {
        let value = self.value.clone();
        Effect::from_future(async move { Ok(lock(&value).clone()) })
    }

    /// A copy of the value, now.
    ///
    /// ```
    /// use effect::Ref;
    ///
    /// let flag = Ref::new(false);
    /// flag.clone().update::<()>(|f| *f = true); // an effect: nothing happens until it runs
    /// assert!(!flag.get_now());
    /// ```
    pub fn get_now(&self) -> T
    where
        T: Clone,
    {
        lock(&self.value).clone()
    }

    /// An effect replacing the value.
    ///
    /// ```
    /// use effect::{run_blocking, Effect, Ref};
    ///
    /// let status = Ref::new("starting");
    /// let ready: Effect<(), ()> = status.set("ready");
    /// run_blocking(ready).unwrap();
    /// assert_eq!(status.get_now(), "ready");
    /// ```
    pub fn set<E: Send + 'static>(&self, new: T) -> Effect<(), E> {
        self.update(move |value| *value = new)
    }

    /// An effect changing the value with `f`, atomically.
    ///
    /// ```
    /// use effect::prelude::*;
    /// use effect::Ref;
    ///
    /// let hits = Ref::new(0);
    /// let effects: Vec<Effect<(), Never>> = (0..10).map(|_| hits.update(|n| *n += 1)).collect();
    /// effect::run_blocking(zip_par(effects)).unwrap();
    /// assert_eq!(hits.get_now(), 10); // no update is lost
    /// ```
    pub fn update<E: Send + 'static>(
        &self,
        f: impl FnOnce(&mut T) + Send + 'static,
    ) -> Effect<(), E> {
        self.modify(f)
    }

    /// An effect changing the value with `f`, atomically, and giving what `f` returns.
    ///
    /// ```
    /// use effect::{run_blocking, Effect, Ref};
    ///
    /// let ids = Ref::new(100);
    /// let next_id: Effect<u32, ()> = ids.modify(|next| { let id = *next; *next += 1; id });
    /// assert_eq!(run_blocking(next_id), Ok(100));
    /// assert_eq!(ids.get_now(), 101);
    /// ```
    pub fn modify<R: Send + 'static, E: Send + 'static>(
        &self,
        f: impl FnOnce(&mut T) -> R + Send + 'static,
    ) -> Effect<R, E> {
        let value = self.value.clone();
        Effect::from_future(async move { Ok(f(&mut lock(&value))) })
    }
}
