//! A region's close protocol ([`Owner`]): however the effect above the region ends, the
//! interpreter pops the region's stack entry only through this close: every member still
//! running is interrupted, and the fiber waits, uninterruptibly and like a finalizer, until
//! each has finished its own finalizers (I4). The defects of members that finished while the
//! region closed (their cleanup failed as they were interrupted) are reported by the close,
//! never lost.

use std::task::{Context as TaskContext, Poll};

use super::slots::Slot;
use super::{lock, Region};
use crate::kernel::cause::{Cause, Exit, Never};
use crate::kernel::fiber::frame::FrameBox;
use crate::kernel::fiber::prim::Owner;
use crate::kernel::fiber::waiting::{self, Wait};

/// What the close protocol keeps of a region: its body until the interpreter starts it, and
/// the defects gathered so far.
#[derive(Default)]
pub(super) struct Closing {
    /// The body driving the region, until the interpreter starts it.
    pub(super) body: Option<FrameBox>,
    /// The defects of members that finished while the region closed.
    defects: Option<Cause<Never>>,
}

impl Closing {
    /// Keeps the defects of a member's `exit` (one whose own outcome no longer matters).
    pub(super) fn keep(&mut self, exit: Exit<impl Sized, impl Sized>) {
        keep_defects(&mut self.defects, exit);
    }
}

impl<A: Send + 'static, E: Send + 'static, const IN: usize> Region<A, E, IN> {
    /// Interrupts every member still running and waits until all have finished; the defects
    /// of their exits (cleanup that failed as they were interrupted), which must not be lost.
    /// Also gives how many of them ended interrupted (a race's losers, for its metrics).
    pub(crate) async fn interrupt_rest_keeping_defects(&self) -> (Option<Cause<Never>>, u64) {
        let mut defects = None;
        let mut interrupted = 0;
        self.interrupt_rest(|exit| {
            interrupted += u64::from(matches!(&exit, Err(cause) if cause.is_interrupted()));
            keep_defects(&mut defects, exit)
        })
        .await;
        (defects, interrupted)
    }

    /// Interrupts every member still running, waits until all have finished, and gives
    /// `each` the exits the body had not taken yet, in the order they finished (as they come:
    /// a race's losers are looked at once, not gathered first).
    pub(crate) async fn interrupt_rest(&self, mut each: impl FnMut(Exit<A, E>)) {
        self.interrupt_members();
        while let Some((_, exit)) = self.next_finished().await {
            each(exit);
        }
    }
}

impl<A: Send + 'static, E: Send + 'static, const IN: usize> Owner for Region<A, E, IN> {
    /// Interrupts the members still running. In-place members are interrupted quietly and
    /// queued for the region's next poll rather than woken: the only callers are the region's
    /// own task, which polls the region right after (`interrupt_rest` at once; the close's
    /// frame is the next thing its interpreter runs, or, past the poll's budget, its yield
    /// wakes the task), and a wake-up of the running task would only cost tokio a needless
    /// re-poll and, on a multi-thread runtime, a wake-up of an idle worker.
    fn interrupt_members(&self) {
        let members = lock(&self.members);
        for slot in members.slots.unsettled_slots() {
            match slot {
                Slot::InPlace(at) => members.runs.interrupt(*at),
                Slot::Task(core) | Slot::Fork(core) => core.interrupt(),
                Slot::Finished | Slot::Vacant { .. } => {}
            }
        }
    }

    fn is_closed(&self) -> bool {
        let members = lock(&self.members);
        members.slots.running() == 0
            || members
                .slots
                .unsettled_slots()
                .iter()
                .all(|slot| match slot {
                    Slot::Task(core) | Slot::Fork(core) => core.is_done(),
                    Slot::InPlace(..) => false,
                    Slot::Finished | Slot::Vacant { .. } => true,
                })
    }

    fn take_body(&self) -> Option<FrameBox> {
        lock(&self.members).closing.body.take()
    }

    fn poll_closed(&self, cx: &mut TaskContext<'_>) -> Poll<Option<Cause<Never>>> {
        // The members that report (in-place ones progress only when polled; the interrupt
        // woke each), as the region's body would take them, their exits reduced to defects.
        let mut defects = None;
        while let Poll::Ready(Some((_, exit))) = self.poll_next(cx) {
            keep_defects(&mut defects, exit);
        }
        let mut members = lock(&self.members);
        if let Some(defects) = defects {
            add_defects(&mut members.closing.defects, defects);
        }
        // Then wait for the members in order, each looked at until it is done (a fork
        // reports to nobody, and a group member's report may still be on its way).
        while let Some(index) = members.slots.unsettled().next() {
            match &members.slots[index] {
                Slot::Finished | Slot::Vacant { .. } => {}
                Slot::InPlace(..) => {
                    waiting::on(Wait::Closing(members.slots.running()));
                    return Poll::Pending;
                }
                Slot::Task(core) | Slot::Fork(core) => {
                    if core.poll_done(cx).is_pending() {
                        waiting::on(Wait::Closing(members.slots.running()));
                        return Poll::Pending;
                    }
                    // Its exit is of no use any more, but its defects are kept.
                    if let Some(exit) = members.poll_member(index, cx) {
                        members.closing.keep(exit);
                    }
                    if let Slot::Fork(_) = members.slots[index] {
                        members.slots.finish(index);
                    }
                }
            }
            members.slots.settle_next();
        }
        Poll::Ready(members.closing.defects.take())
    }
}

/// Adds the defects of a member's `exit` to `kept`: what a region keeps of a member whose
/// own outcome no longer matters (it was interrupted), so that failed cleanup is not lost.
fn keep_defects<A, E>(kept: &mut Option<Cause<Never>>, exit: Exit<A, E>) {
    if let Some(more) = exit.err().and_then(Cause::into_defects) {
        add_defects(kept, more);
    }
}

/// `more` beside the defects `kept` so far (they happened in parallel, in sibling members).
fn add_defects(kept: &mut Option<Cause<Never>>, more: Cause<Never>) {
    *kept = Some(match kept.take() {
        Some(earlier) => earlier.both(more),
        None => more,
    });
}

impl<A, E, const IN: usize> Drop for Region<A, E, IN> {
    /// A region is dropped unclosed only with its whole fiber, dropped before it finished
    /// (see `Driver`'s drop, which finishes what the fiber owes elsewhere when it can). Its
    /// in-place members are dropped with it, each finishing what it owes the same way; its
    /// tasks are told to stop.
    fn drop(&mut self) {
        let members = self
            .members
            .get_mut()
            .unwrap_or_else(|poison| poison.into_inner());
        for slot in members.slots.iter() {
            match slot {
                Slot::Task(core) | Slot::Fork(core) => core.interrupt(),
                // Moved to a task: told to stop like one (one here is dropped with the region).
                Slot::InPlace(at) => members.runs.interrupt_moved(*at),
                Slot::Finished | Slot::Vacant { .. } => {}
            }
        }
    }
}
