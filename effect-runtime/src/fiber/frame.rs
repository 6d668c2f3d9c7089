//! Frames: the type-erased units of work a fiber's interpreter keeps on its stack.
//!
//! Every effect that is not a plain value is, once run, either a *body frame* (an async body,
//! started lazily with the fiber's context and polled by the interpreter) or a structural
//! [`Prim`] (ensuring, masking, providing) that the interpreter unfolds onto its stack.
//!
//! A finished frame keeps its typed outcome inside itself, so the interpreter can carry
//! "the result" from a child to its parent without knowing its type and without boxing it a
//! second time: the parent's bind future downcasts [`ErasedFrame::output`] to the type it
//! knows.

use std::any::Any;
use std::cell::RefCell;
use std::future::Future;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context as TaskContext, Poll};

use pin_project_lite::pin_project;

use super::bind::current_context;
use super::interpreter::{Deadline, FiberCx};
use super::region::Owner;
use crate::cause::{Cause, Defect, Exit, Never};
use crate::context::Context;

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
    fn failure_shape(&mut self) -> Option<Cause<crate::trace::TypedFailure>>;
}

impl<A: Send + 'static, E: Send + 'static> ExitSlot for Option<Exit<A, E>> {
    fn add_cause(&mut self, extra: Cause<Never>) {
        *self = Some(match self.take() {
            Some(Err(cause)) => Err(cause.then(extra.widen())),
            Some(Ok(_)) | None => Err(extra.widen()),
        });
    }

