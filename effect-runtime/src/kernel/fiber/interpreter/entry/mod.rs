//! The interpreter's stack entries: what each kind is, what it owes if the run is dropped,
//! and the dispatch of a value arriving from above ([`Interpreter::deliver`]) or of the
//! fiber unwinding past it ([`Interpreter::unwind`]) to the kind's own file: `finalizer`
//! (finalizers, and one running), `restore` (what an effect changed for its run:
//! interruptibility, context, fiber-locals, span), `region` (a region's close, the fiber's
//! forks), `then` (a continuation: `map`, `flat_map`), `../deadlines` (a timeout). Bodies and
//! yields are handled here.

mod finalizer;
mod region;
mod request;
mod restore;
mod then;

use std::mem;
use std::pin::Pin;
use std::sync::Arc;

pub(super) use finalizer::AfterFinalizer;
pub(super) use request::RequestStack;
pub(super) use restore::{Restore, SavedLocal};

use super::{Interpreter, Next, Saved};
use crate::kernel::cause::{Cause, Defect, Never};
use crate::kernel::fiber::frame::{Delivery, FrameBox};
use crate::kernel::fiber::prim::{Finalizer, ForkOwner, Outcome, Owner, Prim, Then, Timed};

pub(super) enum Entry {
    /// A body: the top one is running, the others wait for the result of the entry above.
    Frame(FrameBox),
    /// A finalizer not yet run, guarding everything above it.
    Finalizer(Finalizer),
    /// A finalizer is running above; what to resume with once it is done (boxed: this is
    /// rare, and every entry of a deep stack pays for the largest variant).
    RunningFinalizer(Box<AfterFinalizer>),
    /// What the fiber's interruptibility was before the effect above set it: put back as
    /// that effect ends. (Two variants, not one with a `bool`: see [`Prim`] on fields
    /// narrower than a word.)
    RestoreInterruptible,
    RestoreUninterruptible,
    /// What the fiber had before the effect above changed it for its own run: put back as
    /// that effect ends, however it ends.
    Restore(Restore),
    /// A region whose body runs above: closed (its members interrupted and awaited) when
    /// the body ends, however it ends.
    Region(Arc<dyn Owner>),
    /// The fiber's own forks, at the bottom of the stack: closed when the fiber ends.
    Forks(Arc<dyn ForkOwner>),
    /// `yield_now` ran here: the run returned to the scheduler once, and the entry below gets
    /// the unit when the run is polled again ([`Interpreter::yielded`]; the function makes it
    /// as a frame, for an entry below that needs one).
    Yielded(fn() -> FrameBox),
    /// A `timeout` whose guarded effect runs above (boxed: rare next to bodies, and every
    /// entry of a deep stack pays for the largest variant).
    Deadline(Box<dyn Timed>),
    /// A continuation waiting for the exit of the effect above (`map`, `flat_map`).
    Then(Pin<Box<dyn Then>>),
}

impl Entry {
    /// Whether dropping the run with this entry on its stack would skip work it owes: a
    /// finalizer, the rest of an uninterruptible region, children to interrupt and await.
    pub(super) fn owes_work(&self) -> bool {
        match self {
            Entry::Finalizer(_) | Entry::RunningFinalizer(_) | Entry::RestoreUninterruptible => {
                true
            }
            Entry::Region(region) => !region.is_closed(),
            Entry::Forks(forks) => !forks.is_closed(),
            Entry::Deadline(deadline) => deadline.owes_work(),
            Entry::Frame(_)
            | Entry::Then(_)
            | Entry::RestoreInterruptible
            | Entry::Restore(_)
            | Entry::Yielded(_) => false,
        }
    }
}

// A deep stack holds a million entries: each is three words, however many kinds there are.
const _: () = assert!(mem::size_of::<Entry>() <= 3 * mem::size_of::<usize>());

