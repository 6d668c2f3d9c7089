//! Effects that read the fiber's context: its services ([`service`], [`service_with`]) and
//! its clock ([`now`], [`instant`], [`Effect::timed`]), so a body never has to write
//! `Effect::new(|ctx| async move { Ok(ctx.get::<T>()) })` itself.

use std::time::{Duration, Instant, SystemTime};

use crate::kernel::cause::{Cause, Never};
use crate::kernel::clock::Clock;
use crate::kernel::context::{missing_service, Context};
use crate::kernel::effect::Effect;
use crate::kernel::fiber::core::driving_fiber;
use crate::kernel::fiber::id::FiberId;

/// An effect that succeeds with (a clone of) the service of type `T` in the context.
///
/// It cannot fail (`Effect<T, Never>`), so it binds in a body of any error type; outside a
/// body, [`widen`](Effect::widen) it to the error type around it. A context without a `T` is
/// a bug in how the program was assembled, not an expected failure: the effect *dies*, with
/// a defect naming the missing service.
///
/// ```
/// use effect::{run_blocking_with, service, Context, Effect};
///
/// #[derive(Clone, Debug)]
/// struct Config { greeting: &'static str }
///
/// let greet: Effect<String, String> =
///     service::<Config>().widen().map(|config| format!("{}, world", config.greeting));
/// let ctx = Context::new().with(Config { greeting: "hello" });
/// assert_eq!(run_blocking_with(greet, &ctx), Ok("hello, world".to_string()));
///
/// let missing = run_blocking_with(service::<Config>(), &Context::new()).unwrap_err();
/// assert!(missing.defects()[0].message().contains("is not in the context"));
/// ```
pub fn service<T: Clone + Send + Sync + 'static>() -> Effect<T, Never> {
    Effect::new(|ctx: Context| async move {
        match ctx.try_get::<T>() {
            Some(service) => Ok(service.clone()),
            None => Err(Cause::die(missing_service::<T>())),
        }
    })
}

/// An effect that succeeds with `f` applied to the service of type `T` in the context,
/// without cloning the service. A missing service is a defect, as for [`service`].
///
/// ```
/// use effect::{run_blocking_with, service_with, Context, Effect};
///
/// struct Pool { size: usize } // not `Clone`: read in place
///
/// let size: Effect<usize, String> = service_with(|pool: &Pool| pool.size);
/// let ctx = Context::new().with(Pool { size: 8 });
/// assert_eq!(run_blocking_with(size, &ctx), Ok(8));
/// ```
pub fn service_with<T, R, E, F>(f: F) -> Effect<R, E>
where
    T: Send + Sync + 'static,
    R: Send + 'static,
    E: Send + 'static,
    F: FnOnce(&T) -> R + Send + 'static,
{
    Effect::new(|ctx: Context| async move {
        match ctx.try_get::<T>() {
            Some(service) => Ok(f(service)),
            None => Err(Cause::die(missing_service::<T>())),
        }
    })
}

/// An effect that succeeds with the current wall-clock time on the context's [`Clock`]
/// ([`Clock::now`]): the system time on the live clock, the Unix epoch plus the virtual time
/// on a `TestClock`. To measure durations use [`instant`] or [`Effect::timed`].
///
/// ```
/// use std::time::UNIX_EPOCH;
/// use effect::{now, run_blocking, Effect};
///
/// let time: Effect<_, String> = now();
/// assert!(run_blocking(time).unwrap() > UNIX_EPOCH);
/// ```
pub fn now<E: Send + 'static>() -> Effect<SystemTime, E> {
    Effect::new(|ctx: Context| async move { Ok(Clock::of(&ctx).now()) })
}

/// An effect that succeeds with a monotonic instant on the context's [`Clock`]
/// ([`Clock::instant`]): subtracting two of them never panics, and under a `TestClock` the
/// difference is exactly the virtual time that passed.
///
/// ```
/// use effect::{instant, ms, run_blocking_with, sleep, Clock, Context, Effect, TestClock};
///
/// let measured: Effect<std::time::Duration, String> = instant()
///     .flat_map(|start| sleep(ms(5)).map(move |()| start.elapsed()));
/// assert!(run_blocking_with(measured, &Context::new()).unwrap() >= ms(5));
/// ```
pub fn instant<E: Send + 'static>() -> Effect<Instant, E> {
    Effect::new(|ctx: Context| async move { Ok(Clock::of(&ctx).instant()) })
}

/// An effect that succeeds with the id of the fiber running it: what a log line or a span
/// can carry, and what a [`Cause::Interrupt`] names when this fiber interrupts another.
///
/// ```
/// use effect::{fiber_id, run_blocking, Effect, FiberId};
///
/// let pair: Effect<(FiberId, FiberId), String> =
///     fiber_id().zip(fiber_id::<String>().fork().flat_map(|child| child.join()));
/// let (parent, child) = run_blocking(pair).unwrap();
/// assert_ne!(parent, child);
/// assert_ne!(parent, FiberId::NONE);
/// ```
pub fn fiber_id<E: Send + 'static>() -> Effect<FiberId, E> {
    // Polled by the fiber's own interpreter, which marks itself as the one this thread runs.
    Effect::from_future(async { Ok(driving_fiber()) })
}

impl<A: Send + 'static, E: Send + 'static> Effect<A, E> {
    /// This effect, with how long it took on the context's clock (monotonic, so it never
    /// panics when the wall clock steps back; virtual time under a `TestClock`). A failure is
    /// passed on as it is.
    ///
    /// ```
    /// use effect::{ms, run_blocking_with, sleep, Clock, Context, Effect, TestClock};
    ///
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let clock = TestClock::new();
    /// let ctx = Context::new().with(Clock::from(clock.clone()));
    /// let work: Effect<(&str, _), String> = sleep(ms(1500)).as_value("done").timed();
    /// let run = tokio::spawn(async move { work.run(&ctx).await });
    /// clock.advance(ms(1500)).await;
    /// assert_eq!(run.await.unwrap(), Ok(("done", ms(1500))));
    /// # }
    /// ```
    pub fn timed(self) -> Effect<(A, Duration), E> {
        Effect::new(|ctx: Context| async move {
            let clock = Clock::of(&ctx);
            let start = clock.instant();
            let value = self.await?;
            Ok((value, clock.instant().saturating_duration_since(start)))
        })
    }
}

impl<A: Send + 'static> Effect<A, Never> {
    /// This effect, which cannot fail, as an effect of any error type (inferred from where
    /// it is used). Bodies do this by themselves when they bind an `Effect<A, Never>`.
    ///
    /// ```
    /// use effect::{fail, run_blocking, succeed, Effect, Never};
    ///
    /// let ready: Effect<u32, Never> = succeed(1);
    /// let checked: Effect<u32, String> = ready.widen().flat_map(|n| {
    ///     if n > 0 { succeed(n) } else { fail("zero".to_string()) }
    /// });
    /// assert_eq!(run_blocking(checked), Ok(1));
    /// ```
    pub fn widen<E: Send + 'static>(self) -> Effect<A, E> {
        self.map_err(|never| match never {})
    }
}
