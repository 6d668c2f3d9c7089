//! [`Fiber`]: a handle to an effect running concurrently, and `fork`.

use std::fmt;
use std::future::poll_fn;
use std::sync::{Arc, Mutex};

use super::core::{Family, FiberCore, FiberKind};
use super::id::FiberId;
use super::locals::Inherited;
use super::prim::Prim;
use super::run::{outcome_exit, Driver};
use crate::kernel::cause::Exit;
use crate::kernel::effect::{succeed, Effect};
use crate::kernel::fiber::waiting::{self, Wait};

/// A fiber's core with its typed exit in the same allocation.
type TypedCore<A, E> = Arc<FiberCore<Mutex<Option<Exit<A, E>>>>>;

/// A handle to an effect running on its own fiber (a tokio task), made by
/// [`Effect::fork`].
///
/// A forked fiber is a child of the fiber that forked it: when the parent ends, however it
/// ends, a child still running is interrupted and the parent waits until it is done (its
/// finalizers have run). [`Effect::fork_daemon`] opts out of that supervision.
///
/// A fiber forked inside an uninterruptible region inherits it: it runs uninterruptibly
/// (as in ZIO and Effect-TS; write `effect.interruptible().fork()` to opt out).
///
/// The handle is consumed by [`join`](Fiber::join), [`await_exit`](Fiber::await_exit) or
/// [`interrupt`](Fiber::interrupt). Dropping it does not stop the fiber.
///
/// `Fiber` is deliberately not `Clone`: joining moves the fiber's value out to the one who
/// joins (`A` need not be `Clone`), so a second handle could only ever see it taken. To share
/// a result among many, complete a [`Deferred`](crate::Deferred) with it; to let several
/// parties stop a fiber, interrupt it from the one place that owns it (its parent's end, a
/// `race`, a `timeout` or [`Runtime::shutdown`](crate::Runtime::shutdown) already do).
///
/// ```
/// use effect::prelude::*;
///
/// #[effect]
/// fn in_background() -> Effect<u32, String> {
///     let fiber = sleep(ms(5)).as_value(20).fork()?; // starts now, runs concurrently
///     let here = 22;
///     here + fiber.join()?
/// }
/// assert_eq!(effect::run_blocking(in_background()), Ok(42));
/// ```
pub struct Fiber<A, E> {
    core: TypedCore<A, E>,
}

impl<A, E> fmt::Debug for Fiber<A, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Fiber")
            .field("id", &self.core.id())
            .field("done", &self.core.is_done())
            .finish()
    }
}

impl<A: Send + 'static, E: Send + 'static> Fiber<A, E> {
    /// The fiber's identity.
    ///
    /// ```
    /// use effect::prelude::*;
    ///
    /// #[effect]
    /// fn two_fibers() -> Effect<bool, Never> {
    ///     let (a, b) = (succeed::<(), Never>(()).fork()?, succeed::<(), Never>(()).fork()?);
    ///     let distinct = a.id() != b.id();
    ///     a.join()?;
    ///     b.join()?;
    ///     distinct
    /// }
    /// assert_eq!(effect::run_blocking(two_fibers()), Ok(true));
    /// ```
    pub fn id(&self) -> FiberId {
        self.core.id()
    }

    /// The fiber's name while it is alive, if it was given one
    /// ([`fork_named`](Effect::fork_named), or [`named`](Effect::named) on the effect it runs,
    /// once that has started). A fiber that is done has none: names are kept for the fibers
    /// that run (the events reporting a fiber's end carry its name).
    ///
    /// ```
    /// use effect::prelude::*;
    ///
    /// #[effect]
    /// fn named() -> Effect<Option<String>, Never> {
    ///     let worker = never::<(), Never>().fork_named("worker")?;
    ///     let name = worker.name().map(|name| name.to_string());
    ///     worker.interrupt::<Never>()?;
    ///     name
    /// }
    /// assert_eq!(effect::run_blocking(named()), Ok(Some("worker".to_string())));
    /// ```
    pub fn name(&self) -> Option<Arc<str>> {
        self.core.name()
    }

    /// Whether the fiber has finished (exit stored, finalizers run, children reaped).
    ///
    /// ```
    /// use effect::prelude::*;
    ///
    /// #[effect]
    /// fn check() -> Effect<(bool, bool), Never> {
    ///     let fiber = never::<(), Never>().fork()?;
    ///     let running = !fiber.is_done();
    ///     let quick = succeed::<(), Never>(()).fork()?;
    ///     let mut polls = 0;
    ///     while !quick.is_done() {
    ///         yield_now()?;
    ///         polls += 1;
    ///     }
    ///     fiber.interrupt()?;
    ///     (running, polls < 1_000_000)
    /// }
    /// assert_eq!(effect::run_blocking(check()), Ok((true, true)));
    /// ```
    pub fn is_done(&self) -> bool {
        self.core.is_done()
    }

