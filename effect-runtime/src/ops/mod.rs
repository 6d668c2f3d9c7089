//! Operators: what programs combine effects with, built on the kernel's instruction set
//! (recovery, finalizers and scopes, time, schedules, fiber-locals, and the concurrent ones:
//! `zip_par`, `race`, `for_each_par`).

pub(crate) mod access;
pub(crate) mod combinators;
pub(crate) mod duration;
pub(crate) mod fiber_ref;
pub(crate) mod finalize;
pub(crate) mod for_each_par;
#[cfg(feature = "metrics")]
pub mod metrics;
pub(crate) mod par;
pub(crate) mod race;
pub(crate) mod recover;
pub(crate) mod recur;
pub(crate) mod schedule;
pub(crate) mod scope;
pub(crate) mod time;
