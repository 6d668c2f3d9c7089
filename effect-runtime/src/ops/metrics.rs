//! Metrics (the `metrics` feature): what the runtime and the toolkit record, and how an
//! effect records its own, through the [`metrics`](https://docs.rs/metrics) facade. Whatever
//! recorder the application installs receives them: a Prometheus exporter, StatsD, a test's
//! debugging recorder. With none installed, recording costs a load and a branch; with the
//! feature off, nothing.
//!
//! # What the library records
//!
//! | metric | kind | labels | when |
//! |---|---|---|---|
//! | `effect_fibers_started_total` | counter | `kind` | a fiber starts |
//! | `effect_fibers_ended_total` | counter | `kind`, `outcome` | a fiber ends (its finalizers ran) |
//! | `effect_fibers_live` | gauge | `kind` | users' fibers started and not yet done |
//! | `effect_fiber_lifetime_seconds` | histogram | `kind` | a user's fiber ends: how long it lived |
//! | `effect_retries_total` | counter | `schedule` | a [`retry`](crate::retry) (or `Stream::retry`) decides to try again |
//! | `effect_repeats_total` | counter | `schedule` | a [`repeat`](crate::repeat) (or `Stream::repeat_effect`) decides to run again |
//! | `effect_timeouts_total` | counter | | a [`timeout`](crate::Effect::timeout) (or `timeout_fail`) fires |
//! | `effect_race_losers_interrupted_total` | counter | | a race interrupts a branch that lost |
//! | `effect_tracked_total` | counter | `name`, `outcome` | an [`Effect::tracked`] effect ends |
//! | `effect_tracked_duration_seconds` | histogram | `name`, `outcome` | the same: how long it ran, on the context's clock |
//! | `effect_pool_size`, `effect_pool_idle`, `effect_pool_in_use` | gauges | `pool` | a [named](crate::Pool::named) pool's items change (a [named](crate::KeyedPool::named) keyed pool's: summed over its keys) |
//! | `effect_pool_wait_seconds` | histogram | `pool` | a named pool's `get` is served: how long it waited |
//! | `effect_rate_limiter_waits_total` | counter | `limiter` | a [named](crate::RateLimiter::named) limiter makes a caller wait |
//! | `effect_rate_limiter_wait_seconds` | histogram | `limiter` | a named limiter lets a waiting caller go: how long it waited |
//! | `effect_cache_hits_total`, `effect_cache_misses_total`, `effect_cache_loads_total`, `effect_cache_evictions_total` | counters | `cache` | a [named](crate::CacheBuilder::named) cache's lookups |
//! | `effect_queue_depth` | gauge | `queue` | a [named](crate::Queue::named) queue's size changes |
//! | `effect_queue_offers_refused_total` | counter | `queue` | a named queue refuses an item (a full dropping queue; a full queue's `try_offer`) |
//! | `effect_queue_dropped_total` | counter | `queue` | a named sliding queue drops its oldest item for a new one |
//!
//! - `kind`: `user` for the fibers a program asks for (a root run, a fork, a daemon, a
//!   `Runtime::fork`), `member` for those a combinator makes (a race's branches, a `zip_par`'s
//!   effects, a stream's workers). Members are only counted as they start and end (members
//!   alive: `started - ended`): they are most fibers, and a live gauge and a lifetime would
//!   cost each of them a clock read and two more updates.
//! - `outcome`: `success`, `failure` (a typed failure), `defect`, or `interrupted`; a cause
//!   holding several is counted by the first of defect, failure, interruption.
//! - `schedule`: the schedule's [name](crate::Schedule::named).
//! - The toolkit's metrics are recorded for the pools, limiters, caches and queues given a
//!   name, which is their label: unnamed ones record nothing (two unnamed pools would share
//!   one series and overwrite each other's gauges).
//!
//! Handles are looked up as each event happens, never cached, so a recorder installed late,
//! or one local to a test's thread (`metrics::with_local_recorder`, on a current-thread
//! runtime), receives every event from then on.
//!
//! # Recording your own
//!
//! [`Effect::tracked`] counts and times an effect by outcome. [`Counter`], [`Gauge`] and
//! [`Histogram`] are named metrics whose updates are effects, to bind in a body like any
//! other step. Inside a `sync` closure or a plain function, the `metrics` crate's own macros
//! (`metrics::counter!("..").increment(1)`) work as well: [`facade`] re-exports the crate.
//!
//! ```
//! use effect::prelude::*;
//! use effect::metrics::Counter;
//!
//! #[effect]
//! fn handle(orders: Counter, id: u32) -> Effect<u32, String> {
//!     orders.increment(1)?;
//!     id * 2
//! }
//!
//! let orders = Counter::new("orders_total").label("shop", "berlin");
//! let handled = handle(orders, 21).tracked("handle_order");
//! assert_eq!(effect::run_blocking(handled), Ok(42)); // recorded if a recorder is installed
//! ```

