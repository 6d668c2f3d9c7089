//! Effects that read the [`Clock`]: `sleep`, `timeout`, `timeout_fail`.
//!
//! `timeout` runs the guarded effect on the timing-out fiber itself, under a deadline the
//! interpreter keeps on the fiber's stack (see `Prim::Deadline`): no fiber, task or region of
//! its own, and no timer at all unless the effect has to wait. When time is up the effect is
//! interrupted where it stands and unwound to the deadline, its finalizers run, before
//! `timeout` yields `None`; when the fiber itself is interrupted, it unwinds through the
//! deadline like through any other step.

use std::future::Future;
use std::time::Duration;

use crate::kernel::cause::{Cause, Exit, Never};
use crate::kernel::clock::{Clock, LiveSleep};
use crate::kernel::context::Context;
use crate::kernel::effect::{fail_cause, succeed, Effect};
use crate::kernel::fiber::frame::{take_exit, Finished, FrameBox, FutureFrame};
use crate::kernel::fiber::prim::{Deadline, Prim, Timed};

/// An effect that succeeds after `duration` on the context's [`Clock`] (instantly under a
/// `TestClock`, once it is advanced). Interruptible.
///
/// ```
/// use effect::prelude::*;
/// use effect::{Clock, Context, Runtime};
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// let clock = TestClock::new();
/// let runtime = Runtime::new(Context::new().with(Clock::from(clock.clone())));
/// let nap = runtime.fork(sleep::<String>(secs(3600)).as_value("rested"));
/// clock.advance(secs(3600)).await; // an hour, instantly
/// assert_eq!(runtime.run(nap.join()).await, Ok("rested"));
/// # }
/// ```
pub fn sleep<E: Send + 'static>(duration: Duration) -> Effect<(), E> {
    // Nanoseconds fit 584 years; longer sleeps are that long.
    let nanos = u64::try_from(duration.as_nanos()).unwrap_or(u64::MAX);
    Effect::from_prim(Prim::FromContext(start_sleep::<E>, nanos))
}

/// Starts a sleep of `nanos` on the clock of `ctx`, as a body sized for that clock: a test
/// clock's sleeper is a fraction of a tokio timer, and a test can hold many thousands.
fn start_sleep<E: Send + 'static>(ctx: &Context, nanos: u64) -> Prim {
    let duration = Duration::from_nanos(nanos);
    let body = match Clock::of(ctx).as_test() {
        Some(clock) => FutureFrame::boxed(sleep_on::<E>(clock.sleep(duration))),
        None => FutureFrame::boxed(sleep_on::<E>(LiveSleep::new(duration))),
    };
    Prim::Frame(body)
}

async fn sleep_on<E>(sleep: impl Future<Output = ()>) -> Exit<(), E> {
    sleep.await;
    Ok(())
}

/// `timeout`'s deadline: in time, the value in `Some`; when time is up, `None`, or the cause
/// when the guarded effect's cleanup failed too. Its box is the timeout's finished frame.
struct TimeoutOption<A, E> {
    deadline: Deadline,
    out: Option<Exit<Option<A>, E>>,
}

/// `timeout_fail`'s deadline: in time, the guarded effect's own frame; when time is up,
/// `error`, or the cause when the guarded effect's cleanup failed too.
struct TimeoutFail<A, E> {
    deadline: Deadline,
    error: Option<E>,
    out: Option<Exit<A, E>>,
}

// Nothing in a timeout's box is pinned: its sleep is polled through `Pin::new`.
impl<A, E> Unpin for TimeoutOption<A, E> {}
impl<A, E> Unpin for TimeoutFail<A, E> {}

/// A deadline that has ended: its sleep (a test clock's sleeper, a timer) goes now, not with
/// the frame the box becomes.
fn ended(deadline: &mut Deadline) {
    deadline.sleep = None;
}

/// The cause a timeout whose time is up fails with, if any: nothing (`None`) for the
/// interruption alone, the whole cause when the guarded effect's cleanup failed too.
fn cleanup_failure<E>(cause: Cause<Never>) -> Option<Cause<E>> {
    (!cause.is_interrupted_only()).then(|| cause.widen())
}

impl<A: Send + 'static, E: Send + 'static> Timed for TimeoutOption<A, E> {
    fn deadline(&self) -> &Deadline {
        &self.deadline
    }

    fn deadline_mut(&mut self) -> &mut Deadline {
        &mut self.deadline
    }

