//! Driving a fiber to its end, and running an effect to its [`Exit`]: the [`Run`] future and
//! [`run_blocking`].

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context as TaskContext, Poll};

use super::core::{Family, FiberCore, FiberKind};
use super::frame::take_exit;
use super::interpreter::Interpreter;
use super::locals::Inherited;
use super::prim::{Outcome, Prim};
use super::tracking::Tracking;
use crate::kernel::cause::Exit;
use crate::kernel::context::Context;
use crate::kernel::effect::Effect;

/// Drives one fiber's interpreter, inside the test clock's accounting when its context has
/// a test clock. Supervision needs nothing here: the fiber's children belong to regions on
/// its interpreter stack, which the interpreter closes before the stack is empty.
pub(crate) struct Driver {
    /// `None` once the fiber finished, or was handed on by `drop`.
    interpreter: Option<Interpreter>,
    /// Reports this fiber's activity to the test clock in its context, if there is one (see
    /// [`tracking`](super::tracking)).
    tracking: Tracking,
}

// A fiber's task holds its driver. tokio allocates a task in 128-byte steps (its cells are
// aligned to cache lines): at 152 bytes a fiber's task takes 256, which the bench's
// `fiber_memory` measures. A field added to the driver or the interpreter must come out of
// something else, or every fiber pays another 128 bytes.
const _: () = assert!(std::mem::size_of::<Driver>() <= 152);

impl Driver {
    pub(crate) fn new(
        prim: Prim,
        inherited: Inherited,
        core: Arc<FiberCore>,
        interruptible: bool,
    ) -> Self {
        Driver::with_placement(prim, inherited, core, interruptible, false)
    }

    /// `in_place`: the fiber is polled in place by its parent (a member of a race), inside its
    /// parent's own polls. When the parent's poll is already reported to
    /// the fiber's test clock, the child needs no tracker of its own: its polls count as its
    /// parent's, and every waker it registers leads to its parent's task, whose tracker sees
    /// the wake-up. (A tracker is an allocation and a few contended atomics per poll, for
    /// every branch of a wide race.)
    fn with_placement(
        prim: Prim,
        inherited: Inherited,
        core: Arc<FiberCore>,
        interruptible: bool,
        in_place: bool,
    ) -> Self {
        let (tracking, tracked) = Tracking::start(&inherited.ctx, in_place);
        Driver {
            interpreter: Some(Interpreter::new(
                prim,
                inherited,
                core,
                interruptible,
                tracked,
            )),
            tracking,
        }
    }

    /// Drives the fiber; once it is finished, hands the outcome and the fiber's core to
    /// `finish` (which stores the exit and completes the core) before this poll ends.
    pub(crate) fn poll_drive<R>(
        &mut self,
        cx: &mut TaskContext<'_>,
        finish: impl FnOnce(Outcome, Arc<FiberCore>) -> R,
    ) -> Poll<R> {
        let Driver {
            interpreter,
            tracking,
        } = self;
        let mut finish = Some(finish);
        let poll = |cx: &mut TaskContext<'_>| {
            poll_fiber(interpreter, cx).map(|(outcome, core)| {
                let finish = finish.take().expect("a fiber finishes once");
                finish(outcome, core)
            })
        };
        let polled = tracking.poll(cx, poll);
        if polled.is_pending() {
            // A fiber that provided a test clock during the poll is tracked from now on.
            let tracked = interpreter.as_ref().is_some_and(Interpreter::is_tracked);
            tracking.after_poll(tracked);
        }
        polled
    }

    /// Begins reporting to the test clock the fiber runs with on its own, if its polls
    /// counted as its parent's (an in-place member, about to move to a task).
    fn track_on_its_own(&mut self) {
        if let Some(interpreter) = &self.interpreter {
            let tracked = interpreter.is_tracked();
            self.tracking.on_its_own(interpreter.context(), tracked);
        }
    }
}

/// Polls the fiber's interpreter; once it is finished, drops it and gives its outcome and its
/// core (moved out of it: the task owning a fiber keeps no second reference).
fn poll_fiber(
    slot: &mut Option<Interpreter>,
    cx: &mut TaskContext<'_>,
) -> Poll<(Outcome, Arc<FiberCore>)> {
    let interpreter = slot
        .as_mut()
        .expect("effect runtime: a finished fiber was polled");
    let _driving = super::core::driving(interpreter.core().id());
    let outcome = std::task::ready!(interpreter.poll_run(cx));
    let finished = slot.take().expect("polled just now");
    Poll::Ready((outcome, finished.into_core()))
}

