//! Frames: the type-erased async bodies a fiber's interpreter keeps on its stack. A leaf of
//! the kernel: it knows causes and exits, and nothing of instructions, interpreters or
//! regions (the instruction set, [`prim`](super::prim), builds on it).
//!
//! Every effect that is not a plain value is, once run, either a *body frame* (an async body,
//! started lazily with the fiber's context and polled by the interpreter) or a structural
//! instruction (ensuring, masking, providing) that the interpreter unfolds onto its stack.
//!
//! A finished frame keeps its typed outcome inside itself, so the interpreter can carry
//! "the result" from a child to its parent without knowing its type and without boxing it a
//! second time: the parent's bind future downcasts [`ErasedFrame::output`] to the type it
//! knows.

use std::any::Any;
use std::future::Future;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::pin::Pin;
use std::task::{Context as TaskContext, Poll};

use pin_project_lite::pin_project;

use crate::kernel::cause::{Cause, Defect, Exit, Never};

/// A started or not-yet-started body, with room for its outcome.
///
/// Every async body of a program (each `#[effect]` fn, each `par!`/`race!` branch block) is
/// one implementation of this trait, so its methods are compiled once per body in the users'
/// crates: they stay as small as a poll and a drop. What does not depend on the body's type
/// lives elsewhere: panics are caught once, around [`poll_frame`](Self::poll_frame), by the
/// interpreter; what reads or changes a finished outcome goes through [`ExitSlot`], compiled
/// once per `(A, E)`.
pub(crate) trait ErasedFrame: Send {
    /// Starts the body on first call (with the context of the run polling it), then polls it.
    /// `Ready` means the outcome is stored (see [`exit_slot`](Self::exit_slot)).
    ///
    /// A panic unwinds out of here, to [`poll_guarded`], which records it: the body panicked
    /// (the frame is still running), or it finished and its destructor panicked (the frame
    /// is done, with the body's exit).
    fn poll_frame(self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<()>;

    /// Drops a running body in place, leaving the frame done without an outcome (a panic's
    /// defect is added next, through the exit slot). A done frame is left as it is. The frame
    /// is done afterwards even when dropping the body unwinds: `Pin::set` writes the new
    /// state before the old one's drop can unwind past it.
    fn drop_body(self: Pin<&mut Self>);

    /// The outcome of a finished frame.
    fn exit_slot(self: Pin<&mut Self>) -> &mut dyn ExitSlot;

    /// The outcome, as `&mut Option<Exit<A, E>>` behind `dyn Any`: what a bind takes its exit
    /// from. The same as `exit_slot().as_any()`, in one call instead of two, as every bind of
    /// a running effect takes one.
    fn output(self: Pin<&mut Self>) -> &mut dyn Any;
}

/// The outcome of a finished frame, `Option<Exit<A, E>>`, read and changed without knowing
/// `A` or `E`. Implemented once per `(A, E)`, not once per body.
pub(crate) trait ExitSlot {
    /// Adds the cause of a failed finalizer (or of a panic) to the outcome: a success (or no
    /// outcome yet) becomes that failure, a failure becomes `Then(failure, extra)`.
    fn add_cause(&mut self, extra: Cause<Never>);

    /// The shape of a failed outcome's cause, its typed failures named by their type (for a
    /// fiber's end to be reported without knowing `E`); `None` for a success.
    #[cfg(feature = "tracing")]
    fn failure_shape(&mut self) -> Option<Cause<TypedFailure>>;

    /// The outcome's label in the runtime's metrics (see [`metered`](super::metered)).
    #[cfg(feature = "metrics")]
    fn outcome(&self) -> &'static str;
}

impl<A: Send + 'static, E: Send + 'static> ExitSlot for Option<Exit<A, E>> {
    fn add_cause(&mut self, extra: Cause<Never>) {
        *self = Some(match self.take() {
            Some(Err(cause)) => Err(cause.then(extra.widen())),
            Some(Ok(_)) | None => Err(extra.widen()),
        });
    }

    #[cfg(feature = "tracing")]
    fn failure_shape(&mut self) -> Option<Cause<TypedFailure>> {
        match self {
            Some(Err(cause)) => Some(TypedFailure::shape_of(cause)),
            _ => None,
        }
    }

    #[cfg(feature = "metrics")]
    fn outcome(&self) -> &'static str {
        match self {
            Some(exit) => outcome_label(exit),
            // A frame done without an outcome (its body dropped) counts as interrupted.
            None => "interrupted",
        }
    }
}

