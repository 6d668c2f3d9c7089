//! Time as a service: [`Clock`] (live by default), [`TestClock`] (virtual time), and the
//! effects that read it: [`sleep`](crate::sleep), `timeout`.

mod live;
mod test_clock;

use std::future::Future;
use std::pin::Pin;
use std::task::{Context as TaskContext, Poll};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use pin_project_lite::pin_project;

pub(crate) use live::LiveSleep;
pub(crate) use test_clock::{Activity, Tracker};
pub use test_clock::{TestClock, TestSleep};

use crate::kernel::context::Context;

/// The clock effects read time from. Put one in the [`Context`] to choose it; without one,
/// effects use the live clock.
///
/// ```
/// use effect::{Clock, Context, TestClock};
///
/// let test_clock = TestClock::new();
/// let ctx = Context::new().with(Clock::from(test_clock.clone()));
/// assert_eq!(ctx.get::<Clock>().current_time(), std::time::Duration::ZERO);
/// ```
#[derive(Clone, Debug)]
pub struct Clock {
    kind: ClockKind,
}

#[derive(Clone, Debug)]
enum ClockKind {
    Live,
    Test(TestClock),
}

impl Default for Clock {
    fn default() -> Self {
        Clock::live()
    }
}

impl From<TestClock> for Clock {
    fn from(clock: TestClock) -> Self {
        Clock {
            kind: ClockKind::Test(clock),
        }
    }
}

impl Clock {
    /// The real clock: wall time, and tokio timers for sleeping.
    ///
    /// ```
    /// use effect::{ms, run_blocking_with, sleep, Clock, Context, Effect};
    ///
    /// // Without a `Clock` in the context effects use the live one; providing it is explicit.
    /// let ctx = Context::new().with(Clock::live());
    /// let slept: Effect<(), ()> = sleep(ms(1));
    /// assert_eq!(run_blocking_with(slept, &ctx), Ok(()));
    /// ```
    pub fn live() -> Clock {
        Clock {
            kind: ClockKind::Live,
        }
    }

    /// The clock of `ctx`: its `Clock` service, or the live clock.
    ///
    /// ```
    /// use effect::{Clock, Context, TestClock};
    ///
    /// let test_clock = TestClock::new();
    /// let ctx = Context::new().with(Clock::from(test_clock));
    /// assert_eq!(Clock::of(&ctx).current_time().as_secs(), 0); // the test clock
    /// assert!(Clock::of(&Context::new()).current_time().as_secs() > 0); // the live clock
    /// ```
    pub fn of(ctx: &Context) -> Clock {
        ctx.try_get::<Clock>().cloned().unwrap_or_default()
    }

    /// The current time, as a duration since the clock's epoch: the Unix epoch for the live
    /// clock, the virtual start (zero, unless set) for a test clock.
    ///
    /// This is wall-clock time, which may step back (NTP, a changed system clock): to
    /// measure how long something took, use [`instant`](Clock::instant).
    ///
    /// ```
    /// use effect::{Clock, TestClock};
    ///
    /// assert!(Clock::live().current_time().as_secs() > 1_600_000_000);
    /// assert_eq!(Clock::from(TestClock::new()).current_time().as_secs(), 0);
    /// ```
    pub fn current_time(&self) -> Duration {
        match &self.kind {
            ClockKind::Live => SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .unwrap_or_default(),
            ClockKind::Test(clock) => clock.current_time(),
        }
    }

    /// The current wall-clock time: `SystemTime::now()` on the live clock; on a test clock,
    /// the Unix epoch plus the virtual time. For measuring durations use
    /// [`instant`](Clock::instant), which never goes back.
    ///
    /// ```
    /// use std::time::UNIX_EPOCH;
    /// use effect::{Clock, TestClock};
    ///
    /// assert_eq!(Clock::from(TestClock::new()).now(), UNIX_EPOCH);
    /// assert!(Clock::live().now() > UNIX_EPOCH);
    /// ```
    pub fn now(&self) -> SystemTime {
        match &self.kind {
            ClockKind::Live => SystemTime::now(),
            ClockKind::Test(clock) => UNIX_EPOCH + clock.current_time(),
        }
    }

    /// A monotonic instant, for measuring elapsed time: `end - start` never panics and never
    /// goes negative. The live clock reads tokio's clock (so it follows
    /// `tokio::time::pause`); a test clock's instants move with virtual time only
    /// ([`TestClock::instant`]).
    ///
    /// ```
    /// use effect::{ms, Clock, TestClock};
    ///
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let test_clock = TestClock::new();
    /// let clock = Clock::from(test_clock.clone());
    /// let start = clock.instant();
    /// test_clock.advance(ms(40)).await;
    /// assert_eq!(clock.instant().duration_since(start), ms(40));
    /// # }
    /// ```
    pub fn instant(&self) -> Instant {
        match &self.kind {
            ClockKind::Live => tokio::time::Instant::now().into_std(),
            ClockKind::Test(clock) => clock.instant(),
        }
    }

    /// A future that resolves after `duration` has passed on this clock.
    ///
    /// # Cancel safety
    /// Dropping the future cancels the sleep (a test clock forgets the sleeper).
    ///
    /// ```
    /// use effect::{ms, Clock, TestClock};
    ///
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let test_clock = TestClock::new();
    /// let clock = Clock::from(test_clock.clone());
    /// let sleeping = tokio::spawn(clock.sleep(ms(30)));
    /// test_clock.advance(ms(30)).await; // resolves it, without real waiting
    /// sleeping.await.unwrap();
    /// # }
    /// ```
    pub fn sleep(&self, duration: Duration) -> ClockSleep {
        ClockSleep {
            inner: match &self.kind {
                ClockKind::Live => SleepKind::Live {
                    sleep: LiveSleep::new(duration),
                },
                ClockKind::Test(clock) => SleepKind::Test {
                    sleep: clock.sleep(duration),
                },
            },
        }
    }

    /// The test clock behind this clock, if it is one.
    pub(crate) fn as_test(&self) -> Option<&TestClock> {
        match &self.kind {
            ClockKind::Test(clock) => Some(clock),
            ClockKind::Live => None,
        }
    }
}

pin_project! {
    /// The future of [`Clock::sleep`]: a tokio timer on the live clock, a virtual-time sleeper
    /// on a test clock. Dropping it cancels the sleep.
    #[must_use = "futures do nothing unless awaited"]
    pub struct ClockSleep {
        #[pin]
        inner: SleepKind,
    }
}

pin_project! {
    #[project = SleepProjection]
    enum SleepKind {
        Live { sleep: LiveSleep },
        Test { sleep: TestSleep },
    }
}

impl ClockSleep {
    /// When a live sleep ends (`None` on a test clock).
    pub(crate) fn live_deadline(&self) -> Option<tokio::time::Instant> {
        match &self.inner {
            SleepKind::Live { sleep } => Some(sleep.deadline()),
            SleepKind::Test { .. } => None,
        }
    }
}

impl Future for ClockSleep {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<()> {
        match self.project().inner.project() {
            SleepProjection::Live { sleep } => Pin::new(sleep).poll(cx),
            SleepProjection::Test { sleep } => Pin::new(sleep).poll(cx),
        }
    }
}

impl std::fmt::Debug for ClockSleep {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ClockSleep")
    }
}
