//! The interpreter: runs one fiber's effect with an explicit stack.
//!
//! Invariants kept here:
//! - Only the top entry of the stack is ever polled; everything below waits for a result.
//!   Nesting lives in `stack` (heap), so depth never grows the native stack.
//! - A finalizer entry is popped before its finalizer starts, so it can run at most once;
//!   and every finalizer entry on the stack runs exactly once, because every way out of the
//!   loop (success, failure, unwinding after interruption) passes each entry.
//! - Finalizers run with interruption disabled; the interruptibility in force before them is
//!   saved on the stack and restored after.
//! - Interruption is observed only where the fiber is interruptible, at suspension points:
//!   before polling a body and when a body returns `Pending`, and as an uninterruptible
//!   region or a finalizer ends.
//! - A region entry (a group, a race, the fiber's own forks at the bottom) is popped only
//!   through `close_region`, on every way out, like a finalizer: so every child fiber is
//!   interrupted and awaited before the region's fiber goes past it.
//! - A deadline entry (`timeout`) interrupts the effect above it, on this fiber, once its
//!   sleep ends: where the effect is interruptible (even inside an uninterruptible region
//!   the timeout began in, which still holds back the fiber's own interrupts and every
//!   deadline below), and the unwinding stops at the deadline, which ends the timeout,
//!   unless another interruption applies there: then it unwinds on, defects kept. What the
//!   effect forks belongs to the deadline and is interrupted and awaited as it ends. Its
//!   sleep is polled only while the fiber waits (so a timeout whose effect never waits costs
//!   no timer), and only the earliest of the live ones.
//! - Every step spends the task's budget (`bind::spend_budget`), a bind of a ready value
//!   included: any loop yields to the scheduler now and then, and so can be interrupted.
//! - What an effect changes for as long as it runs (the context of `provide`, a fiber-local
//!   of `FiberRef::locally`, the span of `instrument`) is saved in a `Restore` entry under it,
//!   popped on every way out like a finalizer's: it is back however the effect ends.
//! - The fiber's span is entered for the whole of each poll and follows the fiber's span
//!   after every step (see [`span`](super::span)), so an instrumented effect's span is entered
//!   exactly while its own work runs.

use std::cell::Cell;
use std::future::Future;
use std::mem;
use std::sync::Arc;
use std::task::{Context as TaskContext, Poll};

use super::core::FiberCore;
use super::frame::{poll_guarded, take_exit, Delivery, FrameBox};
use super::handoff::{fresh_budget, spend_budget, HandOff};
use super::locals::{FiberLocals, Inherited, LocalValue};
use super::prim::{
    Deadline, FiberCx, FiberStack, Finalizer, FinalizerExit, ForkOwner, Outcome, Owner, Prim,
};
#[cfg(feature = "tracing")]
use super::span::{Entered, FiberSpan};
use super::stack::Stack;
use crate::cause::{Cause, Defect, Exit, Never};
use crate::clock::{Activity, Clock, ClockSleep};
use crate::context::Context;

thread_local! {
    /// The test clock a fiber polled on this thread just began to run with, for its driver to
    /// pick up when the poll returns (see [`Next::Track`]).
    pub(crate) static NEW_TEST_CLOCK: std::cell::Cell<Option<Arc<Activity>>> =
        const { std::cell::Cell::new(None) };
}

enum Entry {
    /// A body: the top one is running, the others wait for the result of the entry above.
    Frame(FrameBox),
    /// A finalizer not yet run, guarding everything above it.
    Finalizer(Finalizer),
    /// A finalizer is running above; what to resume with once it is done (boxed: this is
    /// rare, and every entry of a deep stack pays for the largest variant).
    RunningFinalizer(Box<AfterFinalizer>),
    /// What the fiber's interruptibility was before the effect above set it: put back as
    /// that effect ends. (Two variants, not one with a `bool`: see [`Prim`] on fields
    /// narrower than a word.)
    RestoreInterruptible,
    RestoreUninterruptible,
    /// What the fiber had before the effect above changed it for its own run: put back as
    /// that effect ends, however it ends.
    Restore(Restore),
    /// A region whose body runs above: closed (its members interrupted and awaited) when
    /// the body ends, however it ends.
    Region(Arc<dyn Owner>),
    /// The fiber's own forks, at the bottom of the stack: closed when the fiber ends.
    Forks(Arc<dyn ForkOwner>),
    /// The body below bound `yield_now`: the run returned to the scheduler once, and the body
    /// gets its unit when the run is polled again.
    Yielded,
    /// A `timeout` whose guarded effect runs above (boxed: rare next to bodies, and every
    /// entry of a deep stack pays for the largest variant).
    Deadline(Box<Deadline>),
}

