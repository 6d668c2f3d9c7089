//! Handling failures: `map_err`, `catch_all`, `catch_some`, `or_else`, `fold`, `option`,
//! `result`.
//!
//! Typed handlers see typed failures only. A cause made only of defects or interruption is
//! never handed to them; it passes through unchanged. When a cause holds a typed failure and
//! something else (a finalizer's defect, a sibling's failure), the handler receives the first
//! failure and owns the outcome from then on.

use std::fmt::Display;

use crate::kernel::cause::Cause;
use crate::kernel::effect::{succeed, Effect};
use crate::kernel::then::{then, GoOn};

impl<A: Send + 'static, E: Send + 'static> Effect<A, E> {
    /// Transforms every typed failure in the cause with `f`.
    ///
    /// ```
    /// use effect::{fail, run_blocking, Effect};
    ///
    /// let parsed: Effect<u32, String> = fail::<u32, _>(404).map_err(|code| format!("HTTP {code}"));
    /// assert_eq!(run_blocking(parsed).unwrap_err().failure(), Some(&"HTTP 404".to_string()));
    /// ```
    pub fn map_err<E2, F>(self, mut f: F) -> Effect<A, E2>
    where
        E2: Send + 'static,
        F: FnMut(E) -> E2 + Send + 'static,
    {
        then(self, move |exit| {
            GoOn::Exit(exit.map_err(|cause| cause.map(&mut f)))
        })
    }

