//! Support for the code the DSL macros generate. Not a public API: the macros reach it
//! through `::effect::__private`, and its names may change at any time.
#![doc(hidden)]
#![allow(missing_docs)]

use std::future::Future;
use std::marker::PhantomData;

use crate::cause::{Cause, Exit};
use crate::effect::Effect;
pub use crate::fiber::bind::{Bound, Waiting};

/// The effect of a DSL body.
#[inline]
pub fn body<A, E, F>(future: F) -> Effect<A, E>
where
    A: Send + 'static,
    E: Send + 'static,
    F: Future<Output = Exit<A, E>> + Send + 'static,
{
    Effect::from_future(future)
}

/// What `?` binds in a DSL body: an effect, or a plain `Result`.
#[diagnostic::on_unimplemented(
    message = "`?` in an effect body binds an `Effect` or a `Result`, not `{Self}`",
    label = "this is neither an `Effect` nor a `Result`",
    note = "to fail when an `Option` is `None`, convert it first: `option.ok_or(error)?`"
)]
pub trait IntoBind {
    type Value;
    type Error;
    fn into_bind(self) -> Bound<Self::Value, Self::Error>;
}

impl<A: Send + 'static, E: Send + 'static> IntoBind for Effect<A, E> {
    type Value = A;
    type Error = E;
    #[inline]
    fn into_bind(self) -> Bound<A, E> {
        self.__into_bound()
    }
}

impl<A, E> IntoBind for Result<A, E> {
    type Value = A;
    type Error = E;
    #[inline]
    fn into_bind(self) -> Bound<A, E> {
        Bound::Ready(self.map_err(Cause::Fail))
    }
}

/// Converts a bound effect's cause into the body's error type. Method resolution picks
/// [`LiftSame`] when the two error types are (or can be inferred to be) the same, and
/// [`LiftFrom`] (with `From`) when they are known to differ.
pub struct Lift<E2, E> {
    cause: Option<Cause<E2>>,
    target: PhantomData<fn() -> E>,
}

impl<E2, E> Lift<E2, E> {
    #[inline]
    pub fn new(cause: Cause<E2>) -> Self {
        Lift {
            cause: Some(cause),
            target: PhantomData,
        }
    }

    fn take(&mut self) -> Cause<E2> {
        self.cause.take().expect("a cause is lifted once")
    }
}

pub trait LiftSame<E> {
    fn lift(&mut self) -> Cause<E>;
}

impl<E> LiftSame<E> for Lift<E, E> {
    #[inline]
    fn lift(&mut self) -> Cause<E> {
        self.take()
    }
}

pub trait LiftFrom<E> {
    fn lift(&mut self) -> Cause<E>;
}

impl<E2, E: From<E2>> LiftFrom<E> for &mut Lift<E2, E> {
    fn lift(&mut self) -> Cause<E> {
        self.take().map(E::from)
    }
}

/// Checks that a body's tail is a value of the declared type, not an unbound effect.
#[diagnostic::on_unimplemented(
    message = "the tail of this effect body is `{Self}`, but the body's value is `{A}`",
    label = "expected a `{A}` here",
    note = "the tail expression is the body's value; if it is an effect, bind it with `?`: write `expr?`"
)]
pub trait TailValue<A> {
    fn tail_value(self) -> A;
}

impl<A> TailValue<A> for A {
    #[inline]
    fn tail_value(self) -> A {
        self
    }
}

/// `catch!`: recovers the first typed failure when `handler` accepts it; an unmatched
/// failure, a defect or an interruption propagates unchanged.
pub fn catch_match<A, E, F>(effect: Effect<A, E>, handler: F) -> Effect<A, E>
where
    A: Send + 'static,
    E: Send + 'static,
    F: FnOnce(E) -> Result<Effect<A, E>, E> + Send + 'static,
{
    Effect::from_future(async move {
        let cause = match effect.await {
            Ok(value) => return Ok(value),
            Err(cause) => cause,
        };
        match cause.split_first_failure() {
            Ok((error, rebuild)) => match handler(error) {
                Ok(recovery) => recovery.await,
                Err(error) => Err(rebuild(error)),
            },
            Err(cause) => Err(cause),
        }
    })
}

/// `#[effect::test]`: runs the test's effect on a current-thread runtime whose context holds
/// a fresh [`TestClock`](crate::TestClock); fails the test on a failure (rendering the
/// cause) or when a fiber it started is still alive at the end.
pub fn run_test<E, F>(name: &str, make: F)
where
    E: std::fmt::Debug + Send + 'static,
    F: FnOnce(crate::TestClock) -> Effect<(), E>,
{
    let tokio = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("failed to start the test's tokio runtime");
    let clock = crate::TestClock::new();
    let runtime =
        crate::Runtime::new(crate::Context::new().with(crate::Clock::from(clock.clone())));
    let exit = tokio.block_on(runtime.run(make(clock)));
    let live = runtime.live_fibers();
    if live != 0 {
        // Shut the leaked fibers down (their finalizers run) before reporting, so the test
        // fails with the leak, not with whatever they would do as the runtime goes away.
        let shutdown = runtime.shutdown_timeout(std::time::Duration::from_secs(1));
        let _ = tokio.block_on(shutdown);
    }
    if let Err(cause) = exit {
        panic!("effect test `{name}` failed with cause:\n{cause:#?}");
    }
    if live != 0 {
        panic!(
            "effect test `{name}` leaked {live} fiber(s): a daemon fork or a fiber started with \
             `Runtime::fork` was still running when the test's effect finished"
        );
    }
}

/// `expr?` in a body: what to bind.
#[inline]
pub fn into_bind<B: IntoBind>(bindable: B) -> Bound<B::Value, B::Error> {
    bindable.into_bind()
}
