//! [`Kept`]: the fibers an owner starts and awaits when it closes (a cache's lookups, a
//! keyed pool's reapers): the members of a forks [`Region`](super::region::Region), the
//! kernel's one owner of fibers, which the owner closes.

use std::sync::Arc;

use super::handle::Fiber;
use super::prim::ForkOwner;
use super::region::Forks;
use crate::kernel::cause::Never;
use crate::kernel::effect::{closing, Effect};

/// Fibers started by an owner (as daemons: no fiber supervises them) and kept for it to
/// interrupt and await when it closes. Those that ended are forgotten as more are kept
/// (the forks region's amortized sweep), so a long-lived owner keeps only about as many as
/// are running.
pub(crate) struct Kept {
    forks: Arc<Forks>,
}

impl Kept {
    pub(crate) fn new() -> Self {
        Kept {
            forks: Arc::default(),
        }
    }

    /// Keeps `fiber` until [`stop_all`](Kept::stop_all).
    pub(crate) fn keep(&mut self, fiber: Fiber<(), Never>) {
        self.forks.adopt(fiber.core());
    }

    /// An effect interrupting and awaiting every fiber kept so far (taken now, under the
    /// owner's lock, as it closes): the close of their region.
    pub(crate) fn stop_all(&mut self) -> Effect<(), Never> {
        closing(std::mem::take(&mut self.forks).close())
    }
}