use metrics::{Key, Label, Level, Metadata, SharedString};

use crate::kernel::clock::Clock;
use crate::kernel::context::Context;
use crate::kernel::effect::{sync, Effect};
pub(crate) use crate::kernel::fiber::frame::outcome_label;

/// The `metrics` crate, as this library uses it: install a recorder through it
/// (`effect::metrics::facade::set_global_recorder`) with the version the library records to.
pub use metrics as facade;

/// Turns the fiber metrics (`effect_fibers_*`, `effect_fiber_lifetime_seconds`) on or off for
/// the fibers started from now on, in the whole process: they are on unless turned off. The
/// other metrics are recorded as their events happen, which are rarer than fibers; this
/// switch is for a service that starts very many short fibers and wants none of their cost
/// (a clock read at each end and four updates), with its recorder installed for the rest.
///
/// ```
/// use effect::metrics::{fiber_metrics, set_fiber_metrics};
///
/// assert!(fiber_metrics());
/// set_fiber_metrics(false);
/// assert!(!fiber_metrics());
/// set_fiber_metrics(true);
/// ```
pub fn set_fiber_metrics(on: bool) {
    crate::kernel::fiber::metered::set_fiber_metrics(on);
}

/// Whether fibers started now are metered (see [`set_fiber_metrics`]).
pub fn fiber_metrics() -> bool {
    crate::kernel::fiber::metered::fiber_metrics()
}

static METADATA: Metadata<'static> = Metadata::new(module_path!(), Level::INFO, None);

/// `new` and `label` of a named metric (a struct holding its `key`).
macro_rules! named_metric {
    ($metric:ident, $what:literal) => {
        impl $metric {
            #[doc = concat!("A ", $what, " named `name`, without labels.")]
            pub fn new(name: impl Into<SharedString>) -> Self {
                $metric {
                    key: Key::from_parts(name.into(), Vec::<Label>::new()),
                }
            }

            #[doc = concat!("This ", $what, " with the label `label = value` added.")]
            pub fn label(
                self,
                label: impl Into<SharedString>,
                value: impl Into<SharedString>,
            ) -> Self {
                let (name, mut labels) = self.key.into_parts();
                labels.push(Label::new(label.into(), value.into()));
                $metric {
                    key: Key::from_parts(name, labels),
                }
            }
        }
    };
}

/// A named counter whose increments are effects.
///
/// ```
/// use effect::metrics::Counter;
/// use effect::{run_blocking, Effect};
///
/// let emails = Counter::new("emails_sent_total").label("kind", "welcome");
/// let sent: Effect<(), String> = emails.increment(1);
/// assert_eq!(run_blocking(sent), Ok(()));
/// ```
#[derive(Clone, Debug)]
pub struct Counter {
    key: Key,
}

named_metric!(Counter, "counter");

impl Counter {
    /// An effect that adds `by` to the counter (in the recorder current where it runs).
    pub fn increment<E: Send + 'static>(&self, by: u64) -> Effect<(), E> {
        let key = self.key.clone();
        sync(move || metrics::with_recorder(|r| r.register_counter(&key, &METADATA)).increment(by))
    }
}

