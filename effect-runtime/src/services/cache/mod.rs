//! [`Cache`]: values looked up by key, kept for a time to live, with concurrent lookups of
//! one key de-duplicated. The machinery, and its invariants, are in `lookup.rs`.

use std::fmt;
use std::hash::Hash;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::kernel::cause::{Cause, Exit};
use crate::kernel::clock::Clock;
use crate::kernel::effect::Effect;
use crate::ops::scope::Scope;

mod lookup;

use lookup::{Inner, Lookup, State, TimeToLive};

/// A cache of the values of a lookup `K -> Effect<V, E>`, in zio-cache's manner: built in a
/// [`Scope`] with a capacity and a time to live, it runs the lookup when a key is missing and
/// keeps its exit.
///
/// - Concurrent [`get`](Cache::get)s of a missing key run the lookup once, and all receive
///   its exit. The lookup runs on a fiber of its own: a caller interrupted while waiting
///   leaves the others waiting, and the last one to leave interrupts the lookup.
/// - At capacity, the least recently used entry is evicted.
/// - A success is kept for its time to live; a typed failure for the failure's (by
///   default zero: failures are not kept, and the next `get` looks up again). Defects and
///   interruptions are never kept. Expiry reads the [`Clock`] of the context the cache was
///   made in, so a [`TestClock`](crate::TestClock) test of a time to live is exact.
/// - [`refresh`](Cache::refresh) looks a key up again while the old value is still
///   served; [`invalidate`](Cache::invalidate), [`invalidate_all`](Cache::invalidate_all)
///   and [`set`](Cache::set) change what is kept; [`stats`](Cache::stats) counts hits,
///   misses, lookups and evictions.
/// - Lookups run in the context the cache was made in (its services, its clock). When the
///   cache's scope closes, the lookups in flight are interrupted and awaited, and their
///   callers interrupted; a `get` after that is interrupted.
///
/// Clones share the cache.
///
/// ```
/// use std::sync::atomic::{AtomicU32, Ordering};
/// use std::sync::Arc;
/// use effect::prelude::*;
/// use effect::Cache;
///
/// let lookups = Arc::new(AtomicU32::new(0));
/// let counted = lookups.clone();
/// let program: Effect<Vec<usize>, Never> = scoped(effect_block! {
///     let lengths = Cache::make(100, secs(60), move |word: &String| {
///         counted.fetch_add(1, Ordering::SeqCst);
///         sleep::<Never>(ms(10)).as_value(word.len()) // a slow lookup
///     })?;
///     // Ten concurrent gets of one missing key: one lookup.
///     let gets: Vec<_> = (0..10).map(|_| lengths.get("effect".to_string())).collect();
///     zip_par(gets)?
/// });
/// assert_eq!(effect::run_blocking(program), Ok(vec![6; 10]));
/// assert_eq!(lookups.load(Ordering::SeqCst), 1);
/// ```
pub struct Cache<K, V, E> {
    inner: Arc<Inner<K, V, E>>,
}

impl<K, V, E> Clone for Cache<K, V, E> {
    fn clone(&self) -> Self {
        Cache {
            inner: self.inner.clone(),
        }
    }
}

/// What a [`Cache`] has counted since it was made.
///
/// ```
/// use effect::prelude::*;
/// use effect::{Cache, CacheStats};
///
/// let stats: Effect<CacheStats, Never> = scoped(effect_block! {
///     let squares = Cache::make(10, secs(60), |n: &u64| succeed::<u64, Never>(n * n))?;
///     squares.get(3)?; // a miss: looked up
///     squares.get(3)?; // a hit
///     squares.stats()
/// });
/// let stats = effect::run_blocking(stats).unwrap();
/// assert_eq!((stats.hits, stats.misses, stats.loads, stats.size), (1, 1, 1, 1));
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CacheStats {
    /// `get`s answered from the cache, or by joining a lookup already in flight.
    pub hits: u64,
    /// `get`s that found nothing (or an expired entry) and started a lookup.
    pub misses: u64,
    /// Lookups started, by misses and by refreshes.
    pub loads: u64,
    /// Entries evicted to make room (expired entries dropped are not counted).
    pub evictions: u64,
    /// Entries held now, lookups in flight included.
    pub size: usize,
}

