//! Finalizer entries: a finalizer not yet run, guarding everything above it, and one running
//! above, with what the fiber resumes with once it is done. A finalizer's entry is popped
//! before it starts, so it runs at most once, and every way out passes it (I2); it runs
//! uninterruptibly (I3).

use crate::kernel::cause::Cause;
use crate::kernel::cause::{Exit, Never};
use crate::kernel::fiber::frame::{take_exit, FrameBox};
use crate::kernel::fiber::interpreter::{Interpreter, Next, Saved};
use crate::kernel::fiber::prim::{Finalizer, FinalizerExit, Prim};

use super::Entry;

/// What a fiber resumes with once the finalizer running above it is done.
pub(in crate::kernel::fiber::interpreter) struct AfterFinalizer {
    pub(in crate::kernel::fiber::interpreter) saved: Saved,
    pub(in crate::kernel::fiber::interpreter) interruptible: bool,
}

impl Interpreter {
    /// Runs a finalizer (or a region's close) uninterruptibly (I3), then goes on with `saved`.
    pub(in crate::kernel::fiber::interpreter) fn run_finalizer(
        &mut self,
        prim: Prim,
        saved: Saved,
    ) -> Next {
        self.stack
            .push(Entry::RunningFinalizer(Box::new(AfterFinalizer {
                saved,
                interruptible: self.interruptible,
            })));
        self.interruptible = false;
        Next::Start(prim)
    }

    /// The guarded effect finished with `done`: its finalizer runs next, if it has anything
    /// to run, and the value goes on after it.
    pub(in crate::kernel::fiber::interpreter) fn finalizer_delivered(
        &mut self,
        finalizer: Finalizer,
        mut done: FrameBox,
    ) -> Next {
        match finalizer(FinalizerExit::Completed(done.as_mut().output())) {
            Some(prim) => self.run_finalizer(prim, Saved::Completed(done)),
            None => Next::Deliver(done),
        }
    }

    /// The fiber unwinds past a finalizer: it runs, and the unwinding goes on after it.
    pub(in crate::kernel::fiber::interpreter) fn finalizer_unwound(
        &mut self,
        finalizer: Finalizer,
        cause: Cause<Never>,
    ) -> Next {
        match finalizer(FinalizerExit::Interrupted(&cause)) {
            Some(prim) => self.run_finalizer(prim, Saved::Unwinding(cause)),
            None => Next::Unwind(cause),
        }
    }

    /// The finalizer running above finished with its own frame, `done`: the fiber resumes
    /// with what it saved, the finalizer's failure added.
    pub(in crate::kernel::fiber::interpreter) fn finalizer_ended(
        &mut self,
        after: AfterFinalizer,
        mut done: FrameBox,
    ) -> Next {
        let saved = self.leave_finalizer(after);
        let exit: Exit<(), Never> = take_exit(&mut done);
        // An interrupt that arrived while the finalizer ran takes effect as it ends, as at
        // the end of any uninterruptible region: the guarded result is discarded, and the
        // finalizer's own failure kept.
        let interrupted = match &saved {
            Saved::Completed(_) => self.pending_interruption(),
            Saved::Unwinding(_) => None,
        };
        match (saved, exit, interrupted) {
            (Saved::Completed(_), Ok(()), Some(interruption)) => Next::Unwind(interruption),
            (Saved::Completed(_), Err(cause), Some(interruption)) => {
                Next::Unwind(interruption.then(cause))
            }
            (Saved::Completed(frame), Ok(()), None) => Next::Deliver(frame),
            (Saved::Completed(mut frame), Err(cause), None) => {
                frame.as_mut().exit_slot().add_cause(cause);
                Next::Deliver(frame)
            }
            (Saved::Unwinding(cause), Ok(()), _) => Next::Unwind(cause),
            (Saved::Unwinding(cause), Err(more), _) => Next::Unwind(cause.then(more)),
        }
    }

    /// The finalizer running above was itself unwound (an interruption inside it reached its
    /// end): the fiber unwinds on, with what it was unwinding with before, if anything.
    pub(in crate::kernel::fiber::interpreter) fn finalizer_ended_unwinding(
        &mut self,
        after: AfterFinalizer,
        cause: Cause<Never>,
    ) -> Next {
        match self.leave_finalizer(after) {
            Saved::Completed(_) => Next::Unwind(cause),
            Saved::Unwinding(earlier) => Next::Unwind(earlier.then(cause)),
        }
    }

    /// Leaves a finalizer that ended (however it ended): the fiber's interruptibility from
    /// before it is back; what the fiber saved is for the caller to resume with.
    fn leave_finalizer(&mut self, after: AfterFinalizer) -> Saved {
        // I3: whatever the finalizer did inside (an `interruptible` region, a timeout) has
        // put the fiber's interruptibility back by now.
        debug_assert!(!self.interruptible, "I3: a finalizer runs uninterruptibly");
        self.interruptible = after.interruptible;
        after.saved
    }
}
