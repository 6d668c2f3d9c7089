//! [`TestClock`]: virtual time that moves only when a test advances it.
//!
//! Here: the clock's face (`advance`, `set_time`, `sleep`, the line of advances, the
//! watchdog) and [`TestSleep`]. Its state, under one lock, is in `state.rs`; the sleeps
//! waiting, in `sleepers.rs`; how `advance` knows the fibers on the clock are idle (have all
//! blocked), in `activity.rs`.
//!
//! Advances that overlap (joined futures, several tasks, fibers on the clock calling
//! `advance` while a test does) line up: one moves time at a time, in the order they were
//! first polled, and each computes its target when its turn comes, from where the one before
//! left time. So their amounts add up, every sleeper they pass fires once in deadline order,
//! and only the advance at the front of the line ever waits for idleness. An advance waiting
//! in line is a blocked future like any other: a fiber waiting there counts as blocked, so it
//! never holds up the advance in front of it.

mod activity;
mod sleepers;
mod state;

use std::fmt;
use std::future::{poll_fn, Future};
use std::pin::Pin;
use std::sync::{Arc, MutexGuard};
use std::task::{Context as TaskContext, Poll, Waker};
use std::time::{Duration, Instant};

use activity::Fire;
pub(crate) use activity::{Activity, Tracker};
use sleepers::SleepKey;
use state::State;

use crate::kernel::fiber::waiting::{self, Wait};

/// How long, in real time, sleepers may wait on a clock nobody advances before the clock
/// prints a diagnostic.
const STALL_WARNING_AFTER: Duration = Duration::from_secs(2);

/// Virtual time for tests: sleeps on it finish only when the test moves time forward with
/// [`advance`](TestClock::advance), instantly and in deadline order.
///
/// Put it in the context as the [`Clock`](crate::Clock) (`Context::new().with(Clock::from(tc))`);
/// every effect run with that context, and every fiber they fork, then sleeps on virtual time.
/// Clones share the same time. Advances that overlap take turns and add up: see
/// [`advance`](TestClock::advance).
///
/// ```
/// use effect::{ms, sleep, Clock, Context, Runtime, TestClock};
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// let clock = TestClock::new();
/// let runtime = Runtime::new(Context::new().with(Clock::from(clock.clone())));
/// let fiber = runtime.fork(sleep::<()>(ms(1500)));
/// clock.advance(ms(1000)).await;
/// assert!(!fiber.is_done());
/// clock.advance(ms(500)).await; // runs the sleeper, and the fiber until it finishes
/// assert!(fiber.is_done());
/// # }
/// ```
#[derive(Clone, Default)]
pub struct TestClock {
    inner: Arc<Inner>,
}

struct Inner {
    /// The clock's state lives in its activity, which the fibers' trackers share.
    activity: Arc<Activity>,
    /// The real instant virtual time zero stands for, so the clock can hand out monotonic
    /// `Instant`s that move with virtual time only.
    origin: Instant,
    /// What the stall warning adds (an `#[effect::test]`'s fiber dump: what every fiber
    /// waits on).
    stall_report: std::sync::OnceLock<StallReport>,
}

type StallReport = Box<dyn Fn() -> String + Send + Sync>;

impl Default for Inner {
    fn default() -> Self {
        Inner {
            activity: Arc::default(),
            origin: Instant::now(),
            stall_report: std::sync::OnceLock::new(),
        }
    }
}

impl fmt::Debug for TestClock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = self.state();
        f.debug_struct("TestClock")
            .field("now", &state.now)
            .field("sleepers", &state.sleepers.len())
            .finish()
    }
}

impl TestClock {
    /// A test clock at virtual time zero.
    ///
    /// ```
    /// use effect::{secs, TestClock};
    ///
    /// let clock = TestClock::new();
    /// assert_eq!((clock.current_time(), clock.pending_sleepers()), (secs(0), 0));
    /// ```
    pub fn new() -> Self {
        TestClock::default()
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.inner
            .activity
            .state
            .lock()
            .unwrap_or_else(|p| p.into_inner())
    }