impl Interpreter {
    /// The run is polled again after a yield: the unit goes to the entry below, with no frame
    /// for a body that bound the yield or a continuation that ran it first; anything else
    /// (the root, a finalizer, a deadline) starts the unit as a frame.
    pub(super) fn yielded(&mut self) -> Next {
        let Some(Entry::Yielded(make)) = self.stack.pop() else {
            unreachable!("the top entry is a yield")
        };
        match self.stack.last() {
            Some(Entry::Frame(_)) => Next::Resume(Some(Delivery::Unit)),
            Some(Entry::Then(_)) => {
                let Some(Entry::Then(then)) = self.stack.pop() else {
                    unreachable!("the top entry was a continuation a moment ago")
                };
                self.then_resumed(then, Delivery::Unit)
            }
            _ => Next::Start(Prim::Frame(make())),
        }
    }

    /// Hands a finished frame to the entry below it: the next step, or `Err` with the outcome
    /// when the root finished. Each kind of entry answers in its own file.
    pub(super) fn deliver(&mut self, done: FrameBox) -> Result<Next, Outcome> {
        if let Some(Entry::Frame(_)) = self.stack.last() {
            return Ok(Next::Resume(Some(Delivery::Frame(done))));
        }
        let Some(entry) = self.stack.pop() else {
            return Err(Outcome::Completed(done));
        };
        Ok(match entry {
            Entry::Frame(_) => unreachable!("a waiting body was handled above"),
            Entry::Yielded(_) => unreachable!("a yield is popped before the run goes on"),
            Entry::Finalizer(finalizer) => self.finalizer_delivered(finalizer, done),
            Entry::RunningFinalizer(after) => self.finalizer_ended(*after, done),
            Entry::RestoreInterruptible => self.interruptibility_delivered(true, done),
            Entry::RestoreUninterruptible => self.interruptibility_delivered(false, done),
            Entry::Restore(saved) => {
                self.restore(saved);
                Next::Deliver(done)
            }
            Entry::Region(region) => self.close_region(region.close(), Saved::Completed(done)),
            Entry::Forks(forks) => self.close_region(forks.close(), Saved::Completed(done)),
            Entry::Deadline(deadline) => self.deadline_delivered(deadline, done),
            Entry::Then(then) => self.then_delivered(then, done),
        })
    }

    /// Pops one entry while unwinding after interruption: the next step, or `Err` with the
    /// outcome when the stack is empty. Each kind of entry answers in its own file.
    pub(super) fn unwind(&mut self, mut cause: Cause<Never>) -> Result<Next, Outcome> {
        let Some(entry) = self.stack.pop() else {
            return Err(Outcome::Interrupted(cause));
        };
        Ok(match entry {
            Entry::Frame(frame) => {
                // The in-flight body is dropped; a panicking destructor is kept as a defect.
                if let Some(defect) = drop_caught(frame) {
                    cause = cause.then(defect);
                }
                Next::Unwind(cause)
            }
            Entry::Then(then) => {
                // What the continuation holds is dropped, as a body's would be.
                if let Some(defect) = drop_caught(then) {
                    cause = cause.then(defect);
                }
                Next::Unwind(cause)
            }
            Entry::Yielded(_) => Next::Unwind(cause),
            Entry::Finalizer(finalizer) => self.finalizer_unwound(finalizer, cause),
            Entry::RunningFinalizer(after) => self.finalizer_ended_unwinding(*after, cause),
            Entry::RestoreInterruptible | Entry::RestoreUninterruptible => {
                self.interruptible = matches!(entry, Entry::RestoreInterruptible);
                Next::Unwind(cause)
            }
            Entry::Restore(saved) => {
                self.restore(saved);
                Next::Unwind(cause)
            }
            Entry::Region(region) => self.close_region(region.close(), Saved::Unwinding(cause)),
            Entry::Forks(forks) => self.close_region(forks.close(), Saved::Unwinding(cause)),
            Entry::Deadline(deadline) => self.deadline_unwound(deadline, cause),
        })
    }
}

/// Drops `dropped`, and a panic of its destructor as a defect.
fn drop_caught<T>(dropped: T) -> Option<Cause<Never>> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| drop(dropped)))
        .err()
        .map(|panic| Cause::Die(Defect::from_panic(panic)))
}