thread_local! {
    /// Set while a fiber's remaining work is being finished in place, without a scheduler:
    /// fibers dropped meanwhile (its nested runs) finish in place too instead of spawning.
    static FINISHING_IN_PLACE: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// How many polls finishing in place gives a fiber's remaining work: each poll runs until the
/// work waits or spends its budget, so a few cover any chain of ready finalizers, and the
/// bound stops work that would wait forever (nothing will wake it) or loops.
const IN_PLACE_POLLS: usize = 64;

impl Drop for Driver {
    /// An unfinished fiber dropped from outside — its `Run` future dropped, or its task
    /// dropped by a tokio runtime shutting down — is interrupted, and what it still owes (the
    /// rest of an uninterruptible region, finalizers, children to interrupt and await) is
    /// finished:
    /// - on a task spawned onto the current tokio runtime, since a destructor cannot wait;
    ///   the fiber completes (and counts as done) only then;
    /// - in place, when there is no runtime, or the runtime is shutting down (the spawned task
    ///   was dropped unpolled, so nothing would ever run it). Finishing in place polls the
    ///   rest with a no-op waker until it would have to wait: everything that can finish
    ///   without waiting does (synchronous finalizers, cleanup whose awaits are ready); a
    ///   finalizer that must wait (a sleep, a channel, a child fiber still running) is dropped
    ///   there. The fiber then completes as interrupted.
    ///
    /// Never recursive: a fiber finishing in place never spawns, so a runtime shutting down
    /// cannot be asked to run the same work again and again.
    fn drop(&mut self) {
        let Some(interpreter) = self.interpreter.take() else {
            return;
        };
        let core = interpreter.core().clone();
        if !interpreter.owes_work() {
            drop(interpreter);
            core.complete();
            return;
        }
        core.interrupt();
        let rest = Driver {
            interpreter: Some(interpreter),
            tracking: std::mem::take(&mut self.tracking),
        };
        let handle = match tokio::runtime::Handle::try_current() {
            Ok(handle) if !FINISHING_IN_PLACE.get() => handle,
            _ => return finish_in_place(rest, core),
        };
        handle.spawn(Unfinished {
            rest: Some(rest),
            core,
        });
    }
}

/// The rest of a fiber dropped from outside, finishing on a task of its own.
struct Unfinished {
    rest: Option<Driver>,
    core: Arc<FiberCore>,
}

impl Future for Unfinished {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<()> {
        let this = &mut *self;
        let rest = this.rest.as_mut().expect("polled after completion");
        let core = &this.core;
        std::task::ready!(rest.poll_drive(cx, |_, _| core.complete()));
        this.rest = None;
        Poll::Ready(())
    }
}

impl Drop for Unfinished {
    /// Dropped before it finished: the runtime is shutting down (or dropped the task unpolled).
    fn drop(&mut self) {
        if let Some(rest) = self.rest.take() {
            finish_in_place(rest, self.core.clone());
        }
    }
}

/// Finishes what an interrupted fiber owes without a scheduler, as far as it can without
/// waiting (see `Driver`'s drop), then completes it.
fn finish_in_place(mut rest: Driver, core: Arc<FiberCore>) {
    let was_finishing = FINISHING_IN_PLACE.replace(true);
    let mut cx = TaskContext::from_waker(std::task::Waker::noop());
    for _ in 0..IN_PLACE_POLLS {
        // A poll that panics (a timer refusing to start on a runtime that is shutting down)
        // ends the attempt; the rest is dropped below.
        let polled = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            rest.poll_drive(&mut cx, |_, _| ())
        }));
        if !matches!(polled, Ok(Poll::Pending)) {
            break;
        }
    }
    // Whatever is left would have to wait: drop it (nested fibers finish in place too).
    if let Some(interpreter) = rest.interpreter.take() {
        let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| drop(interpreter)));
    }
    drop(rest);
    FINISHING_IN_PLACE.set(was_finishing);
    core.complete();
}