    pub(crate) fn activity(&self) -> &Arc<Activity> {
        &self.inner.activity
    }

    /// The current virtual time, since virtual time zero.
    ///
    /// ```
    /// use effect::{secs, TestClock};
    ///
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let clock = TestClock::new();
    /// assert_eq!(clock.current_time(), secs(0));
    /// clock.advance(secs(90)).await;
    /// assert_eq!(clock.current_time(), secs(90));
    /// # }
    /// ```
    pub fn current_time(&self) -> Duration {
        self.state().now
    }

    /// A monotonic instant that moves with virtual time only: the instant the clock was
    /// created, plus the virtual time. Two readings subtract to exactly the virtual time
    /// advanced between them.
    ///
    /// ```
    /// use effect::{ms, TestClock};
    ///
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let clock = TestClock::new();
    /// let start = clock.instant();
    /// clock.advance(ms(250)).await;
    /// assert_eq!(clock.instant() - start, ms(250));
    /// # }
    /// ```
    pub fn instant(&self) -> Instant {
        self.inner.origin + self.current_time()
    }

    /// How many sleeps are waiting for virtual time to reach their deadline.
    ///
    /// ```
    /// use effect::prelude::*;
    /// use effect::{Clock, Context, Runtime};
    ///
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let clock = TestClock::new();
    /// let runtime = Runtime::new(Context::new().with(Clock::from(clock.clone())));
    /// let sleeper = runtime.fork(sleep::<()>(secs(5)));
    /// clock.advance(secs(1)).await; // the fork has reached its sleep, which is not due yet
    /// assert_eq!(clock.pending_sleepers(), 1);
    /// clock.advance(secs(4)).await;
    /// assert_eq!(clock.pending_sleepers(), 0);
    /// runtime.run(sleeper.join()).await.unwrap();
    /// # }
    /// ```
    pub fn pending_sleepers(&self) -> usize {
        self.state().sleepers.len()
    }

    /// A future that resolves once virtual time has moved `duration` past now.
    ///
    /// # Cancel safety
    /// Dropping the future before it resolves removes the sleeper.
    ///
    /// ```
    /// use effect::{secs, TestClock};
    ///
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let clock = TestClock::new();
    /// let alarm = tokio::spawn(clock.sleep(secs(60)));
    /// clock.advance(secs(60)).await;
    /// alarm.await.unwrap();
    /// assert_eq!(clock.current_time(), secs(60));
    /// # }
    /// ```
    pub fn sleep(&self, duration: Duration) -> TestSleep {
        TestSleep {
            clock: self.clone(),
            duration,
            key: None,
        }
    }

    /// Moves virtual time forward by `duration`.
    ///
    /// First waits until every fiber on this clock has blocked (so a fiber forked just before
    /// has reached its `sleep`); then wakes each sleeper due on or before the new time, in
    /// deadline order, letting the fibers it wakes run until they block again before waking
    /// the next; returns once time is at the target and all of them have blocked.
    ///
    /// # Concurrent advances
    ///
    /// Advances that overlap (and [`set_time`](TestClock::set_time)s) take turns, in the
    /// order they were first polled: each waits until the ones before it have returned, then
    /// moves time by its own amount from where they left it. So
    /// `tokio::join!(clock.advance(secs(1)), clock.advance(secs(1)))` ends at 2 s, having
    /// fired every sleeper due by then once, in deadline order. An advance called from a
    /// fiber on this clock while another advance runs counts as blocked while it waits: the
    /// running one finishes, then the fiber's goes on from there.
    ///
    /// # Cancel safety
    ///
    /// Dropping the future before it returns gives up its turn: time stays where it got to,
    /// and the next advance in line goes on from there.
    ///
    /// ```
    /// use effect::prelude::*;
    /// use effect::{Clock, Context, Runtime};
    ///
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let clock = TestClock::new();
    /// let runtime = Runtime::new(Context::new().with(Clock::from(clock.clone())));
    /// let timed = runtime.fork(sleep::<&str>(secs(10)).as_value("late").timeout(secs(3)));
    /// clock.advance(secs(3)).await; // no real sleep needed for the fork to start
    /// assert_eq!(runtime.run(timed.join()).await, Ok(None));
    /// # }
    /// ```
    pub async fn advance(&self, duration: Duration) {
        self.take_turn(|now| now.saturating_add(duration)).await;
    }

