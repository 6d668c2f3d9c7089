//! The instruction set of the interpreter: [`Prim`], what a finalizer is, the close protocol
//! of a region ([`Owner`], [`ForkOwner`]), what `timeout` asks for ([`Deadline`]), a
//! continuation ([`Then`]), what a request sees of its fiber ([`FiberCx`]) and how a run
//! ends ([`Outcome`]).
//!
//! A leaf of the kernel: it builds on frames, fiber cores, fiber-locals and clocks, and
//! imports nothing from the interpreter, the regions, binds or runs; they all import it.

use std::any::Any;
use std::cell::RefCell;
use std::future::poll_fn;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context as TaskContext, Poll};

use super::core::FiberCore;
use super::frame::{Delivery, ErasedFrame, FrameBox, FutureFrame};
use super::locals::{FiberLocals, Inherited, LocalValue};
#[cfg(feature = "tracing")]
use super::span::FiberSpan;
use crate::kernel::cause::{Cause, Never};
use crate::kernel::clock::ClockSleep;
use crate::kernel::context::Context;

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
    /// Run the inner effect on this fiber under a deadline (`timeout`): see [`Deadline`] and
    /// [`Timed`]. The box becomes the deadline's entry on the stack.
    Deadline(Box<dyn Timed>),
    /// Run an effect, then go on from its exit on the interpreter's stack (`map`, `flat_map`
    /// and their kin): see [`Then`]. The box becomes the entry waiting for that exit, and
    /// then the frame the whole ends with.
    Then(Pin<Box<dyn Then>>),
}

/// A continuation the interpreter runs on its own stack: an effect to run first, and what
/// to do with its exit, with room for the exit of the whole. No body is polled and nothing
/// is handed off: the interpreter starts the first effect above this entry, and hands its
/// finished frame to [`resume`](Then::resume) when it ends. Once done, the same box is the
/// finished frame of the whole, so a `map` costs one allocation, as an async body did.
///
/// A panic of the continuation's function is the whole's defect, caught where it is called.
pub(crate) trait Then: ErasedFrame {
    /// Takes the effect to run first; or, when it was a plain value or failure, goes on from
    /// it at once.
    fn start(self: Pin<&mut Self>) -> ThenStep;

    /// Goes on from the outcome of the effect run first (its finished frame, or the unit of a
    /// `yield_now` done without one): never [`RunFirst`](ThenStep::RunFirst).
    fn resume(self: Pin<&mut Self>, first: Delivery) -> ThenStep;

    /// The continuation as the finished frame it is once [`Done`](ThenStep::Done).
    fn into_frame(self: Pin<Box<Self>>) -> FrameBox;
}

/// What a [`Then`] asks for next.
pub(crate) enum ThenStep {
    /// Run this, and resume the continuation with its finished frame.
    RunFirst(Prim),
    /// The continuation is its own finished frame now.
    Done,
    /// The continuation is over: run this in its place (a `flat_map`'s next effect), and the
    /// whole ends as it ends.
    RunInstead(Prim),
}

/// What the interpreter sees of a region: it closes it when the region's entry is popped.
pub(crate) trait Owner: Send + Sync {
    /// Interrupts every member still running.
    fn interrupt_members(&self);

    /// Whether every member has finished.
    fn is_closed(&self) -> bool;

    /// Ready once every member has finished, with the defects of those that finished during
    /// the close (their cleanup failed as they were interrupted); drives in-place members
    /// meanwhile.
    fn poll_closed(&self, cx: &mut TaskContext<'_>) -> Poll<Option<Cause<Never>>>;

    /// The body driving the region, for the interpreter to start (kept here until then, so
    /// that the instruction carrying a region is one pointer).
    fn take_body(&self) -> Option<FrameBox>;
}

impl dyn Owner {
    /// Interrupts the members still running, and the effect that waits until all have
    /// finished (run by the interpreter as a finalizer, I3); `None` when all have already.
    /// The only way a region's entry leaves a stack (I4).
    pub(crate) fn close(self: Arc<Self>) -> Option<Prim> {
        if self.is_closed() {
            return None;
        }
        self.interrupt_members();
        Some(Prim::Frame(FutureFrame::boxed(async move {
            let defects = poll_fn(|cx| self.poll_closed(cx)).await;
            debug_assert!(
                self.is_closed(),
                "I4: a region's close ends with every member done"
            );
            match defects {
                None => Ok::<(), Cause<Never>>(()),
                // Reported like a failing finalizer's: after the region's own outcome.
                Some(defects) => Err(defects),
            }
        })))
    }
}

/// The region of a fiber's forks (or of a timeout's): the close protocol of [`Owner`], and
/// adoption, which only such a region does (a group or a race starts its own members).
pub(crate) trait ForkOwner: Send + Sync {
    /// Makes `child` a member: interrupted and awaited when the region closes.
    fn adopt(&self, child: Arc<FiberCore>);

    /// Whether every member has finished.
    fn is_closed(&self) -> bool;

    /// As the close of an [`Owner`].
    fn close(self: Arc<Self>) -> Option<Prim>;
}

/// What a [`Prim::WithFiber`] request sees of the fiber running it.
pub(crate) struct FiberCx<'a> {
    pub(crate) ctx: &'a Context,
    pub(crate) core: &'a Arc<FiberCore>,
    /// Whether the fiber is interruptible where the request runs.
    pub(crate) interruptible: bool,
    pub(crate) locals: &'a mut FiberLocals,
    #[cfg(feature = "tracing")]
    pub(crate) span: &'a mut FiberSpan,
    /// The fiber's stack, through what a request may do to it.
    pub(crate) stack: &'a mut dyn FiberStack,
}

