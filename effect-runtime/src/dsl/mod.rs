//! Support for the code the DSL macros generate. The traits here appear in compile errors
//! (the facade re-exports them as `effect::dsl`), so their names say what the DSL expects;
//! the rest is reached through `::effect::__private` and may change at any time.
#![allow(missing_docs)]

use std::cell::Cell;
use std::convert::Infallible;
use std::future::{Future, IntoFuture};
use std::marker::PhantomData;

use crate::kernel::cause::{Cause, Exit};
use crate::kernel::effect::Effect;

mod entry;
mod instrument;
mod statement;
pub use crate::kernel::fiber::bind::{Bound, Waiting};
pub use crate::kernel::fiber::frame::PollBody;
pub use entry::*;
pub use instrument::*;
pub use statement::*;

/// The return type of an `#[effect]` fn: `Effect<A, E>`, or any alias of it
/// (`type AppEffect<A> = Effect<A, AppError>;`). The body's value and error types are read
/// through this trait, so the macro never has to parse them.
#[diagnostic::on_unimplemented(
    message = "an #[effect] fn returns `Effect<A, E>`, not `{Self}`",
    label = "expected `Effect<Value, Error>` (or an alias of it) here",
    note = "the body's tail is the value; failures leave it with `fail(error)?`"
)]
/// ```
/// use effect::prelude::*;
/// use effect::dsl::EffectType;
///
/// type AppEffect<A> = Effect<A, String>;
///
/// #[effect]
/// fn answer() -> AppEffect<u32> {
///     42
/// }
///
/// fn fails_with_string<T: EffectType<Value = u32, Error = String>>(_: &T) {}
/// fails_with_string(&answer());
/// assert_eq!(effect::run_blocking(answer()), Ok(42));
/// ```
pub trait EffectType: Sized {
    /// The success value.
    type Value: Send + 'static;
    /// The typed failure.
    type Error: Send + 'static;
    #[doc(hidden)]
    fn from_effect(effect: Effect<Self::Value, Self::Error>) -> Self;

    /// The effect of a DSL body whose type is declared (an `#[effect]` fn's return type);
    /// `poll` is `Future::poll`, reified by the expansion (see [`block`]).
    #[doc(hidden)]
    #[inline]
    fn from_body<F>(future: F, poll: PollBody<F>) -> Self
    where
        F: Future<Output = Result<Self::Value, BodyFailure<Self::Error>>> + Send + 'static,
    {
        Self::from_effect(Effect::from_body(future, poll))
    }
}

#[diagnostic::do_not_recommend]
impl<A: Send + 'static, E: Send + 'static> EffectType for Effect<A, E> {
    type Value = A;
    type Error = E;
    #[inline]
    fn from_effect(effect: Effect<A, E>) -> Self {
        effect
    }
}

/// A DSL body whose types are inferred (`effect_block!`, clause branches), on its way to
/// being an effect: `block(future, poll).effect()`; `poll` is the body's `Future::poll` (see
/// [`PollBody`]).
///
/// Two steps, so the bounds on the body's types are required after the body is type
/// checked, not before: when nothing settles the error type, rustc then reports the user's
/// `let` as the place to annotate ("type annotations needed for `Effect<i32, _>`"),
/// not a bound of this function.
#[inline]
pub fn block<F: Future>(future: F, poll: PollBody<F>) -> Block<F> {
    Block { future, poll }
}

/// See [`block`].
pub struct Block<F: Future> {
    future: F,
    poll: PollBody<F>,
}

impl<F: Future> Block<F> {
    /// The body's effect.
    #[inline]
    pub fn effect<A, E>(self) -> Effect<A, E>
    where
        A: Send + 'static,
        E: Send + 'static,
        F: Future<Output = Exit<A, E>> + Send + 'static,
    {
        Effect::from_body(self.future, self.poll)
    }
}

/// What `?` binds in a DSL body: an effect, or a plain `Result`.
#[diagnostic::on_unimplemented(
    message = "`?` in an effect body binds an `Effect` or a `Result`, not `{Self}`",
    label = "this is neither an `Effect` nor a `Result`",
    note = "to fail when an `Option` is `None`, convert it first: `option.ok_or(error)?`"
)]
/// ```
/// use effect::prelude::*;
///
/// #[effect]
/// fn parse_then_wait(text: String) -> Effect<u32, String> {
///     let n = text.parse::<u32>().map_err(|e| e.to_string())?; // binds a `Result`
///     sleep(ms(1))?; // binds an `Effect`
///     n
/// }
/// assert_eq!(effect::run_blocking(parse_then_wait("12".into())), Ok(12));
/// assert!(effect::run_blocking(parse_then_wait("x".into())).is_err());
/// ```
pub trait Bindable {
    /// The value `?` gives.
    type Value;
    /// The error `?` fails the body with (converted with `From`).
    type Error;
    #[doc(hidden)]
    fn into_bind(self) -> Bound<Self::Value, Self::Error>;
}

