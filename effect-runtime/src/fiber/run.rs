//! Driving a fiber to its end, and running an effect to its [`Exit`]: the [`Run`] future and
//! [`run_blocking`].

use std::future::Future;
use std::marker::PhantomData;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context as TaskContext, Poll};

use super::core::{Family, FiberCore};
use super::frame::{take_exit, Prim};
use super::interpreter::{Interpreter, Outcome};
use crate::cause::Exit;
use crate::clock::{Clock, Tracker};
use crate::context::Context;
use crate::effect::{Effect, Repr};

/// Drives one fiber: its interpreter, then the reaping of its children.
///
/// Supervision is enforced here: when the interpreter has finished (success, failure or
/// interruption), every child fiber still registered with the core is interrupted, and the
/// driver waits until each is done (its finalizers have run) before it reports the outcome.
/// Only then may the owner store the exit and complete the core.
pub(crate) struct Driver {
    state: DriverState,
    /// Reports this fiber's activity to the test clock in its context, if there is one
    /// (one pointer: most fibers have none, and every fiber's size counts). The whole of each poll
    /// counts as running, including the owner's completion of the fiber, so a test clock
    /// never sees the fiber idle between its end and the wake-ups its end causes.
    tracker: Option<Tracker>,
}

enum DriverState {
    Running(Interpreter),
    Reaping {
        core: Arc<FiberCore>,
        outcome: Option<Outcome>,
        children: Vec<Arc<FiberCore>>,
    },
    Finished,
}

impl Driver {
    pub(crate) fn new(prim: Prim, ctx: Context, core: Arc<FiberCore>) -> Self {
        let tracker = ctx
            .try_get::<Clock>()
            .and_then(Clock::as_test)
            .map(|clock| Tracker::new(clock.activity().clone()));
        Driver {
            state: DriverState::Running(Interpreter::new(prim, ctx, core)),
            tracker,
        }
    }

    /// Drives the fiber; once it is finished, hands the outcome to `finish` (which stores the
    /// exit and completes the core) before this poll ends.
    pub(crate) fn poll_drive<R>(
        &mut self,
        cx: &mut TaskContext<'_>,
        finish: impl FnOnce(Outcome) -> R,
    ) -> Poll<R> {
        let Some(tracker) = &self.tracker else {
            return self.poll_fiber(cx).map(finish);
        };
        let previous = Tracker::polling();
        let waker = tracker.enter(cx.waker());
        let polled = self
            .poll_fiber(&mut TaskContext::from_waker(&waker))
            .map(finish);
        if let Some(tracker) = &self.tracker {
            tracker.exit(previous);
        }
        polled
    }

    fn poll_fiber(&mut self, cx: &mut TaskContext<'_>) -> Poll<Outcome> {
        loop {
            match &mut self.state {
                DriverState::Running(interpreter) => {
                    let outcome = match interpreter.poll_run(cx) {
                        Poll::Pending => return Poll::Pending,
                        Poll::Ready(outcome) => outcome,
                    };
                    let core = interpreter.core().clone();
                    let children = core.take_children();
                    for child in &children {
                        child.interrupt();
                    }
                    self.state = DriverState::Reaping {
                        core,
                        outcome: Some(outcome),
                        children,
                    };
                }
                DriverState::Reaping {
                    core,
                    outcome,
                    children,
                } => {
                    while let Some(child) = children.last() {
                        match child.done().poll_unpin(cx) {
                            Poll::Pending => return Poll::Pending,
                            Poll::Ready(()) => {
                                children.pop();
                            }
                        }
                    }
                    // Children forked by finalizers while reaping are reaped too.
                    let late = core.take_children();
                    if !late.is_empty() {
                        for child in &late {
                            child.interrupt();
                        }
                        *children = late;
                        continue;
                    }
                    let outcome = outcome.take().expect("reaping holds the outcome");
                    self.state = DriverState::Finished;
                    return Poll::Ready(outcome);
                }
                DriverState::Finished => panic!("effect runtime: a finished fiber was polled"),
            }
        }
    }
}

trait PollUnpin: Future + Unpin {
    fn poll_unpin(&mut self, cx: &mut TaskContext<'_>) -> Poll<Self::Output> {
        Pin::new(self).poll(cx)
    }
}
impl<F: Future + Unpin> PollUnpin for F {}

impl Drop for Driver {
    /// An unfinished fiber dropped from outside (its `Run` future dropped, or its runtime
    /// shutting down) is interrupted, and whatever it still owes — an uninterruptible region
    /// to finish, finalizers to run, children to reap — is finished on a task spawned onto the
    /// current tokio runtime, since a destructor cannot wait. The fiber completes (and counts
    /// as done) only then. Without a runtime the rest is dropped and the children signalled.
    fn drop(&mut self) {
        let core = match &self.state {
            DriverState::Running(interpreter) => interpreter.core().clone(),
            DriverState::Reaping { core, .. } => core.clone(),
            DriverState::Finished => return,
        };
        let state = std::mem::replace(&mut self.state, DriverState::Finished);
        let owes_work = match &state {
            DriverState::Running(interpreter) => interpreter.owes_work() || core.has_children(),
            _ => true,
        };
        if !owes_work {
            drop(state);
            core.complete();
            return;
        }
        core.interrupt();
        match tokio::runtime::Handle::try_current() {
            Ok(handle) => {
                let mut rest = Driver {
                    state,
                    tracker: self.tracker.take(),
                };
                handle.spawn(std::future::poll_fn(move |cx| {
                    rest.poll_drive(cx, |_| core.complete())
                }));
            }
            Err(_) => {
                for child in core.take_children() {
                    child.interrupt();
                }
                drop(state);
                core.complete();
            }
        }
    }
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

impl<A, E> Run<A, E> {
    pub(crate) fn start(prim: Prim, ctx: Context, family: Option<Arc<Family>>) -> Self {
        let core: Arc<FiberCore> = FiberCore::new(family, ());
        Run {
            state: RunState::Running(Driver::new(prim, ctx, core.clone()), core),
        }
    }

    pub(crate) fn new(effect: Effect<A, E>, ctx: &Context, family: Option<Arc<Family>>) -> Self {
        match effect.repr {
            Repr::Succeed(a) => Run {
                state: RunState::Ready(Ok(a)),
            },
            Repr::Fail(cause) => Run {
                state: RunState::Ready(Err(cause)),
            },
            Repr::Prim(prim, PhantomData) => Run::start(prim.into_inner(), ctx.clone(), family),
        }
    }
}

impl<A, E> Run<A, E> {
    /// The core of the fiber this run drives (`None` for a plain value).
    pub(crate) fn core(&self) -> Option<&Arc<FiberCore>> {
        match &self.state {
            RunState::Running(_, core) => Some(core),
            _ => None,
        }
    }

    /// Asks the run's fiber to stop; keep polling the run to let it unwind.
    pub(crate) fn interrupt(&self) {
        if let Some(core) = self.core() {
            core.interrupt();
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
                let finish = |outcome| {
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
/// use effect_runtime::{run_blocking, succeed, Effect};
///
/// let effect: Effect<u32, String> = succeed(20).map(|n| n + 1).map(|n| n * 2);
/// assert_eq!(run_blocking(effect), Ok(42));
/// ```
pub fn run_blocking<A: Send + 'static, E: Send + 'static>(effect: Effect<A, E>) -> Exit<A, E> {
    run_blocking_with(effect, &Context::new())
}

/// [`run_blocking`] with the services of `ctx`.
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
