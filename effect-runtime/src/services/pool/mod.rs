//! [`Pool`]: reusable items (connections, clients, buffers), checked out for the length of a
//! scope; and [`KeyedPool`] (in `keyed.rs`), a pool per key. The machinery is in `core.rs`,
//! with its invariants.

use std::fmt;
use std::ops::RangeInclusive;
use std::sync::Arc;
use std::time::Duration;

use crate::kernel::cause::{Cause, Never};
use crate::kernel::clock::Clock;
use crate::kernel::effect::Effect;
use crate::ops::scope::Scope;

mod core;
mod keyed;

use self::core::{Acquire, PoolCore};
pub use keyed::KeyedPool;

/// A pool of reusable items, in ZIO's `ZPool` manner: built in a [`Scope`] from the effect
/// that acquires an item, it holds between `min` and `max` of them.
///
/// - [`get`](Pool::get) checks an item out for the length of the scope of its context
///   ([`scoped`](crate::scoped)): the item comes back to the pool when that scope closes,
///   however the region ends. An idle item is taken first; with none, the pool acquires a
///   new one if it holds fewer than `max`; at `max`, the `get` waits, and waiters are served
///   first come, first served. An interrupted waiter takes nothing and loses nothing.
/// - An acquisition that fails is reported to the `get` that caused it, and its slot is
///   given to the next waiter (or the next `get`), which tries again.
/// - [`invalidate`](Pool::invalidate) releases an item (now if idle, when it comes back if
///   checked out); a new one is acquired when next needed.
/// - With a time to live ([`make_with_ttl`](Pool::make_with_ttl)), an item beyond `min`
///   that stays idle that long is released, at that instant of the context's [`Clock`].
/// - When the pool's scope closes, the pool hands out nothing more (waiting `get`s are
///   interrupted), waits for every checked-out item to come back, and releases every item
///   exactly once.
///
/// Each item is acquired with a [`Scope`] of its own in its context: what the acquiring
/// effect acquires with [`acquire_release`](crate::acquire_release) is released when the
/// pool releases the item. Clones share the pool.
///
/// ```
/// use std::sync::atomic::{AtomicU32, Ordering};
/// use std::sync::Arc;
/// use effect::prelude::*;
/// use effect::Pool;
///
/// #[derive(Clone, Debug, PartialEq)]
/// struct Connection(u32);
///
/// #[effect]
/// fn query(pool: Pool<Connection, String>, sql: &'static str) -> Effect<String, String> {
///     let connection = pool.get()?; // back to the pool when this scope closes
///     format!("{sql} on connection {}", connection.0)
/// }
///
/// let opened = Arc::new(AtomicU32::new(0));
/// let (open, closed) = (opened.clone(), Arc::new(AtomicU32::new(0)));
/// let close = closed.clone();
/// let program: Effect<Vec<String>, String> = scoped(effect_block! {
///     let pool = Pool::<Connection, String>::make(
///         move || {
///             let (open, close) = (open.clone(), close.clone());
///             acquire_release(
///                 sync(move || Connection(open.fetch_add(1, Ordering::SeqCst))),
///                 move |_, _| sync(move || { close.fetch_add(1, Ordering::SeqCst); }),
///             )
///         },
///         1..=2,
///     )?;
///     let queries: Vec<_> = ["SELECT 1", "SELECT 2", "SELECT 3"]
///         .into_iter()
///         .map(|sql| scoped(query(pool.clone(), sql)))
///         .collect();
///     zip_par(queries)?
/// });
/// assert_eq!(effect::run_blocking(program).unwrap().len(), 3);
/// assert!(opened.load(Ordering::SeqCst) <= 2); // never more than `max`
/// assert_eq!(closed.load(Ordering::SeqCst), opened.load(Ordering::SeqCst)); // each released once
/// ```
pub struct Pool<R, E> {
    core: Arc<PoolCore<R, E>>,
}

impl<R, E> Clone for Pool<R, E> {
    fn clone(&self) -> Self {
        Pool {
            core: self.core.clone(),
        }
    }
}