#[diagnostic::do_not_recommend]
impl<A: Send + 'static, E: Send + 'static> Bindable for Effect<A, E> {
    type Value = A;
    type Error = E;
    #[inline]
    fn into_bind(self) -> Bound<A, E> {
        self.__into_bound()
    }
}

#[diagnostic::do_not_recommend]
impl<A, E> Bindable for Result<A, E> {
    type Value = A;
    type Error = E;
    #[inline]
    fn into_bind(self) -> Bound<A, E> {
        Bound::Ready(self.map_err(Cause::Fail))
    }
}

/// Checks that a body's tail (or a `return`ed value) is a value of the declared type, not an
/// unbound effect.
#[diagnostic::on_unimplemented(
    message = "the tail of this effect body is `{Self}`, but the body's value is `{A}`",
    label = "expected a `{A}` here",
    note = "the tail expression is the body's value; if it is an effect, bind it with `?`: write `expr?`"
)]
/// ```compile_fail
/// use effect::prelude::*;
///
/// #[effect]
/// fn doubled(n: u32) -> Effect<u32, Never> {
///     succeed(n * 2) // refused: the tail is an unbound effect; write `succeed(n * 2)?` or `n * 2`
/// }
/// ```
pub trait BodyValue<A> {
    #[doc(hidden)]
    fn body_value(self) -> A;
}

#[diagnostic::do_not_recommend]
impl<A> BodyValue<A> for A {
    #[inline]
    fn body_value(self) -> A {
        self
    }
}

/// A bound failure on its way out of an `effect_block!`, whose error type is inferred. An
/// effect that cannot fail (`Effect<A, Never>`) binds in a block of any error type: its
/// cause is widened here (an inherent method, found before the trait method every other
/// cause uses). So a bound effect whose error type is still open is taken to be `Never`:
/// a generic constructor whose error type must convert from something
/// (`queue.offer::<E>(x)`) needs it spelled in a block; `#[effect]` fns, whose error type is
/// declared, settle it with [`WidenTo`] instead.
pub struct Widen<E>(pub Cause<E>);

impl Widen<Infallible> {
    /// A `Cause<Never>` holds no failure, only defects and interruptions: any `E` fits
    /// (inferred from the body).
    #[inline]
    pub fn widen<E>(self) -> Cause<E> {
        self.0.map(|never| match never {})
    }
}

/// See [`Widen`]: any other cause stays as it is (the block's error type is inferred from
/// it).
pub trait WidenAny<E2> {
    /// The cause as it is.
    fn widen(self) -> Cause<E2>;
}

impl<E2> WidenAny<E2> for Widen<E2> {
    #[inline]
    fn widen(self) -> Cause<E2> {
        self.0
    }
}

/// A bound exit on its way into a body whose error type `E` is declared:
/// `WidenTo::new(exit, marker).widen_to()?`, one expression, the `?` the user's own. The
/// bound effect's error type `E1` is settled by which method is found first:
///
/// 1. By value, [`WidenSame`]: `E1` is `E`, or still unknown (a generic constructor such as
///    `queue.offer(x)` or `sleep(d)`), which makes it `E`: so `queue.offer(x)?` binds in a
///    body whose error type converts from `QueueShutdown`, as in plain Rust.
/// 2. By reference, the inherent method on `WidenTo<A, Never, E>`: an effect that cannot
///    fail binds in a body of any error type.
/// 3. By mutable reference, [`WidenOther`]: any other error type fails as a
///    [`BoundFailure`], which the body's `?` converts with `From`.
///
/// The `?` is a real one, so a missing `From` reads as plain Rust's, and it is the only
/// match on the exit: a bind is a call, a probe and a `?` (its MIR a fifth smaller than
/// with a match of its own, which is what borrow checking a body costs). The exit sits in
/// a `Cell` because the second method takes it through a shared reference; the optimizer
/// removes it. Every method is generic over the types only, so every bind of the same
/// types in a crate shares its code.
pub struct WidenTo<A, E1, E>(Cell<Option<Exit<A, E1>>>, PhantomData<fn() -> E>);

impl<A, E1, E> WidenTo<A, E1, E> {
    /// The exit of a bind, in a body whose error type is the one of `marker`.
    #[inline]
    pub fn new(exit: Exit<A, E1>, _marker: PhantomData<fn() -> E>) -> Self {
        WidenTo(Cell::new(Some(exit)), PhantomData)
    }

