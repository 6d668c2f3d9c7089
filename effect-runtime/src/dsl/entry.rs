//! What `#[effect::test]` and `#[effect::main]` expand to call: running a test or a
//! program's effect on a runtime, and reporting how it ended.

use crate::kernel::cause::Cause;
use crate::kernel::effect::Effect;

/// The seed of the [`TestRandom`](crate::TestRandom) every `#[effect::test]` runs with.
///
/// ```
/// use effect::dsl::TEST_SEED;
/// use effect::{Random, TestRandom};
///
/// // An #[effect::test] draws the same numbers as this generator, run after run.
/// let a = Random::from(TestRandom::new(TEST_SEED));
/// let b = Random::from(TestRandom::new(TEST_SEED));
/// assert_eq!(a.next_u64(), b.next_u64());
/// ```
pub const TEST_SEED: u64 = 0x5eed;

/// `#[effect::test]`: runs the test's effect on `runtime` with a context holding a fresh
/// [`TestClock`](crate::TestClock); fails the test on a failure (rendering the cause, its
/// typed failures with `render`) or when a fiber it started is still alive at the end, or
/// when it runs longer than `EFFECT_TEST_TIMEOUT` seconds of real time, if that is set (see
/// [`run_test_within`]).
///
/// `render` is `<E as Debug>::fmt`, written by the macro at the user's `E`: so an `E` that is
/// not `Debug` is reported there, by rustc, and this function needs no bound on `E`.
/// The context also holds a [`TestRandom`](crate::TestRandom) seeded with [`TEST_SEED`].
pub fn run_test<E, F>(name: &str, runtime: EntryRuntime, render: RenderError<E>, make: F)
where
    E: Send + 'static,
    F: FnOnce(crate::TestClock) -> Effect<(), E>,
{
    run_test_within(name, runtime, render, make, test_timeout())
}

/// The real time a test may run, from `EFFECT_TEST_TIMEOUT` (seconds, fractions allowed).
///
/// # Panics
/// When it is set to anything but a number of seconds, saying so.
fn test_timeout() -> Option<std::time::Duration> {
    let value = std::env::var("EFFECT_TEST_TIMEOUT").ok()?;
    let seconds: f64 = value.trim().parse().ok().filter(|s: &f64| s.is_finite() && *s >= 0.0).unwrap_or_else(|| {
        panic!("EFFECT_TEST_TIMEOUT={value:?}: expected a number of seconds, such as `300` or `2.5`")
    });
    Some(std::time::Duration::from_secs_f64(seconds))
}

/// [`run_test`], failing the test if it has not finished after `timeout` of real time
/// (`None`: never), with the dump of what each of its fibers was doing then: a test that
/// hangs (a deadlock, a missed wake-up, a clock nobody advances) says where.
///
/// ```should_panic
/// use effect::__private::{run_test_within, EntryRuntime};
/// use effect::{never, Never};
///
/// // Panics: "effect test `stuck` timed out after 0ns of real time; its fibers were: ..."
/// run_test_within(
///     "stuck",
///     EntryRuntime::CurrentThread,
///     <Never as std::fmt::Debug>::fmt,
///     |_clock| never::<(), Never>(),
///     Some(std::time::Duration::ZERO),
/// );
/// ```
pub fn run_test_within<E, F>(
    name: &str,
    runtime: EntryRuntime,
    render: RenderError<E>,
    make: F,
    timeout: Option<std::time::Duration>,
) where
    E: Send + 'static,
    F: FnOnce(crate::TestClock) -> Effect<(), E>,
{
    let tokio = runtime
        .build()
        .expect("failed to start the test's tokio runtime");
    let clock = crate::TestClock::new();
    // A seeded generator, so randomness (jittered schedules, `random_*`) is the same on
    // every run of the test.
    let ctx = crate::Context::new()
        .with(crate::Clock::from(clock.clone()))
        .with(crate::Random::from(crate::TestRandom::new(TEST_SEED)));
    let runtime = crate::Runtime::new(ctx);
    // A test stuck on a clock nobody advances says what each of its fibers waits on.
    let dump = runtime.dump_report();
    clock.on_stall(move || format!("effect: the test's fibers: {}", dump()));
    let run = runtime.run(make(clock));
    let exit = match timeout {
        None => tokio.block_on(run),
        Some(limit) => {
            // Boxed, to be dropped (which interrupts the root) before shutdown awaits it.
            let mut run = Box::pin(run);
            // The dump is taken while the run is still alive: dropping it interrupts the
            // root, which would show as interrupted.
            let ended = tokio.block_on(async {
                // Made inside the runtime, whose time driver it needs.
                let mut deadline = std::pin::pin!(tokio::time::sleep(limit));
                std::future::poll_fn(|cx| {
                    if let std::task::Poll::Ready(exit) = run.as_mut().poll(cx) {
                        return std::task::Poll::Ready(Ok(exit));
                    }
                    deadline.as_mut().poll(cx).map(|()| Err(runtime.dump()))
                })
                .await
            });
            match ended {
                Ok(exit) => exit,
                Err(dump) => {
                    drop(run);
                    let shutdown = runtime.shutdown_timeout(std::time::Duration::from_secs(1));
                    let _ = tokio.block_on(shutdown);
                    panic!(
                        "effect test `{name}` timed out after {limit:?} of real time; its fibers were:\n{dump}"
                    );
                }
            }
        }
    };
    let live = runtime.live_fibers();
    // What the leaked fibers were doing, before shutdown interrupts them.
    let leaked = (live != 0).then(|| runtime.dump());
    if live != 0 {
        // Shut the leaked fibers down (their finalizers run) before reporting, so the test
        // fails with the leak, not with whatever they would do as the runtime goes away.
        let shutdown = runtime.shutdown_timeout(std::time::Duration::from_secs(1));
        let _ = tokio.block_on(shutdown);
    }
    if let Err(cause) = exit {
        let cause = Rendered::cause(cause, render);
        panic!("effect test `{name}` failed with cause:\n{cause}");
    }
    if let Some(dump) = leaked {
        panic!(
            "effect test `{name}` leaked {live} fiber(s): a daemon fork or a fiber started with \
             `Runtime::fork` was still running when the test's effect finished. They were:\n{dump}"
        );
    }
}

