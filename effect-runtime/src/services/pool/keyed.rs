//! [`KeyedPool`]: a pool per key (per host, per tenant), each with the guarantees of a
//! [`Pool`](super::Pool).
//!
//! Invariants: a key's pool is made on its first `get` (and its reaper started with it, by
//! the same `get`, under the map's lock, so exactly once); it is forgotten only once it
//! holds nothing and nobody uses or waits for it (closing it then releases nothing), so a
//! later `get` of that key starts a new one. Every reaper ever started is awaited when the
//! keyed pool closes.

use std::collections::HashMap;
use std::fmt;
use std::hash::Hash;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use super::core::{Counts, KeyedSums, PoolCore};
use super::{checked_size, scope_of};
use crate::kernel::cause::{Cause, Never};
use crate::kernel::effect::Effect;
use crate::kernel::fiber::kept::Kept;

type KeyedAcquire<K, R, E> = Arc<dyn Fn(&K) -> Effect<R, E> + Send + Sync>;

/// A key's pool, and whether it was made just now.
type KeyPool<R, E> = (Arc<PoolCore<R, E>>, bool);

/// A [`Pool`](super::Pool) per key, made on the key's first [`get`](KeyedPool::get): up to
/// `max_per_key` items for each key, the same guarantees for each (scoped checkout, waiters
/// in order, interrupted waiters taking nothing, failed acquisitions reported and retried,
/// invalidation, closing with the scope). With a time to live, a key's idle items are
/// released after it, and a key with nothing left is forgotten.
///
/// ```
/// use effect::prelude::*;
/// use effect::KeyedPool;
///
/// #[derive(Clone, Debug, PartialEq)]
/// struct Client { host: String }
///
/// let program: Effect<(String, String, usize), Never> = scoped(effect_block! {
///     let clients = KeyedPool::make(|host: &String| succeed(Client { host: host.clone() }), 2)?;
///     let a = scoped(clients.get("a.example".to_string()).map(|c| c.host))?;
///     let b = scoped(clients.get("b.example".to_string()).map(|c| c.host))?;
///     (a, b, clients.keys())
/// });
/// assert_eq!(
///     effect::run_blocking(program),
///     Ok(("a.example".to_string(), "b.example".to_string(), 2))
/// );
/// ```
pub struct KeyedPool<K, R, E> {
    inner: Arc<KeyedInner<K, R, E>>,
}

struct KeyedInner<K, R, E> {
    acquire: KeyedAcquire<K, R, E>,
    max: usize,
    ttl: Option<Duration>,
    state: Mutex<KeyedState<K, R, E>>,
}

struct KeyedState<K, R, E> {
    pools: HashMap<K, Arc<PoolCore<R, E>>>,
    /// Its name, and the sums its keys' pools add to (see `KeyedPool::named`): each key's
    /// pool, as it is made, is named with it.
    label: Option<(&'static str, Arc<KeyedSums>)>,
    /// The reapers of the keys' pools, until the keyed pool closes and awaits them.
    reapers: Kept,
    /// Look for keys to forget when there are this many.
    sweep_at: usize,
    closed: bool,
}

/// Keys kept before the first look for ones to forget.
const FIRST_SWEEP: usize = 64;

impl<K, R, E> Clone for KeyedPool<K, R, E> {
    fn clone(&self) -> Self {
        KeyedPool {
            inner: self.inner.clone(),
        }
    }
}

impl<K, R, E> fmt::Debug for KeyedPool<K, R, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyedPool")
            .field("max_per_key", &self.inner.max)
            .field("ttl", &self.inner.ttl)
            .finish()
    }
}

