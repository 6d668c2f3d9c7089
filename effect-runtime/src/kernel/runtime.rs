//! [`Runtime`]: runs and forks effects from outside any effect, and counts their fibers.

use std::fmt;
use std::future::poll_fn;
use std::sync::Arc;
use std::time::Duration;

use crate::kernel::context::Context;
use crate::kernel::effect::Effect;
use crate::kernel::fiber::core::{driving_fiber, Family, FiberKind};
use crate::kernel::fiber::dump::FiberDump;
use crate::kernel::fiber::handle::{spawn_fiber, Fiber};
use crate::kernel::fiber::locals::Inherited;
use crate::kernel::fiber::run::Run;

/// A handle for running and forking effects from plain async code (tests, `main`), with a
/// context and a count of the fibers it started.
///
/// ```
/// use effect::{succeed, Context, Effect, Runtime};
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// let runtime = Runtime::new(Context::new());
/// let fiber = runtime.fork(succeed::<u32, ()>(21).map(|n| n * 2));
/// assert_eq!(runtime.run(fiber.join()).await, Ok(42));
/// assert_eq!(runtime.live_fibers(), 0);
/// # }
/// ```
#[derive(Clone, Default)]
pub struct Runtime {
    ctx: Context,
    family: Arc<Family>,
}

impl Runtime {
    /// A runtime whose effects see the services of `ctx`.
    ///
    /// ```
    /// use effect::{Clock, Context, Runtime, TestClock};
    ///
    /// let runtime = Runtime::new(Context::new().with(Clock::from(TestClock::new())));
    /// assert!(runtime.context().contains::<Clock>());
    /// assert_eq!(runtime.live_fibers(), 0);
    /// ```
    pub fn new(ctx: Context) -> Self {
        crate::kernel::panic_location::install();
        Runtime {
            ctx,
            family: Arc::default(),
        }
    }

    /// The context effects run with.
    ///
    /// ```
    /// use effect::{Context, Runtime};
    ///
    /// let runtime = Runtime::new(Context::new().with(8080u16));
    /// assert_eq!(runtime.context().get::<u16>(), 8080);
    /// ```
    pub fn context(&self) -> &Context {
        &self.ctx
    }

    /// Runs `effect` as a root fiber of this runtime; see [`Effect::run`].
    ///
    /// ```
    /// use effect::{service, Context, Effect, Never, Runtime};
    ///
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let runtime = Runtime::new(Context::new().with("prod"));
    /// let env: Effect<&str, Never> = service::<&str>();
    /// assert_eq!(runtime.run(env).await, Ok("prod"));
    /// # }
    /// ```
    pub fn run<A: Send + 'static, E: Send + 'static>(&self, effect: Effect<A, E>) -> Run<A, E> {
        let run = Run::new(effect, &self.ctx, Some(self.family.clone()));
        if let Some(core) = run.core() {
            self.family.register(core, driving_fiber(), false);
        }
        run
    }

    /// Starts `effect` on a new fiber of this runtime (no parent supervises it; the
    /// runtime's [`shutdown`](Runtime::shutdown) interrupts and awaits it). The fiber starts
    /// with every [`FiberRef`](crate::FiberRef) at its initial value, and (with the `tracing`
    /// feature) in the span current where `fork` is called.
    ///
    /// # Panics
    /// Outside a tokio runtime.
    ///
    /// ```
    /// use effect::prelude::*;
    /// use effect::{Context, Runtime};
    ///
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let runtime = Runtime::new(Context::new());
    /// let worker = runtime.fork(sleep::<String>(ms(1)).as_value(5));
    /// assert_eq!(runtime.run(worker.join()).await, Ok(5));
    /// # }
    /// ```
    pub fn fork<A: Send + 'static, E: Send + 'static>(&self, effect: Effect<A, E>) -> Fiber<A, E> {
        self.fork_with(effect, None)
    }

    /// [`fork`](Runtime::fork), the fiber named `name` from its start (see
    /// [`Effect::fork_named`]).
    ///
    /// ```
    /// use effect::{never, Context, Never, Runtime};
    ///
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let runtime = Runtime::new(Context::new());
    /// let listener = runtime.fork_named("listener", never::<(), Never>());
    /// assert_eq!(listener.name().as_deref(), Some("listener"));
    /// runtime.shutdown().await;
    /// # }
    /// ```
    pub fn fork_named<A: Send + 'static, E: Send + 'static>(
        &self,
        name: impl Into<std::sync::Arc<str>>,
        effect: Effect<A, E>,
    ) -> Fiber<A, E> {
        self.fork_with(effect, Some(name.into()))
    }