    /// Moves virtual time to `time`, waking sleepers as [`advance`](TestClock::advance)
    /// does. Time never moves backwards: if it is already past `time`, this does nothing
    /// (but still waits for the fibers on this clock to block).
    ///
    /// Among concurrent advances it takes its turn as an advance does, and `time` is
    /// compared with the time the ones before it left: `set_time(secs(3))` joined between
    /// two `advance(secs(1))` ends at 4 s; joined after an `advance(secs(5))`, at 5 s.
    ///
    /// ```
    /// use effect::{secs, TestClock};
    ///
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let clock = TestClock::new();
    /// clock.set_time(secs(100)).await;
    /// clock.set_time(secs(50)).await; // never backwards
    /// assert_eq!(clock.current_time(), secs(100));
    /// # }
    /// ```
    pub async fn set_time(&self, time: Duration) {
        self.take_turn(|now| now.max(time)).await;
    }

    /// Waits for this advance's turn, then moves time to `target(now)`: runs the sleepers due
    /// by then, one at a time, each once the fibers woken before it have blocked.
    async fn take_turn(&self, target: impl FnOnce(Duration) -> Duration) {
        let turn = self.line_up();
        // In line (in the order advances are first polled), let every task that is ready run
        // once (on a current-thread runtime, exactly those): a fiber forked just before, not
        // yet polled, is not yet known to the clock when it was started without it and
        // provides it itself; once it has run its first steps it is tracked, and the wait for
        // idleness below waits for it.
        tokio::task::yield_now().await;
        turn.reach_front().await;
        {
            let mut state = self.state();
            // Only the advance at the front moves time: `now` is where the ones before left it.
            state.advance_to = Some(target(state.now));
        }
        let activity = &self.inner.activity;
        loop {
            activity.until_idle().await;
            match activity.fire_next(activity.own_polls()) {
                Fire::Fired | Fire::Busy => continue,
                // Idle, with time at the target: the contract holds, the turn ends here.
                Fire::NothingDue => break,
            }
        }
        drop(turn);
    }

    /// Puts a new advance at the back of the line.
    fn line_up(&self) -> Turn<'_> {
        let mut state = self.state();
        let id = state.advances;
        state.advances += 1;
        state.line.push_back((id, None));
        Turn { clock: self, id }
    }

    /// Registers a sleep of `duration` from now, to wake `waker`; its key.
    fn register(&self, duration: Duration, waker: &Waker) -> SleepKey {
        let (key, start_watchdog) = {
            let mut state = self.state();
            let key = (state.now + duration, state.next_seq);
            state.next_seq += 1;
            state.sleepers.insert(key, waker.clone());
            (key, !std::mem::replace(&mut state.watchdog, true))
        };
        if start_watchdog {
            self.start_watchdog();
        }
        key
    }

    /// Adds `report`'s text to the warning printed when this clock stalls (see
    /// `start_watchdog`); the first report set is kept.
    pub(crate) fn on_stall(&self, report: impl Fn() -> String + Send + Sync + 'static) {
        let _ = self.inner.stall_report.set(Box::new(report));
    }

    /// Prints a diagnostic when sleepers wait on this clock, every fiber is blocked, and
    /// nothing advanced it for a while of real time: the classic hang of a test that forgot
    /// to call `advance`.
    fn start_watchdog(&self) {
        let Ok(handle) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let clock = Arc::downgrade(&self.inner);
        handle.spawn(async move {
            let mut seen_advances = u64::MAX;
            loop {
                tokio::time::sleep(STALL_WARNING_AFTER).await;
                let Some(inner) = clock.upgrade() else { return };
                let clock = TestClock { inner };
                let waiting = clock.pending_sleepers();
                let mut state = clock.state();
                if waiting == 0 {
                    state.watchdog = false;
                    return;
                }
                let idle = clock.inner.activity.is_idle(0);
                let stalled = idle && state.advances == seen_advances;
                if stalled {
                    let next = state.sleepers.first_key().map(|(d, _)| d);
                    eprintln!(
                        "effect: {waiting} sleep(s) have waited on a TestClock at virtual time {:?} for {:?} of real time \
                         (next deadline {next:?}) and nothing advanced it; call `test_clock.advance(..)` to move virtual time",
                        state.now, STALL_WARNING_AFTER
                    );
                }
                seen_advances = state.advances;
                drop(state);
                // Outside the clock's lock: the report reads the fibers, which may be
                // registering sleeps.
                if let Some(report) = clock.inner.stall_report.get().filter(|_| stalled) {
                    eprintln!("{}", report());
                }
            }
        });
    }
}