/// A named gauge whose updates are effects.
///
/// ```
/// use effect::metrics::Gauge;
/// use effect::{run_blocking, Effect};
///
/// let connections = Gauge::new("connections_open");
/// let opened: Effect<(), String> = connections.increment(1.0);
/// assert_eq!(run_blocking(opened), Ok(()));
/// ```
#[derive(Clone, Debug)]
pub struct Gauge {
    key: Key,
}

named_metric!(Gauge, "gauge");

impl Gauge {
    /// An effect that sets the gauge to `value`.
    pub fn set<E: Send + 'static>(&self, value: f64) -> Effect<(), E> {
        self.update(move |gauge| gauge.set(value))
    }

    /// An effect that adds `by` to the gauge.
    pub fn increment<E: Send + 'static>(&self, by: f64) -> Effect<(), E> {
        self.update(move |gauge| gauge.increment(by))
    }

    /// An effect that takes `by` from the gauge.
    pub fn decrement<E: Send + 'static>(&self, by: f64) -> Effect<(), E> {
        self.update(move |gauge| gauge.decrement(by))
    }

    fn update<E: Send + 'static>(
        &self,
        update: impl FnOnce(metrics::Gauge) + Send + 'static,
    ) -> Effect<(), E> {
        let key = self.key.clone();
        sync(move || {
            update(metrics::with_recorder(|r| {
                r.register_gauge(&key, &METADATA)
            }))
        })
    }
}

/// A named histogram whose records are effects.
///
/// ```
/// use effect::metrics::Histogram;
/// use effect::{run_blocking, Effect};
///
/// let sizes = Histogram::new("batch_size");
/// let recorded: Effect<(), String> = sizes.record(64.0);
/// assert_eq!(run_blocking(recorded), Ok(()));
/// ```
#[derive(Clone, Debug)]
pub struct Histogram {
    key: Key,
}

named_metric!(Histogram, "histogram");

impl Histogram {
    /// An effect that records `value`.
    pub fn record<E: Send + 'static>(&self, value: f64) -> Effect<(), E> {
        let key = self.key.clone();
        sync(move || {
            metrics::with_recorder(|r| r.register_histogram(&key, &METADATA)).record(value)
        })
    }
}

impl<A: Send + 'static, E: Send + 'static> Effect<A, E> {
    /// This effect, counted and timed under `name` by how it ends: `effect_tracked_total` and
    /// `effect_tracked_duration_seconds`, labelled `name` and `outcome` (`success`, `failure`,
    /// `defect`, `interrupted`). The duration is measured on the context's [`Clock`], so on a
    /// [`TestClock`](crate::TestClock) it is the virtual time the effect took. An effect
    /// interrupted while it runs is recorded as `interrupted`, as its fiber unwinds.
    ///
    /// ```
    /// use effect::prelude::*;
    ///
    /// let lookup: Effect<u32, String> = sleep(ms(5)).as_value(7).tracked("user_lookup");
    /// assert_eq!(effect::run_blocking(lookup), Ok(7));
    /// ```
    pub fn tracked(self, name: impl Into<SharedString>) -> Effect<A, E> {
        let name = name.into();
        Effect::new(move |ctx: Context| async move {
            let clock = Clock::of(&ctx);
            let mut tracking = Tracking {
                started: clock.instant(),
                clock,
                name: Some(name),
            };
            let exit = self.await;
            tracking.end(outcome_label(&exit));
            exit
        })
    }
}

/// A tracked effect under way: records it as `interrupted` if dropped before it ends.
struct Tracking {
    clock: Clock,
    /// Taken once it is recorded.
    name: Option<SharedString>,
    started: std::time::Instant,
}

impl Tracking {
    fn end(&mut self, outcome: &'static str) {
        let Some(name) = self.name.take() else {
            return;
        };
        let took = self.clock.instant().saturating_duration_since(self.started);
        metrics::counter!("effect_tracked_total", "name" => name.clone(), "outcome" => outcome)
            .increment(1);
        metrics::histogram!("effect_tracked_duration_seconds", "name" => name, "outcome" => outcome)
            .record(took.as_secs_f64());
    }
}

impl Drop for Tracking {
    fn drop(&mut self) {
        self.end("interrupted");
    }
}
