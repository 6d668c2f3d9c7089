//! Guarding effects with finalizers and masking interruption: `ensuring`, `on_exit`,
//! `on_error`, `on_interrupt`, `uninterruptible`.
//!
//! A finalizer runs exactly once, after the effect it guards ends, whichever way it ends:
//! success, typed failure, defect, or interruption. It runs with interruption disabled, so it
//! always runs to its end. A finalizer that dies (panics) does not hide the original outcome:
//! its defect is added after it in the [`Cause`] (`Then(original, defect)`), and a success
//! becomes that defect.

use std::any::Any;
use std::panic::{catch_unwind, AssertUnwindSafe};

use crate::kernel::cause::{Cause, Defect, Exit, Never};
use crate::kernel::context::Context;
use crate::kernel::effect::{fail_cause, succeed, Effect, Repr};
use crate::kernel::fiber::prim::{Finalizer, FinalizerExit, Prim};

impl<A: Send + 'static, E: Send + 'static> Effect<A, E> {
    /// Runs `finalizer` after this effect, however it ends.
    ///
    /// ```
    /// use std::sync::atomic::{AtomicU32, Ordering};
    /// use std::sync::Arc;
    /// use effect::{fail, run_blocking, sync, Effect};
    ///
    /// let cleanups = Arc::new(AtomicU32::new(0));
    /// let counter = cleanups.clone();
    /// let guarded: Effect<(), &str> =
    ///     fail("boom").ensuring(sync(move || { counter.fetch_add(1, Ordering::SeqCst); }));
    /// assert!(run_blocking(guarded).is_err());
    /// assert_eq!(cleanups.load(Ordering::SeqCst), 1);
    /// ```
    pub fn ensuring(self, finalizer: Effect<(), Never>) -> Effect<A, E> {
        self.on_exit(move |_| finalizer)
    }

