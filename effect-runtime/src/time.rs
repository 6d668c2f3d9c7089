//! Effects that read the [`Clock`]: `sleep`, `timeout`, `timeout_fail`.
//!
//! `timeout` races the guarded effect against the clock's sleep in place, on the same task
//! (see `race`). When time is up the effect is interrupted and `timeout` waits until its
//! finalizers have run before it yields `None`.

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
        let expiry: Effect<Option<A>, E> = sleep(duration).as_value(None);
        with_racers(
            "timeout",
            vec![self.map(Some), expiry],
            |mut racers| async move {
                let (_, exit) = racers
                    .next_finished()
                    .await
                    .expect("a timeout races two branches");
                racers.interrupt_rest().await;
                exit
            },
        )
    }

    /// Like [`timeout`](Effect::timeout), but fails with `error` when time is up.
    pub fn timeout_fail(self, duration: Duration, error: E) -> Effect<A, E> {
        self.timeout(duration).flat_map(move |value| match value {
            Some(value) => Effect::from_future(async move { Ok(value) }),
            None => crate::effect::fail_cause(Cause::Fail(error)),
        })
    }
}
