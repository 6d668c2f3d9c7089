//! The interpreter's stack entries: what each kind is, what it owes if the run is dropped,
//! and what it does when a value arrives from above ([`Interpreter::deliver`]) or the fiber
//! unwinds past it ([`Interpreter::unwind`]), side by side.

use std::mem;
use std::sync::Arc;

use super::{Interpreter, Next, Saved};
use crate::kernel::cause::{Cause, Defect, Exit, Never};
use crate::kernel::context::Context;
use crate::kernel::fiber::frame::{take_exit, Delivery, FrameBox};
use crate::kernel::fiber::locals::LocalValue;
use crate::kernel::fiber::prim::{
    Deadline, FiberStack, Finalizer, FinalizerExit, ForkOwner, Outcome, Owner,
};
#[cfg(feature = "tracing")]
use crate::kernel::fiber::span::FiberSpan;
use crate::kernel::fiber::stack::Stack;

pub(super) enum Entry {
    /// A body: the top one is running, the others wait for the result of the entry above.
    Frame(FrameBox),
    /// A finalizer not yet run, guarding everything above it.
    Finalizer(Finalizer),
    /// A finalizer is running above; what to resume with once it is done (boxed: this is
    /// rare, and every entry of a deep stack pays for the largest variant).
    RunningFinalizer(Box<AfterFinalizer>),
    /// What the fiber's interruptibility was before the effect above set it: put back as
    /// that effect ends. (Two variants, not one with a `bool`: see [`Prim`](crate::kernel::fiber::prim::Prim) on fields
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
    /// The body below bound `yield_now`: the run returned to the scheduler once, and the body
    /// gets its unit when the run is polled again.
    Yielded,
    /// A `timeout` whose guarded effect runs above (boxed: rare next to bodies, and every
    /// entry of a deep stack pays for the largest variant).
    Deadline(Box<Deadline>),
}

/// What a fiber resumes with once the finalizer running above it is done.
pub(super) struct AfterFinalizer {
    pub(super) saved: Saved,
    pub(super) interruptible: bool,
}

impl Entry {
    /// The entry putting back `interruptible` as the effect above it ends.
    pub(super) fn restore_interruptible(interruptible: bool) -> Entry {
        if interruptible {
            Entry::RestoreInterruptible
        } else {
            Entry::RestoreUninterruptible
        }
    }

    /// Whether dropping the run with this entry on its stack would skip work it owes: a
    /// finalizer, the rest of an uninterruptible region, children to interrupt and await.
    pub(super) fn owes_work(&self) -> bool {
        match self {
            Entry::Finalizer(_) | Entry::RunningFinalizer(_) | Entry::RestoreUninterruptible => {
                true
            }
            Entry::Region(region) => !region.is_closed(),
            Entry::Forks(forks) => !forks.is_closed(),
            // Inside a timeout begun in an uninterruptible region, or with forks to close.
            Entry::Deadline(deadline) => {
                !deadline.interruptible
                    || deadline
                        .forks
                        .as_ref()
                        .is_some_and(|forks| !forks.is_closed())
            }
            Entry::Frame(_) | Entry::RestoreInterruptible | Entry::Restore(_) | Entry::Yielded => {
                false
            }
        }
    }
}

// A deep stack holds a million entries: each is three words, however many kinds there are.
const _: () = assert!(mem::size_of::<Entry>() <= 3 * mem::size_of::<usize>());

/// A piece of the fiber's state an effect changed for as long as it runs.
pub(super) enum Restore {
    /// The context before `provide`.
    Context(Context),
    /// A fiber-local before `FiberRef::locally` (boxed: rare, and every entry of a deep stack
    /// pays for the largest variant).
    Local(Box<SavedLocal>),
    /// The fiber's span before `instrument` / `with_span`.
    #[cfg(feature = "tracing")]
    Span(FiberSpan),
}

/// The value a fiber-local had before `FiberRef::locally` set it (`None`: not set).
pub(super) struct SavedLocal {
    pub(super) key: u64,
    pub(super) previous: Option<LocalValue>,
}