#[cfg(feature = "metrics")]
/// The `outcome` label of an exit: `success`, or what its cause holds first among a defect,
/// a typed failure and an interruption.
pub(crate) fn outcome_label<A, E>(exit: &Exit<A, E>) -> &'static str {
    match exit {
        Ok(_) => "success",
        Err(cause) if cause.is_die() => "defect",
        Err(cause) if cause.is_failure() => "failure",
        Err(_) => "interrupted",
    }
}

/// Polls `frame` once, turning a panic of its body (or of its destructor) into a defect in
/// its outcome: `Ready` then means the frame is done, its outcome holding the defect. Every
/// body's panics are caught here, in code compiled once, rather than in each body's frame.
///
/// Inlined into the interpreter's loop, its one caller: a bind polls two bodies, and a call
/// more for each poll showed in deep recursion (34 instructions a level).
#[inline(always)]
pub(crate) fn poll_guarded(frame: &mut FrameBox, cx: &mut TaskContext<'_>) -> Poll<()> {
    let panic = match catch_unwind(AssertUnwindSafe(|| frame.as_mut().poll_frame(cx))) {
        Ok(polled) => return polled,
        Err(panic) => panic,
    };
    // The body is dropped (when still running); its destructor may panic too. The frame is
    // done either way, and keeps both defects, the first first.
    let dropped = catch_unwind(AssertUnwindSafe(|| frame.as_mut().drop_body()));
    let slot = frame.as_mut().exit_slot();
    slot.add_cause(Cause::Die(Defect::from_panic(panic)));
    if let Err(panic) = dropped {
        slot.add_cause(Cause::Die(Defect::from_panic(panic)));
    }
    Poll::Ready(())
}

pub(crate) type FrameBox = Pin<Box<dyn ErasedFrame>>;