    /// The fiber's exit if it has finished, without waiting; the handle back if it has not.
    ///
    /// ```
    /// use effect::prelude::*;
    /// use effect::Deferred;
    ///
    /// #[effect]
    /// fn poll_twice() -> Effect<(bool, u32), Never> {
    ///     let go = Deferred::<u32>::new();
    ///     let fiber = go.wait::<Never>().fork()?;
    ///     let fiber = match fiber.poll() {
    ///         Ok(_) => unreachable!("it waits for `go`"),
    ///         Err(still_running) => still_running, // the handle comes back
    ///     };
    ///     go.complete::<Never>(7)?;
    ///     let mut fiber = fiber;
    ///     loop {
    ///         match fiber.poll() {
    ///             Ok(exit) => return (true, exit.unwrap()),
    ///             Err(running) => fiber = running,
    ///         }
    ///         yield_now()?;
    ///     }
    /// }
    /// assert_eq!(effect::run_blocking(poll_twice()), Ok((true, 7)));
    /// ```
    pub fn poll(self) -> Result<Exit<A, E>, Fiber<A, E>> {
        if self.is_done() {
            Ok(self.take_exit())
        } else {
            Err(self)
        }
    }

    /// The fiber's core, erased.
    pub(crate) fn core(&self) -> Arc<FiberCore> {
        self.core.clone()
    }

    /// The exit of a finished fiber. A fiber abandoned by its runtime (shut down under it)
    /// counts as interrupted.
    pub(crate) fn take_exit(&self) -> Exit<A, E> {
        let erased: &FiberCore = &*self.core;
        erased.take_exit()
    }

    /// Waits for the fiber and succeeds or fails as it did.
    ///
    /// # Errors
    /// Fails with the fiber's cause: its typed failure, its defect, or `Cause::Interrupt` if it
    /// was interrupted.
    ///
    /// # Cancel safety
    /// Interrupting the fiber that joins stops only the waiting; the joined fiber is not
    /// interrupted by it (its parent still supervises it).
    ///
    /// ```
    /// use effect::prelude::*;
    ///
    /// #[effect]
    /// fn joined() -> Effect<u32, String> {
    ///     let ok = succeed::<u32, String>(1).fork()?;
    ///     let failing = fail::<u32, _>("worker failed".to_string()).fork()?;
    ///     let value = ok.join()?;
    ///     let failure = failing.join().result()?;
    ///     assert_eq!(failure, Err("worker failed".to_string()));
    ///     value
    /// }
    /// assert_eq!(effect::run_blocking(joined()), Ok(1));
    /// ```
    pub fn join(self) -> Effect<A, E> {
        Effect::from_future(async move {
            self.wait_done().await;
            self.take_exit()
        })
    }

    /// Waits for the fiber and succeeds with its [`Exit`], whatever it is.
    ///
    /// ```
    /// use effect::prelude::*;
    ///
    /// #[effect]
    /// fn outcome() -> Effect<bool, Never> {
    ///     let crashing = die::<u32, String>("bug").fork()?;
    ///     let exit = crashing.await_exit()?; // never fails: the exit is a value
    ///     exit.unwrap_err().is_die()
    /// }
    /// assert_eq!(effect::run_blocking(outcome()), Ok(true));
    /// ```
    pub fn await_exit<E2: Send + 'static>(self) -> Effect<Exit<A, E>, E2> {
        Effect::from_future(async move {
            self.wait_done().await;
            Ok(self.take_exit())
        })
    }

    /// Interrupts the fiber and waits until it is done: when this effect finishes, the
    /// fiber's finalizers have run. Succeeds with the fiber's exit (`Err(Cause::Interrupt)`
    /// unless it finished first).
    ///
    /// # Cancel safety
    /// The interruption is requested as soon as this effect starts; if the fiber calling it is
    /// itself interrupted while waiting, the target is still interrupted, but no longer awaited.
    ///
    /// ```
    /// use std::sync::atomic::{AtomicBool, Ordering};
    /// use std::sync::Arc;
    /// use effect::prelude::*;
    /// use effect::Deferred;
    ///
    /// let cleaned = Arc::new(AtomicBool::new(false));
    /// let flag = cleaned.clone();
    /// let program: Effect<bool, Never> = effect_block! {
    ///     let started = Deferred::new();
    ///     let cleanup = sleep(ms(5)).flat_map(move |()| sync(move || flag.store(true, Ordering::SeqCst)));
    ///     let worker = started.complete(()).flat_map(|_| never::<(), Never>()).ensuring(cleanup).fork()?;
    ///     started.wait()?; // the worker has registered its finalizer
    ///     let exit = worker.interrupt()?;
    ///     exit.unwrap_err().is_interrupted()
    /// };
    /// assert_eq!(effect::run_blocking(program), Ok(true));
    /// assert!(cleaned.load(Ordering::SeqCst)); // its async finalizer ran before interrupt returned
    /// ```
    pub fn interrupt<E2: Send + 'static>(self) -> Effect<Exit<A, E>, E2> {
        Effect::from_future(async move {
            self.core.interrupt();
            self.wait_done().await;
            Ok(self.take_exit())
        })
    }
}

