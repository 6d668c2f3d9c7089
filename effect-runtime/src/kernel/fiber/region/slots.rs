//! A region's slots: one per member, what the member is (an in-place run, a task, an adopted
//! fork) or that it finished, with the list of vacant slots for in-place members to take
//! over, the number of members still running, and how far from the start every member is
//! known to be finished.
//!
//! A slot's index names its member for the region's whole life: a group reads its members'
//! exits by index (its input's order), a ready queue and a member's waker carry it. So a slot
//! is never moved, only filled again: by a later in-place member once it is vacant, or by a
//! stream worker once it is finished; a task member's slot is never taken over by another
//! member behind the region's back. (The one exception is a forks region's sweep, which
//! nobody reads by index: see [`Slots::sweep_finished_forks`].)

use std::ops::Index;
use std::sync::Arc;

use smallvec::SmallVec;

use crate::kernel::fiber::core::FiberCore;

/// How many slots a region keeps in its own allocation before they move to the heap: the
/// forks of a fiber that forks once or twice, a race of two, allocate none.
const INLINE_SLOTS: usize = 2;

/// The end of the list of vacant slots.
const NO_SLOT: u32 = u32::MAX;

pub(super) enum Slot {
    /// A nested run: its room in the region's in-place runs (kept apart: a slot of a region
    /// of forks or tasks should not pay for a run's size).
    InPlace(usize),
    /// A fiber on its own task, whose exit (an `Exit<A, E>`) is in its core, and whose
    /// completion is queued for the region (a group member).
    Task(Arc<FiberCore>),
    /// A fiber forked by the region's fiber: its exit, of its own type, is for its handle;
    /// the region only finds it done when it closes.
    Fork(Arc<FiberCore>),
    /// Finished; its exit until the region's body takes it.
    Finished,
    /// A finished in-place member's: its room in the in-place runs (`at`) and the next vacant
    /// slot (`NO_SLOT`: none), for the next in-place member to take over.
    Vacant { at: u32, next: u32 },
}

pub(super) struct Slots {
    /// Inline up to [`INLINE_SLOTS`].
    list: SmallVec<[Slot; INLINE_SLOTS]>,
    /// The first slot of the list of [`Slot::Vacant`] ones (`NO_SLOT`: none), which the next
    /// in-place members take over. A region that keeps starting members as others finish (a
    /// stream's `map_par`, over millions of elements) stays as large as the most members it
    /// ran at once, not as all it ever ran; the list lives in the slots, so a race, which
    /// never reuses one, allocates nothing for it. Task members never reuse a vacant slot: a
    /// group's index is its member's position in the input.
    vacant: u32,
    /// Members not yet finished.
    running: usize,
    /// Every slot below this index is finished: closing waits for the members in order from
    /// here, so it looks at each member once, however many wake-ups it takes.
    settled: usize,
}

impl Index<usize> for Slots {
    type Output = Slot;

    fn index(&self, index: usize) -> &Slot {
        &self.list[index]
    }
}

impl Slots {
    pub(super) fn with_capacity(members: usize) -> Self {
        Slots {
            list: SmallVec::with_capacity(members),
            vacant: NO_SLOT,
            running: 0,
            settled: 0,
        }
    }

    #[cfg(test)]
    pub(super) fn len(&self) -> usize {
        self.list.len()
    }

    /// Members not yet finished.
    pub(super) fn running(&self) -> usize {
        self.running
    }

    /// The slots not known to be finished, from the first one that may not be.
    pub(super) fn unsettled(&self) -> std::ops::Range<usize> {
        self.settled..self.list.len()
    }

    pub(super) fn unsettled_slots(&self) -> &[Slot] {
        &self.list[self.settled..]
    }

    /// Every slot, settled or not.
    pub(super) fn iter(&self) -> std::slice::Iter<'_, Slot> {
        self.list.iter()
    }

    /// The first unsettled slot, once its member is finished: the close moves past it.
    pub(super) fn settle_next(&mut self) {
        self.settled += 1;
    }

    /// The slot the next in-place member takes, and the room in the in-place runs its vacant
    /// previous member left, if it takes over one.
    pub(super) fn next_in_place(&self) -> (usize, Option<usize>) {
        match self.vacant {
            NO_SLOT => (self.list.len(), None),
            index => match self.list[index as usize] {
                Slot::Vacant { at, .. } => (index as usize, Some(at as usize)),
                _ => unreachable!("the vacant list holds vacant slots only"),
            },
        }
    }

    /// Puts a new in-place member, whose run is at `at`, in the slot
    /// [`next_in_place`](Slots::next_in_place) gave (taking it off the vacant list).
    pub(super) fn start_in_place(&mut self, at: usize) -> usize {
        self.running += 1;
        match self.vacant {
            NO_SLOT => {
                self.list.push(Slot::InPlace(at));
                self.list.len() - 1
            }
            index => {
                let slot = index as usize;
                let Slot::Vacant { next, .. } = self.list[slot] else {
                    unreachable!("the vacant list holds vacant slots only")
                };
                self.vacant = next;
                self.list[slot] = Slot::InPlace(at);
                slot
            }
        }
    }

    /// Puts a member in a new slot at the end (a task member, an adopted fork).
    pub(super) fn push(&mut self, slot: Slot) -> usize {
        self.running += 1;
        self.list.push(slot);
        self.list.len() - 1
    }

    /// Puts a task member in the finished slot `index` (a stream's next worker).
    pub(super) fn restart(&mut self, index: usize, slot: Slot) {
        debug_assert!(
            matches!(self.list[index], Slot::Finished),
            "a member starts only in a finished slot"
        );
        self.running += 1;
        self.list[index] = slot;
    }

    /// The member in slot `index` finished: an in-place one's slot becomes the head of the
    /// vacant list (its room `at` stays for the next one; past `u32::MAX` slots, never in
    /// practice, it is just `Finished`), any other's is `Finished`.
    pub(super) fn finish(&mut self, index: usize) {
        self.running -= 1;
        self.list[index] = match self.list[index] {
            Slot::InPlace(at) => match (u32::try_from(index), u32::try_from(at)) {
                (Ok(slot), Ok(at)) if slot != NO_SLOT => {
                    let next = std::mem::replace(&mut self.vacant, slot);
                    Slot::Vacant { at, next }
                }
                _ => Slot::Finished,
            },
            _ => Slot::Finished,
        };
    }

    /// Forgets the finished forks of a forks region (whose slots nobody reads by index) when
    /// its slots are full, keeping the live ones in order; if most are still alive, makes
    /// room for as many again, so that the next sweep (which looks at every slot) comes only
    /// after as many more adoptions: O(1) per fork however many are alive.
    pub(super) fn sweep_finished_forks(&mut self) -> bool {
        if self.list.len() < 32 || self.list.len() != self.list.capacity() {
            return false;
        }
        self.list.retain(|slot| match slot {
            Slot::Task(core) | Slot::Fork(core) => !core.is_done(),
            Slot::InPlace(..) => true,
            Slot::Finished => false,
            // A region of forks has no in-place members.
            Slot::Vacant { .. } => true,
        });
        self.running = self.list.len();
        self.settled = 0;
        let live = self.list.len();
        if live > self.list.capacity() / 2 {
            self.list.reserve(live);
        }
        true
    }

    /// Whether the slots moved out of the region's own allocation.
    #[cfg(test)]
    pub(super) fn spilled(&self) -> bool {
        self.list.spilled()
    }
}
