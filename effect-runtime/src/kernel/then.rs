//! Continuations on the interpreter's stack: an effect, then a function of its exit
//! ([`then`]). `map`, `flat_map`, `map_err`, `timeout`'s wrapping in `Some` and their kin are
//! built on it: they poll no body of their own and hand nothing off, so each costs one
//! allocation and two steps of the interpreter (start, resume) instead of an async body
//! polled twice around a bind.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::pin::Pin;

use crate::kernel::cause::{Cause, Defect, Exit};
use crate::kernel::effect::Effect;
use crate::kernel::fiber::frame::{Delivery, Finished, FrameBox};
use crate::kernel::fiber::prim::{Prim, Then, ThenStep};

/// What a continuation goes on with: the exit the whole ends with, or an effect to run in its
/// place.
pub(crate) enum GoOn<B, E2> {
    Exit(Exit<B, E2>),
    Run(Effect<B, E2>),
}

/// Runs `first`, then `next` with its exit: the whole ends with what `next` gives. `next`
/// runs on the fiber's stack, where `first` ended; a panic in it is the whole's defect.
pub(crate) fn then<A, E, B, E2, F>(first: Effect<A, E>, next: F) -> Effect<B, E2>
where
    A: Send + 'static,
    E: Send + 'static,
    B: Send + 'static,
    E2: Send + 'static,
    F: FnOnce(Exit<A, E>) -> GoOn<B, E2> + Send + 'static,
{
    let state = State::First(first, next);
    Effect::from_prim(Prim::Then(Box::pin(Continuation(state))))
}

/// A continuation's state: its first effect is not started, or runs above it, or the whole
/// is done (the box is then a finished frame).
enum State<A, E, B, E2, F> {
    First(Effect<A, E>, F),
    Waiting(F),
    Done(Option<Exit<B, E2>>),
}

struct Continuation<A, E, B, E2, F>(State<A, E, B, E2, F>);

// Nothing in a continuation is pinned: the effect it holds is moved out before it runs.
impl<A, E, B, E2, F> Unpin for Continuation<A, E, B, E2, F> {}

impl<A, E, B, E2, F> Continuation<A, E, B, E2, F>
where
    A: Send + 'static,
    E: Send + 'static,
    B: Send + 'static,
    E2: Send + 'static,
    F: FnOnce(Exit<A, E>) -> GoOn<B, E2> + Send + 'static,
{
    /// Calls `next` with `exit`: done with its exit (or the defect of its panic), or to run
    /// the effect it gives in its place.
    fn go_on(&mut self, next: F, exit: Exit<A, E>) -> ThenStep {
        let out = match catch_unwind(AssertUnwindSafe(|| next(exit))) {
            Ok(GoOn::Exit(exit)) => exit,
            Ok(GoOn::Run(effect)) => match effect.into_exit_or_prim() {
                Ok(exit) => exit,
                Err(prim) => {
                    self.0 = State::Done(None);
                    return ThenStep::RunInstead(prim);
                }
            },
            Err(panic) => Err(Cause::Die(Defect::from_panic(panic))),
        };
        self.0 = State::Done(Some(out));
        ThenStep::Done
    }
}

impl<A, E, B, E2, F> Then for Continuation<A, E, B, E2, F>
where
    A: Send + 'static,
    E: Send + 'static,
    B: Send + 'static,
    E2: Send + 'static,
    F: FnOnce(Exit<A, E>) -> GoOn<B, E2> + Send + 'static,
{
    fn start(self: Pin<&mut Self>) -> ThenStep {
        let this = self.get_mut();
        let State::First(first, next) = std::mem::replace(&mut this.0, State::Done(None)) else {
            panic!("effect runtime: a continuation was started twice");
        };
        match first.into_exit_or_prim() {
            Ok(exit) => this.go_on(next, exit),
            Err(prim) => {
                this.0 = State::Waiting(next);
                ThenStep::RunFirst(prim)
            }
        }
    }

    fn resume(self: Pin<&mut Self>, first: Delivery) -> ThenStep {
        let this = self.get_mut();
        let State::Waiting(next) = std::mem::replace(&mut this.0, State::Done(None)) else {
            panic!("effect runtime: a continuation was resumed before it started, or twice");
        };
        let exit = first.into_exit::<A, E>();
        this.go_on(next, exit)
    }

    fn into_frame(self: Pin<Box<Self>>) -> FrameBox {
        self
    }
}

// A continuation is handed on as a frame only once done.
impl<A, E, B, E2, F> Finished for Continuation<A, E, B, E2, F>
where
    A: Send + 'static,
    E: Send + 'static,
    B: Send + 'static,
    E2: Send + 'static,
    F: FnOnce(Exit<A, E>) -> GoOn<B, E2> + Send + 'static,
{
    type A = B;
    type E = E2;

    fn out(&mut self) -> &mut Option<Exit<B, E2>> {
        match &mut self.0 {
            State::Done(out) => out,
            State::First(..) | State::Waiting(_) => {
                panic!("effect runtime: the outcome of a running continuation was asked for")
            }
        }
    }
}
