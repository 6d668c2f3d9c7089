//! [`LiveSleep`]: a sleep on tokio's timer that hands its timer on, cancelled, to the next
//! sleep started on the same thread.
//!
//! Why: tokio's time driver decides whether a new timer must wake the worker parked on it by
//! comparing the timer's deadline with the wake-up time it computed when it last parked, and
//! a wheel that was empty then has none, so *every* timer registered afterwards wakes that
//! worker (a write to its eventfd, a context switch) until it parks again with a timer in
//! the wheel. A fiber running one `timeout` or `race` against a timer after another empties
//! the wheel between each loser's cancellation and the next timer's registration; on a
//! multi-thread runtime the other worker samples the wheel in that window often enough that
//! nearly every timeout paid for a cross-thread wake-up (measured: one eventfd write per
//! `race` against a one-hour sleep, about half the cost of the race).
//!
//! So a cancelled timer with time left is not deregistered at once: it becomes this thread's
//! spare, still in the wheel, and the next live sleep started on the thread (on the same
//! tokio runtime) resets it to its own deadline, which moves the entry without the wheel
//! ever being empty, and saves an allocation. At most one spare per thread; a spare replaced,
//! or left when the thread ends, is dropped (deregistered) then.
//!
//! Invariants: a spare belongs to the runtime whose id it carries and is reset only on that
//! runtime; only timers at least [`SPARE_MIN_LEFT`] from their deadline become spares, so a
//! spare almost never fires, and when it does it only wakes the task that last polled it
//! (a spurious wake-up, which every future tolerates).

use std::cell::Cell;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context as TaskContext, Poll};
use std::time::Duration;

use tokio::runtime::{Handle, Id};
use tokio::time::{Instant, Sleep};

use crate::kernel::fiber::waiting::{self, Wait};

/// How much time a cancelled timer must have left to be kept as the thread's spare.
const SPARE_MIN_LEFT: Duration = Duration::from_millis(10);

/// What tokio uses for a deadline past the end of its clock (about 30 years).
const FAR_FUTURE: Duration = Duration::from_secs(86_400 * 365 * 30);

thread_local! {
    /// This thread's spare timer: cancelled, still registered, and the runtime it is on.
    static SPARE: Cell<Option<(Id, Pin<Box<Sleep>>)>> = const { Cell::new(None) };
}

/// A sleep until a deadline on tokio's timer: registered on its first poll (reusing the
/// thread's spare timer when there is one), given up as the spare when dropped early.
pub(crate) struct LiveSleep {
    deadline: Instant,
    /// The timer, once polled, and the runtime it is registered with.
    timer: Option<(Id, Pin<Box<Sleep>>)>,
}

impl LiveSleep {
    /// A sleep of `duration` from now (counted from now, not from the first poll, as tokio's
    /// own `sleep` does).
    pub(crate) fn new(duration: Duration) -> Self {
        let now = Instant::now();
        LiveSleep {
            deadline: now
                .checked_add(duration)
                .unwrap_or_else(|| now + FAR_FUTURE),
            timer: None,
        }
    }

    pub(crate) fn deadline(&self) -> Instant {
        self.deadline
    }

    /// The thread's spare, if it belongs to `runtime`, reset to this sleep's deadline; a
    /// fresh timer otherwise.
    fn register(&self) -> (Id, Pin<Box<Sleep>>) {
        // Outside a runtime there is no timer to sleep on: this panics with tokio's message,
        // as a bare `tokio::time::sleep` would.
        let runtime = Handle::current().id();
        let spare = SPARE.try_with(Cell::take).ok().flatten();
        match spare {
            Some((owner, mut timer)) if owner == runtime => {
                timer.as_mut().reset(self.deadline);
                (runtime, timer)
            }
            // A spare of another runtime is dropped (deregistered) here.
            _ => (runtime, Box::pin(tokio::time::sleep_until(self.deadline))),
        }
    }
}

impl Future for LiveSleep {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<()> {
        if self.timer.is_none() {
            self.timer = Some(self.register());
        }
        let polled = match &mut self.timer {
            Some((_, timer)) => timer.as_mut().poll(cx),
            None => unreachable!("registered above"),
        };
        if polled.is_pending() {
            waiting::on(Wait::LiveSleep(self.deadline));
        }
        polled
    }
}

impl Drop for LiveSleep {
    fn drop(&mut self) {
        let Some((runtime, timer)) = self.timer.take() else {
            return;
        };
        let has_time_left = !timer.is_elapsed()
            && self.deadline.saturating_duration_since(Instant::now()) >= SPARE_MIN_LEFT;
        if has_time_left {
            // The previous spare, if any, is dropped after this one took its place; on a
            // thread being torn down the timer is simply dropped.
            let _ = SPARE.try_with(|spare| spare.replace(Some((runtime, timer))));
        }
    }
}