/// How a frame polls its body: `<F as Future>::poll`, as a function pointer.
///
/// A frame never calls its body's `poll` by name. The DSL's expansion names it
/// (`::core::future::Future::poll`), so the pointer is made in the user's fn, and the
/// compiler reaches each body's code from the fn that builds it, never through the frame's
/// generic code. A chain of a thousand `#[effect]` fns, each calling the next, then compiles
/// as a chain of distinct functions; through one generic `poll_frame` it would be that
/// function a thousand times deep in monomorphization, past its recursion limit (128).
pub type PollBody<F> = fn(Pin<&mut F>, &mut TaskContext<'_>) -> Poll<<F as Future>::Output>;

/// What a body's future gives when it finishes, as the frame keeps it: its `Exit`. A DSL
/// body whose error type is declared gives `Result<A, BodyFailure<E>>` instead (see
/// `dsl::BodyFailure`), and every other body its `Exit` as it is.
pub trait IntoExit<A, E> {
    /// The body's exit.
    fn into_exit(self) -> Exit<A, E>;
}

impl<A, E> IntoExit<A, E> for Exit<A, E> {
    #[inline]
    fn into_exit(self) -> Exit<A, E> {
        self
    }
}

pin_project! {
    /// A body given as a future (the DSL, the combinators, `Effect::from_future`), and then
    /// its outcome in the same allocation: a finished body is dropped in place and its exit
    /// takes its room, so a frame costs `max(body, exit)`, not their sum. Deep recursion keeps
    /// a million of these alive at once.
    #[project = FrameProj]
    pub(crate) enum FutureFrame<F: Future, A, E> {
        Running { #[pin] body: F, poll: PollBody<F> },
        Done { out: Option<Exit<A, E>> },
    }
}

impl<F, A, E> FutureFrame<F, A, E>
where
    F: Future + Send + 'static,
    F::Output: IntoExit<A, E>,
    A: Send + 'static,
    E: Send + 'static,
{
    /// A frame polling `body` with `poll` (see [`PollBody`]).
    pub(crate) fn boxed_with(body: F, poll: PollBody<F>) -> FrameBox {
        Box::pin(FutureFrame::<F, A, E>::Running { body, poll })
    }

    fn out(self: Pin<&mut Self>) -> &mut Option<Exit<A, E>> {
        match self.project() {
            FrameProj::Done { out } => out,
            FrameProj::Running { .. } => outcome_of_a_running_frame(),
        }
    }
}

impl<F, A, E> FutureFrame<F, A, E>
where
    F: Future<Output = Exit<A, E>> + Send + 'static,
    A: Send + 'static,
    E: Send + 'static,
{
    pub(crate) fn boxed(body: F) -> FrameBox {
        Self::boxed_with(body, F::poll)
    }
}

#[cold]
#[inline(never)]
fn outcome_of_a_running_frame() -> ! {
    panic!("effect runtime: the outcome of a running frame was asked for")
}

impl<F, A, E> ErasedFrame for FutureFrame<F, A, E>
where
    F: Future + Send + 'static,
    F::Output: IntoExit<A, E>,
    A: Send + 'static,
    E: Send + 'static,
{
    /// Polls the body; once it finishes, drops it in place (so its captured resources go as
    /// soon as it is done) and stores the outcome.
    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<()> {
        let exit = match self.as_mut().project() {
            FrameProj::Running { body, poll } => std::task::ready!(poll(body, cx)),
            // Polled again after finishing: the interpreter never does this.
            FrameProj::Done { .. } => return Poll::Pending,
        };
        self.set(FutureFrame::Done {
            out: Some(exit.into_exit()),
        });
        Poll::Ready(())
    }

    fn drop_body(mut self: Pin<&mut Self>) {
        if let FrameProj::Running { .. } = self.as_mut().project() {
            self.set(FutureFrame::Done { out: None });
        }
    }

    fn exit_slot(self: Pin<&mut Self>) -> &mut dyn ExitSlot {
        self.out()
    }

    fn output(self: Pin<&mut Self>) -> &mut dyn Any {
        self.out()
    }
}

/// A box handed on as a frame only once it is finished, its outcome in a slot of its own (a
/// suspended effect's maker once made, a timeout's deadline once ended): never polled as a
/// body, so all a frame does is give that slot.
pub(crate) trait Finished: Send + Unpin {
    type A: Send + 'static;
    type E: Send + 'static;

    fn out(&mut self) -> &mut Option<Exit<Self::A, Self::E>>;
}

impl<T: Finished> ErasedFrame for T {
    fn poll_frame(self: Pin<&mut Self>, _: &mut TaskContext<'_>) -> Poll<()> {
        Poll::Ready(())
    }

    fn drop_body(self: Pin<&mut Self>) {}

    fn exit_slot(self: Pin<&mut Self>) -> &mut dyn ExitSlot {
        self.get_mut().out()
    }

    fn output(self: Pin<&mut Self>) -> &mut dyn Any {
        self.get_mut().out()
    }
}

/// What the interpreter hands a body whose bound effect finished.
pub(crate) enum Delivery {
    /// The finished frame, holding the typed exit.
    Frame(FrameBox),
    /// `Ok(())`, for a `yield_now` done without a frame.
    Unit,
}

impl Delivery {
    /// The typed exit delivered.
    ///
    /// # Panics
    /// If it is not an `Exit<A, E>`; a runtime bug (only a bind of `yield_now`, whose value is
    /// `()`, is handed a unit).
    pub(crate) fn into_exit<A: 'static, E: 'static>(self) -> Exit<A, E> {
        match self {
            Delivery::Frame(mut frame) => take_exit(&mut frame),
            Delivery::Unit => {
                let mut unit: Option<Exit<(), E>> = Some(Ok(()));
                <dyn Any>::downcast_mut::<Option<Exit<A, E>>>(&mut unit)
                    .and_then(Option::take)
                    .expect("effect runtime: a unit was delivered to a bind of a non-unit effect")
            }
        }
    }
}

/// Takes the typed outcome out of a finished frame.
///
/// # Panics
/// If the frame's outcome is not an `Exit<A, E>` or was already taken. Both are runtime bugs:
/// a bind future only ever receives the frame of the effect it handed to the interpreter.
pub(crate) fn take_exit<A: 'static, E: 'static>(frame: &mut FrameBox) -> Exit<A, E> {
    frame
        .as_mut()
        .output()
        .downcast_mut::<Option<Exit<A, E>>>()
        .and_then(Option::take)
        .expect("effect runtime: a frame's outcome has the wrong type or was taken twice")
}

/// A typed failure in a reported cause, named by its type: the runtime cannot display an `E`.
#[cfg(feature = "tracing")]
pub(crate) struct TypedFailure(&'static str);

#[cfg(feature = "tracing")]
impl TypedFailure {
    /// The shape of `cause`, its typed failures replaced by their type's name.
    pub(crate) fn shape_of<E>(cause: &Cause<E>) -> Cause<TypedFailure> {
        cause
            .clone_erased()
            .map(|()| TypedFailure(std::any::type_name::<E>()))
    }
}

#[cfg(feature = "tracing")]
impl std::fmt::Display for TypedFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "typed failure ({})", self.0)
    }
}