    /// Runs the finalizer `f` builds from this effect's [`Exit`] after it ends. An
    /// interrupted effect's exit is `Err(Cause::Interrupt)`.
    ///
    /// ```
    /// use std::sync::{Arc, Mutex};
    /// use effect::{fail, run_blocking, sync, Effect};
    ///
    /// let log = Arc::new(Mutex::new(Vec::new()));
    /// let record = log.clone();
    /// let request: Effect<u32, &str> = fail("timeout").on_exit(move |exit| {
    ///     let line = match exit {
    ///         Ok(n) => format!("ok {n}"),
    ///         Err(cause) => format!("failed: {:?}", cause.failure()),
    ///     };
    ///     sync(move || record.lock().unwrap().push(line))
    /// });
    /// assert!(run_blocking(request).is_err());
    /// assert_eq!(*log.lock().unwrap(), ["failed: Some(\"timeout\")"]);
    /// ```
    pub fn on_exit<F>(self, f: F) -> Effect<A, E>
    where
        F: FnOnce(&Exit<A, E>) -> Effect<(), Never> + Send + 'static,
    {
        let finalizer: Finalizer = Box::new(move |exit: FinalizerExit<'_>| {
            let interrupted: Exit<A, E>;
            let exit: &Exit<A, E> = match exit {
                FinalizerExit::Completed(output) => {
                    <dyn Any>::downcast_ref::<Option<Exit<A, E>>>(output)
                        .and_then(Option::as_ref)
                        .expect("effect runtime: a guarded region finished without its outcome")
                }
                FinalizerExit::Interrupted(cause) => {
                    interrupted = Err(cause.clone().widen());
                    &interrupted
                }
            };
            // Building the finalizer is user code: a panic there is the finalizer's defect.
            match catch_unwind(AssertUnwindSafe(|| f(exit))) {
                // A finalizer that is a plain `succeed(())` has nothing to run.
                Ok(Effect {
                    repr: Repr::Succeed(()),
                }) => None,
                Ok(finalizer) => Some(finalizer.into_prim()),
                Err(panic) => {
                    Some(fail_cause::<(), Never>(Cause::Die(Defect::from_panic(panic))).into_prim())
                }
            }
        });
        Effect::from_prim(Prim::Ensuring(Box::new((self.into_prim(), finalizer))))
    }

    /// Runs the finalizer `f` builds from the cause when this effect does not succeed
    /// (typed failure, defect or interruption).
    ///
    /// ```
    /// use std::sync::atomic::{AtomicBool, Ordering};
    /// use std::sync::Arc;
    /// use effect::{run_blocking, succeed, sync, Effect};
    ///
    /// let rolled_back = Arc::new(AtomicBool::new(false));
    /// let flag = rolled_back.clone();
    /// let commit: Effect<&str, ()> =
    ///     succeed("committed").on_error(move |_| sync(move || flag.store(true, Ordering::SeqCst)));
    /// assert_eq!(run_blocking(commit), Ok("committed"));
    /// assert!(!rolled_back.load(Ordering::SeqCst)); // success: no rollback
    /// ```
    pub fn on_error<F>(self, f: F) -> Effect<A, E>
    where
        F: FnOnce(&Cause<E>) -> Effect<(), Never> + Send + 'static,
    {
        self.on_exit(move |exit| match exit {
            Ok(_) => succeed(()),
            Err(cause) => f(cause),
        })
    }

    /// Runs the effect `f` builds from the typed failure when this effect fails with one (to
    /// log it, count it, ...), then fails with that same failure. Defects and interruption
    /// pass by (see [`on_error`](Effect::on_error) for every cause).
    ///
    /// ```
    /// use std::sync::{Arc, Mutex};
    /// use effect::{fail, run_blocking, sync, Cause, Effect};
    ///
    /// let logged = Arc::new(Mutex::new(Vec::new()));
    /// let log = logged.clone();
    /// let failing: Effect<(), String> = fail::<(), _>("quota exceeded".to_string())
    ///     .tap_error(move |error| {
    ///         let line = format!("failed: {error}");
    ///         sync(move || log.lock().unwrap().push(line))
    ///     });
    /// assert_eq!(run_blocking(failing), Err(Cause::Fail("quota exceeded".to_string())));
    /// assert_eq!(*logged.lock().unwrap(), ["failed: quota exceeded"]);
    /// ```
    pub fn tap_error<F>(self, f: F) -> Effect<A, E>
    where
        F: FnOnce(&E) -> Effect<(), Never> + Send + 'static,
    {
        self.on_error(move |cause| match cause.failure() {
            Some(error) => f(error),
            None => succeed(()),
        })
    }

    /// Runs `finalizer` only when this effect is interrupted.
    ///
    /// ```
    /// use std::sync::atomic::{AtomicBool, Ordering};
    /// use std::sync::Arc;
    /// use effect::prelude::*;
    ///
    /// let cancelled = Arc::new(AtomicBool::new(false));
    /// let flag = cancelled.clone();
    /// let slow = sleep::<()>(secs(60)).on_interrupt(sync(move || flag.store(true, Ordering::SeqCst)));
    /// // The timeout interrupts the sleep; its finalizer has run when the timeout returns.
    /// assert_eq!(effect::run_blocking(slow.timeout(ms(1))), Ok(None));
    /// assert!(cancelled.load(Ordering::SeqCst));
    /// ```
    pub fn on_interrupt(self, finalizer: Effect<(), Never>) -> Effect<A, E> {
        self.on_exit(move |exit| match exit {
            Err(cause) if cause.is_interrupted() => finalizer,
            _ => succeed(()),
        })
    }

    /// Runs this effect with interruption disabled: an interrupt arriving meanwhile takes
    /// effect when the region ends (its result is then discarded).
    ///
    /// ```
    /// use std::sync::atomic::{AtomicBool, Ordering};
    /// use std::sync::Arc;
    /// use effect::prelude::*;
    ///
    /// let finished = Arc::new(AtomicBool::new(false));
    /// let flag = finished.clone();
    /// let critical = sleep::<()>(ms(20))
    ///     .flat_map(move |()| sync(move || flag.store(true, Ordering::SeqCst)))
    ///     .uninterruptible();
    /// // The timeout's interrupt waits for the region to end.
    /// assert_eq!(effect::run_blocking(critical.timeout(ms(1))), Ok(None));
    /// assert!(finished.load(Ordering::SeqCst));
    /// ```
    pub fn uninterruptible(self) -> Effect<A, E> {
        Effect::from_prim(Prim::Uninterruptible(Box::new(self.into_prim())))
    }

    /// Runs this effect interruptibly, even inside an uninterruptible region.
    ///
    /// ```
    /// use effect::prelude::*;
    ///
    /// // Inside an uninterruptible region, the wait is still interruptible.
    /// let waiting = sleep::<()>(secs(60)).interruptible();
    /// let region = waiting.uninterruptible();
    /// assert_eq!(effect::run_blocking(region.timeout(ms(1))), Ok(None));
    /// ```
    pub fn interruptible(self) -> Effect<A, E> {
        Effect::from_prim(Prim::Interruptible(Box::new(self.into_prim())))
    }

    /// Runs this effect with `ctx` as its whole context.
    ///
    /// ```
    /// use effect::{run_blocking, Context, Effect};
    ///
    /// #[derive(Clone)]
    /// struct Greeting(&'static str);
    ///
    /// let greet: Effect<String, ()> =
    ///     Effect::new(|ctx: Context| async move { Ok(format!("{}, world", ctx.get::<Greeting>().0)) });
    /// let provided = greet.provide_context(Context::new().with(Greeting("hello")));
    /// assert_eq!(run_blocking(provided), Ok("hello, world".to_string()));
    /// ```
    pub fn provide_context(self, ctx: Context) -> Effect<A, E> {
        Effect::from_prim(Prim::Provide(ctx, Box::new(self.into_prim())))
    }

    /// Runs this effect with `service` added to the context it would otherwise see.
    ///
    /// ```
    /// use effect::{run_blocking, Context, Effect};
    ///
    /// #[derive(Clone)]
    /// struct Port(u16);
    ///
    /// let port: Effect<u16, ()> = Effect::new(|ctx: Context| async move { Ok(ctx.get::<Port>().0) });
    /// assert_eq!(run_blocking(port.provide_service(Port(8080))), Ok(8080));
    /// ```
    pub fn provide_service<T: Send + Sync + 'static>(self, service: T) -> Effect<A, E> {
        let inner = self.into_prim();
        Effect::from_prim(Prim::WithFiber(Box::new(move |fiber| {
            Prim::Provide(fiber.ctx.clone().with(service), Box::new(inner))
        })))
    }
}
