//! [`Region`]: the one owner of child fibers. Every child a fiber starts belongs to exactly
//! one region: the fiber's own forks (the region at the bottom of its interpreter stack), a
//! `zip_par` / `for_each_par` group, a race's branches.
//!
//! **No child outlives its region.** A region lives on its fiber's interpreter stack as an
//! [`Entry::Region`](super::interpreter), pushed when the region's effect starts. However
//! the effect above it ends (success, failure, defect, interruption), the interpreter pops
//! that entry only through the close of its [`Owner`]: every member still running is
//! interrupted, and the fiber waits, uninterruptibly and like a finalizer, until each has
//! finished its own finalizers. The body driving the region (the race, the group) may finish
//! its members itself first (to read their exits); it never has to, and it may be dropped at
//! any await.
//!
//! Members come in two placements, a setting of the region, not separate code paths:
//! - [`Placement::InPlace`]: the member is a nested [`Run`] owned by the region and polled by
//!   the region's own fiber, in its task: no task to spawn, which suits races
//!   (a race is about waiting). Each member is polled only when its own waker fired, so a
//!   wake-up costs work for the members woken, not for every member. A member that spends
//!   its whole step budget without waiting is busy, not waiting: on a multi-thread runtime
//!   it moves to a task of its own (`Members::move_to_task`), so busy members run side by
//!   side; it stays the region's member all the same.
//! - [`Placement::Task`]: the member is a fiber on a tokio task of its own (forks, groups:
//!   work that should run in parallel on a multi-thread runtime). Its completion is queued
//!   for the region in the order it happens.
//!
//! In-place members nest on the native stack (a member's poll polls its own regions'
//! members). So an in-place region opened deeper than [`MAX_IN_PLACE_DEPTH`] nested members
//! places its members on tasks instead: a program nesting a hundred thousand races runs
//! on a fresh native stack every few dozen levels.

use std::cell::Cell;
use std::future::{poll_fn, Future};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context as TaskContext, Poll, Waker};

use smallvec::SmallVec;

mod forks;
pub(crate) use forks::Forks;
mod placed;
mod wake;
mod workers;

use placed::Placed;
use wake::{MemberWake, ReadyQueue};

use super::core::{Family, FiberCore};
use super::frame::{FrameBox, FutureFrame};
use super::handle::spawn_fiber;
use super::locals::Inherited;
use super::prim::{Owner, Prim};
use super::run::Run;
use crate::kernel::cause::{Cause, Exit, Never};
use crate::kernel::effect::Effect;

/// How many slots a region keeps in its own allocation before they move to the heap: the
/// forks of a fiber that forks once or twice, a race of two, allocate none.
const INLINE_SLOTS: usize = 2;

/// The end of the list of vacant slots.
const NO_SLOT: u32 = u32::MAX;

/// How many in-place members may be nested inside one another on one native stack before a
/// region places its members on tasks. Each level costs a few hundred bytes of native stack
/// in release builds and a few kilobytes in debug builds; 32 levels stay far below a
/// 2 MiB worker stack either way.
pub(crate) const MAX_IN_PLACE_DEPTH: u32 = 32;

thread_local! {
    /// How many in-place members are being polled on this thread's stack right now.
    static IN_PLACE_DEPTH: Cell<u32> = const { Cell::new(0) };
}

/// Where a region runs its members.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Placement {
    /// Nested runs polled by the region's own fiber.
    InPlace,
    /// Fibers on tasks of their own.
    Task,
}

/// The children of one region, whose exits are `Exit<A, E>`. `IN`: how many in-place runs
/// the region keeps in its own allocation (a race of two keeps both; a region that never
/// runs members in place, the forks of a fiber, a group of tasks, pays nothing for room it
/// does not use: a run is about 200 bytes).
pub(crate) struct Region<A, E, const IN: usize = 0> {
    members: Mutex<Members<A, E, IN>>,
}

struct Members<A, E, const IN: usize> {
    /// Inline up to [`INLINE_SLOTS`].
    slots: SmallVec<[Slot; INLINE_SLOTS]>,
    /// The runs of the in-place members, side by side: inline up to `IN`, and beyond it in
    /// one allocation, which a race reserves for all its branches at once (not one per
    /// branch).
    in_place: SmallVec<[InPlace<A, E>; IN]>,
    /// The first slot of the list of [`Slot::Vacant`] ones (`NO_SLOT`: none), which the next
    /// in-place members take over. A region that keeps starting members as others finish (a
    /// stream's `map_par`, over millions of elements) stays as large as the most members it
    /// ran at once, not as all it ever ran; the list lives in the slots, so a race, which
    /// never reuses one, allocates nothing for it. Task members never reuse a slot: a group's
    /// index is its member's position in the input.
    vacant: u32,
    /// Members not yet finished.
    running: usize,
    /// Every slot below this index is finished: closing waits for the members in order from
    /// here, so it looks at each member once, however many wake-ups it takes.
    closed_through: usize,
    /// How many running in-place members have no waker of their own: they are polled
    /// whenever the region is (a few at most, in a small region: see [`Region::start`]).
    always_polled: usize,
    /// Made for the first member that reports through it (an in-place member with a waker of
    /// its own, a task member): a small race never needs one.
    ready: Option<Arc<ReadyQueue>>,
    /// The body driving the region, until the interpreter starts it.
    body: Option<FrameBox>,
    /// The defects of members that finished while the region closed (their cleanup failed
    /// as they were interrupted): reported by the close, never lost.
    defects: Option<Cause<Never>>,
}

