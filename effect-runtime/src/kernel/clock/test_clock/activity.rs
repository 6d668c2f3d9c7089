//! The activity of the fibers on a [`TestClock`](super::TestClock), which tells `advance`
//! when the fibers it woke "have run until they block again".
//!
//! Every fiber whose context holds a test clock reports its activity to the clock's
//! [`Activity`]. Its interpreter polls its bodies with a waker (its [`Tracker`]'s) that marks
//! the fiber *queued* when woken, and marks it *running* for the duration of each poll. The
//! clock is idle when no such fiber is queued or running (other than the one calling
//! `advance`, if it is one). `advance` waits for idleness before it moves time, and after
//! each sleeper it wakes.
//!
//! While an advance runs, the fiber whose stop leaves the clock idle fires the next due
//! sleeper itself ([`Activity::fire_next`]), under the clock's lock.

use std::cell::Cell;
use std::sync::atomic::{AtomicU8, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Poll, Wake, Waker};

use futures::task::AtomicWaker;

use super::state::State;

/// What [`Activity::fire_next`] did.
pub(super) enum Fire {
    /// Woke the next due sleeper.
    Fired,
    /// Did nothing: a fiber is queued or running (its stop will look again).
    Busy,
    /// Did nothing: no sleeper is due by the running advance's target, and time is now at
    /// that target (or no advance is running).
    NothingDue,
}

/// The activity of the fibers on one test clock: how many are queued to run and how many
/// are running right now.
#[derive(Default)]
pub(crate) struct Activity {
    queued: AtomicUsize,
    running: AtomicUsize,
    /// The advance at the front of the line, waiting for the fibers to block, woken whenever
    /// one stops running. Only that advance waits here (the others wait in the line), so one
    /// waker slot is enough.
    idle: AtomicWaker,
    /// The clock's state: time, sleepers, advances (here, so a stopping fiber can fire the
    /// next due sleeper).
    pub(super) state: Mutex<State>,
}

thread_local! {
    /// The activity of the tracked fiber being polled on this thread (address, nesting).
    static POLLING: Cell<(usize, usize)> = const { Cell::new((0, 0)) };
}

impl Activity {
    fn address(self: &Arc<Self>) -> usize {
        Arc::as_ptr(self) as usize
    }

    /// Whether a poll reported to this clock is under way on this thread (a tracked fiber's,
    /// which a child polled in place is part of).
    pub(crate) fn is_being_polled(self: &Arc<Self>) -> bool {
        let (address, depth) = POLLING.get();
        address == self.address() && depth > 0
    }

    /// Whether nothing but `own` polls (the caller's own fiber) is queued or running.
    pub(super) fn is_idle(&self, own: usize) -> bool {
        self.queued.load(Ordering::SeqCst) == 0 && self.running.load(Ordering::SeqCst) <= own
    }

    /// How many tracked polls of this clock's fibers enclose the caller on this thread (the
    /// caller's own fiber, when `advance` is called from an effect on this clock).
    pub(super) fn own_polls(self: &Arc<Self>) -> usize {
        let (address, depth) = POLLING.with(Cell::get);
        if address == self.address() {
            depth
        } else {
            0
        }
    }

    /// Fires the next sleeper due by the running advance's target if nothing but `own` polls
    /// is queued or running. Idleness is checked under the clock's lock, and the fired sleeper
    /// is counted as queued from then until its waker has run, so two parties finding the
    /// clock idle at once (the advance, a fiber stopping) cannot both fire: sleepers fire one
    /// at a time, each after the fibers woken before it have blocked. When none is due, time
    /// moves to the target under the same lock, so no sleep registered in between is passed
    /// over.
    pub(super) fn fire_next(&self, own: usize) -> Fire {
        let waker = {
            let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
            if !self.is_idle(own) {
                return Fire::Busy;
            }
            let Some(target) = state.advance_to else {
                return Fire::NothingDue;
            };
            let first = state.sleepers.first_key();
            if first.is_none_or(|(deadline, _)| deadline > target) {
                state.now = state.now.max(target);
                return Fire::NothingDue;
            }
            let Some(((deadline, seq), waker)) = state.sleepers.pop_first() else {
                return Fire::NothingDue;
            };
            state.now = state.now.max(deadline);
            state.fired_through = Some((deadline, seq));
            self.queued.fetch_add(1, Ordering::SeqCst);
            waker
        };
        // Outside the lock: a waker may run arbitrary code. A tracked fiber counts itself as
        // queued before this returns; then the placeholder count goes.
        waker.wake();
        self.queued.fetch_sub(1, Ordering::SeqCst);
        Fire::Fired
    }

