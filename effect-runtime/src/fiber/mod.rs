//! Fibers and the interpreter that runs them.

pub(crate) mod bind;
pub(crate) mod core;
pub(crate) mod frame;
pub(crate) mod handle;
pub(crate) mod id;
pub(crate) mod interpreter;
pub(crate) mod kept;
pub(crate) mod locals;
pub(crate) mod perturb;
pub(crate) mod region;
pub(crate) mod run;
#[cfg(feature = "tracing")]
pub(crate) mod span;
pub(crate) mod stack;
