//! The forks of a fiber (or of a timeout's effect): the one region that adopts fibers started
//! elsewhere (`fork`), rather than starting its own members.

use std::sync::Arc;

use super::slots::Slot;
use super::{lock, Region};
use crate::kernel::cause::Never;
use crate::kernel::fiber::core::FiberCore;
use crate::kernel::fiber::prim::{FiberCx, ForkOwner, Owner, Prim};

/// A fiber's own forks (or a timeout's): their exits (of many types) are in their handles,
/// so the region is typed by nothing. The only region that adopts fibers started elsewhere.
pub(crate) type Forks = Region<(), Never>;

#[cfg(test)]
thread_local! {
    /// How many times a forks region on this thread swept its slots.
    pub(super) static SWEEPS: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
}

impl ForkOwner for Forks {
    /// Adds a fiber forked by the region's fiber (a supervised fork): it is interrupted and
    /// awaited when the region closes. Finished forks are forgotten now and then (see
    /// [`Slots::sweep_finished_forks`](super::slots::Slots::sweep_finished_forks)), so a
    /// long-lived fiber forking many short ones does not accumulate them, at O(1) per fork
    /// however many are alive (an accept loop with a hundred thousand open connections).
    fn adopt(&self, core: Arc<FiberCore>) {
        let mut members = lock(&self.members);
        if members.slots.sweep_finished_forks() {
            #[cfg(test)]
            SWEEPS.with(|sweeps| sweeps.set(sweeps.get() + 1));
        }
        members.slots.push(Slot::Fork(core));
    }

    fn is_closed(&self) -> bool {
        Owner::is_closed(self)
    }

    fn close(self: Arc<Self>) -> Option<Prim> {
        let owner: Arc<dyn Owner> = self;
        owner.close()
    }
}

impl FiberCx<'_> {
    /// Makes `child` a supervised fork of this fiber: a member of the region its forks belong
    /// to here (see [`FiberStack::forks`](crate::kernel::fiber::prim::FiberStack::forks)), so the child is
    /// interrupted and awaited when that region closes, however it closes.
    pub(crate) fn adopt(&mut self, child: Arc<FiberCore>) {
        fn new_forks() -> Arc<dyn ForkOwner> {
            Arc::new(Forks::default())
        }
        self.stack.forks(new_forks).adopt(child);
    }
}
