//! The machinery of a [`Cache`](super::Cache): its entries, and the lookups in flight.
//!
//! Invariants, each kept where the code says so:
//! - L1 A key has at most one lookup in flight. A `get` that misses puts a [`Pending`] in the
//!   entry (or, for `refresh`, beside the value still served) under the state lock, and
//!   starts its lookup; every `get` of that key until it ends waits for that one.
//! - L2 A lookup runs on a fiber of its own, so that a caller interrupted while waiting does
//!   not interrupt it. Its callers are counted in the `Pending`; the last to leave before
//!   it ends interrupts it (nobody wants it any more) and takes it out of the entry.
//! - L3 Every lookup fiber is kept (in `State::lookups`) until the cache closes, which
//!   interrupts and awaits them all: the cache's scope owns them.
//! - L4 A lookup's exit goes to every caller waiting for it, whether or not the cache keeps
//!   it: it is stored only if the entry still holds that lookup (it was not invalidated,
//!   evicted or abandoned meanwhile) and its time to live is above zero.
//! - Locks: the state's, then a pending's, never the other way; nobody awaits holding one.

use std::hash::Hash;
use std::pin::pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use lru::LruCache;
use tokio::sync::Notify;

use crate::kernel::cause::{Cause, Exit, Never};
use crate::kernel::clock::Clock;
use crate::kernel::context::Context;
use crate::kernel::effect::{succeed, suspend, Effect};
use crate::kernel::fiber::core::FiberCore;
use crate::kernel::fiber::handle::Fiber;
use crate::kernel::fiber::kept::Kept;

/// What a cache's keys must be: hashed, compared, and cloned into each lookup.
pub(crate) trait CacheKey: Hash + Eq + Clone + Send + 'static {}
impl<K: Hash + Eq + Clone + Send + 'static> CacheKey for K {}

/// What a cache's values and errors must be: cloned to every caller of a lookup.
pub(crate) trait Shared: Clone + Send + 'static {}
impl<T: Clone + Send + 'static> Shared for T {}

pub(crate) type Lookup<K, V, E> = Arc<dyn Fn(&K) -> Effect<V, E> + Send + Sync>;
pub(crate) type TimeToLive<V, E> = Arc<dyn Fn(&Exit<V, E>) -> Duration + Send + Sync>;

pub(crate) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // The state is consistent between statements that mutate it: a panic elsewhere (in a
    // caller's code, never under these locks) does not leave it half-changed.
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// What the cache holds for a key.
pub(crate) enum Entry<V, E> {
    /// A lookup's exit, until `expires` (never, for `None`); and a refresh of it in flight.
    Ready {
        exit: Exit<V, E>,
        expires: Option<Instant>,
        refreshing: Option<Arc<Pending<V, E>>>,
    },
    /// The key's first lookup, in flight.
    Loading(Arc<Pending<V, E>>),
}

/// A lookup in flight, and who waits for it.
pub(crate) struct Pending<V, E> {
    state: Mutex<PendingState<V, E>>,
    done: Notify,
}

struct PendingState<V, E> {
    exit: Option<Exit<V, E>>,
    /// Callers waiting for it (L2).
    waiters: usize,
    /// The lookup's fiber, once started.
    fiber: Option<Arc<FiberCore>>,
    /// The last caller left before it ended: its fiber is interrupted once it is known.
    abandoned: bool,
}

impl<V: Clone, E: Clone> Pending<V, E> {
    /// A lookup about to start, with its first caller counted.
    pub(crate) fn new() -> Arc<Self> {
        Arc::new(Pending {
            state: Mutex::new(PendingState {
                exit: None,
                waiters: 1,
                fiber: None,
                abandoned: false,
            }),
            done: Notify::new(),
        })
    }

    fn exit(&self) -> Option<Exit<V, E>> {
        lock(&self.state).exit.clone()
    }

    /// Records the lookup's exit if none is yet (under the cache's state lock, L4); the
    /// callers are woken by [`wake`](Pending::wake) once that lock is released.
    fn settle(&self, exit: Exit<V, E>) {
        let mut state = lock(&self.state);
        if state.exit.is_none() {
            state.exit = Some(exit);
        }
    }

