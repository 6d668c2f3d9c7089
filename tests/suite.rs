//! The library's integration tests: one module per capability, each in its own file
//! (`tests/NAME.rs`), compiled into this one test binary. One binary instead of thirty builds
//! in a fraction of the time: the runtime's generic code is instantiated and linked once.
//!
//! `cargo test --test suite` runs them all, `cargo test --test suite pool::` one capability
//! (a module's tests are named `pool::...`; `tests/core.rs` is the module `effect_core`).
//! Three tests have binaries of their own (see `Cargo.toml`): `model` (the model test),
//! `signal` (it sends SIGTERM to its own process) and `doc_examples` (a scan of the sources).

#[path = "common/mod.rs"]
mod common;

#[path = "adversarial.rs"]
mod adversarial;
#[path = "cache.rs"]
mod cache;
#[path = "call_chains.rs"]
mod call_chains;
#[path = "circuit_breaker.rs"]
mod circuit_breaker;
#[path = "dsl.rs"]
mod dsl;
#[path = "dump.rs"]
mod dump;
#[path = "core.rs"]
mod effect_core;
#[path = "errors.rs"]
mod errors;
#[path = "fairness.rs"]
mod fairness;
#[path = "fiber_ref.rs"]
mod fiber_ref;
#[path = "fibers.rs"]
mod fibers;
#[path = "for_each_par.rs"]
mod for_each_par;
#[path = "layer.rs"]
mod layer;
#[path = "pool.rs"]
mod pool;
#[path = "queue.rs"]
mod queue;
#[path = "race.rs"]
mod race;
#[path = "race_placement.rs"]
mod race_placement;
#[path = "rate_limited_client.rs"]
mod rate_limited_client;
#[path = "rate_limiter.rs"]
mod rate_limiter;
#[path = "schedule.rs"]
mod schedule;
#[path = "scope.rs"]
mod scope;
#[path = "services.rs"]
mod services;
#[path = "shutdown.rs"]
mod shutdown;
#[path = "stack_safety.rs"]
mod stack_safety;
#[path = "stream.rs"]
mod stream;
#[path = "stream_combine.rs"]
mod stream_combine;
#[path = "stream_concurrent.rs"]
mod stream_concurrent;
#[path = "stream_fanout.rs"]
mod stream_fanout;
#[path = "stream_resource.rs"]
mod stream_resource;
#[path = "stream_sink.rs"]
mod stream_sink;
#[path = "stream_stateful.rs"]
mod stream_stateful;
#[path = "stream_time.rs"]
mod stream_time;
#[path = "supervisor.rs"]
mod supervisor;

#[path = "test_attr.rs"]
mod test_attr;
#[path = "time.rs"]
mod time;
#[path = "zip_par.rs"]
mod zip_par;
