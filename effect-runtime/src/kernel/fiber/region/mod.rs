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
//!   it moves to a task of its own ([`Placed::move_to_task`](placed::Placed::move_to_task)), so busy members run side by
//!   side; it stays the region's member all the same.
//! - [`Placement::Task`]: the member is a fiber on a tokio task of its own (forks, groups:
//!   work that should run in parallel on a multi-thread runtime). Its completion is queued
//!   for the region in the order it happens.
//!
//! A region is three parts under one lock, each a type of its own with its own rules:
//! - [`Slots`]: which member is in which slot, the vacant slots in-place members
//!   take over, how many members run, how far every member is known finished;
//! - [`InPlaceRuns`], the in-place executor: the runs of in-place
//!   members, their wakers, polling them, moving a busy one to a task ([`placed`]);
//! - [`Closing`] and the [`Owner`] impl, the close protocol: interrupt every
//!   member, await each, keep their defects.
//!
//! A fiber's own forks are a type of their own ([`Forks`], the one region that adopts fibers
//! started elsewhere), and a stream's workers are a region with no body ([`workers`]).
//!
//! In-place members nest on the native stack (a member's poll polls its own regions'
//! members). So an in-place region opened deeper than [`MAX_IN_PLACE_DEPTH`] nested members
//! places its members on tasks instead: a program nesting a hundred thousand races runs
//! on a fresh native stack every few dozen levels.

use std::cell::Cell;
use std::future::{poll_fn, Future};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context as TaskContext, Poll};

mod close;
mod forks;
pub(crate) use forks::Forks;
mod in_place;
mod placed;
mod slots;
mod wake;
mod workers;

use close::Closing;
use in_place::InPlaceRuns;
use slots::{Slot, Slots};
use wake::Ready;

use super::core::{Family, FiberKind};
use super::frame::FutureFrame;
use super::handle::spawn_fiber;
use super::locals::Inherited;
use super::prim::{Owner, Prim};
use super::run::Run;
use crate::kernel::cause::Exit;
use crate::kernel::effect::Effect;
use crate::kernel::fiber::waiting::{self, Wait};

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

/// A region's three parts, under one lock: which member is in which slot, the in-place
/// members' runs, what the close keeps; and the queue members report on.
struct Members<A, E, const IN: usize> {
    slots: Slots,
    runs: InPlaceRuns<A, E, IN>,
    ready: Ready,
    closing: Closing,
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
                slots: Slots::with_capacity(members),
                runs: InPlaceRuns::with_capacity(members),
                ready: Ready::default(),
                closing: Closing::default(),
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
        lock(&region.members).closing.body = Some(FutureFrame::boxed(body));
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
        if placement == Placement::Task {
            return self.start_on_task(effect, None, from, family);
        }
        let run = Run::in_place(effect, || from.clone(), family.clone());
        let mut guard = lock(&self.members);
        let members = &mut *guard;
        let (index, vacated) = members.slots.next_in_place();
        let ready = own_waker.then(|| members.ready.queue());
        let at = members.runs.start(index, vacated, run, ready.as_ref());
        let started = members.slots.start_in_place(at);
        debug_assert_eq!(started, index, "a member takes the slot it was given");
        drop(guard);
        // Queued for its first poll.
        if let Some(ready) = ready {
            ready.push(index);
        }
        index
    }

    /// Starts `effect` as a task member, in the finished slot `free` if one is given (a
    /// stream's next worker), else in a new slot; returns its index.
    fn start_on_task(
        &self,
        effect: Effect<A, E>,
        free: Option<usize>,
        from: &Inherited,
        family: &Option<Arc<Family>>,
    ) -> usize {
        let mut members = lock(&self.members);
        let ready = members.ready.queue();
        let fiber = spawn_fiber(
            effect,
            from.clone(),
            family.clone(),
            true,
            FiberKind::Member,
            None,
        );
        let core = fiber.core();
        let index = match free {
            Some(index) => {
                members.slots.restart(index, Slot::Task(core.clone()));
                index
            }
            None => members.slots.push(Slot::Task(core.clone())),
        };
        drop(members);
        // After the slot is filled: a member already done reports at once.
        core.notify_when_done(ready, index);
        index
    }

    /// Polls the members that have something to report, and returns the first one found
    /// finished with its exit; `None` when no member is running. A poll looks only at the
    /// members queued when it began: one that keeps waking itself cannot keep it polling.
    pub(crate) fn poll_next(&self, cx: &mut TaskContext<'_>) -> Poll<Option<(usize, Exit<A, E>)>> {
        let mut members = lock(&self.members);
        if members.slots.running() == 0 {
            return Poll::Ready(None);
        }
        if members.runs.any_always_polled() {
            for index in members.slots.unsettled() {
                let always_polled = match members.slots[index] {
                    Slot::InPlace(at) => members.runs.is_always_polled(at),
                    _ => false,
                };
                if always_polled {
                    if let Some(exit) = members.poll_member(index, cx) {
                        return Poll::Ready(Some((index, exit)));
                    }
                }
            }
        }
        let Some(ready) = members.ready.get().cloned() else {
            waiting::on(Wait::Members(members.slots.running()));
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
        waiting::on(Wait::Members(members.slots.running()));
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
}

impl<A: Send + 'static, E: Send + 'static, const IN: usize> Members<A, E, IN> {
    /// Polls member `index` if it is an in-place run, or takes a finished task's exit; the
    /// exit if the member finished now (then its slot is `Finished`, or `Vacant`).
    fn poll_member(&mut self, index: usize, cx: &mut TaskContext<'_>) -> Option<Exit<A, E>> {
        let exit = match &self.slots[index] {
            Slot::InPlace(at) => self.runs.poll(index, *at, cx, &mut self.ready)?,
            Slot::Task(core) if core.is_done() => core.take_exit::<A, E>(),
            Slot::Task(_) | Slot::Fork(_) | Slot::Finished | Slot::Vacant { .. } => return None,
        };
        self.slots.finish(index);
        Some(exit)
    }
}

#[cfg(test)]
mod tests;