/// What a fiber resumes with once the finalizer running above it is done.
struct AfterFinalizer {
    saved: Saved,
    interruptible: bool,
}

impl Entry {
    /// The entry putting back `interruptible` as the effect above it ends.
    fn restore_interruptible(interruptible: bool) -> Entry {
        if interruptible {
            Entry::RestoreInterruptible
        } else {
            Entry::RestoreUninterruptible
        }
    }
}

impl Deadline {
    /// Polls the sleep (arming its timer); marks the deadline expired once it has ended.
    fn poll_sleep(&mut self, cx: &mut TaskContext<'_>) -> bool {
        let sleep = self
            .sleep
            .as_mut()
            .expect("a deadline on the stack has started");
        self.expired = std::pin::Pin::new(sleep).poll(cx).is_ready();
        self.expired
    }
}

// A deep stack holds a million entries: each is three words, however many kinds there are.
const _: () = assert!(mem::size_of::<Entry>() <= 3 * mem::size_of::<usize>());

/// A piece of the fiber's state an effect changed for as long as it runs.
enum Restore {
    /// The context before `provide`.
    Context(Context),
    /// A fiber-local before `FiberRef::locally` (boxed: rare, and every entry of a deep stack
    /// pays for the largest variant).
    Local(Box<SavedLocal>),
    /// The fiber's span before `instrument` / `with_span`.
    #[cfg(feature = "tracing")]
    Span(FiberSpan),
}

/// The value a fiber-local had before `FiberRef::locally` set it (`None`: not set).
struct SavedLocal {
    key: u64,
    previous: Option<LocalValue>,
}

/// The fiber's stack as a [`Prim::WithFiber`] request sees it.
struct RequestStack<'a> {
    stack: &'a mut Stack<Entry>,
    /// Whether a deadline is on the stack (see [`Interpreter::deadlines`]).
    in_deadline: bool,
}

impl FiberStack for RequestStack<'_> {
    fn restore_local_after(&mut self, key: u64, previous: Option<LocalValue>) {
        self.stack
            .push(Entry::Restore(Restore::Local(Box::new(SavedLocal {
                key,
                previous,
            }))));
    }

    #[cfg(feature = "tracing")]
    fn restore_span_after(&mut self, outer: FiberSpan) {
        self.stack.push(Entry::Restore(Restore::Span(outer)));
    }

    /// Inside a `timeout`, the innermost deadline's forks; else the fiber's own, which sit at
    /// the bottom of its stack (put there at the first fork), so that they are closed when
    /// the fiber ends, however it ends.
    fn forks(&mut self, make: fn() -> Arc<dyn ForkOwner>) -> &Arc<dyn ForkOwner> {
        let is_deadline = |entry: &Entry| matches!(entry, Entry::Deadline(_));
        if self.in_deadline && self.stack.iter().any(is_deadline) {
            let innermost = self.stack.iter_mut().rev().find_map(|entry| match entry {
                Entry::Deadline(deadline) => Some(deadline),
                _ => None,
            });
            let deadline = innermost.expect("a deadline was just seen on the stack");
            return deadline.forks.get_or_insert_with(make);
        }
        if !matches!(self.stack.bottom(), Some(Entry::Forks(_))) {
            self.stack.insert_bottom(Entry::Forks(make()));
        }
        match self.stack.bottom() {
            Some(Entry::Forks(forks)) => forks,
            _ => unreachable!("the fiber's forks were put at the bottom just now"),
        }
    }
}

enum Saved {
    Completed(FrameBox),
    Unwinding(Cause<Never>),
}