impl<R, E> fmt::Debug for Pool<R, E>
where
    R: Clone + PartialEq + Send + 'static,
    E: Send + 'static,
{
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let counts = self.core.counts();
        f.debug_struct("Pool")
            .field("min", &self.core.min)
            .field("max", &self.core.max)
            .field("size", &counts.size)
            .field("idle", &counts.idle)
            .field("in_use", &counts.in_use)
            .field("waiting", &counts.waiting)
            .finish()
    }
}

/// Checks a pool's or a key's `min..=max`: a defect saying what is wrong, if anything.
fn checked_size<E>(what: &str, size: &RangeInclusive<usize>) -> Result<(usize, usize), Cause<E>> {
    let (min, max) = (*size.start(), *size.end());
    if max == 0 {
        return Err(Cause::die(format!(
            "{what}: a pool of at most 0 items could never hand one out; give it a size like 1..=4"
        )));
    }
    if min > max {
        return Err(Cause::die(format!(
            "{what}: the size {min}..={max} is empty; the minimum must not exceed the maximum"
        )));
    }
    Ok((min, max))
}

/// The scope of `ctx`, or a defect saying `what` needs one.
fn scope_of<E>(ctx: &crate::kernel::context::Context, what: &str) -> Result<Scope, Cause<E>> {
    ctx.try_get::<Scope>().cloned().ok_or_else(|| {
        Cause::die(format!(
            "{what} outside a scope: make the pool inside `scoped(..)` (the pool lives until that scope closes)"
        ))
    })
}

/// Registers the closing of `core` in `scope`, and starts its reaper if it has a time to
/// live, stopped (interrupted and awaited) when the scope closes, before the closing.
fn own_by_scope<R, E>(scope: &Scope, core: &Arc<PoolCore<R, E>>) -> Effect<(), Never>
where
    R: Clone + PartialEq + Send + 'static,
    E: Send + 'static,
{
    scope.add_finalizer_now(core.clone().close());
    let Some(ttl) = core.ttl else {
        return crate::kernel::effect::succeed(());
    };
    let (scope, reaper) = (scope.clone(), core.clone().reap(ttl));
    reaper.fork_daemon().flat_map(move |fiber| {
        // The reaper belongs to the pool's scope: stopped when it closes.
        scope.add_finalizer_now(fiber.interrupt().map(|_| ()));
        crate::kernel::effect::succeed(())
    })
}