/// How to build a [`Cache`]: its capacity and lookup, then the times to live
/// ([`Cache::builder`]).
///
/// ```
/// use effect::prelude::*;
/// use effect::Cache;
///
/// let cache = Cache::builder(1_000, |id: &u32| {
///     if *id == 0 { fail("no user 0".to_string()) } else { succeed(format!("user {id}")) }
/// })
/// .time_to_live(secs(300))
/// .failure_time_to_live(secs(5)); // a failure is kept for 5 s, not looked up again at once
/// let name: Effect<String, String> = scoped(cache.make().flat_map(|users| users.get(7)));
/// assert_eq!(effect::run_blocking(name), Ok("user 7".to_string()));
/// ```
pub struct CacheBuilder<K, V, E> {
    capacity: usize,
    lookup: Lookup<K, V, E>,
    success: Duration,
    failure: Duration,
    time_to_live: Option<TimeToLive<V, E>>,
    name: Option<&'static str>,
}

impl<K, V, E> CacheBuilder<K, V, E>
where
    K: Hash + Eq + Clone + Send + 'static,
    V: Clone + Send + 'static,
    E: Clone + Send + 'static,
{
    /// How long a success is kept (by default, until evicted or invalidated:
    /// `Duration::MAX`). `Duration::ZERO` keeps none.
    ///
    /// ```
    /// use effect::prelude::*;
    /// use effect::Cache;
    ///
    /// let builder = Cache::builder(10, |n: &u32| succeed::<u32, Never>(*n)).time_to_live(secs(30));
    /// # let _ = builder;
    /// ```
    pub fn time_to_live(mut self, ttl: Duration) -> Self {
        self.success = ttl;
        self
    }

    /// How long a typed failure is kept (by default none is: `Duration::ZERO`, and the next
    /// `get` looks the key up again).
    ///
    /// ```
    /// use effect::prelude::*;
    /// use effect::Cache;
    ///
    /// let builder = Cache::builder(10, |_: &u32| fail::<u32, String>("down".into()))
    ///     .failure_time_to_live(secs(1)); // at most one lookup a second while it fails
    /// # let _ = builder;
    /// ```
    pub fn failure_time_to_live(mut self, ttl: Duration) -> Self {
        self.failure = ttl;
        self
    }

    /// The time to live of each exit, chosen by `ttl` (in place of
    /// [`time_to_live`](CacheBuilder::time_to_live) and
    /// [`failure_time_to_live`](CacheBuilder::failure_time_to_live)); `Duration::ZERO` keeps
    /// it not at all. Only successes and typed failures are asked about: defects and
    /// interruptions are never kept.
    ///
    /// ```
    /// use effect::prelude::*;
    /// use effect::Cache;
    ///
    /// // Keep a "not found" briefly, other failures not at all, successes for a minute.
    /// let builder = Cache::builder(10, |_: &u32| fail::<u32, String>("not found".into()))
    ///     .time_to_live_with(|exit| match exit {
    ///         Ok(_) => secs(60),
    ///         Err(cause) if cause.failures() == [&"not found".to_string()] => secs(5),
    ///         Err(_) => Duration::ZERO,
    ///     });
    /// # let _ = builder;
    /// # use std::time::Duration;
    /// ```
    pub fn time_to_live_with<F>(mut self, ttl: F) -> Self
    where
        F: Fn(&Exit<V, E>) -> Duration + Send + Sync + 'static,
    {
        self.time_to_live = Some(Arc::new(ttl));
        self
    }

    /// The cache, named `name`: with the `metrics` feature, its hits, misses, lookups started
    /// and evictions (what [`Cache::stats`] counts) are counted in `effect_cache_hits_total`,
    /// `effect_cache_misses_total`, `effect_cache_loads_total` and
    /// `effect_cache_evictions_total`, labelled `cache = name`.
    ///
    /// ```
    /// use effect::prelude::*;
    /// use effect::Cache;
    ///
    /// let hit: Effect<u32, Never> = scoped(
    ///     Cache::builder(10, |n: &u32| succeed::<u32, Never>(n + 1))
    ///         .named("users")
    ///         .make()
    ///         .flat_map(|cache| cache.get(1)),
    /// );
    /// assert_eq!(effect::run_blocking(hit), Ok(2));
    /// ```
    pub fn named(mut self, name: &'static str) -> Self {
        self.name = Some(name);
        self
    }

    /// An effect making the cache, which lives until the scope of its context closes.
    ///
    /// # Errors
    /// Outside a scope, or with a capacity of zero, it dies with a message saying so.
    ///
    /// ```
    /// use effect::prelude::*;
    /// use effect::Cache;
    ///
    /// let size: Effect<usize, Never> = scoped(
    ///     Cache::builder(10, |n: &u32| succeed::<u32, Never>(n + 1))
    ///         .make()
    ///         .flat_map(|cache| cache.get(1).map(move |_| cache.size())),
    /// );
    /// assert_eq!(effect::run_blocking(size), Ok(1));
    /// ```
    pub fn make<E2: Send + 'static>(self) -> Effect<Cache<K, V, E>, E2> {
        Effect::new(move |ctx| async move {
            if self.capacity == 0 {
                return Err(Cause::die(
                    "Cache::make: a cache of capacity 0 could keep nothing; give it a capacity like 1_000",
                ));
            }
            let scope = ctx.try_get::<Scope>().cloned().ok_or_else(|| {
                Cause::die(
                    "Cache::make outside a scope: make the cache inside `scoped(..)` (it lives until that scope closes)",
                )
            })?;
            let (success, failure) = (self.success, self.failure);
            let time_to_live = self.time_to_live.unwrap_or_else(|| {
                Arc::new(move |exit: &Exit<V, E>| match exit {
                    Ok(_) => success,
                    Err(_) => failure,
                })
            });
            let inner = Arc::new(Inner {
                lookup: self.lookup,
                time_to_live,
                capacity: self.capacity,
                clock: Clock::of(&ctx),
                ctx,
                state: Mutex::new(State::new(self.name)),
            });
            if let Err(close) = scope.add_finalizer_or_back(inner.clone().close()) {
                close.await.map_err(Cause::widen)?;
                return Err(Cause::die(
                    "Cache::make in a scope already closed: make the cache inside `scoped(..)`",
                ));
            }
            Ok(Cache { inner })
        })
    }
}

