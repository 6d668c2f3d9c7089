//! The state of a [`TestClock`](super::TestClock), under one lock: virtual time, the sleeps
//! waiting for it, and the advances lined up to move it.

use std::collections::VecDeque;
use std::task::Waker;
use std::time::Duration;

use super::sleepers::{SleepKey, Sleepers};

/// The state of a test clock, kept in its [`Activity`](super::Activity) so that a fiber that
/// stops running can fire the next due sleeper.
#[derive(Default)]
pub(super) struct State {
    pub(super) now: Duration,
    pub(super) next_seq: u64,
    /// The registered sleeps not yet fired, with the waker of each (kept here, not in an
    /// allocation of its own per sleep). A sleep dropped early removes itself.
    pub(super) sleepers: Sleepers,
    /// The last sleep fired. Sleeps fire in key order and every new sleep's key is greater
    /// than any fired one (its deadline is at least `now`, its sequence number later), so a
    /// sleep has fired exactly when its key is at most this.
    pub(super) fired_through: Option<SleepKey>,
    /// How many advances were called; the watchdog's sign of life, and each advance's id.
    pub(super) advances: u64,
    pub(super) watchdog: bool,
    /// The advances (and `set_time`s) called and not yet returned, by id, in the order they
    /// were first polled, each with the waker of its task while it waits: the front one moves
    /// time, the others wait their turn.
    pub(super) line: VecDeque<(u64, Option<Waker>)>,
    /// Where the advance at the front of the line takes time, once it has started: while it
    /// runs, the fiber whose stop leaves the clock idle fires the next due sleeper itself.
    pub(super) advance_to: Option<Duration>,
}

impl State {
    pub(super) fn has_fired(&self, key: SleepKey) -> bool {
        self.fired_through.is_some_and(|fired| key <= fired)
    }

    /// Where the advance `id` stands in the line (ids are handed out in line order).
    pub(super) fn line_position(&self, id: u64) -> usize {
        self.line
            .binary_search_by_key(&id, |(id, _)| *id)
            .expect("an advance in the line")
    }
}
