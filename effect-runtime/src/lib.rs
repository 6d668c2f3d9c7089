//! The runtime of effectkit: [`Effect`], [`Cause`], [`Context`], and the interpreter that
//! runs effects on tokio.
//!
//! Depend on the facade instead, the `effectkit` package (imported as `effect`): it
//! re-exports everything here together with the DSL's macros and a prelude, and its docs are
//! the guide. The examples here are written as a user of the facade writes them.
#![warn(missing_docs)]
#![cfg_attr(docsrs, feature(doc_cfg))]
// One `unsafe` read exists, in `fiber::bind` (the hand-off pointer), with its argument and tests.
#![deny(unsafe_code)]

mod access;
mod cache;
mod cause;
mod circuit_breaker;
mod clock;
mod combinators;
mod context;
#[doc(hidden)]
pub mod dsl;
mod duration;
mod effect;
mod fiber;
mod fiber_ref;
mod finalize;
mod for_each_par;
mod layer;
mod panic_location;
mod par;
mod pool;
mod race;
mod random;
mod rate_limiter;
mod recover;
mod runtime;
mod schedule;
mod scope;
mod signal;
pub mod stream;
mod sync;
mod time;
#[cfg(feature = "tracing")]
mod trace;

pub use access::{fiber_id, instant, now, service, service_with};
pub use cache::{Cache, CacheBuilder, CacheStats};
pub use cause::{Cause, Defect, Exit, HoldsFailure, Never};
pub use circuit_breaker::{BreakerError, BreakerState, CircuitBreaker};
pub use clock::{Clock, ClockSleep, TestClock, TestSleep};
pub use context::Context;
pub use duration::{ms, secs};
pub use effect::{
    attempt, attempt_async, die, fail, fail_cause, from_async, never, succeed, suspend, sync,
    yield_now, Effect,
};
pub use fiber::bind::Bind;
pub use fiber::core::live_fibers;
pub use fiber::handle::Fiber;
pub use fiber::id::FiberId;
pub use fiber::run::{run_blocking, run_blocking_with, Run};
pub use fiber_ref::FiberRef;
pub use for_each_par::for_each_par;
pub use layer::{ClockLayer, Layer, TestClockLayer};
pub use par::{zip_par, ZipPar};
pub use pool::{KeyedPool, Pool};
pub use race::{race, race_first};
pub use random::{random_f64, random_range, random_u64, Random, TestRandom};
pub use rate_limiter::{KeyedRateLimiter, RateLimiter};
pub use runtime::{Runtime, ShutdownTimedOut};
pub use schedule::{repeat, retry, Schedule, ScheduleOutput};
pub use scope::{acquire_release, acquire_use_release, scope_exit, scoped, Scope, ScopeExit};
pub use signal::shutdown_signal;
pub use sync::{Deferred, Hub, Queue, QueueShutdown, Ref, Semaphore, Subscription};
pub use time::sleep;
