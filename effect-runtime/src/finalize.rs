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

use crate::cause::{Cause, Defect, Exit, Never};
use crate::context::Context;
use crate::effect::{fail_cause, succeed, Effect, Repr};
use crate::fiber::frame::{Finalizer, FinalizerExit, Prim};

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
        Effect::from_prim(Prim::Ensuring(Box::new(self.into_prim()), finalizer))
    }

    /// Runs the finalizer `f` builds from the cause when this effect does not succeed
    /// (typed failure, defect or interruption).
    pub fn on_error<F>(self, f: F) -> Effect<A, E>
    where
        F: FnOnce(&Cause<E>) -> Effect<(), Never> + Send + 'static,
    {
        self.on_exit(move |exit| match exit {
            Ok(_) => succeed(()),
            Err(cause) => f(cause),
        })
    }

    /// Runs `finalizer` only when this effect is interrupted.
    pub fn on_interrupt(self, finalizer: Effect<(), Never>) -> Effect<A, E> {
        self.on_exit(move |exit| match exit {
            Err(cause) if cause.is_interrupted() => finalizer,
            _ => succeed(()),
        })
    }

    /// Runs this effect with interruption disabled: an interrupt arriving meanwhile takes
    /// effect when the region ends (its result is then discarded).
    pub fn uninterruptible(self) -> Effect<A, E> {
        Effect::from_prim(Prim::SetInterruptible(false, Box::new(self.into_prim())))
    }

    /// Runs this effect interruptibly, even inside an uninterruptible region.
    pub fn interruptible(self) -> Effect<A, E> {
        Effect::from_prim(Prim::SetInterruptible(true, Box::new(self.into_prim())))
    }

    /// Runs this effect with `ctx` as its whole context.
    pub fn provide_context(self, ctx: Context) -> Effect<A, E> {
        Effect::from_prim(Prim::Provide(ctx, Box::new(self.into_prim())))
    }

    /// Runs this effect with `service` added to the context it would otherwise see.
    pub fn provide_service<T: Send + Sync + 'static>(self, service: T) -> Effect<A, E> {
        let inner = self.into_prim();
        Effect::from_prim(Prim::WithFiber(Box::new(move |fiber| {
            Prim::Provide(fiber.ctx.clone().with(service), Box::new(inner))
        })))
    }
}