/// The future of running an effect: resolves to its [`Exit`].
///
/// Created by [`Effect::run`]. The effect runs as a root fiber, interpreted inside this
/// future, so it runs on whatever task polls it (current-thread or multi-thread runtime).
/// It resolves only once every fiber the effect forked is done.
///
/// # Cancel safety
/// Dropping an unfinished `Run` interrupts the effect: its bodies are dropped at once, and
/// finalizers still owed (`ensuring`, `on_exit`, ...) run to completion on a task spawned onto
/// the current tokio runtime, since a destructor cannot wait for async work. Effects that
/// must *finish* their cleanup before the caller moves on should be stopped through the
/// runtime (`timeout`, `race`, fiber interruption), never by dropping.
///
/// ```
/// use effect::prelude::*;
/// use effect::Context;
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// let run: effect::Run<u32, String> = sleep(ms(1)).as_value(5).run(&Context::new());
/// assert_eq!(run.await, Ok(5));
/// # }
/// ```
#[must_use = "an effect does nothing until its run is awaited"]
pub struct Run<A, E> {
    state: RunState<A, E>,
}

enum RunState<A, E> {
    Ready(Exit<A, E>),
    Running(Driver, Arc<FiberCore>),
    Done,
}

// The interpreter keeps its bodies boxed and pinned on its own; nothing here is pinned.
impl<A, E> Unpin for Run<A, E> {}

impl<A: Send + 'static, E: Send + 'static> Effect<A, E> {
    /// Runs the effect with the services of `ctx`; the returned future resolves to its
    /// [`Exit`]. See [`Run`] for what dropping it early means.
    ///
    /// ```
    /// use effect::{succeed, Context, Effect};
    ///
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let answer: Effect<u32, String> = succeed(21).map(|n| n * 2);
    /// assert_eq!(answer.run(&Context::new()).await, Ok(42));
    /// # }
    /// ```
    pub fn run(self, ctx: &Context) -> Run<A, E> {
        Run::new(self, ctx, Default::default())
    }
}

impl<A: Send + 'static, E: Send + 'static> Run<A, E> {
    pub(crate) fn start(prim: Prim, inherited: Inherited, family: Option<Arc<Family>>) -> Self {
        Run::start_placed(prim, inherited, family, false)
    }

    /// `in_place`: the fiber starting this run polls it in place (see
    /// [`Driver::with_placement`]).
    fn start_placed(
        prim: Prim,
        inherited: Inherited,
        family: Option<Arc<Family>>,
        in_place: bool,
    ) -> Self {
        // An in-place run is a region's member; every other is a root (or a body's nested run).
        let kind = match in_place {
            true => FiberKind::Member,
            false => FiberKind::User,
        };
        let core: Arc<FiberCore> = FiberCore::new(family, kind, ());
        let driver = Driver::with_placement(prim, inherited, core.clone(), true, in_place);
        Run {
            state: RunState::Running(driver, core),
        }
    }

    /// A root run: `ctx`, and nothing inherited from a fiber.
    pub(crate) fn new(effect: Effect<A, E>, ctx: &Context, family: Option<Arc<Family>>) -> Self {
        // Root runs (and `Runtime::new`) install the panic-location hook, once per process;
        // every other fiber starts inside one of them.
        crate::kernel::panic_location::install();
        let run = Run::inheriting(effect, || Inherited::root(ctx.clone()), family);
        // A plain defect ends the run without a fiber; it is reported as a fiber's would be
        // (a member's or a nested run's ends in a fiber that reports it).
        #[cfg(feature = "tracing")]
        if let RunState::Ready(Err(cause)) = &run.state {
            crate::kernel::trace::root_ended_at_once(cause, ctx);
        }
        run
    }

    /// A run of a fiber started by another, with what `inherit` gives (asked only if there is
    /// a fiber to start: a plain value or failure is ready at once).
    pub(crate) fn inheriting(
        effect: Effect<A, E>,
        inherit: impl FnOnce() -> Inherited,
        family: Option<Arc<Family>>,
    ) -> Self {
        Run::placed(effect, inherit, family, false)
    }

    /// Like [`inheriting`](Run::inheriting), for a run that the fiber starting it polls in
    /// place, as a member of one of its regions, and never anything else.
    pub(crate) fn in_place(
        effect: Effect<A, E>,
        inherit: impl FnOnce() -> Inherited,
        family: Option<Arc<Family>>,
    ) -> Self {
        Run::placed(effect, inherit, family, true)
    }

