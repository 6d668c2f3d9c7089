//! # effect
//!
//! Effect programs for Rust: lazy, composable async work with typed errors, structured
//! concurrency, resource safety, injectable services and deterministic time, running on tokio.
//!
//! An [`Effect<A, E>`](Effect) is a *value* describing work that succeeds with an `A` or
//! fails with a [`Cause<E>`](Cause). Nothing runs until you run it:
//!
//! ```
//! use effect::prelude::*;
//!
//! let greeting: Effect<String, String> = succeed("effect")
//!     .map(|name| format!("hello, {name}"))
//!     .ensuring(sync(|| println!("cleanup runs however it ends")));
//! assert_eq!(effect::run_blocking(greeting), Ok("hello, effect".to_string()));
//! ```
//!
//! A failure keeps everything that went wrong, as a [`Cause`]: the typed failure (`Fail`),
//! defects such as panics (`Die`), interruption, and how they combined.
#![warn(missing_docs)]
#![forbid(unsafe_code)]

pub use effect_runtime::*;

/// `effect::effect! { BODY }`: an effect block; the same macro as [`effect_block!`].
///
/// It is named `effect!` at the crate root. The prelude cannot export a macro named `effect`
/// beside the `#[effect]` attribute (Rust keeps one macro per name in a scope), so after
/// `use effect::prelude::*;` write blocks as `effect_block! { .. }`.
pub use effect_macros::effect_block as effect;

/// `effect_block! { BODY }`: an effect written as a do-notation body.
///
/// BODY is ordinary Rust with one extra meaning: `expr?` **binds**. On an `Effect<T, E2>`
/// it runs the effect and gives its value, or leaves the block with its cause; on a
/// `Result<T, E2>` it does the same with the `Err`. The tail expression is the block's
/// value (a value, not an effect: bind effects with `?`), `return value` ends it early,
/// and `.await` on plain futures works. `?` inside closures, `async` blocks and nested fns
/// keeps its plain Rust meaning. Binding a plain value (`succeed(x)?`) costs a branch.
///
/// In an `effect_block!` every bind shares the block's error type; inside an `#[effect] fn`
/// (whose error type is declared) a bound error converts with `From`.
///
/// ```
/// use effect::prelude::*;
///
/// let total: Effect<u32, String> = effect_block! {
///     let mut total = 0;
///     for n in 1..=3 {
///         total += succeed(n)?;
///     }
///     if total > 100 {
///         fail("too big".to_string())?;
///     }
///     total
/// };
/// assert_eq!(effect::run_blocking(total), Ok(6));
/// ```
pub use effect_macros::effect_block;

/// `par!(B1, B2, ..)`: runs 2 to 12 branches concurrently and yields the tuple of their
/// values; fail-fast (the first failure interrupts the others, whose finalizers run before
/// it fails). A branch is an effect expression or an inline `{ BODY }` block. It is an
/// effect: bind it with `?`.
///
/// ```
/// use effect::prelude::*;
///
/// #[effect]
/// fn both() -> Effect<(u32, &'static str), String> {
///     par!(succeed(1), { sleep(ms(1))?; "two" })?
/// }
/// assert_eq!(effect::run_blocking(both()), Ok((1, "two")));
/// ```
pub use effect_macros::par;

/// `race!(B1, B2, ..)`: yields the first branch to **succeed**; the losers are interrupted
/// and their finalizers have run before it yields. Fails only when every branch fails,
/// with all their causes. Branches as in [`par!`].
///
/// ```
/// use effect::prelude::*;
///
/// #[effect]
/// fn fastest() -> Effect<&'static str, String> {
///     race!({ sleep(ms(50))?; "slow" }, { sleep(ms(1))?; "fast" })?
/// }
/// assert_eq!(effect::run_blocking(fastest()), Ok("fast"));
/// ```
pub use effect_macros::race;