    /// A tracked fiber stopped running and none is queued. While an advance runs, the next
    /// due sleeper fires right here: the advance would do the same once woken, and this saves
    /// it a round trip per sleeper. When nothing is due, the advance is told to look.
    fn settle(&self) {
        loop {
            match self.fire_next(0) {
                // A sleeper woken outside any tracked fiber leaves the clock idle: go on.
                Fire::Fired if self.is_idle(0) => continue,
                Fire::Fired | Fire::Busy => return,
                Fire::NothingDue => {
                    self.idle.wake();
                    return;
                }
            }
        }
    }

    pub(super) async fn until_idle(self: &Arc<Self>) {
        std::future::poll_fn(|cx| {
            let own = self.own_polls();
            // Registered before the check: a fiber stopping in between still wakes us.
            self.idle.register(cx.waker());
            if self.is_idle(own) {
                Poll::Ready(())
            } else {
                Poll::Pending
            }
        })
        .await
    }
}

/// The waker a tracked fiber polls its bodies with, and the bookkeeping around each poll.
/// One pointer: a fiber's size counts, and the waker is made from it on each poll.
pub(crate) struct Tracker {
    wake: Arc<TrackedWake>,
}

struct TrackedWake {
    activity: Arc<Activity>,
    /// `IDLE`, `QUEUED` (counted in `activity.queued`) or `DEAD` (the fiber ended: late
    /// wakes are not counted). Transitions are single atomic steps, so each `QUEUED` is
    /// counted exactly once and uncounted exactly once.
    state: AtomicU8,
    task: AtomicWaker,
}

const IDLE: u8 = 0;
const QUEUED: u8 = 1;
const DEAD: u8 = 2;

impl Wake for TrackedWake {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        if self
            .state
            .compare_exchange(IDLE, QUEUED, Ordering::SeqCst, Ordering::SeqCst)
            .is_ok()
        {
            self.activity.queued.fetch_add(1, Ordering::SeqCst);
        }
        self.task.wake();
    }
}

impl Tracker {
    /// A tracker for a new fiber, counted as queued until its first poll.
    pub(crate) fn new(activity: Arc<Activity>) -> Tracker {
        activity.queued.fetch_add(1, Ordering::SeqCst);
        let wake = Arc::new(TrackedWake {
            activity,
            state: AtomicU8::new(QUEUED),
            task: AtomicWaker::new(),
        });
        Tracker { wake }
    }

    /// Starts a poll of the fiber; returns the waker to poll its bodies with.
    pub(crate) fn enter(&self, task: &Waker) -> Waker {
        self.wake.task.register(task);
        let activity = &self.wake.activity;
        activity.running.fetch_add(1, Ordering::SeqCst);
        if self
            .wake
            .state
            .compare_exchange(QUEUED, IDLE, Ordering::SeqCst, Ordering::SeqCst)
            .is_ok()
        {
            activity.queued.fetch_sub(1, Ordering::SeqCst);
        }
        let address = activity.address();
        POLLING.with(|p| {
            let (current, depth) = p.get();
            p.set(if current == address {
                (address, depth + 1)
            } else {
                (address, 1)
            });
        });
        Waker::from(self.wake.clone())
    }

    /// Ends a poll started by [`enter`](Tracker::enter) (`previous` is what
    /// [`polling`](Tracker::polling) returned before it).
    pub(crate) fn exit(&self, previous: (usize, usize)) {
        POLLING.with(|p| p.set(previous));
        let activity = &self.wake.activity;
        activity.running.fetch_sub(1, Ordering::SeqCst);
        if activity.queued.load(Ordering::SeqCst) == 0 {
            activity.settle();
        }
    }

    pub(crate) fn polling() -> (usize, usize) {
        POLLING.with(Cell::get)
    }
}

impl Drop for Tracker {
    fn drop(&mut self) {
        // A fiber that ends while counted as queued must not keep the clock busy forever.
        if self.wake.state.swap(DEAD, Ordering::SeqCst) == QUEUED {
            self.wake.activity.queued.fetch_sub(1, Ordering::SeqCst);
            self.wake.activity.settle();
        }
    }
}
