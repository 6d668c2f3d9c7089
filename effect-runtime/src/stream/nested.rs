//! Operators that run other streams inside this one, one after another, each in a scope of
//! its own that is closed before the next opens: `flat_map` (a stream per value), `retry` (a
//! fresh attempt after a failure) and `catch_all` (a fallback after a failure); and the
//! [`InnerScope`] the inner streams of `flat_map` and `retry` run in.

use std::sync::{Arc, Mutex};

use super::sources::{emit, end};
use super::{Pull, Step, Stream};
use crate::kernel::cause::{Cause, Never};
use crate::kernel::effect::{fail_cause, succeed, suspend, Effect};
use crate::kernel::random::Random;
use crate::ops::schedule::{Schedule, ScheduleRun, RETRIES};
use crate::ops::scope::{Scope, ScopeExit};

impl<A: Send + 'static, E: Send + 'static> Stream<A, E> {
    /// For each value, the values of the stream `f` makes of it, one inner stream after
    /// another. Each inner stream runs in a scope of its own, closed (its resources
    /// released) as soon as it ends, or when the whole run ends if it is cut short.
    ///
    /// ```
    /// use effect::{run_blocking, stream::Stream};
    ///
    /// let repeated = Stream::<u32, String>::from_iter(1..=3).flat_map(|n| Stream::from_iter(vec![n; n as usize]));
    /// assert_eq!(run_blocking(repeated.run_collect()), Ok(vec![1, 2, 2, 3, 3, 3]));
    /// ```
    pub fn flat_map<B, F>(self, f: F) -> Stream<B, E>
    where
        B: Send + 'static,
        F: FnMut(A) -> Stream<B, E> + Send + 'static,
    {
        fn next<A, B, E, F>(
            outer: Option<Pull<A, E>>,
            mut pending: std::vec::IntoIter<A>,
            mut f: F,
            inner: InnerScope,
        ) -> Pull<B, E>
        where
            A: Send + 'static,
            B: Send + 'static,
            E: Send + 'static,
            F: FnMut(A) -> Stream<B, E> + Send + 'static,
        {
            suspend(move || match pending.next() {
                Some(value) => {
                    let scope = inner.start();
                    let pull = f(value).open(scope);
                    drain(pull, outer, pending, f, inner)
                }
                None => match outer {
                    None => end(),
                    Some(outer) => outer.flat_map(move |step| match step {
                        Step::Emit(chunk, rest) => next(Some(*rest), chunk.into_iter(), f, inner),
                        Step::End => end(),
                    }),
                },
            })
        }
        fn drain<A, B, E, F>(
            pull: Pull<B, E>,
            outer: Option<Pull<A, E>>,
            pending: std::vec::IntoIter<A>,
            f: F,
            inner: InnerScope,
        ) -> Pull<B, E>
        where
            A: Send + 'static,
            B: Send + 'static,
            E: Send + 'static,
            F: FnMut(A) -> Stream<B, E> + Send + 'static,
        {
            pull.flat_map(move |step| match step {
                Step::Emit(chunk, rest) => emit(chunk, drain(*rest, outer, pending, f, inner)),
                Step::End => {
                    let close = inner.close(Ok(()));
                    close
                        .widen()
                        .flat_map(move |()| next(outer, pending, f, inner))
                }
            })
        }
        Stream::from_open(move |scope| {
            let inner = InnerScope::new(&scope);
            next(Some(self.open(scope)), Vec::new().into_iter(), f, inner)
        })
    }

    /// On a typed failure, continues with the stream `f` makes of the error. What this stream
    /// acquired is released first, its releases seeing the failure; then the fallback opens.
    /// Values already emitted stay emitted; defects and interruption are not recovered.
    ///
    /// ```
    /// use effect::{run_blocking, stream::Stream};
    ///
    /// let recovered = Stream::<u32, &str>::from_iter([1, 2])
    ///     .concat(Stream::fail("broken"))
    ///     .catch_all(|_| Stream::<u32, String>::from_iter([0]));
    /// assert_eq!(run_blocking(recovered.run_collect()), Ok(vec![1, 2, 0]));
    /// ```
    pub fn catch_all<E2, F>(self, f: F) -> Stream<A, E2>
    where
        E2: Send + 'static,
        F: FnOnce(E) -> Stream<A, E2> + Send + 'static,
    {
        // This stream runs in a child scope of the stream's, closed with the failure, so
        // that what it acquired is released (seeing the failure) before the fallback opens.
        fn pull<A, E, E2, F>(upstream: Pull<A, E>, f: F, scope: Scope, own: Scope) -> Pull<A, E2>
        where
            A: Send + 'static,
            E: Send + 'static,
            E2: Send + 'static,
            F: FnOnce(E) -> Stream<A, E2> + Send + 'static,
        {
            upstream.result().flat_map(move |step| match step {
                Ok(Step::Emit(chunk, rest)) => emit(chunk, pull(*rest, f, scope, own)),
                Ok(Step::End) => end(),
                Err(error) => own
                    .close_effect(Err(Cause::Fail(())))
                    .widen()
                    .flat_map(move |()| f(error).open(scope)),
            })
        }
        Stream::from_open(move |scope| {
            let own = scope.child();
            pull(self.open(own.clone()), f, scope, own)
        })
    }

