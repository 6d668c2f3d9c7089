//! [`RateLimiter`]: how often effects may start, as a token bucket or in fixed windows; and
//! [`KeyedRateLimiter`] (in `keyed.rs`), a limit per key.
//!
//! Invariants:
//! - Waiters are served in the order they asked: only the first of the queue takes, or
//!   waits on the clock for what it asks; the others wait for their turn. Nobody overtakes.
//! - A waiter owns its place in the queue through a [`Place`], whose drop (on success,
//!   interruption or any unwinding) removes it and hands the turn to the next one. An
//!   interrupted waiter has taken nothing, and the one after it is not kept waiting.
//! - Time is the context's [`Clock`], measured from the first instant the limiter saw, in
//!   integer nanoseconds: under a `TestClock` every wait is exact and instant.

use std::collections::VecDeque;
use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::time::{Duration, Instant};

use tokio::sync::Notify;

use crate::kernel::cause::{Cause, Never};
use crate::kernel::clock::Clock;
use crate::kernel::effect::Effect;
use crate::ops::time::sleep;

mod keyed;

pub use keyed::KeyedRateLimiter;

/// How much may start and how fast it refills.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Rule {
    /// Up to `capacity` tokens; `refill` tokens come back every `period`, one at a time
    /// (one every `period / refill`).
    TokenBucket {
        capacity: u64,
        refill: u64,
        period: Duration,
    },
    /// Up to `limit` per window of `window`, the windows counted from the first use.
    FixedWindow { limit: u64, window: Duration },
}

impl Rule {
    /// The most one acquisition may ask for.
    fn capacity(self) -> u64 {
        match self {
            Rule::TokenBucket { capacity, .. } => capacity,
            Rule::FixedWindow { limit, .. } => limit,
        }
    }

    /// Takes `cost` at `now` (nanoseconds since the limiter's origin), or says how long to
    /// wait until it could.
    fn try_take(self, state: &mut Counters, now: u128, cost: u64) -> Result<(), Duration> {
        match self {
            // The generic cell rate algorithm, in nanoseconds scaled by `refill` so that a
            // token's interval (`period / refill`) is a whole number: `tat` is the time at
            // which the bucket would be full again.
            Rule::TokenBucket {
                capacity,
                refill,
                period,
            } => {
                let scale = u128::from(refill);
                let interval = period.as_nanos();
                let now = now * scale;
                let burst = u128::from(capacity) * interval;
                let tat = state.tat.max(now) + u128::from(cost) * interval;
                if tat - now <= burst {
                    state.tat = tat;
                    return Ok(());
                }
                let wait = (tat - burst - now).div_ceil(scale);
                Err(nanos(wait))
            }
            Rule::FixedWindow { limit, window } => {
                let window = window.as_nanos();
                let index = now / window;
                if index != state.window {
                    state.window = index;
                    state.used = 0;
                }
                if state.used + cost <= limit {
                    state.used += cost;
                    return Ok(());
                }
                Err(nanos((index + 1) * window - now))
            }
        }
    }

    /// Whether a limiter in `state` at `now` is as a new one would be: forgetting it changes
    /// nothing.
    fn is_fresh(self, state: &Counters, now: u128) -> bool {
        match self {
            Rule::TokenBucket { refill, .. } => state.tat <= now * u128::from(refill),
            Rule::FixedWindow { window, .. } => {
                state.used == 0 || now / window.as_nanos() != state.window
            }
        }
    }
}

fn nanos(nanos: u128) -> Duration {
    Duration::from_nanos(u64::try_from(nanos).unwrap_or(u64::MAX))
}

/// What a limiter has handed out.
#[derive(Default)]
struct Counters {
    /// Token bucket: when the bucket is full again, in scaled nanoseconds since the origin.
    tat: u128,
    /// Fixed window: the window `used` counts in, and what it handed out.
    window: u128,
    used: u64,
}

struct LimiterState {
    /// The first instant the limiter saw: its time is measured from it.
    origin: Option<Instant>,
    counters: Counters,
    /// The waiters, first to be served first.
    queue: VecDeque<Waiter>,
    next_waiter: u64,
}

struct Waiter {
    id: u64,
    /// Woken when this waiter becomes the first.
    turn: Arc<Notify>,
}

pub(crate) struct LimiterInner {
    pub(crate) rule: Rule,
    state: Mutex<LimiterState>,
    /// Its name, the label of its metrics (see `RateLimiter::named`).
    name: OnceLock<&'static str>,
}