enum Next {
    Start(Prim),
    /// Poll the top body, handing it the outcome of the effect it bound, if any.
    Resume(Option<Delivery>),
    Deliver(FrameBox),
    Unwind(Cause<Never>),
    /// Return to the scheduler once and go on with `start`: the fiber's driver must begin
    /// reporting to the test clock the fiber now runs with (see [`Interpreter::start`]).
    Track(Arc<Activity>),
}

/// Between polls the interpreter is either not started (`start` holds the effect) or
/// suspended with a body on top of its stack, waiting to be polled again: nothing else is
/// kept across polls, which keeps every fiber small. (The task holding a fiber is allocated
/// in 128-byte steps; 16 bytes less here is 128 bytes less per fiber.)
pub(crate) struct Interpreter {
    stack: Stack<Entry>,
    /// The effect to start on the first poll.
    start: Option<Prim>,
    ctx: Context,
    /// The fiber's fiber-locals. In a `Cell` so that the bodies it polls can read and write
    /// them through the poll's shared hand-off (taken out and put back, never borrowed).
    locals: Cell<FiberLocals>,
    /// The span the fiber's work runs in now: entered for every poll.
    #[cfg(feature = "tracing")]
    span: FiberSpan,
    interruptible: bool,
    core: Arc<FiberCore>,
    /// Whether to yield at random suspension points (`EFFECT_PERTURB`, tests only).
    perturb: bool,
    /// Whether the fiber reports its activity to a test clock (its driver's tracker).
    tracked: bool,
    /// Whether the fiber's own interrupts are held back even where `interruptible` is set:
    /// inside a `timeout` begun in an uninterruptible region, whose guarded effect its
    /// deadline can interrupt, but the fiber's interrupt cannot, as the region promised.
    fiber_masked: bool,
    /// How many deadlines are on the stack ([`DEADLINE_COUNT`]), and whether one of them has
    /// expired ([`DEADLINE_EXPIRED`]). Zero for almost every fiber: then waiting costs
    /// nothing more.
    deadlines: u32,
}

const DEADLINE_EXPIRED: u32 = 1 << 31;
const DEADLINE_COUNT: u32 = DEADLINE_EXPIRED - 1;

impl Interpreter {
    /// An interpreter for the fiber of `core`, starting `prim` with what it inherited, and
    /// with interruption enabled or not (a fork inherits its parent's).
    pub(crate) fn new(
        prim: Prim,
        inherited: Inherited,
        core: Arc<FiberCore>,
        interruptible: bool,
        tracked: bool,
    ) -> Self {
        let Inherited {
            ctx,
            locals,
            #[cfg(feature = "tracing")]
            span,
        } = inherited;
        Interpreter {
            stack: Stack::default(),
            perturb: super::perturb::enabled(),
            tracked,
            start: Some(prim),
            ctx,
            locals: Cell::new(locals),
            #[cfg(feature = "tracing")]
            span,
            interruptible,
            core,
            fiber_masked: false,
            deadlines: 0,
        }
    }

    /// Whether the fiber reports (or, having just provided a test clock, is about to report)
    /// its activity to a test clock.
    pub(crate) fn is_tracked(&self) -> bool {
        self.tracked
    }

    pub(crate) fn core(&self) -> &Arc<FiberCore> {
        &self.core
    }

    /// The fiber's core, out of a finished interpreter.
    pub(crate) fn into_core(self) -> Arc<FiberCore> {
        self.core
    }

    /// Whether dropping this run now would skip something it owes: a finalizer, the rest of
    /// an uninterruptible region, or children to interrupt and await.
    pub(crate) fn owes_work(&self) -> bool {
        !self.interruptible
            || self.stack.iter().any(|entry| match entry {
                Entry::Finalizer(_)
                | Entry::RunningFinalizer(_)
                | Entry::RestoreUninterruptible => true,
                Entry::Region(region) => !region.is_closed(),
                Entry::Forks(forks) => !forks.is_closed(),
                // Inside a timeout begun in an uninterruptible region, or with forks to close.
                Entry::Deadline(deadline) => {
                    !deadline.interruptible
                        || deadline
                            .forks
                            .as_ref()
                            .is_some_and(|forks| !forks.is_closed())
                }
                _ => false,
            })
    }

