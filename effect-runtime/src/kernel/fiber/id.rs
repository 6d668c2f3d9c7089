//! [`FiberId`]: a fiber's identity, and where new ones come from.
//!
//! A leaf: it imports nothing from the crate, so that [`Cause`](crate::Cause) can name who
//! interrupted a fiber without depending on the fiber core (which depends on `Cause`).

use std::cell::Cell;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};

static NEXT_FIBER_ID: AtomicU64 = AtomicU64::new(1);

/// Fiber ids are taken from the global counter in blocks, so that starting a fiber does not
/// contend on one cache line across worker threads.
const ID_BLOCK: u64 = 1024;

thread_local! {
    static ID_RANGE: Cell<(u64, u64)> = const { Cell::new((0, 0)) };
}

/// A fresh id, never handed out before in this process.
pub(super) fn next_fiber_id() -> FiberId {
    ID_RANGE.with(|range| {
        let (mut next, mut end) = range.get();
        if next == end {
            next = NEXT_FIBER_ID.fetch_add(ID_BLOCK, Ordering::Relaxed);
            end = next + ID_BLOCK;
        }
        range.set((next + 1, end));
        FiberId(next)
    })
}

/// A fiber's identity, unique in the process.
///
/// ```
/// use effect::{run_blocking, succeed, Effect, FiberId};
///
/// let child: Effect<FiberId, String> = succeed::<(), String>(()).fork().map(|fiber| fiber.id());
/// let id = run_blocking(child).unwrap();
/// assert_ne!(id, FiberId::NONE);
/// assert!(id.to_string().starts_with('#'));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct FiberId(
    // Visible to the fiber modules: the fiber core keeps who interrupted a fiber as this
    // number, in an atomic.
    pub(super) u64,
);

impl FiberId {
    /// No fiber: who interrupted a fiber from outside any fiber (a dropped
    /// [`Run`](crate::Run), a runtime shutting down). Real fiber ids are never `NONE`.
    ///
    /// ```
    /// use effect::{Cause, FiberId};
    ///
    /// assert_eq!(Cause::<()>::interrupt(), Cause::Interrupt(FiberId::NONE));
    /// ```
    pub const NONE: FiberId = FiberId(0);
}

impl fmt::Display for FiberId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "#{}", self.0)
    }
}

/// Who asked for a fiber: its `kind` in the runtime's metrics (see
/// `metered`), and nothing else.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum FiberKind {
    /// A root run, a fork, a daemon, a `Runtime::fork`.
    User,
    /// A member of a combinator's region (a race's branch, a `zip_par`'s effect, a worker).
    Member,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fiber_ids_are_unique_across_threads() {
        let ids: Vec<Vec<FiberId>> = (0..4)
            .map(|_| std::thread::spawn(|| (0..3000).map(|_| next_fiber_id()).collect()))
            .map(|t| t.join().unwrap())
            .collect();
        let mut all: Vec<FiberId> = ids.into_iter().flatten().collect();
        let count = all.len();
        all.sort();
        all.dedup();
        assert_eq!(all.len(), count);
    }
}