impl<A: Send + 'static, E: Send + 'static> Fiber<A, E> {
    /// Resolves once the fiber is done, saying meanwhile that its waiter waits on it.
    async fn wait_done(&self) {
        // The core borrowed, not a second reference to it counted (a join's hot path).
        let core: &FiberCore = &*self.core;
        wait_done(core).await;
    }

    /// Interrupts the fiber and waits for its end, leaving the handle (and the exit) where
    /// they are: for an owner that keeps the handle while the fiber stops, so that whoever
    /// stops it next, if this stop is cut short, finds it (a supervisor's closing).
    pub(crate) fn stop<E2: Send + 'static>(&self) -> Effect<(), E2> {
        let core = self.core();
        Effect::from_future(async move {
            core.interrupt();
            wait_done(&core).await;
            Ok(())
        })
    }
}

/// Resolves once `core`'s fiber is done, saying meanwhile that its waiter waits on it.
async fn wait_done(core: &FiberCore) {
    waiting::marked(Wait::Join(core.id()), poll_fn(|cx| core.poll_done(cx))).await;
}

/// Starts `effect` on a new fiber (a tokio task) of `family`, with what it inherits,
/// interruptible or not from its start. Whoever calls this owns the fiber: a region adopts
/// it, or the family records it as unsupervised.
///
/// Must be called from inside a tokio runtime.
pub(crate) fn spawn_fiber<A: Send + 'static, E: Send + 'static>(
    effect: Effect<A, E>,
    inherited: Inherited,
    family: Option<Arc<Family>>,
    interruptible: bool,
    kind: FiberKind,
    name: Option<Arc<str>>,
) -> Fiber<A, E> {
    let core: TypedCore<A, E> = FiberCore::new(family, kind, Mutex::new(None));
    // Named before it runs: its end, however soon, is reported with its name; and its work
    // runs in a span carrying the name.
    #[cfg(feature = "tracing")]
    let effect = match &name {
        Some(name) => effect.in_fiber_span(name),
        None => effect,
    };
    if let Some(name) = name {
        core.set_name(name);
    }
    let erased: Arc<FiberCore> = core.clone();
    let mut driver = Driver::new(effect.into_prim(), inherited, erased, interruptible);
    // The task holds the driver alone: the core it finishes comes out of the interpreter,
    // erased, and finds its typed exit slot again by downcasting.
    tokio::spawn(std::future::poll_fn(move |cx| {
        driver.poll_drive(cx, |outcome, core| {
            // The exit is stored before the core completes, so whoever is woken by
            // completion finds it.
            core.store_exit(outcome_exit::<A, E>(outcome));
            core.complete();
        })
    }));
    Fiber { core }
}

