//! [`KeyedRateLimiter`]: a [`RateLimiter`] per key.
//!
//! Invariant: a key's limiter is forgotten only when it is as a new one would be and no
//! acquisition holds it (it is then only in the map, and the map's lock is held): what an
//! acquisition under way takes always counts.

use std::collections::HashMap;
use std::fmt;
use std::hash::Hash;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::{RateLimiter, Rule};
use crate::kernel::clock::Clock;
use crate::kernel::effect::Effect;

/// A [`RateLimiter`] per key (per host, per tenant, per user): each key has a limiter of
/// the same rule, created on first use, and forgotten once it is as a new one would be
/// (nobody waits on it and what it handed out no longer counts), so idle keys take no
/// memory. Keys are independent: one key's waiters never hold up another's.
///
/// ```
/// use effect::prelude::*;
/// use effect::KeyedRateLimiter;
///
/// #[effect::test]
/// fn one_per_second_per_host(clock: TestClock) -> Effect<(), String> {
///     let limiter = KeyedRateLimiter::token_bucket(1, 1, secs(1));
///     let a = limiter.acquire::<String>("a.example", 1).zip(limiter.acquire("a.example", 1)).fork()?;
///     limiter.acquire::<String>("b.example", 1)?; // another host: at once
///     clock.advance(secs(1)).await; // the second for a.example waited its second
///     a.join()?;
/// }
/// # fn main() {}
/// ```
pub struct KeyedRateLimiter<K> {
    inner: Arc<KeyedInner<K>>,
}

struct KeyedInner<K> {
    rule: Rule,
    state: Mutex<KeyedState<K>>,
}

struct KeyedState<K> {
    limiters: HashMap<K, RateLimiter>,
    /// The clock of the last acquisition, to tell idle keys with.
    clock: Option<Clock>,
    /// Forget idle keys when there are this many.
    sweep_at: usize,
}

/// Keys kept before the first sweep for idle ones.
const FIRST_SWEEP: usize = 64;

impl<K> Clone for KeyedRateLimiter<K> {
    fn clone(&self) -> Self {
        KeyedRateLimiter {
            inner: self.inner.clone(),
        }
    }
}

impl<K> fmt::Debug for KeyedRateLimiter<K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyedRateLimiter")
            .field("rule", &self.inner.rule)
            .finish()
    }
}