    #[inline]
    fn take(&self) -> Exit<A, E1> {
        match self.0.take() {
            Some(exit) => exit,
            None => unreachable!("a bound exit is widened once"),
        }
    }
}

impl<A, E> WidenTo<A, Infallible, E> {
    /// A `Cause<Never>` holds no failure, only defects and interruptions: any `E` fits.
    #[inline]
    pub fn widen_to(&self) -> Result<A, Cause<E>> {
        self.take()
            .map_err(|cause| cause.map(|never| match never {}))
    }
}

/// See [`WidenTo`]: the bound effect's error type is the body's (or becomes it).
pub trait WidenSame<A, E> {
    /// The exit as it is.
    fn widen_to(self) -> Result<A, Cause<E>>;
}

impl<A, E> WidenSame<A, E> for WidenTo<A, E, E> {
    #[inline]
    fn widen_to(self) -> Result<A, Cause<E>> {
        self.take()
    }
}

/// See [`WidenTo`]: a bound effect of another error type, converted by the body's `?`.
pub trait WidenOther<A, E1> {
    /// The exit, its failure for the body to convert.
    fn widen_to(&mut self) -> Result<A, BoundFailure<E1>>;
}

impl<A, E1, E> WidenOther<A, E1> for WidenTo<A, E1, E> {
    #[inline]
    fn widen_to(&mut self) -> Result<A, BoundFailure<E1>> {
        self.take().map_err(BoundFailure)
    }
}

/// The failure of an effect bound with `?` in a body whose error type is another: the body's
/// `?` turns it into its own ([`BodyFailure`]), converting each typed failure with `From`.
/// Without such a `From`, rustc says so as it does for any `?`:
///
/// ```compile_fail,E0277
/// use effect::prelude::*;
///
/// #[derive(Debug)]
/// struct AppError;
///
/// #[effect]
/// fn parse(text: String) -> Effect<u32, std::num::ParseIntError> {
///     text.parse::<u32>()?
/// }
///
/// #[effect]
/// fn load() -> Effect<u32, AppError> {
///     parse("7".to_string())? // `?` couldn't convert the error to `AppError`
/// }
/// ```
pub struct BoundFailure<E1>(Cause<E1>);

/// How a body whose error type is declared fails: its async block's output is
/// `Result<A, BodyFailure<E>>`, and the frame running it turns that into the `Exit<A, E>`.
///
/// It is not `Cause<E>` itself because a `?` on a [`BoundFailure`] converts into it with
/// `From`, and `Cause<E>` already converts from `E` (for `Err(e)?` in `Effect::new`): the two
/// impls would overlap.
///
/// ```
/// use effect::prelude::*;
///
/// #[derive(Debug, PartialEq)]
/// struct AppError(String);
///
/// impl From<std::num::ParseIntError> for AppError {
///     fn from(error: std::num::ParseIntError) -> Self {
///         AppError(error.to_string())
///     }
/// }
///
/// #[effect]
/// fn parse(text: String) -> Effect<u32, AppError> {
///     // A `ParseIntError` leaves the body as an `AppError`, through `From`.
///     text.parse::<u32>()?
/// }
/// let cause = effect::run_blocking(parse("x".into())).unwrap_err();
/// assert_eq!(cause.failure(), Some(&AppError("invalid digit found in string".into())));
/// ```
pub struct BodyFailure<E>(Cause<E>);

impl<E> From<Cause<E>> for BodyFailure<E> {
    #[inline]
    fn from(cause: Cause<E>) -> BodyFailure<E> {
        BodyFailure(cause)
    }
}

impl<E1, E: From<E1>> From<BoundFailure<E1>> for BodyFailure<E> {
    #[inline]
    fn from(failure: BoundFailure<E1>) -> BodyFailure<E> {
        BodyFailure(failure.0.map(E::from))
    }
}

impl<A, E> crate::kernel::fiber::frame::IntoExit<A, E> for Result<A, BodyFailure<E>> {
    #[inline]
    fn into_exit(self) -> Exit<A, E> {
        self.map_err(|failure| failure.0)
    }
}

/// `x.await?` in a body: plain futures are awaited; an effect is refused (bind it with `?`).
/// The probe's inherent method (found first) catches an `Effect`; every other type goes
/// through the trait method and comes out as an [`AwaitReady`].
pub struct AwaitProbe<T>(pub T);

/// What `effect.await?` tried to await in an effect body.
///
/// ```compile_fail
/// use effect::prelude::*;
///
/// #[effect]
/// fn one() -> Effect<u32, Never> {
///     succeed(1).await? // refused: bind an effect with `succeed(1)?`
/// }
/// ```
pub struct EffectAwaited<A, E>(Effect<A, E>);