    /// The stream `make` builds, started again from scratch on a typed failure, after the
    /// delay `schedule` chooses (shown the error), on the context's clock; each attempt's
    /// resources are released before the next starts. Values an attempt emitted before it
    /// failed stay emitted. When the schedule stops, the stream fails with the last error.
    ///
    /// ```
    /// use std::sync::atomic::{AtomicU32, Ordering};
    /// use std::sync::Arc;
    /// use effect::{run_blocking, stream::Stream, Schedule};
    ///
    /// let attempts = Arc::new(AtomicU32::new(0));
    /// let counter = attempts.clone();
    /// let flaky = move || match counter.fetch_add(1, Ordering::SeqCst) {
    ///     0 => Stream::fail("connection reset".to_string()),
    ///     _ => Stream::from_iter([1, 2]),
    /// };
    /// let stream = Stream::retry(flaky, Schedule::recurs(3));
    /// assert_eq!(run_blocking(stream.run_collect()), Ok(vec![1, 2]));
    /// assert_eq!(attempts.load(Ordering::SeqCst), 2);
    /// ```
    pub fn retry<F>(make: F, schedule: Schedule<E>) -> Stream<A, E>
    where
        F: Fn() -> Stream<A, E> + Send + Sync + 'static,
    {
        struct Attempts<A, E, F> {
            make: F,
            run: ScheduleRun<E>,
            inner: InnerScope,
            _values: std::marker::PhantomData<fn() -> (A, E)>,
        }
        fn attempt<A, E, F>(state: Attempts<A, E, F>) -> Pull<A, E>
        where
            A: Send + 'static,
            E: Send + 'static,
            F: Fn() -> Stream<A, E> + Send + Sync + 'static,
        {
            let scope = state.inner.start();
            let pull = (state.make)().open(scope);
            guard(pull, state)
        }
        fn guard<A, E, F>(pull: Pull<A, E>, mut state: Attempts<A, E, F>) -> Pull<A, E>
        where
            A: Send + 'static,
            E: Send + 'static,
            F: Fn() -> Stream<A, E> + Send + Sync + 'static,
        {
            pull.result().flat_map(move |step| match step {
                Ok(Step::Emit(chunk, rest)) => emit(chunk, guard(*rest, state)),
                Ok(Step::End) => end(),
                Err(error) => match state.run.next_counted(&error, RETRIES) {
                    Some(delay) => {
                        let close = state.inner.close(Err(Cause::Fail(())));
                        // `sleep` reads the context's clock.
                        close
                            .widen()
                            .flat_map(move |()| crate::ops::time::sleep(delay))
                            .flat_map(move |()| attempt(state))
                    }
                    None => fail_cause(Cause::Fail(error)),
                },
            })
        }
        Stream::from_open(move |scope| {
            let inner = InnerScope::new(&scope);
            Effect::new(move |ctx| async move {
                let state = Attempts {
                    make,
                    run: schedule.start_run(&Random::of(&ctx)),
                    inner,
                    _values: std::marker::PhantomData,
                };
                attempt(state).await
            })
        })
    }
}

/// The scope of the inner stream running now (of `flat_map`, or an attempt of `retry`): a
/// child of the stream's scope, made as each inner stream starts, so that on a failure, an
/// early stop or an interruption the stream's scope closes it before what the outer stream
/// acquired earlier (a cursor before its connection). An inner stream that ends closes its
/// scope at once, which takes it out of the stream's scope: a run over a million inner
/// streams holds one at a time.
pub(crate) struct InnerScope {
    parent: Scope,
    current: Arc<Mutex<Option<Scope>>>,
}

impl InnerScope {
    pub(crate) fn new(parent: &Scope) -> Self {
        InnerScope {
            parent: parent.clone(),
            current: Arc::default(),
        }
    }

    /// A fresh scope for the next inner stream.
    pub(crate) fn start(&self) -> Scope {
        let scope = self.parent.child();
        *self.current.lock().unwrap_or_else(|p| p.into_inner()) = Some(scope.clone());
        scope
    }

    /// Closes the inner scope open now, if any.
    pub(crate) fn close(&self, exit: ScopeExit) -> Effect<(), Never> {
        match self
            .current
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take()
        {
            Some(scope) => scope.close_effect(exit),
            None => succeed(()),
        }
    }
}
