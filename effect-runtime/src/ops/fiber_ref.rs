//! [`FiberRef`]: a value every fiber has its own copy of, inherited by the fibers it starts.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use crate::kernel::cause::Never;
use crate::kernel::effect::Effect;
use crate::kernel::fiber::handoff::with_fiber_locals;
use crate::kernel::fiber::locals::LocalValue;
use crate::kernel::fiber::prim::Prim;

/// Keys of fiber-locals: never reused, so a value set for a dropped `FiberRef` can never be
/// read through a new one.
static NEXT_KEY: AtomicU64 = AtomicU64::new(0);

/// A fiber-local value: each fiber sees its own, and a fiber starts with a copy of the values
/// of the fiber that started it. The name is ZIO's, and it says what it is: the fiber-scoped
/// counterpart of [`Ref`](crate::Ref) (a `Ref` is one value shared by every fiber holding it;
/// a `FiberRef` is one value per fiber).
///
/// Use it for what every nested call of a piece of work should see without having it passed
/// down as an argument: a request id for logs, a deadline, a tenant, a locale.
///
/// - **Reading and writing** are effects: [`get`](FiberRef::get), [`set`](FiberRef::set),
///   [`update`](FiberRef::update). They cannot fail (`Effect<_, Never>`), so they bind with
///   `?` in an effect body of any error type; with combinators, [`widen`](Effect::widen) them.
/// - **[`locally`](FiberRef::locally)** runs an effect with a value and puts the previous one
///   back when that effect ends, however it ends (success, failure, defect, interruption).
/// - **Copy on fork.** A fiber started by [`fork`](Effect::fork) (or a daemon fork), a
///   branch of [`zip_par`](crate::zip_par) / `par!`, [`race`](crate::race()) /
///   `race!` and [`for_each_par`](crate::for_each_par()) start with the values of the fiber
///   that started them, as they were at that moment. What a child sets afterwards is its own:
///   the parent and the siblings never see it, and it sees nothing they set later. (The
///   effect a [`timeout`](Effect::timeout) guards is no child: it runs on the fiber itself,
///   and what it sets stays set, as after any other effect the fiber runs.)
/// - **No merge on join.** Joining a fiber gives its value, not its fiber-locals: the
///   joining fiber's values stay as they were. (ZIO merges a joined child's values into its
///   parent; here a child that has something to hand back returns it.) This keeps a fiber's
///   values changed only by what that fiber runs.
/// - A fiber started from outside any fiber ([`Effect::run`], [`Runtime::run`](crate::Runtime)
///   and [`Runtime::fork`](crate::Runtime::fork)) starts with every `FiberRef` at its initial
///   value.
///
/// A fiber that never sets one carries nothing: forking it copies a null pointer. Setting one
/// makes the fiber's map of values (a short vector, shared with its children until either
/// side writes: a write after a fork copies the map's pointers, never the values).
///
/// `FiberRef` handles are cheap to clone; clones are the same fiber-local. Make one per
/// purpose, typically in a `static` with [`LazyLock`](std::sync::LazyLock), or put it in the
/// [`Context`](crate::Context) as a service.
///
/// ```
/// use std::sync::LazyLock;
/// use effect::{run_blocking, zip_par, Effect, FiberRef, Never};
///
/// static REQUEST_ID: LazyLock<FiberRef<u64>> = LazyLock::new(|| FiberRef::new(0));
///
/// /// Deep in the call tree, with no request id in its arguments.
/// fn log_line(message: &'static str) -> Effect<String, Never> {
///     REQUEST_ID.get().map(move |id| format!("[request {id}] {message}"))
/// }
///
/// let handler: Effect<(String, String), Never> = zip_par((log_line("a"), log_line("b")));
/// let request = REQUEST_ID.locally(7, handler);
/// assert_eq!(
///     run_blocking(request),
///     Ok(("[request 7] a".to_string(), "[request 7] b".to_string()))
/// );
/// ```
pub struct FiberRef<T> {
    inner: Arc<Inner<T>>,
}

struct Inner<T> {
    key: u64,
    initial: T,
}

impl<T> Clone for FiberRef<T> {
    fn clone(&self) -> Self {
        FiberRef {
            inner: self.inner.clone(),
        }
    }
}

impl<T: fmt::Debug> fmt::Debug for FiberRef<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FiberRef")
            .field("key", &self.inner.key)
            .field("initial", &self.inner.initial)
            .finish()
    }
}

