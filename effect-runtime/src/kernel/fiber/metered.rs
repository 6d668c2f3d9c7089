//! The runtime's fiber metrics (the `metrics` feature), recorded through the `metrics` facade
//! to whatever recorder is installed: all of it in one place, called at a fiber's three
//! moments (made, finished, completed).
//!
//! | metric | kind | labels |
//! |---|---|---|
//! | `effect_fibers_started_total` | counter | `kind` |
//! | `effect_fibers_ended_total` | counter | `kind`, `outcome` (`success`, `failure`, `defect`, `interrupted`) |
//! | `effect_fibers_live` | gauge | `kind` (`user` only) |
//! | `effect_fiber_lifetime_seconds` | histogram | `kind` (`user` only) |
//!
//! `kind` is `user` for the fibers a program asks for (a root run, a fork, a daemon, a
//! `Runtime::fork`) and `member` for those a combinator makes for its members (a race's
//! branches, a `zip_par`'s effects, a stream's workers).
//!
//! Handles are looked up at each event, never cached: a recorder installed later, or a
//! thread-local one (a test's), receives every event from then on. With no recorder, an event
//! costs a thread-local read and a no-op call.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use metrics::{Key, Label, Level, Metadata};

use super::id::FiberKind;
use super::live::{instant_at, now_nanos};

// Every key is a static: recording builds nothing and allocates nothing (a key made at the
// call, with its labels in a `Vec`, cost five allocations per fiber with no recorder at all).

static METADATA: Metadata<'static> = Metadata::new("effect", Level::INFO, None);

const fn label(key: &'static str, value: &'static str) -> Label {
    Label::from_static_parts(key, value)
}

static USER: [Label; 1] = [label("kind", "user")];
static MEMBER: [Label; 1] = [label("kind", "member")];

/// By kind: `[user, member]`.
static STARTED: [Key; 2] = [
    Key::from_static_parts("effect_fibers_started_total", &USER),
    Key::from_static_parts("effect_fibers_started_total", &MEMBER),
];
/// Users' fibers only (see [`Metered`]).
static LIVE: Key = Key::from_static_parts("effect_fibers_live", &USER);
/// Users' fibers only (see [`Metered`]).
static LIFETIME: Key = Key::from_static_parts("effect_fiber_lifetime_seconds", &USER);

/// By kind, then by outcome (as [`OUTCOMES`]).
static ENDED_LABELS: [[[Label; 2]; 4]; 2] = [ended_labels("user"), ended_labels("member")];

/// The `outcome` labels, in the order of [`ENDED`]'s rows.
const OUTCOMES: [&str; 4] = ["success", "failure", "defect", "interrupted"];

const fn ended_labels(kind: &'static str) -> [[Label; 2]; 4] {
    [
        [label("kind", kind), label("outcome", OUTCOMES[0])],
        [label("kind", kind), label("outcome", OUTCOMES[1])],
        [label("kind", kind), label("outcome", OUTCOMES[2])],
        [label("kind", kind), label("outcome", OUTCOMES[3])],
    ]
}

const fn ended(kind: usize) -> [Key; 4] {
    let name = "effect_fibers_ended_total";
    let labels = &ENDED_LABELS[kind];
    [
        Key::from_static_parts(name, &labels[0]),
        Key::from_static_parts(name, &labels[1]),
        Key::from_static_parts(name, &labels[2]),
        Key::from_static_parts(name, &labels[3]),
    ]
}

/// By kind, then by outcome.
static ENDED: [[Key; 4]; 2] = [ended(0), ended(1)];

fn index(kind: FiberKind) -> usize {
    match kind {
        FiberKind::User => 0,
        FiberKind::Member => 1,
    }
}

fn outcome_index(outcome: &str) -> usize {
    OUTCOMES.iter().position(|o| *o == outcome).unwrap_or(3)
}

fn counter(key: &'static Key) -> metrics::Counter {
    metrics::with_recorder(|r| r.register_counter(key, &METADATA))
}

fn gauge(key: &'static Key) -> metrics::Gauge {
    metrics::with_recorder(|r| r.register_gauge(key, &METADATA))
}

fn histogram(key: &'static Key) -> metrics::Histogram {
    metrics::with_recorder(|r| r.register_histogram(key, &METADATA))
}

/// Whether fibers are metered (see `effect::metrics::set_fiber_metrics`): on unless turned
/// off. A fiber made while it is off is never counted, so its end is not either, and the
/// live gauge stays balanced whenever the switch is flipped.
static FIBER_METRICS: AtomicBool = AtomicBool::new(true);

pub(crate) fn set_fiber_metrics(on: bool) {
    FIBER_METRICS.store(on, Ordering::Relaxed);
}

pub(crate) fn fiber_metrics() -> bool {
    FIBER_METRICS.load(Ordering::Relaxed)
}

/// What a fiber's core keeps for its metrics, in one word (a fiber's size counts): whether
/// it is metered at all, its kind and, for a user's fiber, when it started, in nanoseconds
/// after the process's fiber epoch (see `live::now_nanos`), shifted past the two kind bits.
///
/// A member is counted as it starts and ends, and nothing more: members are most fibers
/// (every branch of every race, every effect of every `zip_par`), each lives inside its
/// combinator's own time, and a clock read at each end and a live gauge moved twice were 5%
/// of a fork and join with no recorder installed. Members alive are `started - ended`.
#[derive(Clone, Copy)]
pub(crate) struct Metered(u64);

const NOT_METERED: u64 = 0;
const USER_BIT: u64 = 1;
const MEMBER_BIT: u64 = 2;
const KIND_BITS: u32 = 2;

impl Metered {
    /// A fiber of `kind` is made: counted started, and a user's live (unless fibers are not
    /// metered).
    #[inline]
    pub(crate) fn started(kind: FiberKind) -> Metered {
        match fiber_metrics() {
            true => Metered::count_started(kind),
            false => Metered(NOT_METERED),
        }
    }

    fn count_started(kind: FiberKind) -> Metered {
        counter(&STARTED[index(kind)]).increment(1);
        match kind {
            FiberKind::User => {
                gauge(&LIVE).increment(1.0);
                // 62 bits of nanoseconds: 146 years.
                let since = now_nanos() & (u64::MAX >> KIND_BITS);
                Metered(since << KIND_BITS | USER_BIT)
            }
            FiberKind::Member => Metered(MEMBER_BIT),
        }
    }

    /// The fiber's interpreter finished with `outcome` (its label: see
    /// [`Outcome::label`](super::prim::Outcome::label)): counted by outcome, a user's
    /// lifetime recorded.
    pub(crate) fn finished(self, outcome: &str) {
        let outcome = outcome_index(outcome);
        match self.0 & ((1 << KIND_BITS) - 1) {
            USER_BIT => {
                counter(&ENDED[0][outcome]).increment(1);
                let started = instant_at(self.0 >> KIND_BITS);
                let lived = Instant::now().saturating_duration_since(started);
                histogram(&LIFETIME).record(lived.as_secs_f64());
            }
            MEMBER_BIT => counter(&ENDED[1][outcome]).increment(1),
            _ => {}
        }
    }

    /// The fiber completed (once, I6): a user's no longer live.
    pub(crate) fn completed(self) {
        if self.0 & ((1 << KIND_BITS) - 1) == USER_BIT {
            gauge(&LIVE).decrement(1.0);
        }
    }
}