    pub(crate) fn poll_run(&mut self, cx: &mut TaskContext<'_>) -> Poll<Outcome> {
        let _budget = fresh_budget();
        // The fiber's span is entered for the whole poll, and exited when it returns. Only
        // `start`, `deliver` and `unwind` change the span (as an instrumented effect begins or
        // ends): after each step the entered span follows the fiber's.
        #[cfg(feature = "tracing")]
        let mut entered = Entered::enter(&self.span);
        let mut next = match self.start.take() {
            Some(prim) => Next::Start(prim),
            None if matches!(self.stack.last(), Some(Entry::Yielded)) => {
                self.stack.pop();
                Next::Resume(Some(Delivery::Unit))
            }
            None => Next::Resume(None),
        };
        loop {
            next = match next {
                Next::Start(prim) => match self.pending_interruption() {
                    // Interrupted before this step began: it never starts.
                    Some(cause) => {
                        drop(prim);
                        Next::Unwind(cause)
                    }
                    None => self.start(prim),
                },
                Next::Resume(delivered) => match self.run_bodies(cx, delivered) {
                    Ok(next) => next,
                    Err(pending) => return pending,
                },
                Next::Deliver(done) => match self.deliver(done) {
                    Ok(next) => next,
                    Err(outcome) => return self.finished(outcome),
                },
                Next::Unwind(cause) => match self.unwind(cause) {
                    Ok(next) => next,
                    Err(outcome) => return self.finished(outcome),
                },
                Next::Track(activity) => {
                    // The driver sees `tracked` set without a tracker, and picks this up.
                    self.tracked = true;
                    NEW_TEST_CLOCK.set(Some(activity));
                    cx.waker().wake_by_ref();
                    return Poll::Pending;
                }
            };
            #[cfg(feature = "tracing")]
            entered.follow(&self.span);
        }
    }

    /// The fiber's end: reported once, here (its stack is empty, every finalizer ran, and it
    /// is back in the span it started in), before its owner stores the exit and completes it.
    #[cfg_attr(not(feature = "tracing"), allow(unused_mut))]
    fn finished(&self, mut outcome: Outcome) -> Poll<Outcome> {
        #[cfg(feature = "tracing")]
        crate::trace::fiber_ended(self.core.id(), &mut outcome);
        Poll::Ready(outcome)
    }

    fn start(&mut self, prim: Prim) -> Next {
        match prim {
            Prim::Frame(frame) => {
                self.stack.push(Entry::Frame(frame));
                Next::Resume(None)
            }
            Prim::Ensuring(guarded) => {
                let (inner, finalizer) = *guarded;
                self.stack.push(Entry::Finalizer(finalizer));
                Next::Start(inner)
            }
            Prim::Interruptible(inner) => self.set_interruptible(true, *inner),
            Prim::Uninterruptible(inner) => self.set_interruptible(false, *inner),
            Prim::Region(region) => {
                let body = region
                    .take_body()
                    .expect("effect runtime: a region's body was started twice");
                self.stack.push(Entry::Region(region));
                self.stack.push(Entry::Frame(body));
                Next::Resume(None)
            }
            Prim::Provide(ctx, inner) => {
                let outer = mem::replace(&mut self.ctx, ctx);
                self.stack.push(Entry::Restore(Restore::Context(outer)));
                // A fiber that was started without a test clock and provides one itself
                // (`provide(TestClockLayer(..))`) is tracked by it from here on, so that the
                // clock's `advance` waits for it like for any other fiber on the clock: the
                // run returns to the scheduler once, for its driver to start tracking it,
                // before the provided effect starts.
                if !self.tracked {
                    if let Some(clock) = self.ctx.try_get::<Clock>().and_then(Clock::as_test) {
                        self.start = Some(*inner);
                        return Next::Track(clock.activity().clone());
                    }
                }
                Next::Start(*inner)
            }
            Prim::FromContext(make, data) => Next::Start(make(&self.ctx, data)),
            Prim::Suspend(make) => Next::Start(make.make_prim(&self.ctx)),
            Prim::Deadline(mut deadline) => {
                let guarded = deadline
                    .guarded
                    .take()
                    .expect("effect runtime: a deadline was started twice");
                deadline.sleep = Some(Clock::of(&self.ctx).sleep(deadline.duration));
                deadline.interruptible = self.interruptible;
                deadline.fiber_masked = self.fiber_masked;
                self.stack.push(Entry::Deadline(deadline));
                // The deadline interrupts the guarded effect wherever it is interruptible, even
                // in an uninterruptible region (as a fiber of its own would be); the fiber's
                // own interrupts stay held back there.
                self.fiber_masked |= !self.interruptible;
                self.interruptible = true;
                self.deadlines += 1;
                Next::Start(guarded)
            }
            // Not bound by a body (a root, a finalizer, a branch): run it as a frame.
            Prim::Yield(make) => Next::Start(Prim::Frame(make())),
            Prim::WithFiber(request) => Next::Start(request(&mut FiberCx {
                ctx: &self.ctx,
                core: &self.core,
                interruptible: self.interruptible,
                locals: self.locals.get_mut(),
                #[cfg(feature = "tracing")]
                span: &mut self.span,
                stack: &mut RequestStack {
                    stack: &mut self.stack,
                    in_deadline: self.deadlines != 0,
                },
            })),
        }
    }

