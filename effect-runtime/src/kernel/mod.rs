//! The kernel: fibers and the interpreter that runs them (`fiber`, whose module docs map it),
//! the effect type and its instruction set's constructors (`effect`; continuations, which
//! `map`, `flat_map` and the handlers are, in `then`), causes and exits
//! (`cause`), contexts, clocks and randomness (what a test makes deterministic), the `Runtime`, and the tracing of fibers. Nothing here
//! imports the operators, the services or streams.

pub(crate) mod cause;
pub(crate) mod clock;
pub(crate) mod context;
pub(crate) mod effect;
pub(crate) mod fiber;
pub(crate) mod panic_location;
pub(crate) mod random;
pub(crate) mod runtime;
pub(crate) mod then;
#[cfg(feature = "tracing")]
pub(crate) mod trace;
