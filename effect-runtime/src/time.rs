//! Effects that read the [`Clock`]: `sleep`, `timeout`, `timeout_fail`.
//!
//! `timeout` runs the guarded effect in place, on the same task, as a nested run raced
//! against the clock's sleep (no extra fiber is spawned). When time is up the nested run is
//! interrupted and `timeout` waits until its finalizers have run before it yields `None`.

use std::future::{poll_fn, Future};
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::Poll;
use std::time::Duration;

use crate::cause::Cause;
use crate::clock::Clock;
use crate::effect::Effect;
use crate::fiber::core::{interrupt_all, FiberCore};
use crate::fiber::frame::Prim;
use crate::fiber::run::Run;

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
        let inner_core: Arc<Mutex<Option<Arc<FiberCore>>>> = Arc::default();
        let finalizer_core = inner_core.clone();
        let timed = Effect::from_prim(Prim::WithFiber(Box::new(move |fiber| {
            let ctx = fiber.ctx.clone();
            let family = fiber.core.family().clone();
            Effect::from_future(async move {
                let clock = Clock::of(&ctx);
                let mut run: Run<A, E> = Run::start(self.into_prim(), ctx, family);
                *inner_core.lock().unwrap_or_else(|p| p.into_inner()) = run.core().cloned();
                let mut expiry = clock.sleep(duration);
                let finished = poll_fn(|cx| {
                    if let Poll::Ready(exit) = Pin::new(&mut run).poll(cx) {
                        return Poll::Ready(Some(exit));
                    }
                    expiry.as_mut().poll(cx).map(|()| None)
                })
                .await;
                if let Some(exit) = finished {
                    return exit.map(Some);
                }
                run.interrupt();
                match run.await {
                    Ok(value) => Ok(Some(value)),
                    Err(cause) if cause.is_interrupted_only() => Ok(None),
                    Err(cause) => Err(cause),
                }
            })
            .into_prim()
        })));
        // If the fiber running the timeout is itself interrupted, the nested run is dropped
        // with the body; wait here until its finalizers have run.
        timed.on_exit(move |_| {
            let core = finalizer_core
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .take();
            Effect::from_future(async move {
                if let Some(core) = core {
                    interrupt_all(&[core]).await;
                }
                Ok(())
            })
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