impl<K: Eq + Hash + Clone + Send + 'static> KeyedRateLimiter<K> {
    fn with_rule(rule: Rule) -> Self {
        KeyedRateLimiter {
            inner: Arc::new(KeyedInner {
                rule,
                state: Mutex::new(KeyedState {
                    limiters: HashMap::new(),
                    clock: None,
                    sweep_at: FIRST_SWEEP,
                }),
            }),
        }
    }

    /// A token bucket per key; see [`RateLimiter::token_bucket`].
    ///
    /// # Panics
    /// When `capacity`, `refill` or `period` is zero.
    ///
    /// ```
    /// use effect::{secs, KeyedRateLimiter};
    ///
    /// let per_tenant: KeyedRateLimiter<u64> = KeyedRateLimiter::token_bucket(20, 5, secs(1));
    /// assert_eq!(per_tenant.keys(), 0);
    /// ```
    pub fn token_bucket(capacity: u64, refill: u64, period: Duration) -> Self {
        let RateLimiter { inner } = RateLimiter::token_bucket(capacity, refill, period);
        KeyedRateLimiter::with_rule(inner.rule)
    }

    /// Fixed windows per key; see [`RateLimiter::fixed_window`].
    ///
    /// # Panics
    /// When `limit` or `window` is zero.
    ///
    /// ```
    /// use effect::{secs, KeyedRateLimiter};
    ///
    /// let per_user: KeyedRateLimiter<String> = KeyedRateLimiter::fixed_window(100, secs(60));
    /// assert_eq!(per_user.keys(), 0);
    /// ```
    pub fn fixed_window(limit: u64, window: Duration) -> Self {
        let RateLimiter { inner } = RateLimiter::fixed_window(limit, window);
        KeyedRateLimiter::with_rule(inner.rule)
    }

    /// The limiter of `key`, made if it has none, remembering `clock`.
    fn limiter(&self, key: K, clock: Clock) -> RateLimiter {
        let mut state = self.inner.state.lock().unwrap_or_else(|p| p.into_inner());
        if state.limiters.len() >= state.sweep_at {
            Self::forget_idle(&mut state, &clock);
            state.sweep_at = (state.limiters.len() * 2).max(FIRST_SWEEP);
        }
        state.clock = Some(clock);
        let rule = self.inner.rule;
        state
            .limiters
            .entry(key)
            .or_insert_with(|| RateLimiter::with_rule(rule))
            .clone()
    }

    /// Forgets the limiters no acquisition holds and that are as new ones would be.
    /// (One held by an acquisition under way must stay: what it takes must count.)
    fn forget_idle(state: &mut KeyedState<K>, clock: &Clock) {
        let now = clock.instant();
        state
            .limiters
            .retain(|_, limiter| Arc::strong_count(&limiter.inner) > 1 || !limiter.is_fresh(now));
    }

    /// An effect that takes `cost` tokens from `key`'s limiter; see
    /// [`RateLimiter::acquire`].
    ///
    /// ```
    /// use effect::prelude::*;
    /// use effect::KeyedRateLimiter;
    ///
    /// let limiter = KeyedRateLimiter::fixed_window(2, secs(1));
    /// let two: Effect<((), ()), Never> = limiter.acquire("k", 1).zip(limiter.acquire("k", 1));
    /// assert_eq!(effect::run_blocking(two), Ok(((), ())));
    /// ```
    pub fn acquire<E: Send + 'static>(&self, key: K, cost: u64) -> Effect<(), E> {
        let keyed = self.clone();
        Effect::new(move |ctx| async move {
            let limiter = keyed.limiter(key, Clock::of(&ctx));
            limiter.acquire(cost).await
        })
    }

    /// Runs `effect` once one token is taken from `key`'s limiter.
    ///
    /// ```
    /// use effect::prelude::*;
    /// use effect::KeyedRateLimiter;
    ///
    /// let per_host = KeyedRateLimiter::token_bucket(5, 5, secs(1));
    /// let page: Effect<&str, String> = per_host.run("example.com", succeed("<html>"));
    /// assert_eq!(effect::run_blocking(page), Ok("<html>"));
    /// ```
    pub fn run<A: Send + 'static, E: Send + 'static>(
        &self,
        key: K,
        effect: Effect<A, E>,
    ) -> Effect<A, E> {
        self.run_with_cost(key, 1, effect)
    }

    /// Runs `effect` once `cost` tokens are taken from `key`'s limiter.
    ///
    /// ```
    /// use effect::prelude::*;
    /// use effect::KeyedRateLimiter;
    ///
    /// let per_host = KeyedRateLimiter::token_bucket(10, 10, secs(1));
    /// let batch: Effect<u32, String> = per_host.run_with_cost("example.com", 3, succeed(3));
    /// assert_eq!(effect::run_blocking(batch), Ok(3));
    /// ```
    pub fn run_with_cost<A: Send + 'static, E: Send + 'static>(
        &self,
        key: K,
        cost: u64,
        effect: Effect<A, E>,
    ) -> Effect<A, E> {
        self.acquire(key, cost).flat_map(move |()| effect)
    }

    /// How many keys have a limiter now, idle ones forgotten first.
    ///
    /// ```
    /// use effect::prelude::*;
    /// use effect::KeyedRateLimiter;
    ///
    /// #[effect::test]
    /// fn idle_keys_are_forgotten(clock: TestClock) -> Effect<(), String> {
    ///     let limiter = KeyedRateLimiter::token_bucket(1, 1, secs(1));
    ///     limiter.acquire::<String>("a", 1)?;
    ///     limiter.acquire::<String>("b", 1)?;
    ///     assert_eq!(limiter.keys(), 2); // their tokens still count
    ///     clock.advance(secs(1)).await;
    ///     assert_eq!(limiter.keys(), 0); // full again: as new ones
    /// }
    /// # fn main() {}
    /// ```
    pub fn keys(&self) -> usize {
        let mut state = self.inner.state.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(clock) = state.clock.clone() {
            Self::forget_idle(&mut state, &clock);
        }
        state.limiters.len()
    }
}
