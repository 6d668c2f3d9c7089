//! A region's in-place executor: the runs of its in-place members, polled by the region's own
//! fiber, in its task, inside its polls (see [`Placement::InPlace`](super::Placement)).
//!
//! A member with a waker of its own is polled only when that waker fired (it queues the
//! member's slot on the region's ready queue); one without is polled whenever the region is.
//! The runs sit side by side, inline up to `IN` and beyond it in one allocation; a finished
//! member's room, and its waker, stay for the next member that takes over its slot.

use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Context as TaskContext, Poll, Waker};

use smallvec::SmallVec;

use super::placed::Placed;
use super::wake::{MemberWake, Ready, ReadyQueue};
use super::IN_PLACE_DEPTH;
use crate::kernel::cause::Exit;
use crate::kernel::fiber::handoff::take_budget_spent;
use crate::kernel::fiber::run::Run;
use std::future::Future;

/// An in-place member: its run, and its own waker (`None`: polled whenever the region is).
///
/// Moved when the runs grow, which is sound: a `Run` is not pinned (its interpreter keeps its
/// bodies boxed), members start only under the region's lock, and a run is polled only under
/// that same lock, so never while it moves.
struct InPlace<A, E> {
    run: Placed<A, E>,
    own: Option<(Arc<MemberWake>, Waker)>,
}

pub(super) struct InPlaceRuns<A, E, const IN: usize> {
    /// Inline up to `IN`: a race reserves room for all its branches at once (not one
    /// allocation per branch), and a race of two keeps both in the region's own allocation.
    runs: SmallVec<[InPlace<A, E>; IN]>,
    /// How many running members have no waker of their own: they are polled whenever the
    /// region is (a few at most, in a small region: see [`Region::start`](super::Region::start)).
    always_polled: usize,
}

impl<A, E, const IN: usize> InPlaceRuns<A, E, IN> {
    pub(super) fn with_capacity(members: usize) -> Self {
        InPlaceRuns {
            runs: SmallVec::with_capacity(members),
            always_polled: 0,
        }
    }

    /// Whether some running member is polled whenever the region is.
    pub(super) fn any_always_polled(&self) -> bool {
        self.always_polled > 0
    }

    pub(super) fn is_always_polled(&self, at: usize) -> bool {
        self.runs[at].own.is_none()
    }

    /// Asks the member at `at` to stop. One with a waker of its own is queued on the ready
    /// queue without waking the region's task: the only callers are that task itself, which
    /// polls the region right after (see the close's `interrupt_members`).
    pub(super) fn interrupt(&self, at: usize) {
        let member = &self.runs[at];
        member.run.interrupt();
        if let Some((wake, _)) = &member.own {
            wake.queue_quietly();
        }
    }

    /// Asks the member at `at` to stop if it moved to a task (a region dropped unclosed: one
    /// still here is dropped with the region).
    pub(super) fn interrupt_moved(&self, at: usize) {
        if let moved @ Placed::Moved(_) = &self.runs[at].run {
            moved.interrupt();
        }
    }

    /// How many members' runs the executor has room for, and whether that room moved out of
    /// the region's own allocation.
    #[cfg(test)]
    pub(super) fn room(&self) -> (usize, bool) {
        (self.runs.len(), self.runs.spilled())
    }

    /// The waker the member at `at` was given, if any.
    #[cfg(test)]
    pub(super) fn waker_of(&self, at: usize) -> Option<*const MemberWake> {
        self.runs[at]
            .own
            .as_ref()
            .map(|(wake, _)| Arc::as_ptr(wake))
    }
}

impl<A: Send + 'static, E: Send + 'static, const IN: usize> InPlaceRuns<A, E, IN> {
    /// Starts `run` as the member of slot `index`, in the room `at` a vacant slot left (with
    /// that member's waker, which names the same slot) or in new room; returns its room.
    /// `ready`: give it a waker of its own, reporting there; the member is then marked queued,
    /// and the caller queues it for its first poll.
    pub(super) fn start(
        &mut self,
        index: usize,
        at: Option<usize>,
        run: Run<A, E>,
        ready: Option<&Arc<ReadyQueue>>,
    ) -> usize {
        let mut own = None;
        if let Some(ready) = ready {
            // The waker of the slot's previous member, if it had one: it names the same slot
            // and queue. A late wake-up through it, from something the finished member waited
            // on, polls the new member once for nothing, which is harmless.
            let (wake, waker) = at
                .and_then(|at| self.runs[at].own.take())
                .unwrap_or_else(|| {
                    let wake = Arc::new(MemberWake {
                        index,
                        queued: AtomicBool::new(true),
                        ready: ready.clone(),
                    });
                    let waker = Waker::from(wake.clone());
                    (wake, waker)
                });
            wake.queued.store(true, Ordering::Release);
            own = Some((wake, waker));
        } else {
            self.always_polled += 1;
        }
        let member = InPlace {
            run: Placed::Here(run),
            own,
        };
        match at {
            Some(at) => {
                self.runs[at] = member;
                at
            }
            None => {
                self.runs.push(member);
                self.runs.len() - 1
            }
        }
    }

    /// Polls the member of slot `index`, at `at`, or takes the exit of one moved to a task;
    /// the exit if it finished now. A member found busy moves to a task (reporting on
    /// `ready`).
    pub(super) fn poll(
        &mut self,
        index: usize,
        at: usize,
        cx: &mut TaskContext<'_>,
        ready: &mut Ready,
    ) -> Option<Exit<A, E>> {
        let InPlace { run: placed, own } = &mut self.runs[at];
        let exit = match placed {
            Placed::Moved(moved) => moved.take_exit()?,
            Placed::Here(run) => {
                // The budget flag is cleared before the poll: set after it, this member's own
                // run spent its budget.
                take_budget_spent();
                let polled = match own {
                    Some((wake, waker)) => {
                        // Cleared before the poll: a wake during it queues the member again.
                        wake.queued.store(false, Ordering::Release);
                        poll_in_place(run, &mut TaskContext::from_waker(waker))
                    }
                    None => poll_in_place(run, cx),
                };
                match polled {
                    Poll::Ready(exit) => exit,
                    Poll::Pending => {
                        if take_budget_spent() {
                            placed.move_to_task(index, ready);
                        }
                        return None;
                    }
                }
            }
        };
        // Its room stays, and its waker, for the next member in this slot.
        if own.is_none() {
            self.always_polled -= 1;
        }
        Some(exit)
    }
}

/// Polls an in-place member, one level deeper on the native stack.
fn poll_in_place<A: Send + 'static, E: Send + 'static>(
    run: &mut Run<A, E>,
    cx: &mut TaskContext<'_>,
) -> Poll<Exit<A, E>> {
    struct Leave;
    impl Drop for Leave {
        fn drop(&mut self) {
            IN_PLACE_DEPTH.set(IN_PLACE_DEPTH.get() - 1);
        }
    }
    IN_PLACE_DEPTH.set(IN_PLACE_DEPTH.get() + 1);
    let _leave = Leave;
    Pin::new(run).poll(cx)
}