/// The fiber's stack as a [`Prim::WithFiber`](crate::kernel::fiber::prim::Prim::WithFiber) request sees it.
pub(super) struct RequestStack<'a> {
    pub(super) stack: &'a mut Stack<Entry>,
    /// Whether a deadline is on the stack (see [`Interpreter::deadlines`]).
    pub(super) in_deadline: bool,
}

impl FiberStack for RequestStack<'_> {
    fn restore_local_after(&mut self, key: u64, previous: Option<LocalValue>) {
        self.stack
            .push(Entry::Restore(Restore::Local(Box::new(SavedLocal {
                key,
                previous,
            }))));
    }

    #[cfg(feature = "tracing")]
    fn restore_span_after(&mut self, outer: FiberSpan) {
        self.stack.push(Entry::Restore(Restore::Span(outer)));
    }

    /// Inside a `timeout`, the innermost deadline's forks; else the fiber's own, which sit at
    /// the bottom of its stack (put there at the first fork), so that they are closed when
    /// the fiber ends, however it ends.
    fn forks(&mut self, make: fn() -> Arc<dyn ForkOwner>) -> &Arc<dyn ForkOwner> {
        let is_deadline = |entry: &Entry| matches!(entry, Entry::Deadline(_));
        if self.in_deadline && self.stack.iter().any(is_deadline) {
            let innermost = self.stack.iter_mut().rev().find_map(|entry| match entry {
                Entry::Deadline(deadline) => Some(deadline),
                _ => None,
            });
            let deadline = innermost.expect("a deadline was just seen on the stack");
            return deadline.forks.get_or_insert_with(make);
        }
        if !matches!(self.stack.bottom(), Some(Entry::Forks(_))) {
            self.stack.insert_bottom(Entry::Forks(make()));
        }
        match self.stack.bottom() {
            Some(Entry::Forks(forks)) => forks,
            _ => unreachable!("the fiber's forks were put at the bottom just now"),
        }
    }
}