    /// Converts the typed failure with `Into`, e.g. into an application-wide error type.
    ///
    /// ```
    /// use effect::{fail, run_blocking, Effect};
    ///
    /// #[derive(Debug, PartialEq)]
    /// enum AppError { Io(String) }
    /// impl From<std::io::ErrorKind> for AppError {
    ///     fn from(kind: std::io::ErrorKind) -> Self { AppError::Io(format!("{kind:?}")) }
    /// }
    ///
    /// let read: Effect<Vec<u8>, std::io::ErrorKind> = fail(std::io::ErrorKind::NotFound);
    /// let app: Effect<Vec<u8>, AppError> = read.err_into();
    /// assert_eq!(run_blocking(app).unwrap_err().failure(), Some(&AppError::Io("NotFound".into())));
    /// ```
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
        then(self, move |exit| match exit {
            Ok(a) => GoOn::Exit(Ok(a)),
            Err(cause) => match cause.failure_or_cause() {
                Ok(error) => GoOn::Run(f(error)),
                Err(unrecoverable) => GoOn::Exit(Err(unrecoverable.widen())),
            },
        })
    }

    /// Recovers from the failures `f` chooses to handle (returning `Some(effect)`); any other
    /// cause propagates unchanged.
    ///
    /// ```
    /// use effect::{fail, run_blocking, succeed, Effect};
    ///
    /// #[derive(Debug, PartialEq)]
    /// enum Error { NotFound, Forbidden }
    ///
    /// let lookup = |error: Error| -> Effect<&'static str, Error> {
    ///     fail(error).catch_some(|e| matches!(e, Error::NotFound).then(|| succeed("default")))
    /// };
    /// assert_eq!(run_blocking(lookup(Error::NotFound)), Ok("default"));
    /// assert_eq!(run_blocking(lookup(Error::Forbidden)).unwrap_err().failure(), Some(&Error::Forbidden));
    /// ```
    pub fn catch_some<F>(self, f: F) -> Effect<A, E>
    where
        F: FnOnce(&E) -> Option<Effect<A, E>> + Send + 'static,
    {
        then(self, move |exit| {
            let cause = match exit {
                Ok(a) => return GoOn::Exit(Ok(a)),
                Err(cause) => cause,
            };
            match cause.failure().and_then(f) {
                Some(recovery) => GoOn::Run(recovery),
                None => GoOn::Exit(Err(cause)),
            }
        })
    }

    /// Recovers from any cause (typed failure, defect, or an interruption delivered as a
    /// value, e.g. by joining an interrupted fiber) with the effect `f` builds from it.
    /// This fiber's own interruption is never recovered.
    ///
    /// ```
    /// use effect::{die, run_blocking, succeed, Effect};
    ///
    /// let crashed: Effect<String, String> = die("bug in parser");
    /// let reported: Effect<String, String> =
    ///     crashed.catch_all_cause(|cause| succeed(format!("recovered from a defect: {}", cause.is_die())));
    /// assert_eq!(run_blocking(reported), Ok("recovered from a defect: true".to_string()));
    /// ```
    pub fn catch_all_cause<E2, F>(self, f: F) -> Effect<A, E2>
    where
        E2: Send + 'static,
        F: FnOnce(Cause<E>) -> Effect<A, E2> + Send + 'static,
    {
        then(self, move |exit| match exit {
            Ok(a) => GoOn::Exit(Ok(a)),
            Err(cause) => GoOn::Run(f(cause)),
        })
    }

    /// Runs `that` instead when `self` fails with a typed failure.
    ///
    /// ```
    /// use effect::{fail, run_blocking, succeed, Effect};
    ///
    /// let primary: Effect<&str, &str> = fail("primary down");
    /// let with_backup: Effect<&str, ()> = primary.or_else(succeed("from backup"));
    /// assert_eq!(run_blocking(with_backup), Ok("from backup"));
    /// ```
    pub fn or_else<E2: Send + 'static>(self, that: Effect<A, E2>) -> Effect<A, E2> {
        self.catch_all(move |_| that)
    }

    /// Folds both outcomes into a value: `on_failure` for a typed failure, `on_success` for
    /// a value. Defects and interruption pass through.
    ///
    /// ```
    /// use effect::{fail, run_blocking, succeed, Effect};
    ///
    /// let describe = |effect: Effect<u32, &'static str>| -> Effect<String, ()> {
    ///     effect.fold(|e| format!("failed: {e}"), |n| format!("got {n}"))
    /// };
    /// assert_eq!(run_blocking(describe(succeed(3))), Ok("got 3".to_string()));
    /// assert_eq!(run_blocking(describe(fail("nope"))), Ok("failed: nope".to_string()));
    /// ```
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
    ///
    /// ```
    /// use effect::prelude::*;
    ///
    /// #[effect]
    /// fn attempts() -> Effect<Vec<Result<u32, String>>, Never> {
    ///     let first = succeed::<u32, String>(1).result()?;
    ///     let second = fail::<u32, _>("no".to_string()).result()?;
    ///     vec![first, second]
    /// }
    /// assert_eq!(effect::run_blocking(attempts()), Ok(vec![Ok(1), Err("no".to_string())]));
    /// ```
    pub fn result<E2: Send + 'static>(self) -> Effect<Result<A, E>, E2> {
        self.fold(Err, Ok)
    }

    /// Turns a typed failure into a defect (for failures that mean a bug).
    ///
    /// ```
    /// use effect::{fail, run_blocking, Effect};
    ///
    /// let config: Effect<u32, String> = fail("missing key `port`".to_string());
    /// let must_have: Effect<u32, String> = config.or_die();
    /// let cause = run_blocking(must_have).unwrap_err();
    /// assert!(cause.is_die());
    /// assert!(cause.to_string().contains("missing key `port`"));
    /// ```
    pub fn or_die<E2: Send + 'static>(self) -> Effect<A, E2>
    where
        E: Display,
    {
        then(self, move |exit| {
            GoOn::Exit(exit.map_err(|cause| match cause.failure_or_cause() {
                Ok(error) => Cause::die(error.to_string()),
                Err(other) => other.widen(),
            }))
        })
    }

    /// Discards the value and any typed failure; defects and interruption still propagate.
    /// Handy for finalizers, which are `Effect<(), Never>`.
    ///
    /// ```
    /// use effect::{fail, run_blocking, sync, Effect, Never};
    ///
    /// // A best-effort cleanup step whose failure must not fail the finalizer.
    /// let flush: Effect<(), std::io::ErrorKind> = fail(std::io::ErrorKind::BrokenPipe);
    /// let finalizer: Effect<(), Never> = flush.ignore();
    /// let work: Effect<u32, ()> = sync(|| 7).ensuring(finalizer);
    /// assert_eq!(run_blocking(work), Ok(7));
    /// ```
    pub fn ignore<E2: Send + 'static>(self) -> Effect<(), E2> {
        self.fold(|_| (), |_| ())
    }
}