impl<R, E> Pool<R, E>
where
    R: Clone + PartialEq + Send + 'static,
    E: Send + 'static,
{
    /// A pool of between `size.start()` and `size.end()` items made by `acquire`, living
    /// until the scope of the context closes. The minimum is acquired now (together); the
    /// rest as `get`s need them.
    ///
    /// # Errors
    /// Fails with the first failure of the acquisitions of the minimum (those acquired are
    /// released at once). Outside a scope, or with a maximum of zero or a minimum above the
    /// maximum, it dies with a message saying so.
    ///
    /// ```
    /// use effect::prelude::*;
    /// use effect::Pool;
    ///
    /// let sizes: Effect<(usize, usize), Never> = scoped(effect_block! {
    ///     let pool = Pool::make(|| succeed::<u32, Never>(7), 2..=5)?;
    ///     (pool.size(), pool.idle())
    /// });
    /// assert_eq!(effect::run_blocking(sizes), Ok((2, 2))); // the minimum, made up front
    /// ```
    pub fn make<F>(acquire: F, size: RangeInclusive<usize>) -> Effect<Pool<R, E>, E>
    where
        F: Fn() -> Effect<R, E> + Send + Sync + 'static,
    {
        Self::build(Arc::new(acquire), size, None)
    }

    /// A pool as [`make`](Pool::make) makes it, whose items beyond the minimum are released
    /// once they have been idle for `ttl` (at that instant of the context's [`Clock`]): it
    /// grows under load and shrinks back to `size.start()` after it.
    ///
    /// ```
    /// use effect::prelude::*;
    /// use effect::Pool;
    ///
    /// #[effect::test]
    /// fn shrinks_after_a_minute(clock: TestClock) -> Effect<(), Never> {
    ///     let pool = Pool::make_with_ttl(|| succeed::<u32, Never>(1), 1..=3, secs(60))?;
    ///     let (a, b, c) = (pool.clone(), pool.clone(), pool.clone());
    ///     scoped(a.get().zip(b.get()).zip(c.get()))?; // three at once: grown to 3
    ///     assert_eq!(pool.size(), 3);
    ///     clock.advance(secs(60)).await;
    ///     assert_eq!(pool.size(), 1); // back to the minimum
    /// }
    /// # fn main() {}
    /// ```
    pub fn make_with_ttl<F>(
        acquire: F,
        size: RangeInclusive<usize>,
        ttl: Duration,
    ) -> Effect<Pool<R, E>, E>
    where
        F: Fn() -> Effect<R, E> + Send + Sync + 'static,
    {
        Self::build(Arc::new(acquire), size, Some(ttl))
    }

    fn build(
        acquire: Acquire<R, E>,
        size: RangeInclusive<usize>,
        ttl: Option<Duration>,
    ) -> Effect<Pool<R, E>, E> {
        Effect::new(move |ctx| async move {
            let (min, max) = checked_size("Pool::make", &size)?;
            let scope = scope_of(&ctx, "Pool::make")?;
            let core = Arc::new(PoolCore::new(acquire, min, max, ttl));
            own_by_scope(&scope, &core).await.map_err(Cause::widen)?;
            let clock = Clock::of(&ctx);
            let fills: Vec<Effect<(), E>> = (0..min)
                .map(|_| {
                    let (core, clock) = (core.clone(), clock.clone());
                    core.add_idle(clock)
                })
                .collect();
            if let Err(cause) = crate::ops::par::zip_par(fills).await {
                // The pool is no use to anyone: close it now (closing again later does
                // nothing), releasing what was acquired.
                core.close().await.map_err(Cause::widen)?;
                return Err(cause);
            }
            Ok(Pool { core })
        })
    }

    /// An effect that checks an item out until the scope of its context closes (then it
    /// comes back to the pool, however the region ended): an idle item, else a new one if
    /// the pool holds fewer than its maximum, else the first to come back once every waiter
    /// before it was served.
    ///
    /// # Errors
    /// Fails with the failure of an acquisition it caused. Interrupted (`Cause::Interrupt`)
    /// if the pool closes before it gets an item. Outside a scope it dies with a message
    /// saying to wrap the region in `scoped(..)`.
    ///
    /// # Cancel safety
    /// Interrupted while waiting, it takes nothing, and an item handed to it meanwhile goes
    /// to the next waiter. Interrupted while acquiring, what the acquisition acquired is
    /// released and its slot handed on. Once checked out, the item's return is registered in
    /// the scope in the same step.
    ///
    /// ```
    /// use effect::prelude::*;
    /// use effect::Pool;
    ///
    /// #[effect]
    /// fn use_twice(pool: Pool<String, Never>) -> Effect<(usize, usize), Never> {
    ///     let first = scoped(pool.get().map(|c| c.len()))?; // returned here
    ///     let second = scoped(pool.get().map(|c| c.len()))?; // the same item again
    ///     (first, second)
    /// }
    /// let program: Effect<(usize, usize), Never> = scoped(effect_block! {
    ///     let pool = Pool::make(|| succeed("connection".to_string()), 0..=1)?;
    ///     use_twice(pool)?
    /// });
    /// assert_eq!(effect::run_blocking(program), Ok((10, 10)));
    /// ```
    pub fn get(&self) -> Effect<R, E> {
        self.core.clone().checkout()
    }

    /// An effect that invalidates `item`: it is released now if idle, or when it comes back
    /// if checked out, and the pool acquires another when one is next needed. An item the
    /// pool does not hold is ignored.
    ///
    /// ```
    /// use std::sync::atomic::{AtomicU32, Ordering};
    /// use std::sync::Arc;
    /// use effect::prelude::*;
    /// use effect::Pool;
    ///
    /// let made = Arc::new(AtomicU32::new(0));
    /// let counter = made.clone();
    /// let program: Effect<(u32, u32), Never> = scoped(effect_block! {
    ///     let pool = Pool::make(move || { let n = counter.fetch_add(1, Ordering::SeqCst); succeed(n) }, 1..=1)?;
    ///     let broken = scoped(pool.get())?;
    ///     pool.invalidate::<Never>(&broken)?;
    ///     let fresh = scoped(pool.get())?;
    ///     (broken, fresh)
    /// });
    /// assert_eq!(effect::run_blocking(program), Ok((0, 1)));
    /// ```
    pub fn invalidate<E2: Send + 'static>(&self, item: &R) -> Effect<(), E2> {
        self.core.clone().invalidate(item.clone())
    }

    /// How many items the pool holds, idle, checked out or being acquired.
    ///
    /// ```
    /// use effect::prelude::*;
    /// use effect::Pool;
    ///
    /// let size: Effect<usize, Never> =
    ///     scoped(Pool::make(|| succeed::<u8, Never>(0), 3..=3).map(|pool| pool.size()));
    /// assert_eq!(effect::run_blocking(size), Ok(3));
    /// ```
    pub fn size(&self) -> usize {
        self.core.counts().size
    }

    /// How many items are idle in the pool.
    ///
    /// ```
    /// use effect::prelude::*;
    /// use effect::Pool;
    ///
    /// let idle: Effect<usize, Never> = scoped(effect_block! {
    ///     let pool = Pool::make(|| succeed::<u8, Never>(0), 2..=2)?;
    ///     pool.get()?; // one checked out until this scope closes
    ///     pool.idle()
    /// });
    /// assert_eq!(effect::run_blocking(idle), Ok(1));
    /// ```
    pub fn idle(&self) -> usize {
        self.core.counts().idle
    }

    /// How many items are checked out.
    ///
    /// ```
    /// use effect::prelude::*;
    /// use effect::Pool;
    ///
    /// let in_use: Effect<usize, Never> = scoped(effect_block! {
    ///     let pool = Pool::make(|| succeed::<u8, Never>(0), 0..=2)?;
    ///     pool.get()?;
    ///     pool.in_use()
    /// });
    /// assert_eq!(effect::run_blocking(in_use), Ok(1));
    /// ```
    pub fn in_use(&self) -> usize {
        self.core.counts().in_use
    }

    /// How many `get`s are waiting for an item.
    ///
    /// ```
    /// use effect::prelude::*;
    /// use effect::Pool;
    ///
    /// let waiting: Effect<usize, Never> = scoped(Pool::make(|| succeed::<u8, Never>(0), 1..=1).map(|p| p.waiting()));
    /// assert_eq!(effect::run_blocking(waiting), Ok(0));
    /// ```
    pub fn waiting(&self) -> usize {
        self.core.counts().waiting
    }

    /// This pool, named `name`: with the `metrics` feature, its gauges `effect_pool_size`,
    /// `effect_pool_idle` and `effect_pool_in_use` follow every change, and each `get` served
    /// records how long it waited in `effect_pool_wait_seconds` (zero when served at once, on
    /// the context's clock), all labelled `pool = name` (see the `metrics` module). A
    /// pool is named once (clones share the name); a second name is ignored. Without the
    /// feature, a name changes nothing.
    ///
    /// ```
    /// use effect::prelude::*;
    /// use effect::Pool;
    ///
    /// let size: Effect<usize, Never> = scoped(
    ///     Pool::make(|| succeed::<u8, Never>(0), 2..=4).map(|pool| pool.named("buffers").size()),
    /// );
    /// assert_eq!(effect::run_blocking(size), Ok(2));
    /// ```
    pub fn named(self, name: &'static str) -> Self {
        self.core.set_name(name);
        self
    }
}