impl Interpreter {
    /// Hands a finished frame to the entry below it: the next step, or `Err` with the outcome
    /// when the root finished.
    pub(super) fn deliver(&mut self, mut done: FrameBox) -> Result<Next, Outcome> {
        if let Some(Entry::Frame(_)) = self.stack.last() {
            return Ok(Next::Resume(Some(Delivery::Frame(done))));
        }
        let Some(entry) = self.stack.pop() else {
            return Err(Outcome::Completed(done));
        };
        Ok(match entry {
            Entry::Frame(_) => unreachable!("a waiting body was handled above"),
            Entry::Yielded => unreachable!("a yield is popped before the run goes on"),
            Entry::Finalizer(finalizer) => {
                match finalizer(FinalizerExit::Completed(done.as_mut().output())) {
                    Some(prim) => self.run_finalizer(prim, Saved::Completed(done)),
                    None => Next::Deliver(done),
                }
            }
            Entry::RunningFinalizer(after) => {
                // I3: whatever the finalizer did inside (an `interruptible` region, a
                // timeout) has put the fiber's interruptibility back by now.
                debug_assert!(!self.interruptible, "I3: a finalizer runs uninterruptibly");
                let AfterFinalizer {
                    saved,
                    interruptible,
                } = *after;
                // `done` is the finalizer's own frame.
                let exit: Exit<(), Never> = take_exit(&mut done);
                self.interruptible = interruptible;
                // An interrupt that arrived while the finalizer ran takes effect as it ends,
                // as at the end of any uninterruptible region: the guarded result is
                // discarded, and the finalizer's own failure kept.
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
            Entry::RestoreInterruptible | Entry::RestoreUninterruptible => {
                self.interruptible = matches!(entry, Entry::RestoreInterruptible);
                match self.pending_interruption() {
                    // Leaving an uninterruptible region with an interrupt pending: the
                    // region's result is discarded and the fiber unwinds.
                    Some(interruption) => Next::Unwind(interruption),
                    None => Next::Deliver(done),
                }
            }
            Entry::Restore(saved) => {
                self.restore(saved);
                Next::Deliver(done)
            }
            Entry::Region(region) => self.close_region(region.close(), Saved::Completed(done)),
            Entry::Forks(forks) => self.close_region(forks.close(), Saved::Completed(done)),
            // The guarded effect finished: in time, or after its deadline but before the
            // deadline could interrupt it (it was uninterruptible to its end). Either way its
            // outcome stands, as a fiber of its own that finished would.
            Entry::Deadline(mut deadline) => match deadline.forks.take() {
                // Its forks are closed first, like a finalizer, with the deadline kept on the
                // stack meanwhile; the result then comes back to it.
                Some(forks) => {
                    self.stack.push(Entry::Deadline(deadline));
                    self.close_region(forks.close(), Saved::Completed(done))
                }
                None => {
                    self.leave_deadline(&deadline);
                    Next::Deliver(done)
                }
            },
        })
    }

    /// Pops one entry while unwinding after interruption: the next step, or `Err` with the
    /// outcome when the stack is empty.
    pub(super) fn unwind(&mut self, mut cause: Cause<Never>) -> Result<Next, Outcome> {
        let Some(entry) = self.stack.pop() else {
            return Err(Outcome::Interrupted(cause));
        };
        Ok(match entry {
            Entry::Frame(frame) => {
                // The in-flight body is dropped; a panicking destructor is kept as a defect.
                let dropped =
                    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| drop(frame)));
                if let Err(panic) = dropped {
                    cause = cause.then(Cause::Die(Defect::from_panic(panic)));
                }
                Next::Unwind(cause)
            }
            Entry::Finalizer(finalizer) => match finalizer(FinalizerExit::Interrupted(&cause)) {
                Some(prim) => self.run_finalizer(prim, Saved::Unwinding(cause)),
                None => Next::Unwind(cause),
            },
            Entry::RunningFinalizer(after) => {
                // I3: whatever the finalizer did inside (an `interruptible` region, a
                // timeout) has put the fiber's interruptibility back by now.
                debug_assert!(!self.interruptible, "I3: a finalizer runs uninterruptibly");
                let AfterFinalizer {
                    saved,
                    interruptible,
                } = *after;
                self.interruptible = interruptible;
                match saved {
                    Saved::Completed(_) => Next::Unwind(cause),
                    Saved::Unwinding(earlier) => Next::Unwind(earlier.then(cause)),
                }
            }
            Entry::RestoreInterruptible | Entry::RestoreUninterruptible => {
                self.interruptible = matches!(entry, Entry::RestoreInterruptible);
                Next::Unwind(cause)
            }
            Entry::Yielded => Next::Unwind(cause),
            Entry::Restore(saved) => {
                self.restore(saved);
                Next::Unwind(cause)
            }
            Entry::Region(region) => self.close_region(region.close(), Saved::Unwinding(cause)),
            Entry::Forks(forks) => self.close_region(forks.close(), Saved::Unwinding(cause)),
            Entry::Deadline(mut deadline) => {
                if let Some(forks) = deadline.forks.take() {
                    // As on completion: its forks are closed first, then the unwinding comes
                    // back to it.
                    self.stack.push(Entry::Deadline(deadline));
                    return Ok(self.close_region(forks.close(), Saved::Unwinding(cause)));
                }
                self.leave_deadline(&deadline);
                if !deadline.expired {
                    return Ok(Next::Unwind(cause));
                }
                if let Some(interruption) = self.pending_interruption() {
                    // Another interruption applies here too (the fiber's own, an enclosing
                    // timeout's): the fiber unwinds on past this timeout with it, keeping the
                    // defects the guarded effect's cleanup raised (ending the timeout first
                    // would hand them to a body that interruption then drops).
                    return Ok(Next::Unwind(match cause.into_defects() {
                        Some(defects) => interruption.then(defects),
                        None => interruption,
                    }));
                }
                // The unwinding its expiry began (or any other that reaches an expired
                // deadline) ends here: the timeout ends with `None`, or with the defects the
                // guarded effect's cleanup raised.
                self.stack.push(Entry::Frame((deadline.timed_out)(cause)));
                Next::Resume(None)
            }
        })
    }
}