    fn fork_with<A: Send + 'static, E: Send + 'static>(
        &self,
        effect: Effect<A, E>,
        name: Option<std::sync::Arc<str>>,
    ) -> Fiber<A, E> {
        let inherited = Inherited::root(self.ctx.clone()).in_current_span();
        let fiber = spawn_fiber(
            effect,
            inherited,
            Some(self.family.clone()),
            true,
            FiberKind::User,
            name,
        );
        self.family.register(&fiber.core(), driving_fiber(), false);
        fiber
    }

    /// The fibers started through this runtime (roots, forks, and everything they forked)
    /// that are still alive. Zero after every run means nothing leaked.
    ///
    /// ```
    /// use effect::prelude::*;
    /// use effect::{Context, Runtime};
    ///
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let runtime = Runtime::new(Context::new());
    /// let forever = runtime.fork(never::<(), ()>());
    /// assert_eq!(runtime.live_fibers(), 1);
    /// runtime.run(forever.interrupt::<()>()).await.unwrap();
    /// assert_eq!(runtime.live_fibers(), 0);
    /// # }
    /// ```
    pub fn live_fibers(&self) -> usize {
        self.family.live()
    }

    /// A snapshot of every live user fiber of this runtime (roots, forks, daemons,
    /// `fork`s; not a combinator's members): id, name, parent, span, age, and what it is
    /// doing, down to what it waits on. Printed (`Display`), it is a tree of fibers under
    /// the fibers that started them, like ZIO's `Fiber.dumpAll`: what to print when a service
    /// hangs, or a test leaks. See [`dump`](crate::dump) for what each state means.
    ///
    /// Taking it stops nothing: each fiber is read on its own, as it runs.
    ///
    /// ```
    /// use effect::prelude::*;
    /// use effect::dump::{FiberStatus, WaitingOn};
    /// use effect::{Context, Deferred, Runtime};
    ///
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let runtime = Runtime::new(Context::new());
    /// let ready: Deferred<()> = Deferred::new();
    /// let body: Effect<(), Never> = effect_block! {
    ///     let child = ready.wait::<Never>().fork_named("child")?;
    ///     child.join()?;
    /// };
    /// let parent = runtime.fork_named("parent", body);
    /// while runtime.dump().len() < 2 {
    ///     tokio::task::yield_now().await; // both start, and wait
    /// }
    /// let dump = runtime.dump();
    /// let child = dump.named("child").unwrap();
    /// assert_eq!(child.parent, Some(parent.id()));
    /// assert!(matches!(child.status, FiberStatus::Waiting(WaitingOn::Deferred { .. })));
    /// assert_eq!(
    ///     dump.named("parent").unwrap().status,
    ///     FiberStatus::Waiting(WaitingOn::Join(child.id))
    /// );
    /// println!("{dump}");
    /// runtime.shutdown().await;
    /// # }
    /// ```
    pub fn dump(&self) -> FiberDump {
        FiberDump::of(&self.family)
    }