    fn wake(&self) {
        self.done.notify_waiters();
    }
}

/// What [`State::count`] counts.
#[derive(Clone, Copy)]
enum Counted {
    Hit,
    Miss,
    Load,
    Eviction,
}

/// The entries, the lookups and the counts, under one lock.
pub(crate) struct State<K, V, E> {
    pub(crate) entries: LruCache<K, Entry<V, E>>,
    /// Every lookup fiber started and not yet seen ended (L3).
    lookups: Kept,
    pub(crate) closed: bool,
    pub(crate) hits: u64,
    pub(crate) misses: u64,
    pub(crate) loads: u64,
    pub(crate) evictions: u64,
    /// The cache's name, the label of its metrics (see `CacheBuilder::named`).
    #[cfg_attr(not(feature = "metrics"), allow(dead_code))]
    name: Option<&'static str>,
}

impl<K: Hash + Eq, V, E> State<K, V, E> {
    pub(crate) fn new(name: Option<&'static str>) -> Self {
        State {
            entries: LruCache::unbounded(),
            lookups: Kept::new(),
            closed: false,
            hits: 0,
            misses: 0,
            loads: 0,
            evictions: 0,
            name,
        }
    }

    /// Counts a hit, a miss, a lookup started or an eviction: in the cache's stats, and in
    /// its metrics when it is named.
    fn count(&mut self, what: Counted) {
        let (count, _metric) = match what {
            Counted::Hit => (&mut self.hits, "effect_cache_hits_total"),
            Counted::Miss => (&mut self.misses, "effect_cache_misses_total"),
            Counted::Load => (&mut self.loads, "effect_cache_loads_total"),
            Counted::Eviction => (&mut self.evictions, "effect_cache_evictions_total"),
        };
        *count += 1;
        #[cfg(feature = "metrics")]
        if let Some(cache) = self.name {
            metrics::counter!(_metric, "cache" => cache).increment(1);
        }
    }

    /// Makes room for one more entry: the least recently used goes (callers waiting for a
    /// lookup of it still get its exit, L4).
    pub(crate) fn make_room(&mut self, capacity: usize) {
        while self.entries.len() >= capacity {
            if self.entries.pop_lru().is_none() {
                break;
            }
            self.count(Counted::Eviction);
        }
    }
}

/// What a cache shares between its handles and its lookups.
pub(crate) struct Inner<K, V, E> {
    pub(crate) lookup: Lookup<K, V, E>,
    pub(crate) time_to_live: TimeToLive<V, E>,
    pub(crate) capacity: usize,
    /// The context the cache was made in: lookups run in it, and its clock tells the time.
    pub(crate) ctx: Context,
    pub(crate) clock: Clock,
    pub(crate) state: Mutex<State<K, V, E>>,
}

/// What a `get` or `refresh` found under the lock: a value (for a `refresh`, the new lookup
/// beside it), a lookup in flight, or nothing.
enum Found<T, P> {
    Value(T),
    InFlight(P),
    Nothing,
}

/// What a `get` (or `refresh`) does once the lock is released.
pub(crate) enum Next<K: CacheKey, V: Shared, E: Shared> {
    Done(Exit<V, E>),
    Wait(Waiter<K, V, E>),
    /// Start the lookup, then wait for it.
    Load(Waiter<K, V, E>),
}