impl LimiterInner {
    fn lock(&self) -> MutexGuard<'_, LimiterState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Nanoseconds from the origin to `instant` (the origin is set on first use).
    fn elapsed(state: &mut LimiterState, instant: Instant) -> u128 {
        let origin = *state.origin.get_or_insert(instant);
        instant.saturating_duration_since(origin).as_nanos()
    }
}

/// A waiter's place in a limiter's queue. Dropping it (served, interrupted, unwound) takes
/// it out of the queue and, if it was first, hands the turn to the next.
struct Place {
    limiter: Arc<LimiterInner>,
    id: u64,
    turn: Arc<Notify>,
}

impl Place {
    fn join(limiter: &Arc<LimiterInner>, state: &mut LimiterState) -> Place {
        let id = state.next_waiter;
        state.next_waiter += 1;
        let turn = Arc::new(Notify::new());
        state.queue.push_back(Waiter {
            id,
            turn: turn.clone(),
        });
        Place {
            limiter: limiter.clone(),
            id,
            turn,
        }
    }
}

impl Drop for Place {
    fn drop(&mut self) {
        let mut state = self.limiter.lock();
        let Some(at) = state.queue.iter().position(|waiter| waiter.id == self.id) else {
            return;
        };
        state.queue.remove(at);
        if at == 0 {
            if let Some(next) = state.queue.front() {
                // A stored permit if it is not waiting yet: the turn is not lost.
                next.turn.notify_one();
            }
        }
    }
}

/// Limits how often effects start: each start takes tokens (one by default), and when
/// there are not enough, the start waits, in order, on the context's [`Clock`].
///
/// - [`token_bucket(capacity, refill, period)`](RateLimiter::token_bucket): bursts of up
///   to `capacity`, then `refill` per `period`, evenly spread.
/// - [`fixed_window(limit, window)`](RateLimiter::fixed_window): up to `limit` in each
///   window of `window`.
///
/// Waiters are served first come, first served; an interrupted waiter takes nothing and does
/// not hold up the ones behind it. Clones share the limiter.
///
/// ```
/// use effect::prelude::*;
/// use effect::RateLimiter;
///
/// #[effect::test]
/// fn ten_per_second(clock: TestClock) -> Effect<(), String> {
///     let limiter = RateLimiter::token_bucket(10, 10, secs(1));
///     let calls: Vec<_> = (0..20).map(|i| succeed::<u32, String>(i).rate_limited(&limiter)).collect();
///     let all = zip_par(calls).fork()?;
///     clock.advance(ms(900)).await;
///     assert!(!all.is_done()); // ten at once, then one every 100 ms
///     clock.advance(ms(100)).await;
///     assert_eq!(all.join()?.len(), 20);
/// }
/// # fn main() {}
/// ```
#[derive(Clone)]
pub struct RateLimiter {
    pub(crate) inner: Arc<LimiterInner>,
}

impl fmt::Debug for RateLimiter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RateLimiter")
            .field("rule", &self.inner.rule)
            .field("waiting", &self.waiting())
            .finish()
    }
}

impl RateLimiter {
    pub(crate) fn with_rule(rule: Rule) -> Self {
        RateLimiter {
            inner: Arc::new(LimiterInner {
                rule,
                state: Mutex::new(LimiterState {
                    origin: None,
                    counters: Counters::default(),
                    queue: VecDeque::new(),
                    next_waiter: 0,
                }),
                name: OnceLock::new(),
            }),
        }
    }

    /// A token bucket holding up to `capacity` tokens, full at first, with `refill` tokens
    /// coming back every `period`, one every `period / refill`: bursts of `capacity`, and
    /// `refill` per `period` in the long run.
    ///
    /// # Panics
    /// When `capacity`, `refill` or `period` is zero: such a limiter would never let
    /// anything start, or never refill.
    ///
    /// ```
    /// use effect::prelude::*;
    /// use effect::RateLimiter;
    ///
    /// // Bursts of 5; 2 per second after that.
    /// let limiter = RateLimiter::token_bucket(5, 2, secs(1));
    /// let burst: Vec<_> = (0..5).map(|_| limiter.acquire::<Never>(1)).collect();
    /// effect::run_blocking(zip_par(burst)).unwrap(); // at once
    /// ```
    pub fn token_bucket(capacity: u64, refill: u64, period: Duration) -> Self {
        assert!(
            capacity > 0,
            "RateLimiter::token_bucket: capacity must be at least 1"
        );
        assert!(
            refill > 0,
            "RateLimiter::token_bucket: refill must be at least 1"
        );
        assert!(
            !period.is_zero(),
            "RateLimiter::token_bucket: period must not be zero"
        );
        RateLimiter::with_rule(Rule::TokenBucket {
            capacity,
            refill,
            period,
        })
    }