    /// Polls the top body, and goes on polling bodies while the work stays among them: a
    /// body binding another body gets it pushed and polled at once, and a finished body whose
    /// parent is a body is delivered to it and the parent polled. Anything else goes back to
    /// [`poll_run`](Self::poll_run) as the next step; `Err` means the run must return to the
    /// scheduler (suspended, out of budget, or perturbed), to resume by polling the top body.
    /// It never returns there with a delivery pending: a delivered frame is always handed to
    /// its parent before the run may yield, so there is none to keep across polls.
    ///
    /// This is the hot loop of deep recursion and of every bind: two polls per bind, with no
    /// detour through the general step machine.
    fn run_bodies(
        &mut self,
        cx: &mut TaskContext<'_>,
        mut delivered: Option<Delivery>,
    ) -> Result<Next, Poll<Outcome>> {
        loop {
            if let Some(cause) = self.pending_interruption() {
                return Ok(Next::Unwind(cause));
            }
            let yielding = !spend_budget() || (self.perturb && super::perturb::should_yield());
            if yielding && delivered.is_none() {
                cx.waker().wake_by_ref();
                return self.suspend(cx);
            }
            let Some(Entry::Frame(frame)) = self.stack.last_mut() else {
                panic!("effect runtime: polling a stack whose top is not a body");
            };
            // The body's binds reach this poll's hand-off through a thread-local pointer; the
            // context is lent, not cloned.
            let handoff = HandOff::new(delivered.take(), &self.ctx, &self.locals, &self.core);
            let polled = handoff.offer(|| poll_guarded(frame, cx));
            match (polled, handoff.into_request()) {
                (Poll::Ready(()), _) => {
                    let Some(Entry::Frame(done)) = self.stack.pop() else {
                        unreachable!("the top entry was a body a moment ago")
                    };
                    if let Some(Entry::Frame(_)) = self.stack.last() {
                        delivered = Some(Delivery::Frame(done));
                        continue;
                    }
                    return Ok(Next::Deliver(done));
                }
                // Starting a body is pushing it; the interrupt check above stands in for the
                // one `Next::Start` makes.
                (Poll::Pending, Some(Prim::Frame(body))) => self.stack.push(Entry::Frame(body)),
                (Poll::Pending, Some(Prim::Yield(_))) => {
                    self.stack.push(Entry::Yielded);
                    if self.tracked {
                        // On a test clock, wake at once: tokio's yield wakes the task only
                        // after this poll, and in between the clock would see the fiber as
                        // blocked and move time under it.
                        cx.waker().wake_by_ref();
                    } else {
                        // Yield exactly as `tokio::task::yield_now` does: the first poll of a
                        // fresh one has tokio wake this task after looking at its other work.
                        // Nothing of it is kept: it holds no state past that poll.
                        let yielding = std::pin::pin!(tokio::task::yield_now());
                        let polled = std::future::Future::poll(yielding, cx);
                        debug_assert!(polled.is_pending(), "a fresh yield_now yields once");
                    }
                    self.core.register_task(cx.waker());
                    return self.suspend(cx);
                }
                (Poll::Pending, Some(request)) => return Ok(Next::Start(request)),
                (Poll::Pending, None) => {
                    self.core.register_task(cx.waker());
                    // Interrupted between the poll and the registration (or a deadline
                    // passed): act on it now.
                    return self.suspend(cx);
                }
            }
        }
    }

