//! Fibers and the interpreter that runs them.

pub(crate) mod bind;
pub(crate) mod frame;
pub(crate) mod interpreter;
pub(crate) mod run;
