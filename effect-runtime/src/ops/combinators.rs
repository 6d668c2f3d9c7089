//! Sequencing and transforming effects: `map`, `flat_map`, `zip`, `tap`.

use crate::kernel::effect::Effect;
use crate::kernel::then::{then, GoOn};

impl<A: Send + 'static, E: Send + 'static> Effect<A, E> {
    /// Transforms the success value with `f`. Failures pass through unchanged.
    ///
    /// ```
    /// use effect::{run_blocking, succeed, Effect};
    ///
    /// let doubled: Effect<u32, ()> = succeed(21).map(|n| n * 2);
    /// assert_eq!(run_blocking(doubled), Ok(42));
    /// ```
    pub fn map<B, F>(self, f: F) -> Effect<B, E>
    where
        B: Send + 'static,
        F: FnOnce(A) -> B + Send + 'static,
    {
        // On the interpreter's stack: no body, no bind.
        then(self, move |exit| GoOn::Exit(exit.map(f)))
    }

    /// Runs `self`, then the effect `f` builds from its value (the monadic bind). A failure of
    /// `self` skips `f`.
    ///
    /// ```
    /// use effect::{fail, run_blocking, succeed, Effect};
    ///
    /// let checked: Effect<u32, String> =
    ///     succeed(7).flat_map(|n| if n > 5 { fail(format!("{n} is too big")) } else { succeed(n) });
    /// assert_eq!(run_blocking(checked).unwrap_err().failure(), Some(&"7 is too big".to_string()));
    /// ```
    pub fn flat_map<B, F>(self, f: F) -> Effect<B, E>
    where
        B: Send + 'static,
        F: FnOnce(A) -> Effect<B, E> + Send + 'static,
    {
        then(self, move |exit| match exit {
            Ok(value) => GoOn::Run(f(value)),
            Err(cause) => GoOn::Exit(Err(cause)),
        })
    }

    /// Runs `self` then `other`, sequentially, and succeeds with both values. The first
    /// failure ends the pair (`other` does not run if `self` fails).
    ///
    /// ```
    /// use effect::{fail, run_blocking, succeed, Effect};
    ///
    /// let both: Effect<(u32, &str), ()> = succeed(1).zip(succeed("one"));
    /// assert_eq!(run_blocking(both), Ok((1, "one")));
    /// let first_fails: Effect<(u32, u32), &str> = fail("no").zip(succeed(2));
    /// assert!(run_blocking(first_fails).is_err());
    /// ```
    pub fn zip<B: Send + 'static>(self, other: Effect<B, E>) -> Effect<(A, B), E> {
        Effect::from_future(async move {
            let a = self.await?;
            let b = other.await?;
            Ok((a, b))
        })
    }

    /// Runs the effect `f` builds from a reference to the value, for its side effect, and
    /// keeps the original value. A failure of the tap fails the whole.
    ///
    /// ```
    /// use std::sync::{Arc, Mutex};
    /// use effect::{run_blocking, succeed, sync, Effect};
    ///
    /// let seen = Arc::new(Mutex::new(None));
    /// let log = seen.clone();
    /// let value: Effect<u32, ()> = succeed(5).tap(move |n| {
    ///     let n = *n;
    ///     sync(move || *log.lock().unwrap() = Some(n))
    /// });
    /// assert_eq!(run_blocking(value), Ok(5));
    /// assert_eq!(*seen.lock().unwrap(), Some(5));
    /// ```
    pub fn tap<X, F>(self, f: F) -> Effect<A, E>
    where
        X: Send + 'static,
        F: FnOnce(&A) -> Effect<X, E> + Send + 'static,
    {
        Effect::from_future(async move {
            let a = self.await?;
            f(&a).await?;
            Ok(a)
        })
    }

    /// Replaces the success value with `value`.
    ///
    /// ```
    /// use effect::{run_blocking, sleep, ms, Effect};
    ///
    /// let done: Effect<&str, ()> = sleep(ms(1)).as_value("done");
    /// assert_eq!(run_blocking(done), Ok("done"));
    /// ```
    pub fn as_value<B: Send + 'static>(self, value: B) -> Effect<B, E> {
        self.map(move |_| value)
    }
}