impl<K, R, E> KeyedInner<K, R, E> {
    fn lock(&self) -> MutexGuard<'_, KeyedState<K, R, E>> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl<K, R, E> KeyedPool<K, R, E>
where
    K: Eq + Hash + Clone + Send + Sync + 'static,
    R: Clone + PartialEq + Send + 'static,
    E: Send + 'static,
{
    /// A pool per key of up to `max_per_key` items, made by `acquire(&key)` as a key needs
    /// them, living until the scope of the context closes.
    ///
    /// # Errors
    /// Outside a scope, or with `max_per_key` of zero, it dies with a message saying so.
    ///
    /// ```
    /// use effect::prelude::*;
    /// use effect::KeyedPool;
    ///
    /// let made: Effect<usize, Never> = scoped(
    ///     KeyedPool::make(|tenant: &u32| succeed::<u32, Never>(*tenant), 4).map(|pool| pool.keys()),
    /// );
    /// assert_eq!(effect::run_blocking(made), Ok(0)); // keys come with their first `get`
    /// ```
    pub fn make<F>(acquire: F, max_per_key: usize) -> Effect<KeyedPool<K, R, E>, E>
    where
        F: Fn(&K) -> Effect<R, E> + Send + Sync + 'static,
    {
        Self::build(Arc::new(acquire), max_per_key, None)
    }

    /// A pool per key as [`make`](KeyedPool::make) makes it, whose idle items are released
    /// once idle for `ttl` (at that instant of the context's clock); a key with nothing left
    /// is then forgotten.
    ///
    /// ```
    /// use effect::prelude::*;
    /// use effect::KeyedPool;
    ///
    /// #[effect::test]
    /// fn idle_hosts_are_released(clock: TestClock) -> Effect<(), Never> {
    ///     let pool = KeyedPool::make_with_ttl(|host: &&str| succeed::<String, Never>(host.to_string()), 2, secs(30))?;
    ///     scoped(pool.get("a.example"))?;
    ///     assert_eq!((pool.keys(), pool.size()), (1, 1));
    ///     clock.advance(secs(30)).await;
    ///     assert_eq!((pool.keys(), pool.size()), (0, 0));
    /// }
    /// # fn main() {}
    /// ```
    pub fn make_with_ttl<F>(
        acquire: F,
        max_per_key: usize,
        ttl: Duration,
    ) -> Effect<KeyedPool<K, R, E>, E>
    where
        F: Fn(&K) -> Effect<R, E> + Send + Sync + 'static,
    {
        Self::build(Arc::new(acquire), max_per_key, Some(ttl))
    }

    fn build(
        acquire: KeyedAcquire<K, R, E>,
        max: usize,
        ttl: Option<Duration>,
    ) -> Effect<KeyedPool<K, R, E>, E> {
        Effect::new(move |ctx| async move {
            checked_size("KeyedPool::make", &(0..=max))?;
            let scope = scope_of(&ctx, "KeyedPool::make")?;
            let pool = KeyedPool {
                inner: Arc::new(KeyedInner {
                    acquire,
                    max,
                    ttl,
                    state: Mutex::new(KeyedState {
                        pools: HashMap::new(),
                        label: None,
                        reapers: Kept::new(),
                        sweep_at: FIRST_SWEEP,
                        closed: false,
                    }),
                }),
            };
            scope.add_finalizer_now(pool.clone().close());
            Ok(pool)
        })
    }

    /// The pool of `key`: its own, or a new one (with the flag saying so).
    fn pool_of(&self, key: &K) -> Result<KeyPool<R, E>, Cause<E>> {
        let mut state = self.inner.lock();
        if state.closed {
            return Err(Cause::interrupt());
        }
        if state.pools.len() >= state.sweep_at {
            Self::forget_empty(&mut state);
            state.sweep_at = (state.pools.len() * 2).max(FIRST_SWEEP);
        }
        if let Some(core) = state.pools.get(key) {
            return Ok((core.clone(), false));
        }
        let acquire = self.inner.acquire.clone();
        let for_key = key.clone();
        let core = Arc::new(PoolCore::new(
            Arc::new(move || acquire(&for_key)),
            0,
            self.inner.max,
            self.inner.ttl,
        ));
        if let Some((name, sums)) = &state.label {
            core.set_keyed_name(name, sums.clone());
        }
        state.pools.insert(key.clone(), core.clone());
        Ok((core, true))
    }

    /// Forgets the keys whose pools hold nothing and serve nobody (closing them, which has
    /// nothing to release; their reapers end).
    fn forget_empty(state: &mut KeyedState<K, R, E>) {
        state.pools.retain(|_, core| !core.close_if_empty());
    }

    /// An effect that checks out an item of `key` until the scope of its context closes;
    /// see [`Pool::get`](super::Pool::get). Keys are independent: waiting for one never
    /// holds up another.
    ///
    /// ```
    /// use effect::prelude::*;
    /// use effect::KeyedPool;
    ///
    /// let program: Effect<u32, Never> = scoped(effect_block! {
    ///     let pool = KeyedPool::make(|n: &u32| succeed(n * 10), 1)?;
    ///     scoped(pool.get(4))?
    /// });
    /// assert_eq!(effect::run_blocking(program), Ok(40));
    /// ```
    pub fn get(&self, key: K) -> Effect<R, E> {
        let pool = self.clone();
        // Finding (or making) the key's pool and starting its reaper are one uninterruptible
        // step, so a new pool never goes without its reaper; only the checkout waits.
        Effect::suspend_with(move |_| match (pool.pool_of(&key), pool.inner.ttl) {
            (Err(cause), _) => crate::kernel::effect::fail_cause(cause),
            (Ok((core, true)), Some(ttl)) => pool.start_reaper(&core, ttl).map(move |()| core),
            (Ok((core, _)), _) => crate::kernel::effect::succeed(core),
        })
        .uninterruptible()
        .flat_map(|core| core.checkout())
    }

    /// Starts the reaper of a key's new pool and keeps it for closing to await, in the step
    /// that forks it; if the keyed pool closed meanwhile (closing awaits only the reapers it
    /// saw), stops it here and is interrupted.
    fn start_reaper(&self, core: &Arc<PoolCore<R, E>>, ttl: Duration) -> Effect<(), E> {
        let inner = self.inner.clone();
        core.clone()
            .reap(ttl)
            .fork_daemon::<E>()
            .flat_map(move |reaper| {
                let mut state = inner.lock();
                if state.closed {
                    drop(state);
                    return reaper
                        .interrupt::<E>()
                        .flat_map(|_| crate::kernel::effect::fail_cause(Cause::interrupt()));
                }
                state.reapers.keep(reaper);
                crate::kernel::effect::succeed(())
            })
    }

    /// An effect that invalidates `item` in whichever key's pool holds it; see
    /// [`Pool::invalidate`](super::Pool::invalidate).
    ///
    /// ```
    /// use effect::prelude::*;
    /// use effect::KeyedPool;
    ///
    /// let program: Effect<usize, Never> = scoped(effect_block! {
    ///     let pool = KeyedPool::make(|k: &&str| succeed::<String, Never>(k.to_string()), 1)?;
    ///     let item = scoped(pool.get("a"))?;
    ///     pool.invalidate::<Never>(&item)?;
    ///     pool.size()
    /// });
    /// assert_eq!(effect::run_blocking(program), Ok(0));
    /// ```
    pub fn invalidate<E2: Send + 'static>(&self, item: &R) -> Effect<(), E2> {
        let cores: Vec<Arc<PoolCore<R, E>>> = self.inner.lock().pools.values().cloned().collect();
        let invalidations: Vec<Effect<(), E2>> = cores
            .into_iter()
            .map(|core| core.invalidate(item.clone()))
            .collect();
        crate::ops::par::zip_par(invalidations).map(|_| ())
    }