/// `catch!(B, { PAT => EXPR, .. })`: runs `B`; a typed failure matching an arm is
/// recovered with that arm's value (arms are effect bodies, so they may bind with `?`, and
/// take guards `PAT if cond =>`). An unmatched failure, a defect or an interruption
/// propagates unchanged.
///
/// ```
/// use effect::prelude::*;
///
/// #[derive(Debug, PartialEq)]
/// enum AppError { NotFound, Down }
///
/// #[effect]
/// fn profile(id: u32) -> Effect<&'static str, AppError> {
///     let found = catch!(fail(AppError::NotFound), {
///         AppError::NotFound => "guest",
///     })?;
///     found
/// }
/// assert_eq!(effect::run_blocking(profile(1)), Ok("guest"));
/// let down: Effect<u32, AppError> = catch!(fail(AppError::Down), { AppError::NotFound => 0 });
/// assert_eq!(effect::run_blocking(down).unwrap_err().failure(), Some(&AppError::Down));
/// ```
pub use effect_macros::catch;

/// `#[effect::test]`: a test whose body is an effect body. The test gets a fresh
/// [`TestClock`] (take it as the one argument, `clock: TestClock`, or take none), runs on a
/// current-thread runtime, fails with the rendered cause if the effect fails, and fails if a
/// fiber it started is still alive at the end.
///
/// ```
/// use effect::prelude::*;
///
/// #[effect::test]
/// fn sleeps_are_instant(clock: TestClock) -> Effect<(), String> {
///     let sleeper = sleep::<String>(secs(3600)).fork()?;
///     clock.advance(secs(3600)).await;
///     sleeper.join()?;
///     assert_eq!(clock.current_time(), secs(3600));
/// }
/// # fn main() {}
/// ```
pub use effect_macros::test;

/// Support for macro-generated code. Not part of the API.
#[doc(hidden)]
pub mod __private {
    pub use effect_runtime::dsl::*;
    pub use effect_runtime::{race, zip_par};
}

/// The names most effect programs use, for `use effect::prelude::*;`.
pub mod prelude {
    /// `#[effect] fn name(args) -> Effect<A, E> { BODY }`: a function whose body is an effect
    /// body (see [`effect_block!`](crate::effect_block)); calling it builds the effect, which
    /// owns the arguments. Bound errors convert into `E` with `From`.
    ///
    /// Rules: the fn is not `async`; its arguments are owned (`'static`); methods take `self`
    /// by value (or `self: Arc<Self>`), since the effect runs after the call returns.
    ///
    /// ```
    /// use effect::prelude::*;
    ///
    /// #[derive(Debug, PartialEq)]
    /// enum AppError { Parse(String) }
    /// impl From<String> for AppError {
    ///     fn from(e: String) -> Self { AppError::Parse(e) }
    /// }
    ///
    /// #[effect]
    /// fn parse(text: String) -> Effect<u32, String> {
    ///     text.trim().parse::<u32>().map_err(|e| e.to_string())?
    /// }
    ///
    /// #[effect]
    /// fn sum(a: String, b: String) -> Effect<u32, AppError> {
    ///     parse(a)? + parse(b)? // `String` failures convert into `AppError`
    /// }
    /// assert_eq!(effect::run_blocking(sum("1".into(), " 2".into())), Ok(3));
    /// ```
    pub use effect_macros::effect;
    pub use effect_macros::{catch, effect_block, par, race};
    pub use effect_runtime::{
        acquire_release, acquire_use_release, repeat, retry, scoped, BreakerError, CircuitBreaker,
        ClockLayer, Deferred, Hub, Layer, Queue, QueueShutdown, Ref, Schedule, Scope, Semaphore,
        TestClockLayer,
    };
    pub use effect_runtime::{
        attempt, attempt_async, die, fail, fail_cause, for_each_par, from_async, ms, never, race,
        race_first, secs, sleep, succeed, suspend, sync, yield_now, zip_par, Cause, Clock, Context,
        Effect, Exit, Fiber, Never, Runtime, TestClock,
    };
}

// The README's example runs as a doctest, so it cannot drift from the API.
#[doc = include_str!("../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;
