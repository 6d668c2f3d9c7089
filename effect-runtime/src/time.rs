//! Effects that read the [`Clock`]: `sleep`, `timeout`, `timeout_fail`.
//!
//! `timeout` races the guarded effect against the clock's sleep in place, on the same task
//! (see `race`). When time is up the effect is interrupted and `timeout` waits until its
//! finalizers have run before it yields `None`.

use std::future::{poll_fn, Future};
use std::task::Poll;
use std::time::Duration;

use crate::cause::Cause;
use crate::clock::Clock;
use crate::effect::Effect;
use crate::race::with_racers;

/// An effect that succeeds after `duration` on the context's [`Clock`] (instantly under a
/// `TestClock`, once it is advanced). Interruptible.
pub fn sleep<E: Send + 'static>(duration: Duration) -> Effect<(), E> {
    Effect::new(move |ctx| async move {
        Clock::of(&ctx).sleep(duration).await;
        Ok(())
    })
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
        // The guarded effect is the one racer; the clock's sleep is polled beside it as a
        // plain future, which costs less than racing a second effect.
        with_racers("timeout", vec![self], move |mut racers, ctx| async move {
            let mut expiry = std::pin::pin!(Clock::of(&ctx).sleep(duration));
            let finished = poll_fn(|cx| match racers.poll_next(cx) {
                Poll::Ready(finished) => Poll::Ready(finished),
                Poll::Pending => expiry.as_mut().poll(cx).map(|()| None),
            })
            .await;
            let exit = match finished {
                Some((_, exit)) => exit,
                None => match racers.interrupt_rest().await.pop() {
                    Some((_, exit)) => exit,
                    None => return Ok(None),
                },
            };
            match exit {
                Ok(value) => Ok(Some(value)),
                Err(cause) if cause.is_interrupted_only() => Ok(None),
                Err(cause) => Err(cause),
            }
        })
    }

    /// Like [`timeout`](Effect::timeout), but fails with `error` when time is up.
    pub fn timeout_fail(self, duration: Duration, error: E) -> Effect<A, E> {
        self.timeout(duration).flat_map(move |value| match value {
            Some(value) => Effect::from_future(async move { Ok(value) }),
            None => crate::effect::fail_cause(Cause::Fail(error)),
        })
    }
}
