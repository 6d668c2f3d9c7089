//! The runtime of effectkit: [`Effect`], [`Cause`], [`Context`], and the interpreter that
//! runs effects on tokio.
//!
//! Depend on the facade instead, the `effectkit` package (imported as `effect`): it
//! re-exports everything here together with the DSL's macros and a prelude, and its docs are
//! the guide. The examples here are written as a user of the facade writes them.
#![warn(missing_docs)]
#![cfg_attr(docsrs, feature(doc_cfg))]
// One `unsafe` read exists, in `kernel::fiber::handoff` (the hand-off pointer), with its
// argument and tests.
#![deny(unsafe_code)]

// The crate in three layers and two areas: the kernel (fibers, the interpreter, regions,
// `Effect`, `Cause`, the clock), the operators built on its instruction set, the services a
// program uses (pools, caches, queues, rate limits); streams and the DSL's support.
#[doc(hidden)]
pub mod dsl;
mod kernel;
mod ops;
mod services;
pub mod stream;

#[cfg(feature = "metrics")]
#[cfg_attr(docsrs, doc(cfg(feature = "metrics")))]
pub use ops::metrics;

/// What the fibers of a [`Runtime`] are doing: [`Runtime::dump`]'s snapshot.
///
/// Each live user fiber (a root, a fork, a daemon, a `Runtime::fork`) is listed with its
/// id, name, parent, the span it started in, its age and its [`FiberStatus`](dump::FiberStatus): running,
/// ready to run, or waiting, and then on what ([`WaitingOn`](dump::WaitingOn)): a sleep (until a virtual
/// time on a `TestClock`, or with the time left on the live clock), another fiber's end, a
/// `Deferred`, a queue's item or room, a semaphore's permits, a pool's item, its children
/// finishing as it closes a scope, the members of a race or group it runs, or a future of
/// its own (`from_async`).
///
/// ```
/// use effect::prelude::*;
/// use effect::dump::{FiberStatus, WaitingOn};
/// use effect::{Context, Queue, QueueShutdown, Runtime};
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// let runtime = Runtime::new(Context::new());
/// let jobs: Queue<u32> = Queue::bounded(8);
/// let consumer = runtime.fork_named("consumer", jobs.take::<QueueShutdown>());
/// tokio::task::yield_now().await;
/// let dump = runtime.dump();
/// assert!(matches!(
///     dump.get(consumer.id()).unwrap().status,
///     FiberStatus::Waiting(WaitingOn::QueueTake { .. })
/// ));
/// assert!(dump.to_string().contains("\"consumer\""));
/// runtime.shutdown().await;
/// # }
/// ```
pub mod dump {
    pub use crate::kernel::fiber::dump::{FiberDump, FiberSnapshot};
    pub use crate::kernel::fiber::waiting::{FiberStatus, WaitingOn};
}
pub use services::supervisor;

pub use kernel::cause::{Cause, Defect, Exit, HoldsFailure, Never};
pub use kernel::clock::{Clock, ClockSleep, TestClock, TestSleep};
pub use kernel::context::Context;
pub use kernel::effect::{
    attempt, attempt_async, die, fail, fail_cause, from_async, never, succeed, suspend, sync,
    yield_now, Effect,
};
pub use kernel::fiber::bind::Bind;
pub use kernel::fiber::handle::Fiber;
pub use kernel::fiber::id::FiberId;
pub use kernel::fiber::live::live_fibers;
pub use kernel::fiber::run::{run_blocking, run_blocking_with, Run};
pub use kernel::random::{random_f64, random_range, random_u64, Random, TestRandom};
pub use kernel::runtime::{Runtime, ShutdownTimedOut};
#[cfg(feature = "tracing")]
#[cfg_attr(docsrs, doc(cfg(feature = "tracing")))]
pub use kernel::trace::FiberEvents;
pub use ops::access::{fiber_id, instant, now, service, service_with};
pub use ops::duration::{ms, secs};
pub use ops::fiber_ref::FiberRef;
pub use ops::for_each_par::for_each_par;
pub use ops::par::{zip_par, ZipPar};
pub use ops::race::{race, race_first};
pub use ops::recur::{repeat, retry};
pub use ops::schedule::{Schedule, ScheduleOutput};
pub use ops::scope::{acquire_release, acquire_use_release, scope_exit, scoped, Scope, ScopeExit};
pub use ops::time::sleep;
pub use services::cache::{Cache, CacheBuilder, CacheStats};
pub use services::circuit_breaker::{BreakerError, BreakerState, CircuitBreaker};
pub use services::layer::{ClockLayer, Layer, TestClockLayer};
pub use services::pool::{KeyedPool, Pool};
pub use services::rate_limiter::{KeyedRateLimiter, RateLimiter};
pub use services::signal::shutdown_signal;
pub use services::sync::{Deferred, Hub, Queue, QueueShutdown, Ref, Semaphore, Subscription};