enum Slot {
    /// A nested run: its index in `in_place` (kept apart: a slot of a region of forks or
    /// tasks should not pay for a run's size).
    InPlace(usize),
    /// A fiber on its own task, whose exit (an `Exit<A, E>`) is in its core, and whose
    /// completion is queued for the region (a group member).
    Task(Arc<FiberCore>),
    /// A fiber forked by the region's fiber: its exit, of its own type, is for its handle;
    /// the region only finds it done when it closes.
    Fork(Arc<FiberCore>),
    /// Finished; its exit until the region's body takes it.
    Finished,
    /// A finished in-place member's: its room in `in_place` (`at`) and the next vacant slot
    /// (`NO_SLOT`: none), for the next in-place member to take over.
    Vacant { at: u32, next: u32 },
}

/// An in-place member: its run, and its own waker (`None`: polled whenever the region is).
///
/// Moved when `in_place` grows, which is sound: a `Run` is not pinned (its interpreter keeps
/// its bodies boxed), `start` grows the vector only under the members' lock, and a run is
/// polled only under that same lock, so never while it moves.
struct InPlace<A, E> {
    run: Placed<A, E>,
    own: Option<(Arc<MemberWake>, Waker)>,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // User code runs under the members' lock only inside an in-place member's frames, which
    // catch its panics; a poisoned lock is still consistent.
    mutex.lock().unwrap_or_else(|poison| poison.into_inner())
}

impl<A, E, const IN: usize> Default for Region<A, E, IN> {
    fn default() -> Self {
        Region::with_capacity(0)
    }
}

impl<A, E, const IN: usize> Region<A, E, IN> {
    /// A region with room for `members` members, all in place: a race knows its width.
    pub(crate) fn with_capacity(members: usize) -> Self {
        Region {
            members: Mutex::new(Members {
                slots: SmallVec::with_capacity(members),
                in_place: SmallVec::with_capacity(members),
                vacant: NO_SLOT,
                running: 0,
                closed_through: 0,
                always_polled: 0,
                ready: None,
                body: None,
                defects: None,
            }),
        }
    }
}

impl<A: Send + 'static, E: Send + 'static, const IN: usize> Region<A, E, IN> {
    /// The effect of `body` driving `region`: the interpreter owns the region for as long as
    /// the body runs, and closes it (interrupting and awaiting every member still running)
    /// whenever and however the body ends.
    pub(crate) fn effect<B, E2, F>(region: Arc<Self>, body: F) -> Effect<B, E2>
    where
        B: Send + 'static,
        E2: Send + 'static,
        F: Future<Output = Exit<B, E2>> + Send + 'static,
    {
        lock(&region.members).body = Some(FutureFrame::boxed(body));
        let owner: Arc<dyn Owner> = region;
        Effect::from_prim(Prim::Region(owner))
    }

    /// Starts `effect` as a member, with what it inherits from the fiber owning the region
    /// (`from`, taken when the region's body started its members) and that fiber's family;
    /// returns its index. `placement` is a wish: an in-place member that would nest
    /// too deep goes on a task. `own_waker`: give an in-place member a waker of its own, so
    /// that a wake-up polls only the members it woke. Without one, a member is polled
    /// whenever the region is, with the region's waker: cheaper for the few members of a
    /// small race (no waker to allocate, no queue to go through), and the work
    /// per wake-up stays proportional to those few. Wide regions must give every member its
    /// own.
    pub(crate) fn start(
        &self,
        effect: Effect<A, E>,
        placement: Placement,
        own_waker: bool,
        from: &Inherited,
        family: &Option<Arc<Family>>,
    ) -> usize {
        let placement = match placement {
            // I11: in-place members nest at most this deep on one native stack.
            Placement::InPlace if IN_PLACE_DEPTH.get() >= MAX_IN_PLACE_DEPTH => Placement::Task,
            placement => placement,
        };
        let mut members = lock(&self.members);
        let index = match placement {
            Placement::InPlace => members.next_in_place(),
            Placement::Task => members.slots.len(),
        };
        members.running += 1;
        match placement {
            Placement::InPlace if !own_waker => {
                let run = Placed::Here(Run::in_place(effect, || from.clone(), family.clone()));
                members.always_polled += 1;
                members.push_in_place(InPlace { run, own: None });
            }
            Placement::InPlace => {
                let run = Placed::Here(Run::in_place(effect, || from.clone(), family.clone()));
                let ready = members.ready_queue();
                // The waker of the slot's previous member, if it had one: it names the same
                // slot and queue.
                let own = members.vacant_waker().unwrap_or_else(|| {
                    let wake = Arc::new(MemberWake {
                        index,
                        queued: AtomicBool::new(true),
                        ready: ready.clone(),
                    });
                    let waker = Waker::from(wake.clone());
                    (wake, waker)
                });
                // Queued right below, for its first poll.
                own.0.queued.store(true, Ordering::Release);
                members.push_in_place(InPlace {
                    run,
                    own: Some(own),
                });
                drop(members);
                ready.push(index);
            }
            Placement::Task => {
                let ready = members.ready_queue();
                let fiber = spawn_fiber(effect, from.clone(), family.clone(), true);
                let core = fiber.core();
                members.slots.push(Slot::Task(core.clone()));
                drop(members);
                // After the slot exists: a member already done reports at once.
                core.notify_when_done(ready, index);
            }
        }
        index
    }