    /// How many keys have a pool now, those with nothing left forgotten first.
    ///
    /// ```
    /// use effect::prelude::*;
    /// use effect::KeyedPool;
    ///
    /// let keys: Effect<usize, Never> = scoped(effect_block! {
    ///     let pool = KeyedPool::make(|k: &u8| succeed::<u8, Never>(*k), 1)?;
    ///     scoped(pool.get(1))?;
    ///     scoped(pool.get(2))?;
    ///     pool.keys()
    /// });
    /// assert_eq!(effect::run_blocking(keys), Ok(2));
    /// ```
    pub fn keys(&self) -> usize {
        let mut state = self.inner.lock();
        Self::forget_empty(&mut state);
        state.pools.len()
    }

    /// This keyed pool, named `name`: with the `metrics` feature, the gauges
    /// `effect_pool_size`, `effect_pool_idle` and `effect_pool_in_use` labelled `pool = name`
    /// follow every change, summed over its keys, and each `get` served records how long it
    /// waited in `effect_pool_wait_seconds` (as [`Pool::named`](super::Pool::named) does for
    /// one pool). Keys are not labels: a label per host or tenant would make a series per
    /// key, without bound. Named once (clones share the name); a second name is ignored.
    /// Without the feature, a name changes nothing.
    ///
    /// ```
    /// use effect::prelude::*;
    /// use effect::KeyedPool;
    ///
    /// let keys: Effect<usize, Never> = scoped(effect_block! {
    ///     let clients = KeyedPool::make(|host: &&str| succeed::<String, Never>(host.to_string()), 2)?
    ///         .named("http_clients");
    ///     scoped(clients.get("a.example"))?;
    ///     clients.keys()
    /// });
    /// assert_eq!(effect::run_blocking(keys), Ok(1));
    /// ```
    pub fn named(self, name: &'static str) -> Self {
        let mut state = self.inner.lock();
        if state.label.is_none() {
            let sums = Arc::new(KeyedSums::default());
            for core in state.pools.values() {
                core.set_keyed_name(name, sums.clone());
            }
            state.label = Some((name, sums));
        }
        drop(state);
        self
    }

