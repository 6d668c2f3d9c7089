//! Binding an effect inside an async body: the hand-off between a body and its interpreter.
//!
//! A body that binds an effect does not poll that effect's body itself (nesting futures is what
//! overflows the native stack in deep recursion). Instead the [`Bind`] future hands the effect
//! to the interpreter polling the body, through a per-thread [`Slot`], and returns `Pending`.
//! The interpreter pushes the effect onto the fiber's heap stack, runs it, and re-polls the
//! body with the finished child frame in the slot; the bind future takes its typed outcome
//! from it. Nesting depth lives in a `Vec`, never on the native stack.
//!
//! The hand-off is only valid when the bind future is awaited directly by the body (the body
//! cannot make progress until the bound effect finishes). That is how the DSL and the
//! combinators use it. When a bind future is polled where no interpreter accepts a hand-off
//! (outside any effect run, or a second bind polled in the same step, as inside `join!`), it
//! runs the effect itself as a nested run: correct everywhere, stack-safe to ordinary depths.

use std::cell::RefCell;
use std::future::{Future, IntoFuture};
use std::marker::PhantomData;
use std::pin::Pin;
use std::task::{Context as TaskContext, Poll};

use super::frame::{take_exit, FrameBox, Prim};
use super::run::Run;
use crate::cause::Exit;
use crate::context::Context;
use crate::effect::{Effect, Repr};

/// The hand-off point between the interpreter currently polling a body and that body's bind.
pub(crate) struct Slot {
    /// Whether an interpreter is polling a body on this thread right now.
    pub(crate) accepting: bool,
    /// The effect a body asked the interpreter to run.
    pub(crate) request: Option<Prim>,
    /// The finished frame of the effect the body asked for last.
    pub(crate) delivered: Option<FrameBox>,
    /// The fiber's context, moved here (not cloned) while the interpreter polls a body: for
    /// bodies starting with it, and for binds that must run their effect in place.
    pub(crate) ctx: Option<Context>,
}

impl Slot {
    pub(crate) const IDLE: Slot = Slot {
        accepting: false,
        request: None,
        delivered: None,
        ctx: None,
    };
}

thread_local! {
    pub(crate) static SLOT: RefCell<Slot> = const { RefCell::new(Slot::IDLE) };
}

/// The future of binding an effect: resolves to the effect's [`Exit`].
///
/// Returned by `effect.await` (through [`IntoFuture`]) and used by the DSL for `?`.
/// A plain value (`succeed(x)`) resolves on the first poll without allocating.
#[must_use = "futures do nothing unless awaited"]
pub struct Bind<A, E> {
    state: BindState<A, E>,
}

enum BindState<A, E> {
    Start(Effect<A, E>),
    /// Handed to the interpreter; waiting for the finished frame.
    Waiting,
    /// No interpreter could take it: running it here.
    Nested(Box<Run<A, E>>),
    Done,
}

// `Bind` never pins its fields: values are moved out, and `Run` is `Unpin`.
impl<A, E> Unpin for Bind<A, E> {}

impl<A, E> Bind<A, E> {
    pub(crate) fn new(effect: Effect<A, E>) -> Self {
        Bind {
            state: BindState::Start(effect),
        }
    }
}

impl<A: Send + 'static, E: Send + 'static> Future for Bind<A, E> {
    type Output = Exit<A, E>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<Exit<A, E>> {
        let this = &mut *self;
        loop {
            match std::mem::replace(&mut this.state, BindState::Done) {
                BindState::Start(effect) => match effect.repr {
                    Repr::Succeed(a) => return Poll::Ready(Ok(a)),
                    Repr::Fail(cause) => return Poll::Ready(Err(cause)),
                    Repr::Prim(prim, PhantomData) => match hand_off(prim.into_inner()) {
                        Ok(()) => {
                            this.state = BindState::Waiting;
                            return Poll::Pending;
                        }
                        Err((prim, ctx)) => {
                            this.state = BindState::Nested(Box::new(Run::start(
                                prim,
                                ctx,
                                Default::default(),
                            )))
                        }
                    },
                },
                BindState::Waiting => {
                    let delivered = SLOT.with(|slot| slot.borrow_mut().delivered.take());
                    match delivered {
                        Some(mut frame) => return Poll::Ready(take_exit(&mut frame)),
                        None => {
                            // Woken before the child finished (a foreign waker fired):
                            // keep waiting.
                            this.state = BindState::Waiting;
                            return Poll::Pending;
                        }
                    }
                }
                BindState::Nested(mut run) => match Pin::new(&mut run).poll(cx) {
                    Poll::Ready(exit) => return Poll::Ready(exit),
                    Poll::Pending => {
                        this.state = BindState::Nested(run);
                        return Poll::Pending;
                    }
                },
                BindState::Done => panic!("`Bind` polled after completion"),
            }
        }
    }
}

/// The context of the run polling the current body (empty outside any run).
pub(crate) fn current_context() -> Context {
    SLOT.with(|slot| slot.borrow().ctx.clone().unwrap_or_default())
}

/// Gives `prim` to the interpreter polling the current body, or hands it back (with the
/// context to run it in) when no interpreter can take it now.
fn hand_off(prim: Prim) -> Result<(), (Prim, Context)> {
    SLOT.with(|slot| {
        let mut slot = slot.borrow_mut();
        if slot.accepting && slot.request.is_none() && slot.delivered.is_none() {
            slot.request = Some(prim);
            Ok(())
        } else {
            Err((prim, slot.ctx.clone().unwrap_or_default()))
        }
    })
}

impl<A: Send + 'static, E: Send + 'static> IntoFuture for Effect<A, E> {
    type Output = Exit<A, E>;
    type IntoFuture = Bind<A, E>;

    /// Awaiting an effect inside another effect's body runs it on the same fiber, with the
    /// same context, stack-safely. Await it directly in the body (`eff.await?`); to run an
    /// effect concurrently with other futures, use the combinators (`zip_par`, `race`,
    /// `timeout`) or [`Effect::run`].
    fn into_future(self) -> Bind<A, E> {
        Bind::new(self)
    }
}

impl<A: Send + 'static, E: Send + 'static> Effect<A, E> {
    /// The exit of a plain value or failure without going through a future, or the bind
    /// future of anything else. The DSL's `?` uses it so that binding a pure value in a loop
    /// costs a branch, not a suspension point.
    #[doc(hidden)]
    #[inline]
    pub fn __into_ready(self) -> Result<Exit<A, E>, Bind<A, E>> {
        match self.repr {
            Repr::Succeed(a) => Ok(Ok(a)),
            Repr::Fail(cause) => Ok(Err(cause)),
            repr @ Repr::Prim(..) => Err(Bind::new(Effect { repr })),
        }
    }
}
