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

/// `effect! { BODY }`: an effect block (the same macro as [`effect_block!`]).
///
/// Named `effect!` at the crate root, `effect::effect! { .. }`. The prelude cannot export a
/// macro named `effect` next to the `#[effect]` attribute (Rust keeps one macro per name in a
/// scope), so after `use effect::prelude::*;` write blocks as `effect_block! { .. }`.
pub use effect_macros::effect_block as effect;
pub use effect_macros::{catch, effect_block, par, race, test};

/// Support for macro-generated code. Not part of the API.
#[doc(hidden)]
pub mod __private {
    pub use effect_runtime::dsl::*;
    pub use effect_runtime::{race, zip_par};
}

/// The names most effect programs use, for `use effect::prelude::*;`.
pub mod prelude {
    pub use effect_macros::{catch, effect, effect_block, par, race};
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