/// What a request may do to the stack of the fiber running it (the interpreter implements
/// it): push what puts a change back as the effect it starts next ends, and find the region
/// its forks belong to.
pub(crate) trait FiberStack {
    /// Puts fiber-local `key` back to `previous` as the effect the request starts next ends,
    /// however it ends.
    fn restore_local_after(&mut self, key: u64, previous: Option<LocalValue>);

    /// Puts the fiber's span back to `outer` as the effect the request starts next ends,
    /// however it ends.
    #[cfg(feature = "tracing")]
    fn restore_span_after(&mut self, outer: FiberSpan);

    /// The region what the fiber forks here belongs to: the innermost deadline's (a timeout's
    /// effect owns what it forks), else the fiber's own forks at the bottom of its stack.
    /// Made with `make` the first time.
    fn forks(&mut self, make: fn() -> Arc<dyn ForkOwner>) -> &Arc<dyn ForkOwner>;
}

impl FiberCx<'_> {
    /// What a child started here starts with (see [`Inherited`]).
    pub(crate) fn inherited(&self) -> Inherited {
        Inherited {
            ctx: self.ctx.clone(),
            locals: self.locals.clone(),
            // Requests run inside the poll, where the fiber's own span is entered.
            #[cfg(feature = "tracing")]
            span: FiberSpan::current(),
        }
    }

    /// Runs the effect this request starts next in `span` (if it is enabled; otherwise in
    /// the fiber's current span, as entering a disabled span changes nothing): the fiber's
    /// span until then is back when that effect ends, however it ends.
    #[cfg(feature = "tracing")]
    pub(crate) fn enter_span(&mut self, span: FiberSpan) {
        if span.is_none() {
            return;
        }
        let outer = std::mem::replace(self.span, span);
        self.stack.restore_span_after(outer);
    }

    /// Sets fiber-local `key` to `value` for the effect this request starts next: the value
    /// it replaces is put back when that effect ends, however it ends.
    pub(crate) fn set_locally(&mut self, key: u64, value: LocalValue) {
        let previous = self.locals.set(key, value);
        self.stack.restore_local_after(key, previous);
    }
}

/// What `timeout` asks the interpreter to run, and then its entry on the stack: `guarded`
/// runs above it for at most `duration` on the context's clock. When time is up the guarded
/// effect is interrupted where it stands, on this same fiber, and unwound to here, running
/// its finalizers; then the timeout ends as its [`Timed`] says.
pub(crate) struct Deadline {
    /// Until the deadline starts.
    pub(crate) guarded: Option<Prim>,
    pub(crate) duration: std::time::Duration,
    /// Made as the deadline starts, so that time counts from there; polled (which arms a
    /// timer) only while the fiber waits.
    pub(crate) sleep: Option<ClockSleep>,
    /// The sleep ended: the guarded effect is to be interrupted at its next interruptible
    /// point (at once if it is interruptible now).
    pub(crate) expired: bool,
    /// The fiber's interruptibility before the deadline began, put back when it ends.
    pub(crate) interruptible: bool,
    pub(crate) fiber_masked: bool,
    /// What the guarded effect forked (made at its first fork): interrupted and awaited when
    /// the deadline ends, however it ends, before the timeout does.
    pub(crate) forks: Option<Arc<dyn ForkOwner>>,
}

impl Deadline {
    pub(crate) fn new(guarded: Prim, duration: std::time::Duration) -> Self {
        Deadline {
            guarded: Some(guarded),
            duration,
            sleep: None,
            expired: false,
            interruptible: true,
            fiber_masked: false,
            forks: None,
        }
    }
}

/// A timeout: its [`Deadline`], and how it ends, typed by the operator that made it
/// (`timeout`, `timeout_fail`). One allocation for the whole: the same box is the entry on the
/// stack and then, where the timeout's value differs from the guarded effect's, the finished
/// frame the timeout ends with.
pub(crate) trait Timed: Send {
    fn deadline(&self) -> &Deadline;

    fn deadline_mut(&mut self) -> &mut Deadline;

    /// The guarded effect finished with `done` (in time, or uninterruptible to its end): the
    /// frame the timeout ends with.
    fn in_time(self: Box<Self>, done: FrameBox) -> FrameBox;

    /// Time was up, and the unwinding to the deadline gathered `cause` (an interruption alone,
    /// or with the defects of the guarded effect's cleanup): the frame the timeout ends with.
    fn timed_out(self: Box<Self>, cause: Cause<Never>) -> FrameBox;
}

// A timeout's deadline is read through it as if it were one: `timed.expired`.
impl std::ops::Deref for dyn Timed {
    type Target = Deadline;
    fn deref(&self) -> &Deadline {
        self.deadline()
    }
}

impl std::ops::DerefMut for dyn Timed {
    fn deref_mut(&mut self) -> &mut Deadline {
        self.deadline_mut()
    }
}

/// How a run ended.
pub(crate) enum Outcome {
    /// The root effect finished; its typed exit is in the frame.
    Completed(FrameBox),
    /// The fiber was interrupted (plus any finalizer defects).
    Interrupted(Cause<Never>),
}

impl Outcome {
    /// The outcome's label in the runtime's metrics: `success`, `failure`, `defect` or
    /// `interrupted` (see `metered`).
    #[cfg(feature = "metrics")]
    pub(crate) fn label(&mut self) -> &'static str {
        match self {
            Outcome::Interrupted(cause) if cause.is_die() => "defect",
            Outcome::Interrupted(_) => "interrupted",
            Outcome::Completed(frame) => frame.as_mut().exit_slot().outcome(),
        }
    }
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