    /// Hands a finished frame to the entry below it: the next step, or `Err` with the outcome
    /// when the root finished.
    fn deliver(&mut self, mut done: FrameBox) -> Result<Next, Outcome> {
        if let Some(Entry::Frame(_)) = self.stack.last() {
            return Ok(Next::Resume(Some(Delivery::Frame(done))));
        }
        let Some(entry) = self.stack.pop() else {
            return Err(Outcome::Completed(done));
        };
        Ok(match entry {
            Entry::Frame(_) => unreachable!("a waiting body was handled above"),
            Entry::Yielded => unreachable!("a yield is popped before the run goes on"),
            Entry::Finalizer(finalizer) => {
                match finalizer(FinalizerExit::Completed(done.as_mut().output())) {
                    Some(prim) => self.run_finalizer(prim, Saved::Completed(done)),
                    None => Next::Deliver(done),
                }
            }
            Entry::RunningFinalizer(after) => {
                let AfterFinalizer {
                    saved,
                    interruptible,
                } = *after;
                // `done` is the finalizer's own frame.
                let exit: Exit<(), Never> = take_exit(&mut done);
                self.interruptible = interruptible;
                // An interrupt that arrived while the finalizer ran takes effect as it ends,
                // as at the end of any uninterruptible region: the guarded result is
                // discarded, and the finalizer's own failure kept.
                let interrupted = match &saved {
                    Saved::Completed(_) => self.pending_interruption(),
                    Saved::Unwinding(_) => None,
                };
                match (saved, exit, interrupted) {
                    (Saved::Completed(_), Ok(()), Some(interruption)) => Next::Unwind(interruption),
                    (Saved::Completed(_), Err(cause), Some(interruption)) => {
                        Next::Unwind(interruption.then(cause))
                    }
                    (Saved::Completed(frame), Ok(()), None) => Next::Deliver(frame),
                    (Saved::Completed(mut frame), Err(cause), None) => {
                        frame.as_mut().exit_slot().add_cause(cause);
                        Next::Deliver(frame)
                    }
                    (Saved::Unwinding(cause), Ok(()), _) => Next::Unwind(cause),
                    (Saved::Unwinding(cause), Err(more), _) => Next::Unwind(cause.then(more)),
                }
            }
            Entry::RestoreInterruptible | Entry::RestoreUninterruptible => {
                self.interruptible = matches!(entry, Entry::RestoreInterruptible);
                match self.pending_interruption() {
                    // Leaving an uninterruptible region with an interrupt pending: the
                    // region's result is discarded and the fiber unwinds.
                    Some(interruption) => Next::Unwind(interruption),
                    None => Next::Deliver(done),
                }
            }
            Entry::Restore(saved) => {
                self.restore(saved);
                Next::Deliver(done)
            }
            Entry::Region(region) => self.close_region(region.close(), Saved::Completed(done)),
            Entry::Forks(forks) => self.close_region(forks.close(), Saved::Completed(done)),
            // The guarded effect finished: in time, or after its deadline but before the
            // deadline could interrupt it (it was uninterruptible to its end). Either way its
            // outcome stands, as a fiber of its own that finished would.
            Entry::Deadline(mut deadline) => match deadline.forks.take() {
                // Its forks are closed first, like a finalizer, with the deadline kept on the
                // stack meanwhile; the result then comes back to it.
                Some(forks) => {
                    self.stack.push(Entry::Deadline(deadline));
                    self.close_region(forks.close(), Saved::Completed(done))
                }
                None => {
                    self.leave_deadline(&deadline);
                    Next::Deliver(done)
                }
            },
        })
    }