/// An advance's place in the clock's line. Dropping it (the advance returned, or its future
/// was dropped) leaves the line and, from the front, hands the turn to the next advance.
struct Turn<'a> {
    clock: &'a TestClock,
    id: u64,
}

impl Turn<'_> {
    /// Waits until this advance is at the front of the line: the ones before it have
    /// returned (or were dropped).
    async fn reach_front(&self) {
        poll_fn(|cx| {
            let mut state = self.clock.state();
            let at = state.line_position(self.id);
            if at == 0 {
                return Poll::Ready(());
            }
            let waiting = &mut state.line[at].1;
            let replaced = match waiting {
                Some(waker) if waker.will_wake(cx.waker()) => None,
                _ => waiting.replace(cx.waker().clone()),
            };
            drop(state);
            drop(replaced);
            Poll::Pending
        })
        .await
    }
}

impl Drop for Turn<'_> {
    fn drop(&mut self) {
        let (own, next) = {
            let mut state = self.clock.state();
            let at = state.line_position(self.id);
            let (_, own) = state.line.remove(at).expect("a turn is in the line");
            let mut next = None;
            if at == 0 {
                // Whatever this advance got to, the next one goes on from there.
                state.advance_to = None;
                next = state.line.front_mut().and_then(|(_, waker)| waker.take());
            }
            (own, next)
        };
        // Outside the lock: dropping or waking a waker may run arbitrary code.
        drop(own);
        if let Some(next) = next {
            next.wake();
        }
    }
}

/// The future of [`TestClock::sleep`]: resolves once virtual time reaches its deadline.
///
/// ```
/// use effect::{ms, TestClock};
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// let clock = TestClock::new();
/// let sleep: effect::TestSleep = clock.sleep(ms(5));
/// let done = tokio::spawn(sleep);
/// clock.advance(ms(5)).await;
/// done.await.unwrap();
/// # }
/// ```
#[must_use = "futures do nothing unless awaited"]
pub struct TestSleep {
    clock: TestClock,
    duration: Duration,
    /// Set once registered (at the first poll); cleared once fired.
    key: Option<SleepKey>,
}

impl Future for TestSleep {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<()> {
        if self.duration.is_zero() {
            return Poll::Ready(());
        }
        let Some(key) = self.key else {
            let key = self.clock.register(self.duration, cx.waker());
            self.key = Some(key);
            waiting::on(Wait::VirtualSleep(key.0));
            return Poll::Pending;
        };
        let mut state = self.clock.state();
        if state.has_fired(key) {
            drop(state);
            self.key = None;
            self.duration = Duration::ZERO;
            return Poll::Ready(());
        }
        let replaced = match state.sleepers.get_mut(key) {
            Some(waker) if !waker.will_wake(cx.waker()) => {
                Some(std::mem::replace(waker, cx.waker().clone()))
            }
            _ => None,
        };
        drop(state);
        drop(replaced);
        waiting::on(Wait::VirtualSleep(key.0));
        Poll::Pending
    }
}

impl Drop for TestSleep {
    fn drop(&mut self) {
        // An interrupted sleep leaves the queue. Its waker is dropped after the lock is
        // released: dropping a waker can run arbitrary code.
        if let Some(key) = self.key {
            let removed = self.clock.state().sleepers.remove(key);
            drop(removed);
        }
    }
}