impl<K, V, E> Inner<K, V, E>
where
    K: CacheKey,
    V: Shared,
    E: Shared,
{
    pub(crate) fn lock(&self) -> MutexGuard<'_, State<K, V, E>> {
        lock(&self.state)
    }

    /// The time an exit is kept from `now`: `None` to keep it forever, `Some(now)` (already
    /// expired) not to keep it. Defects and interruptions are never kept.
    pub(crate) fn expiry(&self, exit: &Exit<V, E>, now: Instant) -> Option<Instant> {
        let keep = match exit {
            Ok(_) | Err(Cause::Fail(_)) => (self.time_to_live)(exit),
            Err(_) => Duration::ZERO,
        };
        now.checked_add(keep)
    }

    /// The exit kept for `key`, if it has not expired (counted as a hit, and made the most
    /// recently used); `None` for anything else, counted by [`begin_get`](Self::begin_get).
    pub(crate) fn hit(&self, key: &K) -> Option<Exit<V, E>> {
        let now = self.clock.instant();
        let mut state = self.lock();
        let exit = match state.entries.get_mut(key) {
            Some(Entry::Ready { exit, expires, .. }) if expires.is_none_or(|at| now < at) => {
                exit.clone()
            }
            _ => return None,
        };
        state.count(Counted::Hit);
        Some(exit)
    }

    /// The start of a `get` (L1): a hit, a wait for the lookup in flight, or a new lookup.
    pub(crate) fn begin_get(self: &Arc<Self>, key: K) -> Result<Next<K, V, E>, Cause<E>> {
        let now = self.clock.instant();
        let mut state = self.lock();
        if state.closed {
            return Err(Cause::interrupt());
        }
        let found = match state.entries.get_mut(&key) {
            Some(Entry::Ready { exit, expires, .. }) if expires.is_none_or(|at| now < at) => {
                Found::Value(exit.clone())
            }
            // Expired, with its refresh in flight; or the first lookup in flight.
            Some(Entry::Ready {
                refreshing: Some(pending),
                ..
            })
            | Some(Entry::Loading(pending)) => Found::InFlight(pending.clone()),
            _ => Found::Nothing,
        };
        match found {
            Found::Value(exit) => {
                state.count(Counted::Hit);
                Ok(Next::Done(exit))
            }
            Found::InFlight(pending) => {
                state.count(Counted::Hit);
                Ok(Next::Wait(self.join(&key, &pending)))
            }
            Found::Nothing => {
                state.count(Counted::Miss);
                Ok(self.load(&mut state, key))
            }
        }
    }

    /// The start of a `refresh`: a new lookup beside the value still served, or a wait for
    /// the one in flight (L1).
    pub(crate) fn begin_refresh(self: &Arc<Self>, key: K) -> Result<Next<K, V, E>, Cause<E>> {
        let mut state = self.lock();
        if state.closed {
            return Err(Cause::interrupt());
        }
        let found = match state.entries.peek_mut(&key) {
            Some(Entry::Ready {
                refreshing: Some(pending),
                ..
            })
            | Some(Entry::Loading(pending)) => Found::InFlight(pending.clone()),
            Some(Entry::Ready { refreshing, .. }) => {
                let pending = Pending::new();
                *refreshing = Some(pending.clone());
                Found::Value(pending)
            }
            None => Found::Nothing,
        };
        match found {
            Found::InFlight(pending) => Ok(Next::Wait(self.join(&key, &pending))),
            // A refresh beside the value still served.
            Found::Value(pending) => {
                state.count(Counted::Load);
                Ok(Next::Load(self.waiter(&key, &pending)))
            }
            Found::Nothing => Ok(self.load(&mut state, key)),
        }
    }

    /// A new lookup of `key`, in a new entry (the least recently used evicted if full).
    fn load(self: &Arc<Self>, state: &mut State<K, V, E>, key: K) -> Next<K, V, E> {
        state.count(Counted::Load);
        if state.entries.pop(&key).is_none() {
            state.make_room(self.capacity);
        }
        let pending = Pending::new();
        let waiter = self.waiter(&key, &pending);
        state.entries.put(key, Entry::Loading(pending));
        Next::Load(waiter)
    }

    /// Puts `value` in the cache for `key`, kept for the time to live of a success.
    pub(crate) fn set(&self, key: K, value: V) {
        let now = self.clock.instant();
        let exit = Ok(value);
        let expires = self.expiry(&exit, now);
        let mut state = self.lock();
        if state.closed {
            return;
        }
        if expires.is_some_and(|at| at <= now) {
            state.entries.pop(&key);
            return;
        }
        if !state.entries.contains(&key) {
            state.make_room(self.capacity);
        }
        let ready = Entry::Ready {
            exit,
            expires,
            refreshing: None,
        };
        state.entries.put(key, ready);
    }

    /// Joins `pending` as one more caller.
    pub(crate) fn join(self: &Arc<Self>, key: &K, pending: &Arc<Pending<V, E>>) -> Waiter<K, V, E> {
        lock(&pending.state).waiters += 1;
        self.waiter(key, pending)
    }

    /// The first caller of a new `pending` (counted in [`Pending::new`]).
    pub(crate) fn waiter(
        self: &Arc<Self>,
        key: &K,
        pending: &Arc<Pending<V, E>>,
    ) -> Waiter<K, V, E> {
        Waiter {
            inner: self.clone(),
            key: key.clone(),
            pending: pending.clone(),
        }
    }

    /// Starts the lookup of `waiter`'s key on a fiber of its own (L2), kept until the cache
    /// closes (L3). Run uninterruptibly (see [`run`](Inner::run)): the fiber is registered
    /// in the step that forks it.
    fn start<E2: Send + 'static>(self: &Arc<Self>, waiter: &Waiter<K, V, E>) -> Effect<(), E2> {
        let lookup = LookupRun {
            inner: self.clone(),
            key: waiter.key.clone(),
            pending: waiter.pending.clone(),
        };
        let body = Effect::<(), Never>::from_future(async move { lookup.run().await });
        let (inner, pending) = (self.clone(), waiter.pending.clone());
        // Interruptible even when its caller is not: it must stop when abandoned.
        body.interruptible()
            .fork_daemon::<E2>()
            .flat_map(move |fiber| inner.register(&pending, fiber))
    }

    /// Keeps a lookup's fiber (L3), and interrupts it if its callers left meanwhile.
    fn register<E2: Send + 'static>(
        &self,
        pending: &Pending<V, E>,
        fiber: Fiber<(), Never>,
    ) -> Effect<(), E2> {
        let core = fiber.core();
        let mut state = self.lock();
        let mut waiting = lock(&pending.state);
        waiting.fiber = Some(core.clone());
        let abandoned = waiting.abandoned;
        drop(waiting);
        if state.closed {
            // Closed meanwhile: closing did not see this fiber; stop and await it here.
            drop(state);
            return fiber.interrupt::<E2>().map(|_| ());
        }
        state.lookups.keep(fiber);
        drop(state);
        if abandoned {
            core.interrupt();
        }
        succeed(())
    }

    /// A `get` or `refresh`: `begin` decides under the lock, then the lookup starts if it is
    /// this caller's to start, both uninterruptibly, so that a lookup others may join is
    /// always started; then the caller waits, interruptibly.
    pub(crate) fn run(self: &Arc<Self>, begin: Effect<Next<K, V, E>, E>) -> Effect<V, E> {
        let inner = self.clone();
        begin
            .flat_map(move |next| match next {
                Next::Load(waiter) => inner.start(&waiter).map(move |()| Next::Wait(waiter)),
                next => succeed(next),
            })
            .uninterruptible()
            .flat_map(|next| match next {
                Next::Done(exit) => Effect::from_future(async move { exit }),
                Next::Wait(waiter) | Next::Load(waiter) => {
                    Effect::from_future(async move { waiter.wait().await })
                }
            })
    }

    /// Closes the cache: no more lookups, nothing kept, every lookup in flight interrupted
    /// and awaited (L3); their callers are interrupted.
    pub(crate) fn close(self: Arc<Self>) -> Effect<(), Never> {
        Effect::suspend_with(move |_| {
            let mut state = self.lock();
            state.closed = true;
            state.entries.clear();
            state.lookups.stop_all()
        })
    }
}

