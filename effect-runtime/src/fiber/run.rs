//! Running an effect to its [`Exit`]: the [`Run`] future and [`run_blocking`].

use std::future::Future;
use std::marker::PhantomData;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context as TaskContext, Poll};

use super::frame::{take_exit, Prim};
use super::interpreter::{Interpreter, Outcome, Signal};
use crate::cause::Exit;
use crate::context::Context;
use crate::effect::{Effect, Repr};

/// The future of running an effect: resolves to its [`Exit`].
///
/// Created by [`Effect::run`]. The effect runs as a root fiber, interpreted inside this
/// future, so it runs on whatever task polls it (current-thread or multi-thread runtime).
///
/// # Cancel safety
/// Dropping an unfinished `Run` interrupts the effect: its bodies are dropped at once, and
/// if finalizers are still owed (`ensuring`, `on_exit`, ...) they are run to completion on a
/// task spawned onto the current tokio runtime, since a destructor cannot wait for async
/// work. Effects that must *finish* their cleanup before the caller moves on should be
/// stopped through the runtime (`timeout`, `race`, fiber interruption), never by dropping.
#[must_use = "an effect does nothing until its run is awaited"]
pub struct Run<A, E> {
    state: RunState<A, E>,
}

enum RunState<A, E> {
    Ready(Exit<A, E>),
    Running(Interpreter),
    Done,
}

// The interpreter keeps its bodies boxed and pinned on its own; nothing here is pinned.
impl<A, E> Unpin for Run<A, E> {}

impl<A, E> Run<A, E> {
    pub(crate) fn start(prim: Prim, ctx: Context) -> Self {
        let interpreter = Interpreter::new(prim, ctx, Arc::new(Signal::default()));
        Run {
            state: RunState::Running(interpreter),
        }
    }

    pub(crate) fn new(effect: Effect<A, E>, ctx: &Context) -> Self {
        match effect.repr {
            Repr::Succeed(a) => Run {
                state: RunState::Ready(Ok(a)),
            },
            Repr::Fail(cause) => Run {
                state: RunState::Ready(Err(cause)),
            },
            Repr::Prim(prim, PhantomData) => Run::start(prim.into_inner(), ctx.clone()),
        }
    }
}

impl<A: Send + 'static, E: Send + 'static> Future for Run<A, E> {
    type Output = Exit<A, E>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<Exit<A, E>> {
        let this = &mut *self;
        let exit = match &mut this.state {
            RunState::Ready(_) => match std::mem::replace(&mut this.state, RunState::Done) {
                RunState::Ready(exit) => exit,
                _ => unreachable!(),
            },
            RunState::Running(interpreter) => match interpreter.poll_run(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Outcome::Completed(mut frame)) => take_exit(&mut frame),
                Poll::Ready(Outcome::Interrupted(cause)) => Err(cause.widen()),
            },
            RunState::Done => panic!("`Run` polled after completion"),
        };
        this.state = RunState::Done;
        Poll::Ready(exit)
    }
}

impl<A, E> Drop for Run<A, E> {
    fn drop(&mut self) {
        let RunState::Running(interpreter) = &mut self.state else {
            return;
        };
        if !interpreter.owes_finalizers() {
            return;
        }
        let Ok(handle) = tokio::runtime::Handle::try_current() else {
            // No runtime to run async cleanup on: the bodies are dropped, finalizers are lost.
            return;
        };
        let RunState::Running(mut interpreter) = std::mem::replace(&mut self.state, RunState::Done)
        else {
            unreachable!()
        };
        interpreter.abandon();
        handle.spawn(std::future::poll_fn(move |cx| {
            interpreter.poll_run(cx).map(drop)
        }));
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