    /// Pops one entry while unwinding after interruption: the next step, or `Err` with the
    /// outcome when the stack is empty.
    fn unwind(&mut self, mut cause: Cause<Never>) -> Result<Next, Outcome> {
        let Some(entry) = self.stack.pop() else {
            return Err(Outcome::Interrupted(cause));
        };
        Ok(match entry {
            Entry::Frame(frame) => {
                // The in-flight body is dropped; a panicking destructor is kept as a defect.
                let dropped =
                    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| drop(frame)));
                if let Err(panic) = dropped {
                    cause = cause.then(Cause::Die(Defect::from_panic(panic)));
                }
                Next::Unwind(cause)
            }
            Entry::Finalizer(finalizer) => match finalizer(FinalizerExit::Interrupted(&cause)) {
                Some(prim) => self.run_finalizer(prim, Saved::Unwinding(cause)),
                None => Next::Unwind(cause),
            },
            Entry::RunningFinalizer(after) => {
                let AfterFinalizer {
                    saved,
                    interruptible,
                } = *after;
                self.interruptible = interruptible;
                match saved {
                    Saved::Completed(_) => Next::Unwind(cause),
                    Saved::Unwinding(earlier) => Next::Unwind(earlier.then(cause)),
                }
            }
            Entry::RestoreInterruptible | Entry::RestoreUninterruptible => {
                self.interruptible = matches!(entry, Entry::RestoreInterruptible);
                Next::Unwind(cause)
            }
            Entry::Yielded => Next::Unwind(cause),
            Entry::Restore(saved) => {
                self.restore(saved);
                Next::Unwind(cause)
            }
            Entry::Region(region) => self.close_region(region.close(), Saved::Unwinding(cause)),
            Entry::Forks(forks) => self.close_region(forks.close(), Saved::Unwinding(cause)),
            Entry::Deadline(mut deadline) => {
                if let Some(forks) = deadline.forks.take() {
                    // As on completion: its forks are closed first, then the unwinding comes
                    // back to it.
                    self.stack.push(Entry::Deadline(deadline));
                    return Ok(self.close_region(forks.close(), Saved::Unwinding(cause)));
                }
                self.leave_deadline(&deadline);
                if !deadline.expired {
                    return Ok(Next::Unwind(cause));
                }
                if let Some(interruption) = self.pending_interruption() {
                    // Another interruption applies here too (the fiber's own, an enclosing
                    // timeout's): the fiber unwinds on past this timeout with it, keeping the
                    // defects the guarded effect's cleanup raised (ending the timeout first
                    // would hand them to a body that interruption then drops).
                    return Ok(Next::Unwind(match cause.into_defects() {
                        Some(defects) => interruption.then(defects),
                        None => interruption,
                    }));
                }
                // The unwinding its expiry began (or any other that reaches an expired
                // deadline) ends here: the timeout ends with `None`, or with the defects the
                // guarded effect's cleanup raised.
                self.stack.push(Entry::Frame((deadline.timed_out)(cause)));
                Next::Resume(None)
            }
        })
    }

    /// The interruption to act on now, if any: the fiber's own interrupt (unless held back
    /// inside a timeout begun in an uninterruptible region), else an expired deadline's.
    /// Neither acts where the fiber is uninterruptible.
    #[inline]
    fn pending_interruption(&self) -> Option<Cause<Never>> {
        if !self.interruptible {
            return None;
        }
        if !self.fiber_masked && self.core.is_interrupted() {
            return Some(self.core.interruption());
        }
        if self.deadlines & DEADLINE_EXPIRED != 0 && (!self.fiber_masked || self.expired_in_scope())
        {
            return Some(Cause::Interrupt(self.core.id()));
        }
        None
    }

    /// Whether an expired deadline is within reach of interruption where the fiber's own
    /// interrupts are held back: one at or above the innermost deadline begun in an
    /// uninterruptible region. Deadlines below it are held back with the fiber's interrupts,
    /// as the region promised; they act once it has ended.
    #[cold]
    fn expired_in_scope(&self) -> bool {
        for entry in self.stack.iter().rev() {
            if let Entry::Deadline(deadline) = entry {
                if deadline.expired {
                    return true;
                }
                if !deadline.interruptible {
                    return false;
                }
            }
        }
        false
    }

    /// Returns to the scheduler, the fiber waiting (or yielding): first the deadlines on the
    /// stack are polled, arming their timers, so that one passing wakes the fiber; and an
    /// interruption due now (an interrupt that arrived during the poll, a deadline passed) is
    /// acted on instead.
    fn suspend(&mut self, cx: &mut TaskContext<'_>) -> Result<Next, Poll<Outcome>> {
        if self.deadlines != 0 {
            self.poll_deadlines(cx);
        }
        match self.pending_interruption() {
            Some(cause) => Ok(Next::Unwind(cause)),
            None => Err(Poll::Pending),
        }
    }

    /// Polls the sleeps of the deadlines on the stack that have not expired, marking those
    /// that have ended. A live sleep is polled only if it ends first among the live ones (a
    /// later one cannot end before it: a hundred thousand nested timeouts arm one timer); a
    /// test clock's sleeps are all polled (each counts from its first poll).
    fn poll_deadlines(&mut self, cx: &mut TaskContext<'_>) {
        let mut earliest: Option<(tokio::time::Instant, &mut Deadline)> = None;
        let mut expired = false;
        for entry in self.stack.iter_mut() {
            let Entry::Deadline(deadline) = entry else {
                continue;
            };
            if deadline.expired {
                continue;
            }
            match deadline.sleep.as_ref().and_then(ClockSleep::live_deadline) {
                Some(at) => match &earliest {
                    Some((first, _)) if *first <= at => {}
                    _ => earliest = Some((at, deadline)),
                },
                None => expired |= deadline.poll_sleep(cx),
            }
        }
        if let Some((_, deadline)) = earliest {
            expired |= deadline.poll_sleep(cx);
        }
        if expired {
            self.deadlines |= DEADLINE_EXPIRED;
        }
    }

    /// Pops the bookkeeping of a deadline leaving the stack: the interruptibility from before
    /// it, the count, and whether another on the stack has expired.
    fn leave_deadline(&mut self, deadline: &Deadline) {
        self.interruptible = deadline.interruptible;
        self.fiber_masked = deadline.fiber_masked;
        let count = (self.deadlines & DEADLINE_COUNT) - 1;
        // Another expired one remains only if one had, and it was not this one alone.
        let still_expired = self.deadlines & DEADLINE_EXPIRED != 0
            && (!deadline.expired
                || self.stack.iter().any(|entry| match entry {
                    Entry::Deadline(other) => other.expired,
                    _ => false,
                }));
        self.deadlines = count | if still_expired { DEADLINE_EXPIRED } else { 0 };
    }

    /// Pops a region whose body ended, however it ended: its members still running are
    /// interrupted and awaited, uninterruptibly and like a finalizer (their cleanup's defects
    /// are added as a failing finalizer's are), before the fiber goes on with `saved`. This
    /// is where "no child outlives its region" is kept.
    /// Goes on past a region's entry once `closing` (what [`Owner::close`] gave) has run.
    fn close_region(&mut self, closing: Option<Prim>, saved: Saved) -> Next {
        match closing {
            Some(closing) => self.run_finalizer(closing, saved),
            None => match saved {
                Saved::Completed(done) => Next::Deliver(done),
                Saved::Unwinding(cause) => Next::Unwind(cause),
            },
        }
    }

    fn restore(&mut self, saved: Restore) {
        match saved {
            Restore::Context(ctx) => self.ctx = ctx,
            Restore::Local(local) => {
                let SavedLocal { key, previous } = *local;
                self.locals.get_mut().restore(key, previous);
            }
            #[cfg(feature = "tracing")]
            Restore::Span(span) => self.span = span,
        }
    }

    /// Runs `inner` with interruption `enabled`, and puts the fiber's back as it ends.
    fn set_interruptible(&mut self, enabled: bool, inner: Prim) -> Next {
        self.stack
            .push(Entry::restore_interruptible(self.interruptible));
        self.interruptible = enabled;
        Next::Start(inner)
    }

    fn run_finalizer(&mut self, prim: Prim, saved: Saved) -> Next {
        self.stack
            .push(Entry::RunningFinalizer(Box::new(AfterFinalizer {
                saved,
                interruptible: self.interruptible,
            })));
        self.interruptible = false;
        Next::Start(prim)
    }
}
