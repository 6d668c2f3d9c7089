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
pub(crate) trait ErasedFrame: Send {
    /// Starts the body on first call (with the context of the run polling it), then polls it.
    /// `Ready` means the outcome
    /// is stored in [`output`](Self::output). A panic in the body is caught and stored as a
    /// defect.
    fn poll_frame(self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<()>;

    /// The outcome, as `&mut Option<Exit<A, E>>` behind `dyn Any`.
    fn output(self: Pin<&mut Self>) -> &mut dyn Any;

    /// Adds the cause of a failed finalizer to the outcome: a success becomes that failure,
    /// a failure becomes `Then(failure, finalizer's cause)`.
    fn add_cause(self: Pin<&mut Self>, extra: Cause<Never>);

    /// The shape of a failed outcome's cause, its typed failures named by their type (for a
    /// fiber's end to be reported without knowing `E`); `None` for a success.
    #[cfg(feature = "tracing")]
    fn failure_shape(self: Pin<&mut Self>) -> Option<Cause<crate::trace::TypedFailure>>;
}

pub(crate) type FrameBox = Pin<Box<dyn ErasedFrame>>;

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
    /// Let other tasks run once, then succeed with `()`. Bound by a body, the interpreter
    /// does it without a frame (it yields the task as `tokio::task::yield_now` does and hands
    /// the body a unit when polled again); anywhere else it runs the frame the function
    /// builds.
    Yield(fn() -> FrameBox),
    /// Run the inner effect on this fiber under a deadline (`timeout`): see [`Deadline`]. The
    /// box becomes the deadline's entry on the stack.
    Deadline(Box<Deadline>),
}

pin_project! {
    /// A body given as a future (the DSL, the combinators, `Effect::from_future`), and then
    /// its outcome in the same allocation: a finished body is dropped in place and its exit
    /// takes its room, so a frame costs `max(body, exit)`, not their sum. Deep recursion keeps
    /// a million of these alive at once.
    #[project = FrameProj]
    pub(crate) enum FutureFrame<F: Future> {
        Running { #[pin] body: F },
        Done { out: Option<F::Output> },
    }
}

impl<F, A, E> FutureFrame<F>
where
    F: Future<Output = Exit<A, E>> + Send + 'static,
    A: Send + 'static,
    E: Send + 'static,
{
    pub(crate) fn boxed(body: F) -> FrameBox {
        Box::pin(FutureFrame::Running { body })
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

fn add_cause_to<A, E>(out: &mut Option<Exit<A, E>>, extra: Cause<Never>) {
    *out = Some(match out.take() {
        Some(Err(cause)) => Err(cause.then(extra.widen())),
        Some(Ok(_)) | None => Err(extra.widen()),
    });
}

impl<F, A, E> FutureFrame<F>
where
    F: Future<Output = Exit<A, E>> + Send + 'static,
    A: Send + 'static,
    E: Send + 'static,
{
    fn out(self: Pin<&mut Self>) -> &mut Option<Exit<A, E>> {
        match self.project() {
            FrameProj::Done { out } => out,
            FrameProj::Running { .. } => {
                panic!("effect runtime: the outcome of a running frame was asked for")
            }
        }
    }
}

impl<F, A, E> ErasedFrame for FutureFrame<F>
where
    F: Future<Output = Exit<A, E>> + Send + 'static,
    A: Send + 'static,
    E: Send + 'static,
{
    /// Polls the body, catching panics as defects; once it finishes, drops it in place (so its
    /// captured resources go as soon as it is done) and stores the outcome.
    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<()> {
        let polled = catch_unwind(AssertUnwindSafe(|| match self.as_mut().project() {
            FrameProj::Running { body } => body.poll(cx),
            // Polled again after finishing: the interpreter never does this.
            FrameProj::Done { .. } => Poll::Pending,
        }));
        let exit = match polled {
            Ok(Poll::Pending) => return Poll::Pending,
            Ok(Poll::Ready(exit)) => exit,
            Err(panic) => Err(Cause::Die(Defect::from_panic(panic))),
        };
        // A panicking destructor is a defect too. `Pin::set` writes the new state even when
        // dropping the old one unwinds, so the frame is `Done` either way.
        let dropped = catch_unwind(AssertUnwindSafe(|| {
            self.as_mut().set(FutureFrame::Done { out: None })
        }));
        *self.out() = Some(match dropped {
            Ok(()) => exit,
            Err(panic) => Err(Cause::Die(Defect::from_panic(panic))),
        });
        Poll::Ready(())
    }

    fn output(self: Pin<&mut Self>) -> &mut dyn Any {
        self.out()
    }

    fn add_cause(self: Pin<&mut Self>, extra: Cause<Never>) {
        add_cause_to(self.out(), extra);
    }

    #[cfg(feature = "tracing")]
    fn failure_shape(self: Pin<&mut Self>) -> Option<Cause<crate::trace::TypedFailure>> {
        match self.out() {
            Some(Err(cause)) => Some(crate::trace::TypedFailure::shape_of(cause)),
            _ => None,
        }
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
