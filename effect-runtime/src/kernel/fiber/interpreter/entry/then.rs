//! Continuation entries (`map`, `flat_map` and their kin, see [`Then`]): the effect run first
//! goes above the entry, and its finished frame comes back to it; nothing is owed if the run
//! is dropped, and unwinding drops it as it would a body.

use std::pin::Pin;

use crate::kernel::fiber::frame::{Delivery, FrameBox};
use crate::kernel::fiber::handoff::spend_budget;
use crate::kernel::fiber::interpreter::{Interpreter, Next};
use crate::kernel::fiber::perturb;
use crate::kernel::fiber::prim::{Prim, Then, ThenStep};

use super::{drop_caught, Entry};

impl Interpreter {
    /// Starts a continuation: its first effect runs above its entry, or, when that was a plain
    /// value, it goes on at once. A step like any other (I10): a chain of continuations on
    /// plain values returns to the scheduler now and then (and, under `EFFECT_PERTURB`, at
    /// random, as a body's poll does).
    pub(in crate::kernel::fiber::interpreter) fn then_started(
        &mut self,
        mut then: Pin<Box<dyn Then>>,
    ) -> Next {
        if !spend_budget() || (self.perturb && perturb::should_yield()) {
            return Next::Requeue(Prim::Then(then));
        }
        match then.as_mut().start() {
            ThenStep::RunFirst(first) => {
                self.stack.push(Entry::Then(then));
                Next::Start(first)
            }
            step => went_on(then, step),
        }
    }

    /// The first effect of a continuation finished with `done`: the continuation goes on.
    pub(super) fn then_delivered(&mut self, then: Pin<Box<dyn Then>>, done: FrameBox) -> Next {
        self.then_resumed(then, Delivery::Frame(done))
    }

    /// The first effect of a continuation finished with `first` (a frame, or a yield's unit):
    /// the continuation goes on, unless the fiber is to be interrupted here, as it would be
    /// before a body went on (I7): then it never does.
    pub(in crate::kernel::fiber::interpreter) fn then_resumed(
        &mut self,
        mut then: Pin<Box<dyn Then>>,
        first: Delivery,
    ) -> Next {
        if let Some(mut cause) = self.pending_interruption() {
            drop(first);
            if let Some(defect) = drop_caught(then) {
                cause = cause.then(defect);
            }
            return Next::Unwind(cause);
        }
        let step = then.as_mut().resume(first);
        went_on(then, step)
    }
}

/// A continuation went on from its first effect's exit: it is the finished frame, or what it
/// asks to run takes its place.
fn went_on(then: Pin<Box<dyn Then>>, step: ThenStep) -> Next {
    match step {
        ThenStep::Done => Next::Deliver(then.into_frame()),
        ThenStep::RunInstead(next) => {
            drop(then);
            Next::Start(next)
        }
        ThenStep::RunFirst(_) => unreachable!("a continuation runs its first effect once"),
    }
}