    fn in_time(mut self: Box<Self>, mut done: FrameBox) -> FrameBox {
        ended(&mut self.deadline);
        self.out = Some(take_exit::<A, E>(&mut done).map(Some));
        Box::into_pin(self)
    }

    fn timed_out(mut self: Box<Self>, cause: Cause<Never>) -> FrameBox {
        ended(&mut self.deadline);
        timeout_fired();
        self.out = Some(cleanup_failure(cause).map_or(Ok(None), Err));
        Box::into_pin(self)
    }
}

impl<A: Send + 'static, E: Send + 'static> Timed for TimeoutFail<A, E> {
    fn deadline(&self) -> &Deadline {
        &self.deadline
    }

    fn deadline_mut(&mut self) -> &mut Deadline {
        &mut self.deadline
    }

    fn in_time(self: Box<Self>, done: FrameBox) -> FrameBox {
        done
    }

    fn timed_out(mut self: Box<Self>, cause: Cause<Never>) -> FrameBox {
        ended(&mut self.deadline);
        timeout_fired();
        let error = self.error.take().expect("a timeout ends once");
        self.out = Some(Err(cleanup_failure(cause).unwrap_or(Cause::Fail(error))));
        Box::into_pin(self)
    }
}

/// Counts a timeout that fired (`effect_timeouts_total`, the `metrics` feature).
#[inline]
fn timeout_fired() {
    #[cfg(feature = "metrics")]
    metrics::counter!("effect_timeouts_total").increment(1);
}

// A timeout's box is handed on as a frame only once it has ended.
impl<A: Send + 'static, E: Send + 'static> Finished for TimeoutOption<A, E> {
    type A = Option<A>;
    type E = E;

    fn out(&mut self) -> &mut Option<Exit<Option<A>, E>> {
        &mut self.out
    }
}

impl<A: Send + 'static, E: Send + 'static> Finished for TimeoutFail<A, E> {
    type A = A;
    type E = E;

    fn out(&mut self) -> &mut Option<Exit<A, E>> {
        &mut self.out
    }
}

impl<A: Send + 'static, E: Send + 'static> Effect<A, E> {
    /// Runs this effect for at most `duration` on the context's clock: `Some(value)` if it
    /// finished in time, `None` if not, in which case it was interrupted and its finalizers
    /// have run. Failures within the time pass through.
    ///
    /// ```
    /// use effect::{ms, never, run_blocking, secs, succeed, Effect};
    ///
    /// let fast: Effect<Option<u32>, ()> = succeed(1).timeout(secs(1));
    /// assert_eq!(run_blocking(fast), Ok(Some(1)));
    /// let slow: Effect<Option<u32>, ()> = never().timeout(ms(10));
    /// assert_eq!(run_blocking(slow), Ok(None));
    /// ```
    pub fn timeout(self, duration: Duration) -> Effect<Option<A>, E> {
        let guarded = match self.into_exit_or_prim() {
            // Already finished: within any time limit.
            Ok(Ok(value)) => return succeed(Some(value)),
            Ok(Err(cause)) => return fail_cause(cause),
            Err(prim) => prim,
        };
        Effect::from_prim(Prim::Deadline(Box::new(TimeoutOption::<A, E> {
            deadline: Deadline::new(guarded, duration),
            out: None,
        })))
    }

    /// Like [`timeout`](Effect::timeout), but fails with `error` when time is up.
    ///
    /// # Errors
    /// Fails with `error` when `duration` passes first (after the effect's finalizers ran), and
    /// with the effect's own cause when it fails in time.
    ///
    /// ```
    /// use effect::prelude::*;
    ///
    /// #[derive(Debug, PartialEq)]
    /// enum AppError { Timeout }
    ///
    /// let slow: Effect<u32, AppError> = sleep(secs(60)).as_value(1);
    /// let bounded = slow.timeout_fail(ms(5), AppError::Timeout);
    /// assert_eq!(effect::run_blocking(bounded).unwrap_err().failure(), Some(&AppError::Timeout));
    /// ```
    pub fn timeout_fail(self, duration: Duration, error: E) -> Effect<A, E> {
        let guarded = match self.into_exit_or_prim() {
            Ok(Ok(value)) => return succeed(value),
            Ok(Err(cause)) => return fail_cause(cause),
            Err(prim) => prim,
        };
        // The effect's own frame is the timeout's when it finishes in time: no wrapping in
        // `Some` and out again.
        Effect::from_prim(Prim::Deadline(Box::new(TimeoutFail::<A, E> {
            deadline: Deadline::new(guarded, duration),
            error: Some(error),
            out: None,
        })))
    }
}
