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
use crate::kernel::fiber::frame::{FrameBox, FutureFrame};
use crate::kernel::fiber::prim::Deadline;
use crate::kernel::fiber::prim::Prim;

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

/// What a timeout whose time is up ends with, from the cause its guarded effect was unwound
/// with: `None` for the interruption alone; the cause, when the effect's cleanup failed too.
fn timed_out<A: Send + 'static, E: Send + 'static>(cause: Cause<Never>) -> FrameBox {
    let exit: Exit<Option<A>, E> = if cause.is_interrupted_only() {
        Ok(None)
    } else {
        Err(cause.widen())
    };
    FutureFrame::boxed(async move { exit })
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
        let guarded = Effect::<A, E>::from_prim(guarded).map(Some).into_prim();
        Effect::from_prim(Prim::Deadline(Deadline::new(
            guarded,
            duration,
            Box::new(timed_out::<A, E>),
        )))
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
        // `Some` and out again. Only a timeout that fires makes a frame, with `error`.
        let timed_out = move |cause: Cause<Never>| -> FrameBox {
            let exit: Exit<A, E> = if cause.is_interrupted_only() {
                Err(Cause::Fail(error))
            } else {
                Err(cause.widen())
            };
            FutureFrame::boxed(async move { exit })
        };
        Effect::from_prim(Prim::Deadline(Deadline::new(
            guarded,
            duration,
            Box::new(timed_out),
        )))
    }
}
