//! The runtime behind [`effect`](https://docs.rs/effect): [`Effect`], [`Cause`],
//! [`Context`], and the interpreter that runs effects on tokio.
//!
//! Most users depend on the `effect` crate, which re-exports everything here together with
//! the `effect!` DSL.
#![warn(missing_docs)]
#![forbid(unsafe_code)]

mod cause;
mod combinators;
mod context;
mod duration;
mod effect;
mod fiber;
mod finalize;
mod recover;

pub use cause::{Cause, Defect, Exit, Never};
pub use context::Context;
pub use duration::{ms, secs};
pub use effect::{
    attempt, attempt_async, die, fail, fail_cause, from_async, never, succeed, suspend, sync,
    yield_now, Effect,
};
pub use fiber::bind::Bind;
pub use fiber::run::{run_blocking, run_blocking_with, Run};