/// Whether the entry of a key holds a given lookup.
enum Holds {
    /// As its first lookup.
    Loading,
    /// As the refresh of its value: taken out of it now.
    Refresh,
    Not,
}

/// Where the entry of `key` holds `pending`, if it does (a refresh is taken out of it).
fn detach<K: CacheKey, V: Shared, E: Shared>(
    state: &mut State<K, V, E>,
    key: &K,
    pending: &Arc<Pending<V, E>>,
) -> Holds {
    let ours = |p: &Arc<Pending<V, E>>| Arc::ptr_eq(p, pending);
    match state.entries.peek_mut(key) {
        Some(Entry::Loading(p)) if ours(p) => Holds::Loading,
        Some(Entry::Ready { refreshing, .. }) if refreshing.as_ref().is_some_and(ours) => {
            *refreshing = None;
            Holds::Refresh
        }
        _ => Holds::Not,
    }
}

/// A caller's wait for a lookup. Dropped (served, interrupted, unwound), it leaves; the last
/// to leave before the lookup ends abandons it (L2).
pub(crate) struct Waiter<K, V, E>
where
    K: CacheKey,
    V: Shared,
    E: Shared,
{
    inner: Arc<Inner<K, V, E>>,
    key: K,
    pending: Arc<Pending<V, E>>,
}