    /// Polls the members that have something to report, and returns the first one found
    /// finished with its exit; `None` when no member is running. A poll looks only at the
    /// members queued when it began: one that keeps waking itself cannot keep it polling.
    pub(crate) fn poll_next(&self, cx: &mut TaskContext<'_>) -> Poll<Option<(usize, Exit<A, E>)>> {
        let mut members = lock(&self.members);
        if members.running == 0 {
            return Poll::Ready(None);
        }
        if members.always_polled > 0 {
            for index in members.closed_through..members.slots.len() {
                if members.is_always_polled(index) {
                    if let Some(exit) = members.poll_member(index, cx) {
                        return Poll::Ready(Some((index, exit)));
                    }
                }
            }
        }
        let Some(ready) = members.ready.clone() else {
            return Poll::Pending;
        };
        // Registered before looking: a member queued meanwhile wakes this task.
        ready.parent.register(cx.waker());
        let mut batch = ready.take_all();
        while let Some(index) = batch.pop_front() {
            if let Some(exit) = members.poll_member(index, cx) {
                // The rest of the batch goes back first in line, for the next poll.
                ready.put_back(batch);
                return Poll::Ready(Some((index, exit)));
            }
        }
        if ready.len() > 0 {
            // Members woke again while polled: come back after other tasks had a turn.
            cx.waker().wake_by_ref();
        }
        Poll::Pending
    }

    /// The next member to finish, with its exit; `None` when no member is running.
    pub(crate) async fn next_finished(&self) -> Option<(usize, Exit<A, E>)> {
        poll_fn(|cx| self.poll_next(cx)).await
    }

    /// A member already finished, if one is, without waiting: polls the members queued,
    /// with the task's own waker (so the region's registration stays the task's).
    pub(crate) async fn try_next_finished(&self) -> Option<(usize, Exit<A, E>)> {
        poll_fn(|cx| match self.poll_next(cx) {
            Poll::Ready(finished) => Poll::Ready(finished),
            Poll::Pending => Poll::Ready(None),
        })
        .await
    }