    /// A function printing this runtime's dump, for as long as the runtime's fibers can be
    /// reached, that does not keep the runtime alive (a test clock holds it, and the
    /// runtime's context holds the clock).
    pub(crate) fn dump_report(&self) -> impl Fn() -> String + Send + Sync + 'static {
        let family = Arc::downgrade(&self.family);
        move || match family.upgrade() {
            Some(family) => FiberDump::of(&family).to_string(),
            None => "(the runtime is gone)".to_string(),
        }
    }

    /// Resolves once no fiber this runtime started is alive (at once if none is), without
    /// interrupting any: for waiting until background work (daemons, forks) has finished on
    /// its own. Fibers started meanwhile are waited for too.
    ///
    /// ```
    /// use effect::{succeed, Context, Effect, Runtime};
    ///
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let runtime = Runtime::new(Context::new());
    /// let _background = runtime.fork(succeed::<u32, ()>(1).map(|n| n + 1));
    /// runtime.until_idle().await;
    /// assert_eq!(runtime.live_fibers(), 0);
    /// # }
    /// ```
    pub async fn until_idle(&self) {
        poll_fn(|cx| self.family.poll_idle(cx)).await;
    }

    /// Shuts the runtime down gracefully: interrupts every fiber it started (roots run with
    /// [`run`](Runtime::run), fibers started with [`fork`](Runtime::fork), daemons, and
    /// through them every child), waits until each has run its finalizers, and resolves once
    /// none is alive. This is what a service's SIGTERM handler calls.
    ///
    /// Interruption is the usual kind: a fiber in an uninterruptible region finishes the
    /// region first, and finalizers run to their end. Shutdown is for good: a fiber started
    /// through this runtime (or any clone of it) afterwards is interrupted before its first
    /// step. See [`shutdown_timeout`](Runtime::shutdown_timeout) to give up after a deadline.
    ///
    /// Call it from outside the runtime's fibers (`main`, a signal-handling task): called from
    /// one of them, it interrupts that fiber too, and inside an uninterruptible region would
    /// wait for itself.
    ///
    /// Without it, a tokio runtime that shuts down under live fibers drops their tasks: each
    /// fiber is then interrupted and finishes in place only what needs no waiting (a finalizer
    /// that must wait, such as one that sleeps, is dropped where it waits).
    ///
    /// ```
    /// use std::sync::atomic::{AtomicBool, Ordering};
    /// use std::sync::Arc;
    /// use effect::{never, sleep, ms, sync, Context, Effect, Runtime};
    ///
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let runtime = Runtime::new(Context::new());
    /// let flushed = Arc::new(AtomicBool::new(false));
    /// let flag = flushed.clone();
    /// // A background worker whose cleanup is async.
    /// let _worker = runtime.fork(never::<(), ()>().ensuring(
    ///     sleep(ms(1)).flat_map(move |()| sync(move || flag.store(true, Ordering::SeqCst))),
    /// ));
    /// tokio::task::yield_now().await; // ... the service runs, until SIGTERM:
    /// runtime.shutdown().await;
    /// assert!(flushed.load(Ordering::SeqCst));
    /// assert_eq!(runtime.live_fibers(), 0);
    /// # }
    /// ```
    ///
    /// # Cancel safety
    /// Dropping the future stops only the waiting: the fibers were already told to stop, and go on
    /// running their finalizers; the runtime stays shut down.
    pub async fn shutdown(&self) {
        self.family.begin_shutdown();
        self.until_idle().await;
    }

    /// [`shutdown`](Runtime::shutdown), giving up after `deadline` of real time (tokio's
    /// clock, which a test may pause): `Err` says how many fibers were still alive, still
    /// finalizing. They go on running (interrupted) on the tokio runtime until it shuts down.
    ///
    /// ```
    /// use effect::{never, Context, Effect, Runtime};
    /// use std::time::Duration;
    ///
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)] async fn main() {
    /// let runtime = Runtime::new(Context::new());
    /// // A fiber that cannot be interrupted keeps shutdown from finishing.
    /// let _stuck = runtime.fork(never::<(), ()>().uninterruptible());
    /// tokio::task::yield_now().await;
    /// let result = runtime.shutdown_timeout(Duration::from_secs(5)).await;
    /// assert_eq!(result.unwrap_err().still_running(), 1);
    /// # }
    /// ```
    pub async fn shutdown_timeout(&self, deadline: Duration) -> Result<(), ShutdownTimedOut> {
        self.family.begin_shutdown();
        match tokio::time::timeout(deadline, self.until_idle()).await {
            Ok(()) => Ok(()),
            Err(_) => Err(ShutdownTimedOut {
                still_running: self.live_fibers(),
                deadline,
            }),
        }
    }
}

/// [`Runtime::shutdown_timeout`] gave up: fibers were still finalizing at the deadline.
///
/// ```
/// use effect::{never, Context, Runtime};
/// use std::time::Duration;
///
/// # #[tokio::main(flavor = "current_thread", start_paused = true)] async fn main() {
/// let runtime = Runtime::new(Context::new());
/// let _stuck = runtime.fork(never::<(), ()>().uninterruptible());
/// tokio::task::yield_now().await;
/// let error = runtime.shutdown_timeout(Duration::from_secs(1)).await.unwrap_err();
/// assert_eq!(
///     error.to_string(),
///     "runtime shutdown gave up after 1s: 1 fiber(s) were still finalizing"
/// );
/// # }
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ShutdownTimedOut {
    still_running: usize,
    deadline: Duration,
}

impl ShutdownTimedOut {
    /// How many fibers of the runtime were still alive at the deadline.
    ///
    /// ```
    /// use effect::{never, Context, Runtime};
    /// use std::time::Duration;
    ///
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)] async fn main() {
    /// let runtime = Runtime::new(Context::new());
    /// let _a = runtime.fork(never::<(), ()>().uninterruptible());
    /// let _b = runtime.fork(never::<(), ()>().uninterruptible());
    /// tokio::task::yield_now().await;
    /// let error = runtime.shutdown_timeout(Duration::from_secs(1)).await.unwrap_err();
    /// assert_eq!(error.still_running(), 2);
    /// # }
    /// ```
    pub fn still_running(&self) -> usize {
        self.still_running
    }
}

impl fmt::Display for ShutdownTimedOut {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "runtime shutdown gave up after {:?}: {} fiber(s) were still finalizing",
            self.deadline, self.still_running
        )
    }
}

impl std::error::Error for ShutdownTimedOut {}