impl<T: Clone + Send + Sync + 'static> FiberRef<T> {
    /// A new fiber-local, which every fiber sees as `initial` until it (or the fiber that
    /// started it, before starting it) sets another value.
    ///
    /// ```
    /// use effect::{run_blocking, FiberRef};
    ///
    /// let locale = FiberRef::new("en");
    /// assert_eq!(run_blocking(locale.get()), Ok("en"));
    /// ```
    pub fn new(initial: T) -> Self {
        FiberRef {
            inner: Arc::new(Inner {
                key: NEXT_KEY.fetch_add(1, Ordering::Relaxed),
                initial,
            }),
        }
    }

    /// An effect giving the running fiber's value (a clone of it).
    ///
    /// ```
    /// use effect::{run_blocking, Effect, FiberRef, Never};
    ///
    /// let attempts = FiberRef::new(0u32);
    /// let read: Effect<u32, Never> = attempts.set(3).flat_map({
    ///     let attempts = attempts.clone();
    ///     move |()| attempts.get()
    /// });
    /// assert_eq!(run_blocking(read), Ok(3));
    /// ```
    pub fn get(&self) -> Effect<T, Never> {
        let this = self.clone();
        Effect::from_future(async move { Ok(this.current()) })
    }

    /// An effect setting the running fiber's value to `value`, from now on: for the rest of
    /// this fiber, and for the fibers it starts afterwards (not for those already started,
    /// nor for its parent). Inside [`locally`](FiberRef::locally) for the same `FiberRef`, it
    /// lasts until that ends.
    ///
    /// ```
    /// use effect::{run_blocking, Effect, FiberRef, Never};
    ///
    /// let user = FiberRef::new(None::<&str>);
    /// let child_sees: Effect<Option<&str>, Never> = user.set(Some("ada")).flat_map({
    ///     let user = user.clone();
    ///     move |()| user.get().fork().flat_map(|child| child.join())
    /// });
    /// assert_eq!(run_blocking(child_sees), Ok(Some("ada")));
    /// ```
    pub fn set(&self, value: T) -> Effect<(), Never> {
        let this = self.clone();
        Effect::from_future(async move {
            this.store(value);
            Ok(())
        })
    }

    /// An effect changing the running fiber's value with `f` (given a clone of the value; a
    /// panic in `f` is a defect, and the value stays as it was). As [`set`](FiberRef::set),
    /// the change is this fiber's alone.
    ///
    /// ```
    /// use effect::{run_blocking, Effect, FiberRef, Never};
    ///
    /// let depth = FiberRef::new(0u32);
    /// let deeper: Effect<u32, Never> = depth.update(|d| *d += 1).flat_map({
    ///     let depth = depth.clone();
    ///     move |()| depth.get()
    /// });
    /// assert_eq!(run_blocking(deeper), Ok(1));
    /// ```
    pub fn update<F>(&self, f: F) -> Effect<(), Never>
    where
        F: FnOnce(&mut T) + Send + 'static,
    {
        let this = self.clone();
        Effect::from_future(async move {
            let mut value = this.current();
            f(&mut value);
            this.store(value);
            Ok(())
        })
    }

    /// Runs `effect` with the running fiber's value set to `value`, then puts the previous
    /// value back, however `effect` ends: success, failure, defect or interruption. Fibers
    /// `effect` starts inherit `value`. Nests to any depth without growing the native stack.
    ///
    /// Finalizers inside `effect` (its own `ensuring`s) still see `value`; a finalizer added
    /// around the `locally` sees the previous one.
    ///
    /// ```
    /// use effect::{fail, run_blocking, Effect, FiberRef};
    ///
    /// let tenant = FiberRef::new("none");
    /// let inside: Effect<&str, String> = tenant.get().widen();
    /// let scoped = tenant.locally("acme", inside);
    /// assert_eq!(run_blocking(scoped), Ok("acme"));
    ///
    /// // Restored after a failure too.
    /// let failing = tenant.locally("acme", fail::<(), _>("boom".to_string()));
    /// let after = failing.option().flat_map({
    ///     let tenant = tenant.clone();
    ///     move |_| tenant.get().widen::<String>()
    /// });
    /// assert_eq!(run_blocking(after), Ok("none"));
    /// ```
    pub fn locally<A, E>(&self, value: T, effect: Effect<A, E>) -> Effect<A, E>
    where
        A: Send + 'static,
        E: Send + 'static,
    {
        let key = self.inner.key;
        let value: LocalValue = Arc::new(value);
        let inner = effect.into_prim();
        Effect::from_prim(Prim::WithFiber(Box::new(move |fiber| {
            fiber.set_locally(key, value);
            inner
        })))
    }

    /// The value of the fiber whose body is being polled. The map lends an `Arc` of the
    /// value; `T::clone` (user code) runs after the map is back in its place.
    fn current(&self) -> T {
        let key = self.inner.key;
        let set = with_fiber_locals(|locals| locals.get(key).cloned()).flatten();
        match set {
            Some(value) => value
                .downcast_ref::<T>()
                .expect("effect runtime: a fiber-local holds a value of another type")
                .clone(),
            None => self.inner.initial.clone(),
        }
    }

    /// Sets the value of the fiber whose body is being polled; the value it replaces is
    /// dropped (user code) after the map is back in its place.
    fn store(&self, value: T) {
        let key = self.inner.key;
        let value: LocalValue = Arc::new(value);
        let replaced = with_fiber_locals(|locals| locals.set(key, value));
        drop(replaced);
    }
}