impl<K, V, E> Cache<K, V, E>
where
    K: Hash + Eq + Clone + Send + 'static,
    V: Clone + Send + 'static,
    E: Clone + Send + 'static,
{
    /// An effect making a cache of at most `capacity` entries of `lookup`'s values, each
    /// success kept for `ttl` (`Duration::MAX`: until evicted), failures not kept. The
    /// cache lives until the scope of the context closes. See [`Cache::builder`] for more
    /// choices.
    ///
    /// # Errors
    /// Outside a scope, or with a capacity of zero, it dies with a message saying so.
    ///
    /// ```
    /// use effect::prelude::*;
    /// use effect::Cache;
    ///
    /// #[effect::test]
    /// fn kept_for_a_minute(clock: TestClock) -> Effect<(), Never> {
    ///     let cache = Cache::make(10, secs(60), |n: &u32| succeed::<u32, Never>(n * 2))?;
    ///     cache.get(4)?;
    ///     assert!(cache.contains_key(&4));
    ///     clock.advance(secs(60)).await;
    ///     assert!(!cache.contains_key(&4)); // expired at that virtual instant
    /// }
    /// # fn main() {}
    /// ```
    pub fn make<E2, F>(capacity: usize, ttl: Duration, lookup: F) -> Effect<Cache<K, V, E>, E2>
    where
        E2: Send + 'static,
        F: Fn(&K) -> Effect<V, E> + Send + Sync + 'static,
    {
        Self::builder(capacity, lookup).time_to_live(ttl).make()
    }

    /// A [`CacheBuilder`] of a cache of at most `capacity` entries of `lookup`'s values.
    ///
    /// ```
    /// use effect::prelude::*;
    /// use effect::Cache;
    ///
    /// let doubled: Effect<u32, Never> = scoped(
    ///     Cache::builder(10, |n: &u32| succeed::<u32, Never>(n * 2))
    ///         .time_to_live(secs(60))
    ///         .make()
    ///         .flat_map(|cache| cache.get(21)),
    /// );
    /// assert_eq!(effect::run_blocking(doubled), Ok(42));
    /// ```
    pub fn builder<F>(capacity: usize, lookup: F) -> CacheBuilder<K, V, E>
    where
        F: Fn(&K) -> Effect<V, E> + Send + Sync + 'static,
    {
        CacheBuilder {
            capacity,
            lookup: Arc::new(lookup),
            success: Duration::MAX,
            failure: Duration::ZERO,
            time_to_live: None,
            name: None,
        }
    }

    /// An effect with `key`'s value: kept, or being looked up (then it waits for that
    /// lookup), or looked up now.
    ///
    /// # Errors
    /// Fails as the lookup failed (a failure kept is returned again until it expires).
    /// Interrupted if the cache's scope has closed, or closes while it waits.
    ///
    /// # Cancel safety
    /// Interrupted while waiting for a lookup, it leaves it running for the others waiting;
    /// the last to leave interrupts it (and nothing is kept).
    ///
    /// ```
    /// use effect::prelude::*;
    /// use effect::Cache;
    ///
    /// let program: Effect<(String, String), String> = scoped(effect_block! {
    ///     let users = Cache::make(100, secs(60), |id: &u32| match id {
    ///         1 => succeed("ada".to_string()),
    ///         _ => fail(format!("no user {id}")),
    ///     })?;
    ///     let found = users.get(1)?;
    ///     let missing = users.get(2).catch_all(succeed)?;
    ///     (found, missing)
    /// });
    /// assert_eq!(effect::run_blocking(program), Ok(("ada".into(), "no user 2".into())));
    /// ```
    pub fn get(&self, key: K) -> Effect<V, E> {
        let inner = self.inner.clone();
        // A hit is answered in place as the effect starts; a miss goes the long way (which
        // looks again under the lock).
        Effect::suspend_with(move |_| match inner.hit(&key) {
            Some(Ok(value)) => crate::kernel::effect::succeed(value),
            Some(Err(cause)) => crate::kernel::effect::fail_cause(cause),
            None => {
                let begin = inner.clone();
                inner.run(Effect::from_future(async move { begin.begin_get(key) }))
            }
        })
    }

    /// An effect that looks `key` up again and keeps the new exit, while `get`s are still
    /// served the value kept until it is ready (and afterwards if the new lookup fails with
    /// a failure that is not kept). Joins a lookup of `key` already in flight.
    ///
    /// # Errors
    /// Fails as the new lookup failed.
    ///
    /// ```
    /// use std::sync::atomic::{AtomicU32, Ordering};
    /// use std::sync::Arc;
    /// use effect::prelude::*;
    /// use effect::Cache;
    ///
    /// let version = Arc::new(AtomicU32::new(1));
    /// let current = version.clone();
    /// let program: Effect<(u32, u32), Never> = scoped(effect_block! {
    ///     let config = Cache::make(1, Duration::MAX, move |_: &()| {
    ///         succeed::<u32, Never>(current.load(Ordering::SeqCst))
    ///     })?;
    ///     let before = config.get(())?;
    ///     version.store(2, Ordering::SeqCst);
    ///     config.refresh(())?;
    ///     (before, config.get(())?)
    /// });
    /// assert_eq!(effect::run_blocking(program), Ok((1, 2)));
    /// # use std::time::Duration;
    /// ```
    pub fn refresh(&self, key: K) -> Effect<(), E> {
        let inner = self.inner.clone();
        self.inner
            .run(Effect::from_future(async move { inner.begin_refresh(key) }))
            .map(|_| ())
    }

    /// An effect that forgets `key` (callers waiting for a lookup of it still get its exit,
    /// which is not kept).
    ///
    /// ```
    /// use effect::prelude::*;
    /// use effect::Cache;
    ///
    /// let program: Effect<bool, Never> = scoped(effect_block! {
    ///     let cache = Cache::make(10, secs(60), |n: &u32| succeed::<u32, Never>(*n))?;
    ///     cache.get(1)?;
    ///     cache.invalidate(&1)?;
    ///     cache.contains_key(&1)
    /// });
    /// assert_eq!(effect::run_blocking(program), Ok(false));
    /// ```
    pub fn invalidate<E2: Send + 'static>(&self, key: &K) -> Effect<(), E2> {
        let (inner, key) = (self.inner.clone(), key.clone());
        crate::kernel::effect::sync(move || {
            inner.lock().entries.pop(&key);
        })
    }

    /// An effect that forgets every key.
    ///
    /// ```
    /// use effect::prelude::*;
    /// use effect::Cache;
    ///
    /// let program: Effect<usize, Never> = scoped(effect_block! {
    ///     let cache = Cache::make(10, secs(60), |n: &u32| succeed::<u32, Never>(*n))?;
    ///     cache.get(1)?;
    ///     cache.get(2)?;
    ///     cache.invalidate_all()?;
    ///     cache.size()
    /// });
    /// assert_eq!(effect::run_blocking(program), Ok(0));
    /// ```
    pub fn invalidate_all<E2: Send + 'static>(&self) -> Effect<(), E2> {
        let inner = self.inner.clone();
        crate::kernel::effect::sync(move || inner.lock().entries.clear())
    }

    /// An effect that keeps `value` for `key` (for the time to live of a success), in place
    /// of what was kept; a lookup of `key` in flight is no longer kept when it ends.
    ///
    /// ```
    /// use effect::prelude::*;
    /// use effect::Cache;
    ///
    /// let program: Effect<u32, Never> = scoped(effect_block! {
    ///     let cache = Cache::make(10, secs(60), |n: &u32| succeed::<u32, Never>(*n))?;
    ///     cache.set(1, 100)?;
    ///     cache.get(1)? // no lookup: the value set
    /// });
    /// assert_eq!(effect::run_blocking(program), Ok(100));
    /// ```
    pub fn set<E2: Send + 'static>(&self, key: K, value: V) -> Effect<(), E2> {
        let inner = self.inner.clone();
        crate::kernel::effect::sync(move || inner.set(key, value))
    }

    /// Whether `key` has an entry: a value or failure not yet expired, or a lookup in flight.
    ///
    /// ```
    /// use effect::prelude::*;
    /// use effect::Cache;
    ///
    /// let program: Effect<(bool, bool), Never> = scoped(effect_block! {
    ///     let cache = Cache::make(10, secs(60), |n: &u32| succeed::<u32, Never>(*n))?;
    ///     cache.get(1)?;
    ///     (cache.contains_key(&1), cache.contains_key(&2))
    /// });
    /// assert_eq!(effect::run_blocking(program), Ok((true, false)));
    /// ```
    pub fn contains_key(&self, key: &K) -> bool {
        let now = self.inner.clock.instant();
        match self.inner.lock().entries.peek(key) {
            Some(lookup::Entry::Ready { expires, .. }) => expires.is_none_or(|at| now < at),
            Some(lookup::Entry::Loading(_)) => true,
            None => false,
        }
    }

    /// The number of entries held, lookups in flight and expired entries not yet dropped
    /// included.
    ///
    /// ```
    /// use effect::prelude::*;
    /// use effect::Cache;
    ///
    /// let program: Effect<usize, Never> = scoped(effect_block! {
    ///     let cache = Cache::make(2, secs(60), |n: &u32| succeed::<u32, Never>(*n))?;
    ///     for n in 0..5 {
    ///         cache.get(n)?;
    ///     }
    ///     cache.size()
    /// });
    /// assert_eq!(effect::run_blocking(program), Ok(2)); // its capacity
    /// ```
    pub fn size(&self) -> usize {
        self.inner.lock().entries.len()
    }

    /// What the cache has counted so far (see [`CacheStats`]).
    ///
    /// ```
    /// use effect::prelude::*;
    /// use effect::Cache;
    ///
    /// let program: Effect<u64, Never> = scoped(effect_block! {
    ///     let cache = Cache::make(1, secs(60), |n: &u32| succeed::<u32, Never>(*n))?;
    ///     cache.get(1)?;
    ///     cache.get(2)?; // evicts 1
    ///     cache.stats().evictions
    /// });
    /// assert_eq!(effect::run_blocking(program), Ok(1));
    /// ```
    pub fn stats(&self) -> CacheStats {
        let state = self.inner.lock();
        CacheStats {
            hits: state.hits,
            misses: state.misses,
            loads: state.loads,
            evictions: state.evictions,
            size: state.entries.len(),
        }
    }
}

impl<K, V, E> fmt::Debug for Cache<K, V, E>
where
    K: Hash + Eq + Clone + Send + 'static,
    V: Clone + Send + 'static,
    E: Clone + Send + 'static,
{
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Cache")
            .field("capacity", &self.inner.capacity)
            .field("stats", &self.stats())
            .finish()
    }
}
