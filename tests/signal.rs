//! `shutdown_signal()`: completes when the process gets SIGTERM. Alone in its test binary:
//! the test sends SIGTERM to its own process, once the listener is installed (a SIGTERM
//! before that would end the process, as it should).
#![cfg(unix)]

use effect::prelude::*;

#[effect::test]
fn shutdown_signal_completes_on_sigterm_and_stops_the_work_it_guards(
    clock: TestClock,
) -> Effect<(), String> {
    let work = never::<(), String>()
        .interrupt_when(shutdown_signal())
        .fork()?;
    // Once every fiber is blocked, the listener is installed.
    clock.advance(ms(1)).await;
    assert!(!work.is_done());
    let status = std::process::Command::new("kill")
        .args(["-TERM", &std::process::id().to_string()])
        .status()
        .map_err(|e| e.to_string())?;
    assert!(status.success());
    let exit = work.await_exit()?;
    assert!(exit.unwrap_err().is_interrupted_only());
}
