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
use std::mem;
use std::sync::Arc;
use std::task::{Context as TaskContext, Poll};

mod deadlines;
mod entry;

use super::core::FiberCore;
use super::frame::{poll_guarded, Delivery, FrameBox};
use super::handoff::{fresh_budget, spend_budget, HandOff};
use super::locals::{FiberLocals, Inherited};
use super::prim::{FiberCx, Outcome, Prim};
#[cfg(feature = "tracing")]
use super::span::{Entered, FiberSpan};
use super::stack::Stack;
use super::tracking;
use super::waiting;
use crate::kernel::cause::{Cause, Never};
use crate::kernel::clock::Activity;
use crate::kernel::context::Context;
use entry::{Entry, RequestStack, Restore};

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
    /// Return to the scheduler once, as `yield_now` does: the yield's unit goes to the entry
    /// under [`Entry::Yielded`] when the run is polled again.
    Yield,
    /// Return to the scheduler once, queued again at once (the step budget is spent, or a
    /// perturbed run yields at random), then start this: as a body's poll does.
    Requeue(Prim),
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
    /// How many deadlines are on the stack ([`DEADLINE_COUNT`](deadlines::DEADLINE_COUNT)), and whether one of them has
    /// expired ([`DEADLINE_EXPIRED`](deadlines::DEADLINE_EXPIRED)). Zero for almost every fiber: then waiting costs
    /// nothing more.
    deadlines: u32,
}

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

    /// The context the fiber runs with now.
    pub(crate) fn context(&self) -> &Context {
        &self.ctx
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
        !self.interruptible || self.stack.iter().any(Entry::owes_work)
    }

    pub(crate) fn poll_run(&mut self, cx: &mut TaskContext<'_>) -> Poll<Outcome> {
        let _budget = fresh_budget();
        // Running, until it suspends on something (which the primitive it suspends on says,
        // from a clean slate: see `waiting`) or yields.
        self.core.set_status(waiting::RUNNING_WORD);
        waiting::clear();
        // The fiber's span is entered for the whole poll, and exited when it returns. Only
        // `start`, `deliver` and `unwind` change the span (as an instrumented effect begins or
        // ends): after each step the entered span follows the fiber's.
        #[cfg(feature = "tracing")]
        let mut entered = Entered::enter(&self.span);
        let mut next = match self.start.take() {
            Some(prim) => Next::Start(prim),
            None if matches!(self.stack.last(), Some(Entry::Yielded(_))) => self.yielded(),
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
                Next::Yield => {
                    self.yield_task(cx);
                    match self.suspend(cx) {
                        Ok(next) => next,
                        Err(pending) => return pending,
                    }
                }
                Next::Requeue(prim) => {
                    // Queued now, not at the worker's next park as a yield is: a busy run must
                    // not sit behind work that waits for it.
                    cx.waker().wake_by_ref();
                    self.core.set_status(waiting::READY_WORD);
                    match self.suspend(cx) {
                        // Interrupted meanwhile: the step never starts.
                        Ok(next) => next,
                        Err(pending) => {
                            self.start = Some(prim);
                            return pending;
                        }
                    }
                }
                Next::Track(activity) => {
                    // The driver sees `tracked` set without a tracker, and picks this up.
                    self.tracked = true;
                    self.core.set_status(waiting::READY_WORD);
                    tracking::announce(activity);
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
    #[cfg_attr(not(any(feature = "tracing", feature = "metrics")), allow(unused_mut))]
    fn finished(&self, mut outcome: Outcome) -> Poll<Outcome> {
        // I5: nothing is left of the fiber's work.
        debug_assert!(
            self.stack.last().is_none(),
            "I5: a fiber ends with its stack empty"
        );
        debug_assert_eq!(
            self.deadlines, 0,
            "I5/I9: a fiber ends with no deadline counted"
        );
        debug_assert!(
            self.start.is_none(),
            "I5: a fiber ends with nothing left to start"
        );
        #[cfg(feature = "tracing")]
        crate::kernel::trace::fiber_ended(&self.core, &mut outcome, self.context());
        #[cfg(feature = "metrics")]
        self.core.metered().finished(outcome.label());
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
                // A fiber that provides a test clock itself is tracked by it from here on
                // (see `tracking`): the run returns to the scheduler once first.
                if let Some(activity) = tracking::provided_clock(&self.ctx, self.tracked) {
                    self.start = Some(*inner);
                    return Next::Track(activity);
                }
                Next::Start(*inner)
            }
            Prim::FromContext(make, data) => Next::Start(make(&self.ctx, data)),
            Prim::Suspend(make) => Next::Start(make.make_prim(&self.ctx)),
            Prim::Deadline(deadline) => self.enter_deadline(deadline),
            Prim::Then(then) => self.then_started(then),
            // Not bound by a body: see `Interpreter::yielded` for where its unit goes.
            Prim::Yield(make) => {
                self.stack.push(Entry::Yielded(make));
                Next::Yield
            }
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
                self.core.set_status(waiting::READY_WORD);
                return self.suspend(cx);
            }
            // I1: only the top entry is polled, and here it is a body.
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
                (Poll::Pending, Some(Prim::Yield(make))) => {
                    self.stack.push(Entry::Yielded(make));
                    self.yield_task(cx);
                    return self.suspend(cx);
                }
                (Poll::Pending, Some(request)) => return Ok(Next::Start(request)),
                (Poll::Pending, None) => {
                    // Suspended on what the body's primitive said (see `waiting`).
                    self.core.set_status(waiting::take());
                    self.core.register_task(cx.waker());
                    // Interrupted between the poll and the registration (or a deadline
                    // passed): act on it now.
                    return self.suspend(cx);
                }
            }
        }
    }

    /// Has the task woken to be polled again, as `yield_now` does, before the run returns to
    /// the scheduler.
    fn yield_task(&self, cx: &mut TaskContext<'_>) {
        self.core.set_status(waiting::READY_WORD);
        if self.tracked {
            // On a test clock, wake at once: tokio's yield wakes the task only after this
            // poll, and in between the clock would see the fiber as blocked and move time
            // under it.
            cx.waker().wake_by_ref();
        } else {
            // Yield exactly as `tokio::task::yield_now` does: the first poll of a fresh one
            // has tokio wake this task after looking at its other work. Nothing of it is kept:
            // it holds no state past that poll.
            let yielding = std::pin::pin!(tokio::task::yield_now());
            let polled = std::future::Future::poll(yielding, cx);
            debug_assert!(polled.is_pending(), "a fresh yield_now yields once");
        }
        self.core.register_task(cx.waker());
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
}
