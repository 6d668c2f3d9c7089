//! The runtime's fiber metrics (the `metrics` feature), recorded through the `metrics` facade
//! to whatever recorder is installed: all of it in one place, called at a fiber's three
//! moments (made, finished, completed).
//!
//! | metric | kind | labels |
//! |---|---|---|
//! | `effect_fibers_started_total` | counter | `kind` |
//! | `effect_fibers_ended_total` | counter | `kind`, `outcome` (`success`, `failure`, `defect`, `interrupted`) |
//! | `effect_fibers_live` | gauge | `kind` |
//! | `effect_fiber_lifetime_seconds` | histogram | `kind` |
//!
//! `kind` is `user` for the fibers a program asks for (a root run, a fork, a daemon, a
//! `Runtime::fork`) and `member` for those a combinator makes for its members (a race's
//! branches, a `zip_par`'s effects, a stream's workers).
//!
//! Handles are looked up at each event, never cached: a recorder installed later, or a
//! thread-local one (a test's), receives every event from then on. With no recorder, an event
//! costs a thread-local read and a no-op call.

use std::time::Instant;

use metrics::{counter, gauge, histogram};

use super::core::FiberKind;
use super::prim::Outcome;

fn kind_label(kind: FiberKind) -> &'static str {
    match kind {
        FiberKind::User => "user",
        FiberKind::Member => "member",
    }
}

/// What a fiber's core keeps for its metrics: its kind and when it started.
pub(crate) struct Metered {
    kind: FiberKind,
    started: Instant,
}

impl Metered {
    /// A fiber of `kind` is made: counted started and live.
    pub(crate) fn started(kind: FiberKind) -> Metered {
        let label = kind_label(kind);
        counter!("effect_fibers_started_total", "kind" => label).increment(1);
        gauge!("effect_fibers_live", "kind" => label).increment(1.0);
        Metered {
            kind,
            started: Instant::now(),
        }
    }

    /// The fiber's interpreter finished with `outcome`: counted by outcome, its lifetime
    /// recorded.
    pub(crate) fn finished(&self, outcome: &mut Outcome) {
        let label = kind_label(self.kind);
        let outcome = match outcome {
            Outcome::Interrupted(cause) if cause.is_die() => "defect",
            Outcome::Interrupted(_) => "interrupted",
            Outcome::Completed(frame) => frame.as_mut().exit_slot().outcome(),
        };
        counter!("effect_fibers_ended_total", "kind" => label, "outcome" => outcome).increment(1);
        histogram!("effect_fiber_lifetime_seconds", "kind" => label)
            .record(self.started.elapsed().as_secs_f64());
    }

    /// The fiber completed (once, I6): no longer live.
    pub(crate) fn completed(&self) {
        gauge!("effect_fibers_live", "kind" => kind_label(self.kind)).decrement(1.0);
    }
}

/// The `outcome` label of an exit: `success`, or what its cause holds first among a defect,
/// a typed failure and an interruption.
pub(crate) fn outcome_label<A, E>(exit: &crate::kernel::cause::Exit<A, E>) -> &'static str {
    match exit {
        Ok(_) => "success",
        Err(cause) if cause.is_die() => "defect",
        Err(cause) if cause.is_failure() => "failure",
        Err(_) => "interrupted",
    }
}