/// The tokio runtime an entry point (`#[effect::test]`, `#[effect::main]`) runs its effect
/// on, as its `flavor` and `worker_threads` arguments ask.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EntryRuntime {
    /// `flavor = "current_thread"`: every fiber runs on the thread that runs the entry point.
    CurrentThread,
    /// `flavor = "multi_thread"`: fibers run on a pool of worker threads (`None`: tokio's
    /// default, one per core).
    MultiThread { worker_threads: Option<usize> },
}

impl EntryRuntime {
    /// A tokio runtime of this flavor, with its time and I/O drivers.
    pub fn build(self) -> std::io::Result<tokio::runtime::Runtime> {
        let mut builder = match self {
            EntryRuntime::CurrentThread => tokio::runtime::Builder::new_current_thread(),
            EntryRuntime::MultiThread { worker_threads } => {
                let mut builder = tokio::runtime::Builder::new_multi_thread();
                if let Some(workers) = worker_threads {
                    builder.worker_threads(workers);
                }
                builder
            }
        };
        builder.enable_all().build()
    }
}

/// How an entry point renders its effect's typed failures: `<E as Debug>::fmt`.
pub type RenderError<E> = fn(&E, &mut std::fmt::Formatter<'_>) -> std::fmt::Result;

/// A typed failure with the function that renders it, so a [`Cause`] of them renders as its
/// tree (`Display`) without `E: Display`, or `E: Debug` in a bound.
struct Rendered<E> {
    error: E,
    render: RenderError<E>,
}

impl<E> Rendered<E> {
    fn cause(cause: Cause<E>, render: RenderError<E>) -> Cause<Rendered<E>> {
        cause.map(|error| Rendered { error, render })
    }
}

impl<E> std::fmt::Display for Rendered<E> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        (self.render)(&self.error, f)
    }
}

/// How long `#[effect::main]` waits, after its effect ends, for the fibers still running
/// (daemons, forks) to finish their finalizers.
pub const MAIN_SHUTDOWN_DEADLINE: std::time::Duration = std::time::Duration::from_secs(30);

/// `#[effect::main]`: runs the program's effect on `runtime` with a context holding the live
/// clock, then shuts the runtime down gracefully: every fiber still running (daemons, forks)
/// is interrupted and has run its finalizers before this returns (or
/// [`MAIN_SHUTDOWN_DEADLINE`] passed, which is reported). Returns the process's exit code: 0
/// when the effect succeeded; 1 when it failed, after writing its cause, as a tree, to
/// stderr.
pub fn run_main<E, F>(runtime: EntryRuntime, render: RenderError<E>, make: F) -> i32
where
    E: Send + 'static,
    F: FnOnce() -> Effect<(), E>,
{
    run_main_reporting(runtime, render, make, &mut std::io::stderr())
}

/// [`run_main`], writing its report (a failure's cause, a shutdown that gave up) to `report`.
pub fn run_main_reporting<E, F>(
    runtime: EntryRuntime,
    render: RenderError<E>,
    make: F,
    report: &mut dyn std::io::Write,
) -> i32
where
    E: Send + 'static,
    F: FnOnce() -> Effect<(), E>,
{
    // A report that cannot be written changes nothing: the exit code still says what happened.
    let tokio = match runtime.build() {
        Ok(tokio) => tokio,
        Err(error) => {
            let _ = writeln!(report, "error: failed to start the tokio runtime: {error}");
            return 1;
        }
    };
    let runtime = crate::Runtime::new(crate::Context::new().with(crate::Clock::live()));
    let exit = tokio.block_on(runtime.run(make()));
    // The failure is reported before the shutdown, which may take until its deadline.
    let code = match exit {
        Ok(()) => 0,
        Err(cause) => {
            let cause = Rendered::cause(cause, render);
            let _ = writeln!(report, "error: the program failed with cause:\n{cause}");
            1
        }
    };
    if let Err(timed_out) = tokio.block_on(runtime.shutdown_timeout(MAIN_SHUTDOWN_DEADLINE)) {
        let _ = writeln!(report, "warning: {timed_out}");
    }
    code
}