/// A plain future awaited with `.await?` in an effect body.
///
/// ```
/// use effect::prelude::*;
///
/// #[effect]
/// fn read() -> Effect<u8, String> {
///     let byte = async { Ok::<u8, String>(7) }.await?; // a plain future: awaited, then bound
///     byte
/// }
/// assert_eq!(effect::run_blocking(read()), Ok(7));
/// ```
pub struct AwaitReady<T>(T);

impl<A, E> AwaitProbe<Effect<A, E>> {
    #[inline]
    pub fn awaited(self) -> EffectAwaited<A, E> {
        EffectAwaited(self.0)
    }
}

pub trait AwaitedAny<T> {
    fn awaited(self) -> AwaitReady<T>;
}

impl<T> AwaitedAny<T> for AwaitProbe<T> {
    #[inline]
    fn awaited(self) -> AwaitReady<T> {
        AwaitReady(self.0)
    }
}

/// What `.await?` may await in an effect body: a future, not an effect.
#[diagnostic::on_unimplemented(
    message = "bind an effect with `effect?`, not `effect.await?`",
    label = "this is an `Effect`: remove `.await` and bind it with `?`",
    note = "in an effect body `effect?` runs the effect and gives its value, or fails the body with its cause; `.await?` is for plain futures"
)]
/// ```
/// use effect::prelude::*;
///
/// #[effect]
/// fn handshake() -> Effect<&'static str, Never> {
///     let (tx, rx) = tokio::sync::oneshot::channel();
///     tx.send("hello").unwrap();
///     rx.await.unwrap_or("closed") // `.await` on a future works in a body
/// }
/// assert_eq!(effect::run_blocking(handshake()), Ok("hello"));
/// ```
pub trait AwaitInBody {
    type Future: Future;
    #[doc(hidden)]
    fn into_awaited(self) -> Self::Future;
}

impl<F: IntoFuture> AwaitInBody for AwaitReady<F> {
    type Future = F::IntoFuture;
    #[inline]
    fn into_awaited(self) -> F::IntoFuture {
        self.0.into_future()
    }
}

/// `catch!`: the guarded effect's value, or its first typed failure ([`Caught`]); a failure
/// without a typed failure (a defect, an interruption) fails as it is.
pub fn catch_attempt<A, E>(effect: Effect<A, E>) -> Effect<Result<A, Caught<E>>, E>
where
    A: Send + 'static,
    E: Send + 'static,
{
    Effect::from_future(async move {
        let cause = match effect.await {
            Ok(value) => return Ok(Ok(value)),
            Err(cause) => cause,
        };
        match cause.split_first_failure() {
            Ok((error, rebuild)) => Ok(Err(Caught { error, rebuild })),
            Err(cause) => Err(cause),
        }
    })
}

/// `catch_all!`: the guarded effect's value, or its first typed failure for the arms (which
/// match every failure; the rest of the cause is dropped, as [`Effect::catch_all`] drops it);
/// a cause without a typed failure (defects, an interruption) fails as it is, holding no
/// failure, so it fits the catch's error type, whatever it is.
pub fn catch_all_attempt<A, E>(effect: Effect<A, E>) -> Effect<Result<A, E>, Infallible>
where
    A: Send + 'static,
    E: Send + 'static,
{
    Effect::from_future(async move {
        match effect.await {
            Ok(value) => Ok(Ok(value)),
            Err(cause) => cause.failure_or_cause().map(Err),
        }
    })
}

/// The first typed failure of a guarded effect's cause, and the rest of that cause.
pub struct Caught<E> {
    error: E,
    rebuild: Box<dyn FnOnce(E) -> Cause<E> + Send>,
}

impl<E> Caught<E> {
    /// The failure for the arms to match, and how to fail with the cause unchanged when none
    /// does.
    pub fn into_parts(self) -> (E, Rethrow<E>) {
        (self.error, Rethrow(self.rebuild))
    }
}

/// A guarded effect's cause, its first typed failure taken out: what `catch!` fails with
/// when no arm matches that failure.
pub struct Rethrow<E>(Box<dyn FnOnce(E) -> Cause<E> + Send>);

impl<E> Rethrow<E> {
    /// The cause, `error` back in the place of its first typed failure.
    pub fn into_cause(self, error: E) -> Cause<E> {
        (self.0)(error)
    }

    /// The effect failing with that cause (for a `catch!` compiled into the body binding it).
    pub fn fail<A>(self, error: E) -> Effect<A, E> {
        crate::kernel::effect::fail_cause(self.into_cause(error))
    }
}