impl<K, V, E> Waiter<K, V, E>
where
    K: CacheKey,
    V: Shared,
    E: Shared,
{
    async fn wait(self) -> Exit<V, E> {
        loop {
            let mut woken = pin!(self.pending.done.notified());
            woken.as_mut().enable();
            if let Some(exit) = self.pending.exit() {
                return exit;
            }
            woken.await;
        }
    }
}

impl<K, V, E> Drop for Waiter<K, V, E>
where
    K: CacheKey,
    V: Shared,
    E: Shared,
{
    fn drop(&mut self) {
        let mut state = self.inner.lock();
        let mut pending = lock(&self.pending.state);
        pending.waiters -= 1;
        if pending.waiters > 0 || pending.exit.is_some() {
            return;
        }
        // The last caller out, before the lookup ended: nobody wants it any more.
        pending.abandoned = true;
        let fiber = pending.fiber.take();
        drop(pending);
        if let Holds::Loading = detach(&mut state, &self.key, &self.pending) {
            state.entries.pop(&self.key);
        }
        drop(state);
        // The fiber stays in `lookups`, awaited when the cache closes (L3).
        if let Some(fiber) = fiber {
            fiber.interrupt();
        }
    }
}

/// A lookup, run on its own fiber. Dropped before it settled (interrupted: abandoned, or the
/// cache closing), it tells whoever still waits that it was interrupted.
struct LookupRun<K, V, E>
where
    K: CacheKey,
    V: Shared,
    E: Shared,
{
    inner: Arc<Inner<K, V, E>>,
    key: K,
    pending: Arc<Pending<V, E>>,
}

impl<K, V, E> LookupRun<K, V, E>
where
    K: CacheKey,
    V: Shared,
    E: Shared,
{
    async fn run(self) -> Exit<(), Never> {
        let (lookup, key) = (self.inner.lookup.clone(), self.key.clone());
        let exit = suspend(move || lookup(&key))
            .provide_context(self.inner.ctx.clone())
            .await;
        self.settle(exit);
        Ok(())
    }

    /// Stores `exit` if the entry still holds this lookup and it is to be kept (L4), and
    /// gives it to the callers.
    fn settle(&self, exit: Exit<V, E>) {
        let now = self.inner.clock.instant();
        let expires = self.inner.expiry(&exit, now);
        let keep = expires.is_none_or(|at| at > now);
        let mut state = self.inner.lock();
        // A refresh whose exit is not kept (a failure not cached) leaves the value served
        // so far; a first lookup's leaves nothing.
        let holds = detach(&mut state, &self.key, &self.pending);
        if keep && !matches!(holds, Holds::Not) {
            let ready = Entry::Ready {
                exit: exit.clone(),
                expires,
                refreshing: None,
            };
            state.entries.put(self.key.clone(), ready);
        } else if let Holds::Loading = holds {
            state.entries.pop(&self.key);
        }
        self.pending.settle(exit);
        drop(state);
        self.pending.wake();
    }
}

impl<K, V, E> Drop for LookupRun<K, V, E>
where
    K: CacheKey,
    V: Shared,
    E: Shared,
{
    fn drop(&mut self) {
        if lock(&self.pending.state).exit.is_none() {
            self.settle(Err(Cause::interrupt()));
        }
    }
}
