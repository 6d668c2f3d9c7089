//! [`shutdown_signal`]: the effect that completes when the process is asked to stop.

use crate::kernel::cause::{Cause, Never};
use crate::kernel::effect::Effect;

/// An effect that completes when the process is asked to stop: Ctrl-C (SIGINT), or, on
/// Unix, SIGTERM (what a container runtime or systemd sends). For a program that runs until
/// then and shuts down cleanly: `serve().interrupt_when(shutdown_signal())`, in an
/// `#[effect::main]` (which then waits for every fiber's finalizers).
///
/// Listening starts when the effect runs. It dies if the signal handlers cannot be installed
/// (outside a tokio runtime with its I/O driver, which `#[effect::main]` always has).
///
/// ```no_run
/// use effect::prelude::*;
///
/// #[effect]
/// fn serve() -> Effect<(), String> {
///     loop {
///         sleep(secs(1))?; // the service's work
///     }
/// }
///
/// #[effect::main]
/// fn main() -> Effect<(), String> {
///     // Serves until Ctrl-C or SIGTERM: `serve` is interrupted then, its finalizers run,
///     // and the program ends successfully; any other failure ends it with that failure.
///     serve()
///         .interrupt_when(shutdown_signal())
///         .catch_all_cause(|cause| {
///             if cause.is_interrupted_only() {
///                 succeed(())
///             } else {
///                 fail_cause(cause)
///             }
///         })?;
/// }
/// ```
pub fn shutdown_signal() -> Effect<(), Never> {
    Effect::from_future(async {
        #[cfg(unix)]
        let terminate = async {
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(mut terminate) => {
                    terminate.recv().await;
                    Ok(())
                }
                Err(error) => Err(error),
            }
        };
        #[cfg(not(unix))]
        let terminate = std::future::pending::<std::io::Result<()>>();
        let ctrl_c = std::pin::pin!(tokio::signal::ctrl_c());
        let terminate = std::pin::pin!(terminate);
        let outcome = futures::future::select(ctrl_c, terminate)
            .await
            .factor_first()
            .0;
        outcome.map_err(|error| {
            Cause::die(format!(
                "shutdown_signal: cannot listen for signals: {error}"
            ))
        })
    })
}
