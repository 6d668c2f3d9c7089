//! [`retry`] and [`repeat`]: an effect run again and again as a [`Schedule`] says, on the
//! context's clock; each retry and repeat counted under the schedule's name (the `metrics`
//! feature).

use crate::kernel::cause::{Cause, Exit};
use crate::kernel::clock::Clock;
use crate::kernel::effect::Effect;
use crate::kernel::random::Random;
use crate::ops::schedule::{Schedule, REPEATS, RETRIES};

/// Runs the effect `make` builds, and on a typed failure asks `schedule` whether to try
/// again (after its delay, on the context's clock) with a fresh effect from `make`. `n`
/// retries mean `n + 1` attempts. Defects and interruption are not retried. Fails with the
/// last failure when the schedule stops.
///
/// ```
/// use std::sync::atomic::{AtomicU32, Ordering};
/// use std::sync::Arc;
/// use effect::{attempt, retry, run_blocking, Effect, Schedule};
///
/// let calls = Arc::new(AtomicU32::new(0));
/// let counter = calls.clone();
/// let flaky = move || -> Effect<u32, String> {
///     let counter = counter.clone();
///     attempt(move || match counter.fetch_add(1, Ordering::SeqCst) {
///         0 | 1 => Err("not yet".to_string()),
///         n => Ok(n),
///     })
/// };
/// assert_eq!(run_blocking(retry(flaky, Schedule::recurs(5))), Ok(2));
/// assert_eq!(calls.load(Ordering::SeqCst), 3);
/// ```
pub fn retry<A, E, F>(make: F, schedule: Schedule<E>) -> Effect<A, E>
where
    A: Send + 'static,
    E: Send + 'static,
    F: Fn() -> Effect<A, E> + Send + 'static,
{
    // Only a typed failure is shown to the schedule; a success or a defect ends the loop.
    recur(make, schedule, RETRIES, |exit| {
        exit.as_ref().err().and_then(Cause::failure)
    })
}

/// Runs the effect `make` builds, and after each success asks `schedule` whether to run it
/// again (after its delay). `n` repeats mean `n + 1` runs. Succeeds with the last value; the
/// first failure stops it.
///
/// ```
/// use effect::prelude::*;
/// use effect::{Clock, Context, Ref, Runtime};
///
/// #[effect]
/// fn heartbeat(beats: Ref<u32>) -> Effect<u32, String> {
///     beats.modify(|n| { *n += 1; *n })?
/// }
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// let clock = TestClock::new();
/// let runtime = Runtime::new(Context::new().with(Clock::from(clock.clone())));
/// let beats = Ref::new(0);
/// let schedule = Schedule::spaced(secs(30)) & Schedule::recurs(3);
/// let beating = runtime.fork(repeat({ let beats = beats.clone(); move || heartbeat(beats.clone()) }, schedule));
/// clock.advance(secs(90)).await; // three repeats after the first run, instantly
/// assert_eq!(runtime.run(beating.join()).await, Ok(4));
/// # }
/// ```
pub fn repeat<A, E, F>(make: F, schedule: Schedule<A>) -> Effect<A, E>
where
    A: Send + 'static,
    E: Send + 'static,
    F: Fn() -> Effect<A, E> + Send + 'static,
{
    // Only a success is shown to the schedule; the first failure ends the loop.
    recur(make, schedule, REPEATS, |exit| exit.as_ref().ok())
}

/// Runs `make()` again and again while `schedule` continues on what `input` picks out of
/// each exit (after the schedule's delay, on the context's clock), each next run counted in
/// `counter` under the schedule's name; ends with the last exit.
fn recur<A, E, I, F>(
    make: F,
    schedule: Schedule<I>,
    counter: &'static str,
    input: fn(&Exit<A, E>) -> Option<&I>,
) -> Effect<A, E>
where
    A: Send + 'static,
    E: Send + 'static,
    I: 'static,
    F: Fn() -> Effect<A, E> + Send + 'static,
{
    Effect::new(move |ctx| async move {
        let mut exit = make().await;
        if input(&exit).is_none() {
            // Nothing for the schedule (a retry that succeeded at once, the usual case): it
            // is never started, which costs a run of it, its clock and its randomness.
            // (Starting one draws nothing: jitter draws as it delays.)
            return exit;
        }
        let clock = Clock::of(&ctx);
        let mut step = schedule.start_run(&Random::of(&ctx));
        loop {
            match input(&exit).and_then(|input| step.next_counted(input, counter)) {
                Some(delay) => clock.sleep(delay).await,
                None => return exit,
            }
            exit = make().await;
        }
    })
}