impl<A: Send + 'static, E: Send + 'static> Effect<A, E> {
    /// Starts this effect on a new child fiber and succeeds at once with its [`Fiber`].
    ///
    /// The child runs concurrently (in parallel on a multi-thread runtime) with the services
    /// of the forking fiber's context, a copy of its [`FiberRef`](crate::FiberRef) values, and
    /// (with the `tracing` feature) in the span current in the forking fiber. When the forking
    /// fiber ends, the child is interrupted if still running, and awaited.
    ///
    /// ```
    /// use effect::{run_blocking, succeed, Effect};
    ///
    /// let program: Effect<u32, ()> = succeed::<u32, ()>(41)
    ///     .map(|n| n + 1)
    ///     .fork()
    ///     .flat_map(|fiber| fiber.join());
    /// assert_eq!(run_blocking(program), Ok(42));
    /// ```
    pub fn fork<E2: Send + 'static>(self) -> Effect<Fiber<A, E>, E2> {
        self.fork_with(true, None)
    }

    /// [`fork`](Effect::fork), the child named `name` from its start: its name is in
    /// [`Fiber::name`] and [`Runtime::dump`](crate::Runtime::dump), and, with the `tracing`
    /// feature, in the events that report how it ended (the `name` field of `fiber died`)
    /// and in a `fiber` span (`INFO`, target `effect`, fields `name` and `fiber`, the id)
    /// its whole run is in, under the span current where it was forked.
    ///
    /// ```
    /// use effect::prelude::*;
    ///
    /// #[effect]
    /// fn consumer() -> Effect<(), String> {
    ///     let worker = never::<(), String>().fork_named("queue-consumer")?;
    ///     assert_eq!(worker.name().as_deref(), Some("queue-consumer"));
    ///     worker.interrupt::<String>()?;
    /// }
    /// assert_eq!(effect::run_blocking(consumer()), Ok(()));
    /// ```
    pub fn fork_named<E2: Send + 'static>(
        self,
        name: impl Into<Arc<str>>,
    ) -> Effect<Fiber<A, E>, E2> {
        self.fork_with(true, Some(name.into()))
    }

    /// This effect, naming the fiber that runs it as it starts (a fiber has one name: the
    /// last given), and with the `tracing` feature running in a `fiber` span with the name
    /// (as [`fork_named`](Effect::fork_named)'s child does). Useful for a fiber started by
    /// something else (a race's branch, a supervisor's child, a `Runtime::fork`).
    ///
    /// ```
    /// use effect::prelude::*;
    ///
    /// #[effect]
    /// fn named_later() -> Effect<Option<String>, Never> {
    ///     let started = effect::Deferred::new();
    ///     let work = started.complete(()).flat_map(|_| never::<(), Never>());
    ///     let worker = work.named("sleeper").fork()?;
    ///     started.wait()?; // the worker has started, and taken its name
    ///     let name = worker.name().map(|name| name.to_string());
    ///     worker.interrupt::<Never>()?;
    ///     name
    /// }
    /// assert_eq!(effect::run_blocking(named_later()), Ok(Some("sleeper".to_string())));
    /// ```
    pub fn named(self, name: impl Into<Arc<str>>) -> Effect<A, E> {
        let name = name.into();
        #[cfg(feature = "tracing")]
        let this = self.in_fiber_span(&name);
        #[cfg(not(feature = "tracing"))]
        let this = self;
        Effect::from_prim(Prim::WithFiber(Box::new(move |fiber| {
            fiber.core.set_name(name);
            this.into_prim()
        })))
    }

    /// Like [`fork`](Effect::fork), but the new fiber is not supervised: it outlives the
    /// fiber that forked it. A daemon of a [`Runtime`](crate::Runtime) still belongs to that
    /// runtime: [`Runtime::shutdown`](crate::Runtime::shutdown) interrupts and awaits it.
    ///
    /// ```
    /// use effect::prelude::*;
    /// use effect::{Context, Runtime};
    ///
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let runtime = Runtime::new(Context::new());
    /// let started: Effect<(), Never> = effect_block! {
    ///     never::<(), Never>().fork_daemon()?; // outlives this effect
    /// };
    /// runtime.run(started).await.unwrap();
    /// assert_eq!(runtime.live_fibers(), 1);
    /// runtime.shutdown().await; // daemons too are interrupted and awaited
    /// assert_eq!(runtime.live_fibers(), 0);
    /// # }
    /// ```
    pub fn fork_daemon<E2: Send + 'static>(self) -> Effect<Fiber<A, E>, E2> {
        self.fork_with(false, None)
    }

    /// Forks, inheriting the forking fiber's interruptibility (as ZIO and Effect-TS do: a
    /// fiber forked inside an uninterruptible region runs uninterruptibly; wrap its effect in
    /// [`interruptible`](Effect::interruptible) to opt out).
    fn fork_with<E2: Send + 'static>(
        self,
        supervised: bool,
        name: Option<Arc<str>>,
    ) -> Effect<Fiber<A, E>, E2> {
        Effect::from_prim(Prim::WithFiber(Box::new(move |fiber| {
            let family = fiber.core.family().clone();
            let child = spawn_fiber(
                self,
                fiber.inherited(),
                family,
                fiber.interruptible,
                FiberKind::User,
                name,
            );
            if supervised {
                fiber.adopt(child.core());
            }
            if let Some(family) = fiber.core.family() {
                family.register(&child.core(), fiber.core.id(), supervised);
            }
            succeed::<_, E2>(child).into_prim()
        })))
    }
}