    /// Up to `limit` starts in each window of `window`; the windows follow each other from
    /// the limiter's first use. A start that does not fit waits for the next window.
    ///
    /// # Panics
    /// When `limit` or `window` is zero.
    ///
    /// ```
    /// use effect::prelude::*;
    /// use effect::RateLimiter;
    ///
    /// #[effect::test]
    /// fn three_per_minute(clock: TestClock) -> Effect<(), String> {
    ///     let limiter = RateLimiter::fixed_window(3, secs(60));
    ///     let calls: Vec<_> = (0..4).map(|_| limiter.acquire::<String>(1)).collect();
    ///     let all = zip_par(calls).fork()?;
    ///     clock.advance(secs(59)).await;
    ///     assert!(!all.is_done()); // the fourth waits for the next window
    ///     clock.advance(secs(1)).await;
    ///     all.join()?;
    /// }
    /// # fn main() {}
    /// ```
    pub fn fixed_window(limit: u64, window: Duration) -> Self {
        assert!(
            limit > 0,
            "RateLimiter::fixed_window: limit must be at least 1"
        );
        assert!(
            !window.is_zero(),
            "RateLimiter::fixed_window: window must not be zero"
        );
        RateLimiter::with_rule(Rule::FixedWindow { limit, window })
    }

    /// An effect that takes `cost` tokens, waiting (in order, on the context's clock) until
    /// there are enough. A cost of zero takes nothing and never waits; a cost greater than
    /// the limiter's capacity (or limit) dies with a message saying so: it could never be
    /// taken.
    ///
    /// # Cancel safety
    /// Interrupted while it waits, it has taken nothing, and the next waiter is served as if
    /// it had never asked.
    ///
    /// ```
    /// use effect::prelude::*;
    /// use effect::RateLimiter;
    ///
    /// let limiter = RateLimiter::token_bucket(10, 1, secs(1));
    /// let heavy: Effect<(), Never> = limiter.acquire(7);
    /// assert_eq!(effect::run_blocking(heavy), Ok(()));
    /// let impossible: Effect<(), Never> = limiter.acquire(11);
    /// assert!(effect::run_blocking(impossible).unwrap_err().is_die());
    /// ```
    pub fn acquire<E: Send + 'static>(&self, cost: u64) -> Effect<(), E> {
        self.taking(cost, crate::kernel::effect::succeed(()))
    }

    /// `next`, once `cost` tokens are taken. With nobody waiting and the tokens there, they
    /// are taken as the effect starts, in place (no frame, no wait); otherwise it waits in
    /// line, on the context's clock.
    fn taking<A: Send + 'static, E: Send + 'static>(
        &self,
        cost: u64,
        next: Effect<A, E>,
    ) -> Effect<A, E> {
        let limiter = self.inner.clone();
        Effect::suspend_with(move |ctx| {
            let capacity = limiter.rule.capacity();
            if cost > capacity {
                return crate::kernel::effect::die(format!(
                    "RateLimiter: a cost of {cost} can never be taken from a limiter of {capacity}"
                ));
            }
            if cost == 0 {
                return next;
            }
            let clock = Clock::of(ctx);
            {
                let mut state = limiter.lock();
                if state.queue.is_empty() {
                    let now = LimiterInner::elapsed(&mut state, clock.instant());
                    if limiter
                        .rule
                        .try_take(&mut state.counters, now, cost)
                        .is_ok()
                    {
                        return next;
                    }
                }
            }
            #[cfg(feature = "metrics")]
            if let Some(&name) = limiter.name.get() {
                metrics::counter!("effect_rate_limiter_waits_total", "limiter" => name)
                    .increment(1);
            }
            Self::wait_in_line(limiter, cost, clock).flat_map(move |()| next)
        })
    }

    /// Waits in line for `cost` tokens: behind whoever came first, then for the tokens.
    fn wait_in_line<E: Send + 'static>(
        limiter: Arc<LimiterInner>,
        cost: u64,
        clock: Clock,
    ) -> Effect<(), E> {
        Effect::from_future(async move {
            #[cfg(feature = "metrics")]
            let waiting_since = clock.instant();
            let mut place: Option<Place> = None;
            loop {
                let wait = {
                    let mut state = limiter.lock();
                    let now = LimiterInner::elapsed(&mut state, clock.instant());
                    let first = match &place {
                        Some(place) => state.queue.front().is_some_and(|w| w.id == place.id),
                        None => state.queue.is_empty(),
                    };
                    if !first {
                        let place = place.get_or_insert_with(|| Place::join(&limiter, &mut state));
                        Err(place.turn.clone())
                    } else {
                        let counters = &mut state.counters;
                        match limiter.rule.try_take(counters, now, cost) {
                            Ok(()) => {
                                // Served: leaving the queue hands the turn to the next.
                                drop(state);
                                drop(place);
                                #[cfg(feature = "metrics")]
                                if let Some(&name) = limiter.name.get() {
                                    let waited = clock.instant() - waiting_since;
                                    metrics::histogram!("effect_rate_limiter_wait_seconds", "limiter" => name)
                                        .record(waited.as_secs_f64());
                                }
                                return Ok(());
                            }
                            Err(wait) => {
                                place.get_or_insert_with(|| Place::join(&limiter, &mut state));
                                Ok(wait)
                            }
                        }
                    }
                };
                match wait {
                    // First, and short: wait for what it asks, then take it.
                    Ok(duration) => sleep::<Never>(duration).await.map_err(Cause::widen)?,
                    // Behind others: wait to be first.
                    Err(turn) => turn.notified().await,
                }
            }
        })
    }

    /// Runs `effect` once one token is taken; see [`acquire`](RateLimiter::acquire).
    ///
    /// ```
    /// use effect::prelude::*;
    /// use effect::RateLimiter;
    ///
    /// let limiter = RateLimiter::fixed_window(100, secs(1));
    /// let fetched: Effect<&str, String> = limiter.run(succeed("page"));
    /// assert_eq!(effect::run_blocking(fetched), Ok("page"));
    /// ```
    pub fn run<A: Send + 'static, E: Send + 'static>(&self, effect: Effect<A, E>) -> Effect<A, E> {
        self.run_with_cost(1, effect)
    }

    /// Runs `effect` once `cost` tokens are taken; see [`acquire`](RateLimiter::acquire).
    ///
    /// ```
    /// use effect::prelude::*;
    /// use effect::RateLimiter;
    ///
    /// // A batch of 50 rows counts as 50 requests.
    /// let limiter = RateLimiter::token_bucket(100, 100, secs(1));
    /// let batch: Effect<usize, String> = limiter.run_with_cost(50, succeed(50));
    /// assert_eq!(effect::run_blocking(batch), Ok(50));
    /// ```
    pub fn run_with_cost<A: Send + 'static, E: Send + 'static>(
        &self,
        cost: u64,
        effect: Effect<A, E>,
    ) -> Effect<A, E> {
        self.taking(cost, effect)
    }

    /// How many acquisitions are waiting right now.
    ///
    /// ```
    /// use effect::RateLimiter;
    /// use effect::secs;
    ///
    /// assert_eq!(RateLimiter::fixed_window(1, secs(1)).waiting(), 0);
    /// ```
    pub fn waiting(&self) -> usize {
        self.inner.lock().queue.len()
    }

    /// This limiter, named `name`: with the `metrics` feature, each acquisition that has to
    /// wait counts in `effect_rate_limiter_waits_total`, and how long it waited (on the
    /// context's clock) goes to `effect_rate_limiter_wait_seconds`, both labelled
    /// `limiter = name`. A limiter is named once (clones share the name); a second name is
    /// ignored.
    ///
    /// ```
    /// use effect::prelude::*;
    /// use effect::RateLimiter;
    ///
    /// let limiter = RateLimiter::token_bucket(5, 1, secs(1)).named("search_api");
    /// assert_eq!(effect::run_blocking(limiter.acquire::<Never>(1)), Ok(()));
    /// ```
    pub fn named(self, name: &'static str) -> Self {
        let _ = self.inner.name.set(name);
        self
    }

    /// Whether the limiter is as a new one would be at `instant`: nobody waits and nothing
    /// taken still counts.
    pub(crate) fn is_fresh(&self, instant: Instant) -> bool {
        let mut state = self.inner.lock();
        let now = LimiterInner::elapsed(&mut state, instant);
        state.queue.is_empty() && self.inner.rule.is_fresh(&state.counters, now)
    }
}

impl<A: Send + 'static, E: Send + 'static> Effect<A, E> {
    /// This effect, started once `limiter` lets it: one token; see
    /// [`RateLimiter::acquire`].
    ///
    /// ```
    /// use effect::prelude::*;
    /// use effect::RateLimiter;
    ///
    /// let limiter = RateLimiter::token_bucket(1, 1, secs(1));
    /// let ping: Effect<&str, String> = succeed("pong").rate_limited(&limiter);
    /// assert_eq!(effect::run_blocking(ping), Ok("pong"));
    /// ```
    pub fn rate_limited(self, limiter: &RateLimiter) -> Effect<A, E> {
        limiter.run(self)
    }
}
