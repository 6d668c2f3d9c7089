//! Graceful shutdown of a service: `cargo run --example graceful_shutdown`.
//!
//! A service runs background workers (a forked poller, a daemon flushing metrics) whose
//! cleanup is async. On SIGTERM (simulated here by a timer) the handler calls
//! `Runtime::shutdown_timeout`: every fiber the runtime started is interrupted, each runs its
//! finalizers to their end, and the call returns once none is alive, or says how many were
//! still finalizing at the deadline. Look for: every "stopped" line printed before "shut
//! down", and a live-fiber count of zero.

use std::time::Duration;

use effect::prelude::*;
use effect::Context;
use effect::Runtime;

/// A worker that ticks until interrupted, then takes `cleanup` to stop.
fn worker(name: &'static str, tick: Duration, cleanup: Duration) -> Effect<(), Never> {
    let ticking = repeat(
        move || sleep::<Never>(tick).map(move |()| println!("  {name}: tick")),
        Schedule::forever(),
    );
    ticking.ensuring(
        sync(move || println!("  {name}: interrupted, cleaning up"))
            .flat_map(move |()| sleep(cleanup))
            .flat_map(move |()| sync(move || println!("  {name}: stopped"))),
    )
}

#[tokio::main]
async fn main() {
    let runtime = Runtime::new(Context::new());
    println!("service starting");
    // A poller with a child of its own, and a daemon: the runtime owns them all.
    let poller = worker("poller", ms(30), ms(20)).zip_par(worker("poller's child", ms(45), ms(5)));
    let _poller = runtime.fork(poller);
    let _metrics = runtime.fork(
        worker("metrics", ms(40), ms(10))
            .fork_daemon::<Never>()
            .flat_map(|_| never::<(), Never>()),
    );

    // ... the service runs until SIGTERM (in a real service: tokio::signal::ctrl_c().await).
    tokio::time::sleep(Duration::from_millis(100)).await;
    println!(
        "SIGTERM: shutting down (live fibers: {})",
        runtime.live_fibers()
    );
    match runtime.shutdown_timeout(Duration::from_secs(5)).await {
        Ok(()) => println!("shut down (live fibers: {})", runtime.live_fibers()),
        Err(gave_up) => println!("{gave_up}"),
    }
    assert_eq!(runtime.live_fibers(), 0);
}
