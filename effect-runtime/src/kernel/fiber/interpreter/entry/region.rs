//! Region entries: a region whose body runs above (a race, a group) and the fiber's own forks
//! at the bottom of its stack. However the body ends, the region's close (its members
//! interrupted and awaited) runs before the fiber goes past it (I4).

use crate::kernel::fiber::interpreter::{Interpreter, Next, Saved};
use crate::kernel::fiber::prim::Prim;

impl Interpreter {
    /// Goes on past a region's entry, whose body ended however it ended, once `closing` (what
    /// the close of its [`Owner`](crate::kernel::fiber::prim::Owner) gave: its members still
    /// running are interrupted and awaited, uninterruptibly and like a finalizer, their
    /// cleanup's defects added as a failing finalizer's are) has run. This is where "no child
    /// outlives its region" is kept (I4).
    pub(in crate::kernel::fiber::interpreter) fn close_region(
        &mut self,
        closing: Option<Prim>,
        saved: Saved,
    ) -> Next {
        match closing {
            Some(closing) => self.run_finalizer(closing, saved),
            None => match saved {
                Saved::Completed(done) => Next::Deliver(done),
                Saved::Unwinding(cause) => Next::Unwind(cause),
            },
        }
    }
}
