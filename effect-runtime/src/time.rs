//! Effects that read the [`Clock`]: `sleep`, `timeout`, `timeout_fail`.
//!
//! `timeout` races the guarded effect against the clock's sleep in place, on the same task
//! (as `race` does). When time is up the effect is interrupted and `timeout` waits until its
//! finalizers have run before it yields `None`.

use std::future::{poll_fn, Future};
use std::marker::PhantomData;
use std::pin::Pin;
use std::task::Poll;
use std::time::Duration;

use crate::cause::{Cause, Exit};
use crate::clock::Clock;
use crate::context::Context;
use crate::effect::{fail_cause, succeed, Effect, Repr};
use crate::fiber::bind::{current_fiber, interrupted_behind_own_mask, self_winding};
use crate::fiber::frame::{FutureFrame, Prim};
use crate::fiber::run::Run;

/// An effect that succeeds after `duration` on the context's [`Clock`] (instantly under a
/// `TestClock`, once it is advanced). Interruptible.
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
        None => FutureFrame::boxed(sleep_on::<E>(tokio::time::sleep(duration))),
    };
    Prim::Frame(body)
}

async fn sleep_on<E>(sleep: impl Future<Output = ()>) -> Exit<(), E> {
    sleep.await;
    Ok(())
}

/// How the wait of a `timeout` ended.
enum Ended<A, E> {
    Finished(Exit<A, E>),
    TimeUp,
    Interrupted,
}

impl<A: Send + 'static, E: Send + 'static> Effect<A, E> {
    /// Runs this effect for at most `duration` on the context's clock: `Some(value)` if it
    /// finished in time, `None` if not, in which case it was interrupted and its finalizers
    /// have run. Failures within the time pass through.
    ///
    /// ```
    /// use effect_runtime::{ms, never, run_blocking, secs, succeed, Effect};
    ///
    /// let fast: Effect<Option<u32>, ()> = succeed(1).timeout(secs(1));
    /// assert_eq!(run_blocking(fast), Ok(Some(1)));
    /// let slow: Effect<Option<u32>, ()> = never().timeout(ms(10));
    /// assert_eq!(run_blocking(slow), Ok(None));
    /// ```
    pub fn timeout(self, duration: Duration) -> Effect<Option<A>, E> {
        let guarded = match self.repr {
            // Already finished: within any time limit.
            Repr::Succeed(value) => return succeed(Some(value)),
            Repr::Fail(cause) => return fail_cause(cause),
            Repr::Prim(prim, PhantomData) => prim.into_inner(),
        };
        // The guarded effect runs as a nested run polled in place by this fiber's task, with
        // the clock's sleep polled beside it as a plain future: no task, no second effect.
        //
        // The body runs uninterruptibly and winds down on its own terms: if this fiber is
        // interrupted while waiting, the body interrupts the run and waits until its
        // finalizers have run, so no guarded effect outlives its timeout; the fiber then
        // unwinds as the region ends. This costs one body and no finalizer.
        let body = async move {
            let (ctx, family) = current_fiber();
            let mut run: Run<A, E> = Run::start(guarded, ctx.clone(), family);
            let mut expiry = std::pin::pin!(Clock::of(&ctx).sleep(duration));
            let ended = poll_fn(|cx| {
                if interrupted_behind_own_mask() {
                    return Poll::Ready(Ended::Interrupted);
                }
                match Pin::new(&mut run).poll(cx) {
                    Poll::Ready(exit) => Poll::Ready(Ended::Finished(exit)),
                    // The timer is armed only once the effect has had to wait.
                    Poll::Pending => expiry.as_mut().poll(cx).map(|()| Ended::TimeUp),
                }
            })
            .await;
            let exit = match ended {
                Ended::Finished(exit) => exit,
                Ended::TimeUp => {
                    // Time is up: interrupt, and keep polling until its finalizers ran.
                    run.interrupt();
                    (&mut run).await
                }
                Ended::Interrupted => {
                    run.interrupt();
                    let _ = (&mut run).await;
                    return Err(Cause::Interrupt);
                }
            };
            match exit {
                Ok(value) => Ok(Some(value)),
                Err(cause) if cause.is_interrupted_only() => Ok(None),
                Err(cause) => Err(cause),
            }
        };
        self_winding(body)
    }

    /// Like [`timeout`](Effect::timeout), but fails with `error` when time is up.
    pub fn timeout_fail(self, duration: Duration, error: E) -> Effect<A, E> {
        self.timeout(duration).flat_map(move |value| match value {
            Some(value) => Effect::from_future(async move { Ok(value) }),
            None => crate::effect::fail_cause(Cause::Fail(error)),
        })
    }
}
