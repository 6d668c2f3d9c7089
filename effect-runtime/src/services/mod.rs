//! Services: the building blocks a program's code uses (synchronization: queues, hubs,
//! semaphores, deferreds, refs; pools, caches, rate limiters, circuit breakers; layers that
//! build a context; the shutdown signal), built on the kernel and the operators.

pub(crate) mod cache;
pub(crate) mod circuit_breaker;
pub(crate) mod layer;
pub(crate) mod pool;
pub(crate) mod rate_limiter;
pub(crate) mod signal;
pub mod supervisor;
pub(crate) mod sync;