    #[cfg(feature = "tracing")]
    fn failure_shape(&mut self) -> Option<Cause<crate::trace::TypedFailure>> {
        match self {
            Some(Err(cause)) => Some(crate::trace::TypedFailure::shape_of(cause)),
            _ => None,
        }
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

/// What a [`Prim::Suspend`] is made by: the erased side of a suspended effect's maker (the
/// same box, upcast, so that running it anywhere but a bind costs no allocation more).
pub(crate) trait MakePrim: Send {
    /// Makes the step to run next, from the fiber's context; a panic of the maker is the
    /// step's defect.
    fn make_prim(self: Box<Self>, ctx: &Context) -> Prim;
}

/// What a finalizer is told about the region it guards.
pub(crate) enum FinalizerExit<'a> {
    /// The region finished; its frame's output is `&mut Option<Exit<A, E>>`.
    Completed(&'a mut dyn Any),
    /// The region was interrupted (with this cause so far).
    Interrupted(&'a Cause<Never>),
}

/// Builds the finalizer effect from the exit of the region it guards; `None` when there is
/// nothing to run (an `on_error` after a success, a group whose members are all done), which
/// costs the interpreter nothing.
pub(crate) type Finalizer = Box<dyn FnOnce(FinalizerExit<'_>) -> Option<Prim> + Send>;

/// The erased instruction set of the interpreter.
///
/// No variant has a field narrower than a word. A one-byte field would sit right after the
/// tag, and the compiler then moves every `Prim` as bytes 1..17 and 16..24: the loads of a
/// body's box that follow such a move straddle its stores, miss store-to-load forwarding,
/// and stall. A level of deep recursion moves a `Prim` several times: with a narrow field
/// it took 70 ns, without 60. The same holds for the interpreter's stack entries.
pub(crate) enum Prim {
    /// An async body.
    Frame(FrameBox),
    /// Run the inner effect, then the finalizer, whatever happens (success, failure, defect
    /// or interruption). The finalizer runs uninterruptibly. One box for the pair keeps every
    /// variant within two words, so a `Prim` is three (a fiber's task has no byte to spare).
    Ensuring(Box<(Prim, Finalizer)>),
    /// Run the inner effect with interruption enabled.
    Interruptible(Box<Prim>),
    /// Run the inner effect with interruption disabled.
    Uninterruptible(Box<Prim>),
    /// Run the body of a region: the region's children are interrupted
    /// and awaited however the inner effect ends (see [`region`](super::region)).
    Region(Arc<dyn Owner>),
    /// Run the inner effect with another context.
    Provide(Context, Box<Prim>),
    /// Ask the interpreter running this fiber for the effect to run next.
    WithFiber(Box<dyn FnOnce(&mut FiberCx<'_>) -> Prim + Send>),
    /// Build the effect to run next from the fiber's context, with a function and one word of
    /// data instead of a boxed closure: the effect costs nothing until it starts, and what it
    /// starts can depend on the context (`sleep` builds a small virtual-time sleeper on a test
    /// clock, a tokio timer on the live one).
    FromContext(fn(&Context, u64) -> Prim, u64),
    /// Make the effect to run next from the fiber's context, with a closure that does not
    /// wait (an effect of `sync`, `attempt`, the toolkit's fast paths, run anywhere but a
    /// body's bind, which makes it in place). The closure turns a panic of its own into the
    /// effect's defect.
    Suspend(Box<dyn MakePrim>),
    /// Let other tasks run once, then succeed with `()`. Bound by a body, the interpreter
    /// does it without a frame (it yields the task as `tokio::task::yield_now` does and hands
    /// the body a unit when polled again); anywhere else it runs the frame the function
    /// builds.
    Yield(fn() -> FrameBox),
    /// Run the inner effect on this fiber under a deadline (`timeout`): see [`Deadline`]. The
    /// box becomes the deadline's entry on the stack.
    Deadline(Box<Deadline>),
}

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

/// A body built from the run's context when it starts (`Effect::new`).
pub(crate) fn context_frame<S, F, A, E>(start: S) -> FrameBox
where
    S: FnOnce(Context) -> F + Send + 'static,
    F: Future<Output = Exit<A, E>> + Send + 'static,
    A: Send + 'static,
    E: Send + 'static,
{
    // Starting is user code too: it runs inside the frame's first poll, under its panic guard.
    FutureFrame::boxed(async move { start(current_context()).await })
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

// Deferred dropping keeps drops stack-safe. An effect value can own a body that owns another
// effect value that owns another body ... (a million-step `flat_map` chain built in a loop is
// exactly that). Dropping such a chain naively recurses once per link. Instead, a `Prim`
// dropped while another `Prim` drop is in progress on this thread is queued, and the
// outermost drop empties the queue in a loop: the native stack stays flat at any depth.
thread_local! {
    static DROP_QUEUE: RefCell<Option<Vec<Prim>>> = const { RefCell::new(None) };
}

/// Owns a [`Prim`] inside an effect value and drops it with constant native stack depth.
pub(crate) struct DeferDrop(Option<Prim>);

impl DeferDrop {
    pub(crate) fn new(prim: Prim) -> Self {
        DeferDrop(Some(prim))
    }

    pub(crate) fn into_inner(mut self) -> Prim {
        self.0
            .take()
            .expect("effect runtime: a primitive was taken twice")
    }
}

impl Drop for DeferDrop {
    fn drop(&mut self) {
        let Some(prim) = self.0.take() else { return };
        // `Err(prim)` when an outer drop is in progress and has queued it.
        let outermost = DROP_QUEUE
            .try_with(|queue| {
                let mut queue = queue.borrow_mut();
                match queue.as_mut() {
                    Some(pending) => {
                        pending.push(prim);
                        None
                    }
                    None => {
                        *queue = Some(Vec::new());
                        Some(prim)
                    }
                }
            })
            // Thread-local already destroyed (thread exit): plain drop.
            .unwrap_or(None);
        let Some(prim) = outermost else { return };
        drop(prim);
        loop {
            let next = DROP_QUEUE.with(|queue| {
                let mut queue = queue.borrow_mut();
                let pending = queue.as_mut().expect("drop queue is set while draining");
                let next = pending.pop();
                if next.is_none() {
                    *queue = None;
                }
                next
            });
            match next {
                Some(prim) => drop(prim),
                None => break,
            }
        }
    }
}