    /// Interrupts every member still running and waits until all have finished; the defects
    /// of their exits (cleanup that failed as they were interrupted), which must not be lost.
    pub(crate) async fn interrupt_rest_keeping_defects(&self) -> Option<Cause<Never>> {
        let mut defects = None;
        self.interrupt_rest(|exit| keep_defects(&mut defects, exit))
            .await;
        defects
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

impl<A: Send + 'static, E: Send + 'static, const IN: usize> Members<A, E, IN> {
    /// Finishes member `index` for the close, if it is done: its exit is of no use any more,
    /// but its defects are kept.
    fn close_member(&mut self, index: usize, cx: &mut TaskContext<'_>) {
        if let Some(exit) = self.poll_member(index, cx) {
            keep_defects(&mut self.defects, exit);
        }
    }

    /// The slot index the next in-place member gets.
    fn next_in_place(&self) -> usize {
        match self.vacant {
            NO_SLOT => self.slots.len(),
            index => index as usize,
        }
    }

    /// Puts an in-place member at [`next_in_place`](Members::next_in_place). A reused slot
    /// may still be named in the ready queue, by a wake-up of its finished member that came
    /// late: the new member is then polled once for nothing, which is harmless.
    fn push_in_place(&mut self, member: InPlace<A, E>) {
        match self.vacant {
            NO_SLOT => {
                self.slots.push(Slot::InPlace(self.in_place.len()));
                self.in_place.push(member);
            }
            index => {
                let index = index as usize;
                let Slot::Vacant { at, next } = self.slots[index] else {
                    unreachable!("the vacant list holds vacant slots only")
                };
                self.vacant = next;
                self.in_place[at as usize] = member;
                self.slots[index] = Slot::InPlace(at as usize);
            }
        }
    }

    /// The waker left by the member whose slot [`next_in_place`](Members::next_in_place)
    /// gives, taken out for the next member. A late wake-up through it, from something the
    /// finished member waited on, polls the new member once for nothing, which is harmless.
    fn vacant_waker(&mut self) -> Option<(Arc<MemberWake>, Waker)> {
        match self.slots.get(self.vacant as usize) {
            Some(&Slot::Vacant { at, .. }) => self.in_place[at as usize].own.take(),
            _ => None,
        }
    }

    fn is_always_polled(&self, index: usize) -> bool {
        matches!(self.slots[index], Slot::InPlace(at) if self.in_place[at].own.is_none())
    }

    fn ready_queue(&mut self) -> Arc<ReadyQueue> {
        self.ready.get_or_insert_with(Arc::default).clone()
    }

    /// What the slot of a finished in-place member becomes: the head of the vacant list
    /// (past `u32::MAX` slots, never in practice, just `Finished`).
    fn vacate(&mut self, index: usize, at: usize) -> Slot {
        match (u32::try_from(index), u32::try_from(at)) {
            (Ok(slot), Ok(at)) if slot != NO_SLOT => {
                let next = std::mem::replace(&mut self.vacant, slot);
                Slot::Vacant { at, next }
            }
            _ => Slot::Finished,
        }
    }

    /// Polls member `index` if it is an in-place run, or takes a finished task's exit; the
    /// exit if the member finished now (then its slot is `Finished`, or `Vacant`).
    fn poll_member(&mut self, index: usize, cx: &mut TaskContext<'_>) -> Option<Exit<A, E>> {
        let exit = match &mut self.slots[index] {
            Slot::InPlace(at) => {
                let at = *at;
                self.poll_in_place_member(index, at, cx)?
            }
            Slot::Task(core) if core.is_done() => core.take_exit::<A, E>(),
            Slot::Task(_) | Slot::Fork(_) | Slot::Finished | Slot::Vacant { .. } => return None,
        };
        self.running -= 1;
        self.slots[index] = match self.slots[index] {
            Slot::InPlace(at) => {
                // Its room stays, and its waker, for the next member in this slot.
                if self.in_place[at].own.is_none() {
                    self.always_polled -= 1;
                }
                self.vacate(index, at)
            }
            _ => Slot::Finished,
        };
        Some(exit)
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
        for slot in &members.slots[members.closed_through..] {
            match slot {
                Slot::InPlace(at) => {
                    let member = &members.in_place[*at];
                    member.run.interrupt();
                    if let Some((wake, _)) = &member.own {
                        wake.queue_quietly();
                    }
                }
                Slot::Task(core) | Slot::Fork(core) => core.interrupt(),
                Slot::Finished | Slot::Vacant { .. } => {}
            }
        }
    }

    fn is_closed(&self) -> bool {
        let members = lock(&self.members);
        members.running == 0
            || members.slots[members.closed_through..]
                .iter()
                .all(|slot| match slot {
                    Slot::Task(core) | Slot::Fork(core) => core.is_done(),
                    Slot::InPlace(..) => false,
                    Slot::Finished | Slot::Vacant { .. } => true,
                })
    }

    fn take_body(&self) -> Option<FrameBox> {
        lock(&self.members).body.take()
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
            add_defects(&mut members.defects, defects);
        }
        // Then wait for the members in order, each looked at until it is done (a fork
        // reports to nobody, and a group member's report may still be on its way).
        while members.closed_through < members.slots.len() {
            let index = members.closed_through;
            match &members.slots[index] {
                Slot::Finished | Slot::Vacant { .. } => {}
                Slot::InPlace(..) => return Poll::Pending,
                Slot::Task(core) | Slot::Fork(core) => {
                    if core.poll_done(cx).is_pending() {
                        return Poll::Pending;
                    }
                    members.close_member(index, cx);
                    if let Slot::Fork(_) = members.slots[index] {
                        members.slots[index] = Slot::Finished;
                        members.running -= 1;
                    }
                }
            }
            members.closed_through += 1;
        }
        Poll::Ready(members.defects.take())
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
        for slot in &members.slots {
            match slot {
                Slot::Task(core) | Slot::Fork(core) => core.interrupt(),
                // Moved to a task: told to stop like one (one here is dropped with the region).
                Slot::InPlace(at) => {
                    if let moved @ Placed::Moved(_) = &members.in_place[*at].run {
                        moved.interrupt();
                    }
                }
                Slot::Finished | Slot::Vacant { .. } => {}
            }
        }
    }
}

#[cfg(test)]
mod tests;
