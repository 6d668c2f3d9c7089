//! Handling failures: `map_err`, `catch_all`, `catch_some`, `or_else`, `fold`, `option`,
//! `result`.
//!
//! Typed handlers see typed failures only. A cause made only of defects or interruption is
//! never handed to them; it passes through unchanged. When a cause holds a typed failure and
//! something else (a finalizer's defect, a sibling's failure), the handler receives the first
//! failure and owns the outcome from then on.

use std::fmt::Display;

use crate::cause::Cause;
use crate::effect::{succeed, Effect};

impl<A: Send + 'static, E: Send + 'static> Effect<A, E> {
    /// Transforms every typed failure in the cause with `f`.
    pub fn map_err<E2, F>(self, mut f: F) -> Effect<A, E2>
    where
        E2: Send + 'static,
        F: FnMut(E) -> E2 + Send + 'static,
    {
        Effect::from_future(async move { self.await.map_err(|cause| cause.map(&mut f)) })
    }

    /// Converts the typed failure with `Into`, e.g. into an application-wide error type.
    pub fn err_into<E2>(self) -> Effect<A, E2>
    where
        E2: Send + 'static,
        E: Into<E2>,
    {
        self.map_err(Into::into)
    }

    /// Recovers from a typed failure with the effect `f` builds from it. Defects and
    /// interruption are not recovered.
    ///
    /// ```
    /// use effect::{die, fail, run_blocking, succeed, Effect};
    ///
    /// let recovered: Effect<u32, ()> = fail("boom").catch_all(|e: &str| succeed(e.len() as u32));
    /// assert_eq!(run_blocking(recovered), Ok(4));
    ///
    /// let defect: Effect<u32, ()> = die::<u32, &str>("bug").catch_all(|_| succeed(0));
    /// assert!(run_blocking(defect).unwrap_err().is_die());
    /// ```
    pub fn catch_all<E2, F>(self, f: F) -> Effect<A, E2>
    where
        E2: Send + 'static,
        F: FnOnce(E) -> Effect<A, E2> + Send + 'static,
    {
        Effect::from_future(async move {
            match self.await {
                Ok(a) => Ok(a),
                Err(cause) => match cause.failure_or_cause() {
                    Ok(error) => f(error).await,
                    Err(unrecoverable) => Err(unrecoverable.widen()),
                },
            }
        })
    }

    /// Recovers from the failures `f` chooses to handle (returning `Some(effect)`); any other
    /// cause propagates unchanged.
    pub fn catch_some<F>(self, f: F) -> Effect<A, E>
    where
        F: FnOnce(&E) -> Option<Effect<A, E>> + Send + 'static,
    {
        Effect::from_future(async move {
            let cause = match self.await {
                Ok(a) => return Ok(a),
                Err(cause) => cause,
            };
            match cause.failure().and_then(f) {
                Some(recovery) => recovery.await,
                None => Err(cause),
            }
        })
    }

    /// Recovers from any cause (typed failure, defect, or an interruption delivered as a
    /// value, e.g. by joining an interrupted fiber) with the effect `f` builds from it.
    /// This fiber's own interruption is never recovered.
    pub fn catch_all_cause<E2, F>(self, f: F) -> Effect<A, E2>
    where
        E2: Send + 'static,
        F: FnOnce(Cause<E>) -> Effect<A, E2> + Send + 'static,
    {
        Effect::from_future(async move {
            match self.await {
                Ok(a) => Ok(a),
                Err(cause) => f(cause).await,
            }
        })
    }

    /// Runs `that` instead when `self` fails with a typed failure.
    pub fn or_else<E2: Send + 'static>(self, that: Effect<A, E2>) -> Effect<A, E2> {
        self.catch_all(move |_| that)
    }

    /// Folds both outcomes into a value: `on_failure` for a typed failure, `on_success` for
    /// a value. Defects and interruption pass through.
    pub fn fold<B, E2, F, S>(self, on_failure: F, on_success: S) -> Effect<B, E2>
    where
        B: Send + 'static,
        E2: Send + 'static,
        F: FnOnce(E) -> B + Send + 'static,
        S: FnOnce(A) -> B + Send + 'static,
    {
        self.map(on_success)
            .catch_all(move |error| succeed(on_failure(error)))
    }

    /// `Some(value)` on success, `None` on a typed failure: the guide's fail-safe pattern.
    ///
    /// ```
    /// use effect::{fail, run_blocking, succeed, Effect};
    ///
    /// let ok: Effect<Option<u32>, ()> = succeed::<u32, &str>(1).option();
    /// let failed: Effect<Option<u32>, ()> = fail::<u32, &str>("down").option();
    /// assert_eq!(run_blocking(ok), Ok(Some(1)));
    /// assert_eq!(run_blocking(failed), Ok(None));
    /// ```
    pub fn option<E2: Send + 'static>(self) -> Effect<Option<A>, E2> {
        self.fold(|_| None, Some)
    }

    /// The typed outcome as a value: `Ok(value)` or `Err(error)`. Defects and interruption
    /// pass through.
    pub fn result<E2: Send + 'static>(self) -> Effect<Result<A, E>, E2> {
        self.fold(Err, Ok)
    }

    /// Turns a typed failure into a defect (for failures that mean a bug).
    pub fn or_die<E2: Send + 'static>(self) -> Effect<A, E2>
    where
        E: Display,
    {
        Effect::from_future(async move {
            self.await.map_err(|cause| match cause.failure_or_cause() {
                Ok(error) => Cause::die(error.to_string()),
                Err(other) => other.widen(),
            })
        })
    }

    /// Discards the value and any typed failure; defects and interruption still propagate.
    /// Handy for finalizers, which are `Effect<(), Never>`.
    pub fn ignore<E2: Send + 'static>(self) -> Effect<(), E2> {
        self.fold(|_| (), |_| ())
    }
}