    fn counts(&self) -> Counts {
        let state = self.inner.lock();
        state.pools.values().fold(Counts::default(), |sum, core| {
            let counts = core.counts();
            Counts {
                size: sum.size + counts.size,
                idle: sum.idle + counts.idle,
                in_use: sum.in_use + counts.in_use,
                waiting: sum.waiting + counts.waiting,
            }
        })
    }

    /// How many items the pools of all keys hold.
    ///
    /// ```
    /// use effect::prelude::*;
    /// use effect::KeyedPool;
    ///
    /// let size: Effect<usize, Never> = scoped(effect_block! {
    ///     let pool = KeyedPool::make(|k: &u8| succeed::<u8, Never>(*k), 1)?;
    ///     scoped(pool.get(1))?;
    ///     pool.size()
    /// });
    /// assert_eq!(effect::run_blocking(size), Ok(1));
    /// ```
    pub fn size(&self) -> usize {
        self.counts().size
    }

    /// How many items of all keys are checked out.
    ///
    /// ```
    /// use effect::prelude::*;
    /// use effect::KeyedPool;
    ///
    /// let in_use: Effect<usize, Never> = scoped(effect_block! {
    ///     let pool = KeyedPool::make(|k: &u8| succeed::<u8, Never>(*k), 1)?;
    ///     pool.get(1)?;
    ///     pool.in_use()
    /// });
    /// assert_eq!(effect::run_blocking(in_use), Ok(1));
    /// ```
    pub fn in_use(&self) -> usize {
        self.counts().in_use
    }

    /// How many `get`s of all keys are waiting.
    ///
    /// ```
    /// use effect::prelude::*;
    /// use effect::KeyedPool;
    ///
    /// let waiting: Effect<usize, Never> =
    ///     scoped(KeyedPool::make(|k: &u8| succeed::<u8, Never>(*k), 1).map(|p| p.waiting()));
    /// assert_eq!(effect::run_blocking(waiting), Ok(0));
    /// ```
    pub fn waiting(&self) -> usize {
        self.counts().waiting
    }

    /// Closes every key's pool (each waits for its checked-out items and releases its items
    /// once), then stops and awaits every reaper.
    fn close(self) -> Effect<(), Never> {
        Effect::from_future(async move {
            let (cores, reapers) = {
                let mut state = self.inner.lock();
                state.closed = true;
                let cores: Vec<_> = state.pools.drain().map(|(_, core)| core).collect();
                (cores, state.reapers.stop_all())
            };
            let mut failure: Option<Cause<Never>> = None;
            for core in cores {
                if let Err(cause) = core.close().await {
                    failure = Some(match failure {
                        None => cause,
                        Some(earlier) => earlier.then(cause),
                    });
                }
            }
            let _ = reapers.await;
            failure.map_or(Ok(()), Err)
        })
    }
}
