//! [`TestClock`]: virtual time that moves only when a test advances it.
//!
//! How `advance` knows the fibers it woke "have run until they block again": every fiber
//! whose context holds this test clock reports its activity here. Its interpreter polls its
//! bodies with a waker that marks the fiber *queued* when woken, and marks it *running* for
//! the duration of each poll. The clock is idle when no such fiber is queued or running
//! (other than the one calling `advance`, if it is one). `advance` waits for idleness before
//! it moves time, and after each sleeper it wakes.
//!
//! Advances that overlap (joined futures, several tasks, fibers on the clock calling
//! `advance` while a test does) line up: one moves time at a time, in the order they were
//! first polled, and each computes its target when its turn comes, from where the one before
//! left time. So their amounts add up, every sleeper they pass fires once in deadline order,
//! and only the advance at the front of the line ever waits for idleness. An advance waiting
//! in line is a blocked future like any other: a fiber waiting there counts as blocked, so it
//! never holds up the advance in front of it.

use std::cell::Cell;
use std::collections::VecDeque;
use std::fmt;
use std::future::{poll_fn, Future};
use std::pin::Pin;
use std::sync::atomic::{AtomicU8, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context as TaskContext, Poll, Wake, Waker};
use std::time::{Duration, Instant};

use futures::task::AtomicWaker;

use super::sleepers::{SleepKey, Sleepers};

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
}

impl Default for Inner {
    fn default() -> Self {
        Inner {
            activity: Arc::default(),
            origin: Instant::now(),
        }
    }
}

#[derive(Default)]
struct State {
    now: Duration,
    next_seq: u64,
    /// The registered sleeps not yet fired, with the waker of each (kept here, not in an
    /// allocation of its own per sleep). A sleep dropped early removes itself.
    sleepers: Sleepers,
    /// The last sleep fired. Sleeps fire in key order and every new sleep's key is greater
    /// than any fired one (its deadline is at least `now`, its sequence number later), so a
    /// sleep has fired exactly when its key is at most this.
    fired_through: Option<SleepKey>,
    /// How many advances were called; the watchdog's sign of life, and each advance's id.
    advances: u64,
    watchdog: bool,
    /// The advances (and `set_time`s) called and not yet returned, by id, in the order they
    /// were first polled, each with the waker of its task while it waits: the front one moves
    /// time, the others wait their turn.
    line: VecDeque<(u64, Option<Waker>)>,
    /// Where the advance at the front of the line takes time, once it has started: while it
    /// runs, the fiber whose stop leaves the clock idle fires the next due sleeper itself.
    advance_to: Option<Duration>,
}

/// What [`Activity::fire_next`] did.
enum Fire {
    /// Woke the next due sleeper.
    Fired,
    /// Did nothing: a fiber is queued or running (its stop will look again).
    Busy,
    /// Did nothing: no sleeper is due by the running advance's target, and time is now at
    /// that target (or no advance is running).
    NothingDue,
}

impl State {
    fn has_fired(&self, key: SleepKey) -> bool {
        self.fired_through.is_some_and(|fired| key <= fired)
    }

    /// Where the advance `id` stands in the line (ids are handed out in line order).
    fn line_position(&self, id: u64) -> usize {
        self.line
            .binary_search_by_key(&id, |(id, _)| *id)
            .expect("an advance in the line")
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
                if idle && state.advances == seen_advances {
                    let next = state.sleepers.first_key().map(|(d, _)| d);
                    eprintln!(
                        "effect: {waiting} sleep(s) have waited on a TestClock at virtual time {:?} for {:?} of real time \
                         (next deadline {next:?}) and nothing advanced it; call `test_clock.advance(..)` to move virtual time",
                        state.now, STALL_WARNING_AFTER
                    );
                }
                seen_advances = state.advances;
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
    state: Mutex<State>,
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
    fn is_idle(&self, own: usize) -> bool {
        self.queued.load(Ordering::SeqCst) == 0 && self.running.load(Ordering::SeqCst) <= own
    }

    /// How many tracked polls of this clock's fibers enclose the caller on this thread (the
    /// caller's own fiber, when `advance` is called from an effect on this clock).
    fn own_polls(self: &Arc<Self>) -> usize {
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
    fn fire_next(&self, own: usize) -> Fire {
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

    async fn until_idle(self: &Arc<Self>) {
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
