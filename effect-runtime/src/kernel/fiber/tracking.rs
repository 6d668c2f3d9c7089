//! How a fiber reports to the test clock of its context, so that `TestClock::advance` moves
//! time only once every fiber on the clock is blocked: all of it in one place, outside the
//! interpreter's loop.
//!
//! - A fiber started with a test clock in its context gets a [`Tracker`] (its driver's
//!   [`Tracking`]): the whole of each of its polls counts as running, and every waker it
//!   registers reports the wake-up. An in-place member polled inside a tracked parent's poll
//!   needs none: its polls are its parent's, its wake-ups lead to its parent's task.
//! - A fiber that provides a test clock itself (`provide(TestClockLayer(..))`) is tracked
//!   from there on: its interpreter returns to the scheduler once ([`provided_clock`],
//!   [`announce`]) and its driver picks the clock up as the poll returns.
//! - An in-place member moving to a task of its own gets a tracker of its own
//!   ([`Tracking::on_its_own`]).

use std::cell::Cell;
use std::future::{poll_fn, Future};
use std::sync::Arc;
use std::task::{Context as TaskContext, Poll};

use crate::kernel::clock::{Activity, Clock, Tracker};
use crate::kernel::context::Context;

thread_local! {
    /// The test clock a fiber polled on this thread just began to run with, for its driver to
    /// pick up when the poll returns (see [`announce`]).
    static NEW_TEST_CLOCK: Cell<Option<Arc<Activity>>> = const { Cell::new(None) };
}

/// The test clock in `ctx`, if there is one.
fn test_clock(ctx: &Context) -> Option<&crate::TestClock> {
    ctx.try_get::<Clock>().and_then(Clock::as_test)
}

/// A fiber's reporting to its test clock: a tracker, or none (one pointer: most fibers run
/// on no test clock, and every fiber's size counts).
#[derive(Default)]
pub(crate) struct Tracking {
    tracker: Option<Tracker>,
}

impl Tracking {
    /// The reporting of a fiber starting with `ctx`, and whether it is tracked at all (with a
    /// tracker of its own, or as part of its parent's polls: `in_place`, polled inside them).
    pub(crate) fn start(ctx: &Context, in_place: bool) -> (Tracking, bool) {
        match test_clock(ctx) {
            None => (Tracking::default(), false),
            Some(clock) if in_place && clock.activity().is_being_polled() => {
                (Tracking::default(), true)
            }
            Some(clock) => {
                let tracker = Some(Tracker::new(clock.activity().clone()));
                (Tracking { tracker }, true)
            }
        }
    }

    /// Polls the fiber with `poll`, inside the clock's accounting when it has a tracker (the
    /// whole poll counts as running, `poll`'s completion of the fiber included, so the clock
    /// never sees it idle between its end and the wake-ups its end causes).
    pub(crate) fn poll<R>(
        &mut self,
        cx: &mut TaskContext<'_>,
        mut poll: impl FnMut(&mut TaskContext<'_>) -> Poll<R>,
    ) -> Poll<R> {
        let Some(tracker) = &self.tracker else {
            return poll(cx);
        };
        let previous = Tracker::polling();
        let waker = tracker.enter(cx.waker());
        // Outside tokio's cooperative budget: a tokio primitive out of budget (a semaphore, a
        // channel) returns `Pending` and *defers* its wake-up to the worker's next park, and
        // in between the test clock would see this fiber blocked and move time under it. The
        // interpreter's own budget still yields, with a wake-up the clock counts at once.
        let mut unconstrained = std::pin::pin!(tokio::task::unconstrained(poll_fn(poll)));
        let polled = unconstrained
            .as_mut()
            .poll(&mut TaskContext::from_waker(&waker));
        tracker.exit(previous);
        polled
    }

    /// Begins reporting on its own, for a tracked fiber whose polls counted as its parent's
    /// (an in-place member about to move to a task of its own): counted as queued until its
    /// next poll. `ctx`: the context the fiber runs with now.
    pub(crate) fn on_its_own(&mut self, ctx: &Context, tracked: bool) {
        if self.tracker.is_some() || !tracked {
            return;
        }
        if let Some(clock) = test_clock(ctx) {
            self.tracker = Some(Tracker::new(clock.activity().clone()));
        }
    }

    /// After a poll that left the fiber waiting: a fiber `tracked` now without a tracker
    /// began to run with a test clock during the poll (see [`announce`]), and reports to it
    /// from now on, counted as queued until its next poll, which it has asked for.
    pub(crate) fn after_poll(&mut self, tracked: bool) {
        if self.tracker.is_none() && tracked {
            self.begin_with_announced();
        }
    }

    #[cold]
    fn begin_with_announced(&mut self) {
        if let Some(activity) = NEW_TEST_CLOCK.take() {
            self.tracker = Some(Tracker::new(activity));
        }
    }
}

/// For an untracked fiber whose context has just changed to `ctx` (a `provide`): the test
/// clock it must report to from now on, if `ctx` has one. The interpreter then returns to the
/// scheduler once, with [`announce`], before the provided effect starts, so that the clock's
/// `advance` waits for it like for any other fiber on the clock.
pub(crate) fn provided_clock(ctx: &Context, tracked: bool) -> Option<Arc<Activity>> {
    match tracked {
        true => None,
        false => test_clock(ctx).map(|clock| clock.activity().clone()),
    }
}

/// Hands the clock a fiber now runs with to its driver, which picks it up as the poll
/// returns (see [`Tracking::poll`]).
pub(crate) fn announce(activity: Arc<Activity>) {
    NEW_TEST_CLOCK.set(Some(activity));
}