    fn placed(
        effect: Effect<A, E>,
        inherit: impl FnOnce() -> Inherited,
        family: Option<Arc<Family>>,
        in_place: bool,
    ) -> Self {
        match effect.into_exit_or_prim() {
            Ok(exit) => Run {
                state: RunState::Ready(exit),
            },
            Err(prim) => Run::start_placed(prim, inherit(), family, in_place),
        }
    }
}

impl<A, E> Run<A, E> {
    /// Readies a run polled in place to be polled by a task of its own from now on: a run
    /// on a test clock whose polls counted as its parent's gets a tracker of its own, counted
    /// as queued until the task first polls it (so the clock does not move meanwhile).
    /// `false` if it cannot move: it is not running, or the fiber's work is being finished
    /// in place, without a scheduler.
    pub(crate) fn prepare_to_move(&mut self) -> bool {
        match &mut self.state {
            RunState::Running(driver, _) if !FINISHING_IN_PLACE.get() => {
                driver.track_on_its_own();
                true
            }
            _ => false,
        }
    }

    /// The core of the fiber this run drives (`None` for a plain value).
    pub(crate) fn core(&self) -> Option<&Arc<FiberCore>> {
        match &self.state {
            RunState::Running(_, core) => Some(core),
            _ => None,
        }
    }

    /// Asks the run's fiber to stop without waking whoever polls it: for a caller that polls
    /// the run next itself (see [`FiberCore::interrupt_quietly`]).
    pub(crate) fn interrupt_quietly(&self) {
        if let Some(core) = self.core() {
            core.interrupt_quietly();
        }
    }
}

/// The typed exit of a finished fiber.
pub(crate) fn outcome_exit<A: 'static, E: 'static>(outcome: Outcome) -> Exit<A, E> {
    match outcome {
        Outcome::Completed(mut frame) => take_exit(&mut frame),
        Outcome::Interrupted(cause) => Err(cause.widen()),
    }
}

impl<A: Send + 'static, E: Send + 'static> Future for Run<A, E> {
    type Output = Exit<A, E>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<Exit<A, E>> {
        let this = &mut *self;
        let exit = match &mut this.state {
            RunState::Ready(_) => match std::mem::replace(&mut this.state, RunState::Done) {
                RunState::Ready(exit) => exit,
                _ => unreachable!("matched Ready above"),
            },
            RunState::Running(driver, core) => {
                let finish = |outcome, _| {
                    core.complete();
                    outcome_exit(outcome)
                };
                match driver.poll_drive(cx, finish) {
                    Poll::Pending => return Poll::Pending,
                    Poll::Ready(exit) => exit,
                }
            }
            RunState::Done => panic!("`Run` polled after completion"),
        };
        this.state = RunState::Done;
        Poll::Ready(exit)
    }
}

/// Runs `effect` with an empty [`Context`] on a new multi-thread tokio runtime, blocking the
/// current thread until it finishes. Meant for `main` and small programs.
///
/// # Panics
/// When called from inside a tokio runtime (blocking there would stall its worker); use
/// `effect.run(&ctx).await` instead.
///
/// ```
/// use effect::{run_blocking, succeed, Effect};
///
/// let effect: Effect<u32, String> = succeed(20).map(|n| n + 1).map(|n| n * 2);
/// assert_eq!(run_blocking(effect), Ok(42));
/// ```
pub fn run_blocking<A: Send + 'static, E: Send + 'static>(effect: Effect<A, E>) -> Exit<A, E> {
    run_blocking_with(effect, &Context::new())
}

/// [`run_blocking`] with the services of `ctx`.
///
/// ```
/// use effect::{run_blocking_with, service, Context, Effect, Never};
///
/// #[derive(Clone)]
/// struct Greeting(&'static str);
///
/// let greet: Effect<String, Never> = service::<Greeting>().map(|g| format!("{}!", g.0));
/// let ctx = Context::new().with(Greeting("hi"));
/// assert_eq!(run_blocking_with(greet, &ctx), Ok("hi!".to_string()));
/// ```
pub fn run_blocking_with<A: Send + 'static, E: Send + 'static>(
    effect: Effect<A, E>,
    ctx: &Context,
) -> Exit<A, E> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("failed to start a tokio runtime for run_blocking");
    runtime.block_on(effect.run(ctx))
}
