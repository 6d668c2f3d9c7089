//! Coordination between fibers: [`Queue`], [`Semaphore`], [`Ref`], [`Deferred`], [`Hub`].
//!
//! Every waiting operation is interruption-safe: a fiber interrupted while it waits takes
//! nothing, leaves nothing half-done, and holds no permit afterwards.

mod deferred;
mod hub;
mod queue;
mod ref_;
mod semaphore;

pub use deferred::Deferred;
pub use hub::{Hub, Subscription};
pub use queue::{Queue, QueueShutdown};
pub use ref_::Ref;
pub use semaphore::Semaphore;

use std::sync::{Mutex, MutexGuard};

/// Locks, ignoring poisoning: no lock here is held across user code that could panic.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|p| p.into_inner())
}
