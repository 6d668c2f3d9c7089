//! Binding an effect inside an async body: the hand-off between a body and its interpreter.
//!
//! A body that binds an effect does not poll that effect's body itself (nesting futures is what
//! overflows the native stack in deep recursion). Instead the bind hands the effect to the
//! interpreter polling the body, through the [`HandOff`] that interpreter made current on this
//! thread for the poll, and returns `Pending`. The interpreter pushes the effect onto the
//! fiber's heap stack, runs it, and re-polls the body with the finished child frame in the
//! next hand-off; the bind's [`Waiting`] future takes its typed outcome from it. Nesting depth
//! lives on the interpreter's heap stack, never on the native stack.
//!
//! The hand-off is only valid when the bind future is awaited directly by the body (the body
//! cannot make progress until the bound effect finishes). That is how the DSL and the
//! combinators use it. When a bind future is polled where no interpreter accepts a hand-off
//! (outside any effect run, or a second bind polled in the same step, as inside `join!`), it
//! runs the effect itself as a nested run: correct everywhere, stack-safe to ordinary depths.

use std::cell::{Cell, UnsafeCell};
use std::future::{Future, IntoFuture};
use std::marker::PhantomData;
use std::mem::MaybeUninit;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context as TaskContext, Poll};

use super::core::{Family, FiberCore};
use super::frame::{Delivery, Prim};
use super::locals::{FiberLocals, Inherited};
use super::run::Run;
use crate::cause::{Cause, Defect, Exit, Never};
use crate::context::Context;
use crate::effect::{Effect, MakeEffect, Repr};

/// What the interpreter polling a body offers that body's binds, for the length of one poll.
pub(crate) struct HandOff<'a> {
    /// The effect a body asked the interpreter to run.
    request: RequestSlot,
    /// The finished frame of the effect the body asked for last.
    delivered: Cell<Option<Delivery>>,
    /// The fiber's context: for bodies starting with it, and for binds that must run their
    /// effect in place.
    ctx: &'a Context,
    /// The fiber's fiber-locals: for `FiberRef`s, and for the children bodies start.
    locals: &'a Cell<FiberLocals>,
    /// The fiber itself: for bodies that start children (`race`, groups).
    core: &'a Arc<FiberCore>,
}

thread_local! {
    /// The hand-off of the interpreter polling a body on this thread right now, or null.
    /// Const-initialised and free of destructors, so reading it is a plain thread-local load.
    static CURRENT: Cell<*const ()> = const { Cell::new(std::ptr::null()) };

    /// The steps the interpreter polling on this thread may still take before it returns to
    /// the scheduler: each poll of a run gets its own, spent by every step of its interpreter
    /// and by every bind of a ready value in its bodies.
    static BUDGET: Cell<u32> = const { Cell::new(0) };
}

/// Steps a task takes before yielding to the scheduler, so a fiber that never suspends (a
/// loop of ready binds) cannot starve its neighbours or miss an interrupt.
const BUDGET_STEPS: u32 = 16384;

/// A fresh budget for one poll of a run, until the guard is dropped; then the budget of
/// whatever polled it (a run polling this one in place) is back. Each run nested in place
/// gets a budget of its own: a busy member of a race cannot spend its siblings' steps.
pub(crate) fn fresh_budget() -> impl Drop {
    struct Restore(u32);
    impl Drop for Restore {
        fn drop(&mut self) {
            BUDGET.set(self.0);
        }
    }
    Restore(BUDGET.replace(BUDGET_STEPS))
}

/// Spends one step of the budget: `false` when it is exhausted (the caller should yield).
#[inline]
pub(crate) fn spend_budget() -> bool {
    let left = BUDGET.get();
    if left == 0 {
        return false;
    }
    BUDGET.set(left - 1);
    true
}

impl<'a> HandOff<'a> {
    pub(crate) fn new(
        delivered: Option<Delivery>,
        ctx: &'a Context,
        locals: &'a Cell<FiberLocals>,
        core: &'a Arc<FiberCore>,
    ) -> Self {
        HandOff {
            request: RequestSlot::new(),
            delivered: Cell::new(delivered),
            ctx,
            locals,
            core,
        }
    }

    /// What a child started by the body being polled starts with.
    fn inherited(&self) -> Inherited {
        let locals = self.locals.take();
        let copy = locals.clone();
        self.locals.set(locals);
        Inherited {
            ctx: self.ctx.clone(),
            locals: copy,
            // Inside the poll, the fiber's own span is entered: it is the current one.
            #[cfg(feature = "tracing")]
            span: super::span::FiberSpan::current(),
        }
    }

    /// Runs `poll` (one poll of a body) with this hand-off current on this thread, then puts
    /// back whichever was current before, even if `poll` unwinds. Inlined: it is on the path
    /// of every poll of a body.
    #[inline(always)]
    pub(crate) fn offer<R>(&self, poll: impl FnOnce() -> R) -> R {
        struct Restore(*const ());
        impl Drop for Restore {
            fn drop(&mut self) {
                CURRENT.with(|current| current.set(self.0));
            }
        }
        let this: *const HandOff<'a> = self;
        let _restore = Restore(CURRENT.with(|current| current.replace(this.cast())));
        poll()
    }

    /// Takes `prim` as this poll's request, unless the body already made one or has not yet
    /// taken the frame delivered to it.
    fn accept(&self, prim: Prim) -> Result<(), Prim> {
        let delivered = self.delivered.take();
        let undelivered = delivered.is_some();
        self.delivered.set(delivered);
        if undelivered {
            return Err(prim);
        }
        self.request.fill(prim)
    }

    /// The effect the body asked for during the poll, if any.
    pub(crate) fn into_request(self) -> Option<Prim> {
        self.request.take()
    }
}

/// The one request of a poll: filled at most once, taken at most once.
///
/// Not a `Cell<Option<Prim>>`: setting one reads what it held (to drop it), and that read,
/// a 16-byte load right after the one-byte store of the initial `None`, misses store-to-load
/// forwarding and stalls; a bind of an effect that runs (every level of deep recursion) paid
/// it once (a level took 60 ns with it, 55.5 without). Here a flag says whether the slot is
/// filled, and the request is written into empty room, never read before it is taken.
struct RequestSlot {
    filled: Cell<bool>,
    prim: UnsafeCell<MaybeUninit<Prim>>,
}

impl RequestSlot {
    fn new() -> Self {
        RequestSlot {
            filled: Cell::new(false),
            prim: UnsafeCell::new(MaybeUninit::uninit()),
        }
    }

    /// Fills the slot, or hands `prim` back if it is filled already.
    #[allow(unsafe_code)]
    fn fill(&self, prim: Prim) -> Result<(), Prim> {
        if self.filled.get() {
            return Err(prim);
        }
        // SAFETY: the slot is empty, so nothing is overwritten (or leaked). No reference into
        // `prim`'s cell exists: the slot never lends one, and `take` only copies out through a
        // pointer that does not outlive it. The slot is `!Sync` (it holds an `UnsafeCell`), so
        // no other thread is inside `fill` or `take` now, and neither runs code that could
        // re-enter the slot (a write and a read of plain memory).
        unsafe { (*self.prim.get()).write(prim) };
        self.filled.set(true);
        Ok(())
    }

    /// Empties the slot: what it held, if anything.
    #[allow(unsafe_code)]
    fn take(&self) -> Option<Prim> {
        if !self.filled.replace(false) {
            return None;
        }
        // SAFETY: `filled` was set, so `fill` wrote a `Prim` that nothing has read since; the
        // flag is cleared first, so it is read this once and never dropped again. No other
        // access can overlap, for the reasons given in `fill`.
        Some(unsafe { (*self.prim.get()).assume_init_read() })
    }
}

impl Drop for RequestSlot {
    /// A request never taken (its poll unwound) is dropped with the slot, not leaked.
    fn drop(&mut self) {
        drop(self.take());
    }
}

/// Calls `f` with the hand-off current on this thread (`None` outside any interpreter's poll).
#[allow(unsafe_code)]
fn with_current<R>(f: impl for<'h> FnOnce(Option<&'h HandOff<'h>>) -> R) -> R {
    let current = CURRENT.with(Cell::get).cast::<HandOff<'_>>();
    // SAFETY: `CURRENT` is non-null only inside `HandOff::offer` on this same thread, which
    // borrows the hand-off for the whole call and restores the previous pointer before the
    // borrow ends, unwinding included; so a non-null pointer always points to a live
    // `HandOff` that nobody mutates except through its `Cell`s. The reference given to `f`
    // lives no longer than this call (`f` is generic over its lifetime, so it cannot keep it),
    // and that call is nested inside the `offer` that set the pointer. Shortening the
    // hand-off's own lifetime to the same `'h` is covariance: its context outlives the call.
    let handoff = unsafe { current.as_ref() };
    f(handoff)
}

/// The future of binding an effect: resolves to the effect's [`Exit`].
///
/// Returned by `effect.await` (through [`IntoFuture`]). A plain value (`succeed(x)`) resolves
/// on the first poll without allocating; anything else is handed to the interpreter at that
/// first poll.
///
/// ```
/// use effect::{fail, succeed, Cause, Context, Effect};
///
/// let program: Effect<u32, String> = Effect::new(|_ctx: Context| async move {
///     // Inside an effect's body, `.await` on an effect binds it: a `Bind` resolving to its exit.
///     let one = succeed::<u32, String>(1).await?;
///     let failed = fail::<u32, String>("no".into()).await;
///     assert_eq!(failed, Err(Cause::Fail("no".to_string())));
///     Ok(one + 1)
/// });
/// assert_eq!(effect::run_blocking(program), Ok(2));
/// ```
#[must_use = "futures do nothing unless awaited"]
pub struct Bind<A, E> {
    state: BindState<A, E>,
}

enum BindState<A, E> {
    Start(Effect<A, E>),
    Running(Waiting<A, E>),
    Done,
}

// `Bind` never pins its fields: values are moved out, and `Waiting` is `Unpin`.
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

    #[inline]
    fn poll(mut self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<Exit<A, E>> {
        let this = &mut *self;
        if let BindState::Running(waiting) = &mut this.state {
            let exit = std::task::ready!(Pin::new(waiting).poll(cx));
            this.state = BindState::Done;
            return Poll::Ready(exit);
        }
        match std::mem::replace(&mut this.state, BindState::Done) {
            BindState::Start(effect) => match effect.into_bound() {
                Bound::Ready(exit) => Poll::Ready(exit),
                Bound::Run(waiting) => {
                    this.state = BindState::Running(waiting);
                    Pin::new(this).poll(cx)
                }
            },
            BindState::Running(_) => unreachable!("handled above"),
            BindState::Done => panic!("`Bind` polled after completion"),
        }
    }
}

/// A bind that is ready at once (a plain value, failure or `Result`), or one that runs.
#[doc(hidden)]
pub enum Bound<A, E> {
    Ready(Exit<A, E>),
    Run(Waiting<A, E>),
}

/// An effect already handed to the interpreter polling the current body (or, when none could
/// take it, running nested here): resolves to its [`Exit`].
///
/// It is small on purpose: a body suspended at a bind keeps this, not the effect, in its
/// state, and deep recursion keeps a million such bodies alive.
#[doc(hidden)]
#[must_use = "futures do nothing unless awaited"]
pub struct Waiting<A, E> {
    /// `None` when the interpreter took the effect (the common case, kept to one word).
    other: Option<Box<NotHandedOff<A, E>>>,
}

enum NotHandedOff<A, E> {
    /// No interpreter could take the effect: it runs nested here.
    Nested(Run<A, E>),
    /// A ready value bound when the budget was spent: the interpreter yields to the
    /// scheduler once, and the value is given when the body is polled again.
    Yielded(Option<Exit<A, E>>),
}

impl<A, E> Unpin for Waiting<A, E> {}

impl<A: Send + 'static, E: Send + 'static> Waiting<A, E> {
    /// A ready exit, given after the interpreter polling the current body yielded once;
    /// given at once where no interpreter can yield (outside any run, or a second bind in one
    /// poll).
    #[cold]
    fn yielding(exit: Exit<A, E>) -> Bound<A, E> {
        match hand_off(Prim::Yield(crate::effect::yield_frame::<Never>)) {
            Ok(()) => Bound::Run(Waiting {
                other: Some(Box::new(NotHandedOff::Yielded(Some(exit)))),
            }),
            Err(_) => Bound::Ready(exit),
        }
    }

    fn hand_off(prim: Prim) -> Self {
        match hand_off(prim) {
            Ok(()) => Waiting { other: None },
            Err((prim, inherited, family)) => Waiting {
                other: Some(Box::new(NotHandedOff::Nested(Run::start(
                    prim, inherited, family,
                )))),
            },
        }
    }
}

impl<A: Send + 'static, E: Send + 'static> Future for Waiting<A, E> {
    type Output = Exit<A, E>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<Exit<A, E>> {
        match self.other.as_deref_mut() {
            None => match with_current(|handoff| handoff?.delivered.take()) {
                Some(delivery) => Poll::Ready(delivery.into_exit()),
                // Not finished yet: this is the poll right after the hand-off, or a foreign
                // waker fired while the interpreter still runs the effect.
                None => Poll::Pending,
            },
            Some(NotHandedOff::Nested(run)) => Pin::new(run).poll(cx),
            Some(NotHandedOff::Yielded(exit)) => {
                match with_current(|handoff| handoff?.delivered.take()) {
                    // The unit of the yield: the task was rescheduled.
                    Some(_) => {
                        Poll::Ready(exit.take().expect("a yielded bind is polled once more"))
                    }
                    None => Poll::Pending,
                }
            }
        }
    }
}

impl<A: Send + 'static, E: Send + 'static> Effect<A, E> {
    /// The exit of a plain value or failure without going through a future; anything else is
    /// handed to the interpreter polling the current body now.
    ///
    /// The DSL's `?` uses it and awaits the `Run` arm at once, in the same poll: binding a
    /// pure value in a loop costs a branch, not a suspension point.
    #[doc(hidden)]
    #[inline]
    pub fn __into_bound(self) -> Bound<A, E> {
        self.into_bound()
    }

    #[inline]
    fn into_bound(self) -> Bound<A, E> {
        let ready = match self.repr {
            Repr::Succeed(a) => Ok(a),
            Repr::Fail(cause) => Err(cause),
            Repr::Prim(prim, PhantomData) => {
                return Bound::Run(Waiting::hand_off(prim.into_inner()))
            }
            Repr::Suspend(make) => return bind_suspended(make),
        };
        // A ready bind is a step like any other: a loop of them yields when the budget is
        // spent, so it cannot starve other fibers nor miss its interrupt.
        if spend_budget() {
            return Bound::Ready(ready);
        }
        Waiting::yielding(ready)
    }
}

/// Binds a suspended effect in place: made with the context of the body being polled, then
/// bound in turn (a suspended effect making another is made in the same loop), with no frame
/// and no trip through the interpreter. What it makes that must wait is handed off as usual.
///
/// Each effect made in place spends a step of the budget, as a ready bind does. When the
/// budget is spent, or the fiber is being interrupted, or no run is polling (awaited outside
/// any run), the effect is handed to the interpreter as a frame instead, which yields, or
/// sees the interruption (and the interruptibility of the region) exactly as for any effect.
/// A panic in `make` is the bind's defect, as a panic in a frame is the frame's.
fn bind_suspended<A: Send + 'static, E: Send + 'static>(make: MakeEffect<A, E>) -> Bound<A, E> {
    let mut pending = Some(make);
    loop {
        let made = with_current(|handoff| {
            let handoff = handoff.filter(|h| !h.core.is_interrupted())?;
            if !spend_budget() {
                return None;
            }
            let make = pending.take()?;
            Some(catch_unwind(AssertUnwindSafe(move || {
                make.make(handoff.ctx)
            })))
        });
        let effect = match made {
            Some(Ok(effect)) => effect,
            Some(Err(panic)) => return Bound::Ready(Err(Cause::Die(Defect::from_panic(panic)))),
            None => {
                let make = pending
                    .take()
                    .expect("a suspended effect not made is still here");
                let effect = Effect::<A, E> {
                    repr: Repr::Suspend(make),
                };
                return Bound::Run(Waiting::hand_off(effect.into_prim()));
            }
        };
        match effect.repr {
            Repr::Succeed(a) => return Bound::Ready(Ok(a)),
            Repr::Fail(cause) => return Bound::Ready(Err(cause)),
            Repr::Prim(prim, PhantomData) => {
                return Bound::Run(Waiting::hand_off(prim.into_inner()))
            }
            Repr::Suspend(next) => pending = Some(next),
        }
    }
}

/// The context of the run polling the current body (empty outside any run).
pub(crate) fn current_context() -> Context {
    with_current(|handoff| handoff.map(|h| h.ctx.clone()).unwrap_or_default())
}

/// What a child started by the body being polled inherits from its fiber, and the fiber's
/// family (nothing outside any run).
pub(crate) fn current_fiber() -> (Inherited, Option<Arc<Family>>) {
    with_current(|handoff| match handoff {
        Some(h) => (h.inherited(), h.core.family().clone()),
        None => Default::default(),
    })
}

/// Calls `f` with the fiber-locals of the fiber whose body is being polled (`None` outside
/// any run). `f` must not run user code: the locals are taken out of their cell meanwhile.
pub(crate) fn with_fiber_locals<R>(f: impl FnOnce(&mut FiberLocals) -> R) -> Option<R> {
    with_current(|handoff| {
        let cell = handoff?.locals;
        let mut locals = cell.take();
        let result = f(&mut locals);
        cell.set(locals);
        Some(result)
    })
}

/// Gives `prim` to the interpreter polling the current body, or hands it back (with what to
/// run it with) when no interpreter can take it now: outside any run, or when this poll
/// already asked for an effect or has a finished one waiting to be taken.
#[allow(clippy::type_complexity)]
fn hand_off(prim: Prim) -> Result<(), (Prim, Inherited, Option<Arc<Family>>)> {
    with_current(|handoff| match handoff {
        Some(h) => h
            .accept(prim)
            .map_err(|prim| (prim, h.inherited(), h.core.family().clone())),
        None => awaited_outside_any_run(),
    })
}

/// Awaiting an effect outside any run would have to run it with an empty context: no
/// `TestClock` (so it sleeps for real), none of the caller's services, no runtime to count or
/// shut down its fibers. That is never what the code meant, so it is refused loudly.
#[cold]
#[inline(never)]
fn awaited_outside_any_run() -> ! {
    panic!(
        "an `Effect` was awaited outside any effect run. `effect.await` (and `effect?` in a \
         body) works only inside an effect body (`#[effect]` fns, `effect_block!`, \
         `Effect::new`); from plain async code, run the effect with its context: \
         `effect.run(&ctx).await` (the context holding your TestClock and services), \
         `runtime.run(effect).await`, or `run_blocking(effect)`"
    )
}

impl<A: Send + 'static, E: Send + 'static> IntoFuture for Effect<A, E> {
    type Output = Exit<A, E>;
    type IntoFuture = Bind<A, E>;

    /// Awaiting an effect inside another effect's body runs it on the same fiber, with the
    /// same context, stack-safely. Await it directly in the body (`eff.await?`); to run an
    /// effect concurrently with other futures, use the combinators (`zip_par`, `race`,
    /// `timeout`) or [`Effect::run`].
    ///
    /// # Panics
    ///
    /// Polled outside any effect run (in a `#[tokio::test]`, `main`, a task spawned with
    /// `tokio::spawn`), where there is no context to run the effect with: it would sleep on
    /// the real clock instead of the test's `TestClock`, and miss every service. Run it with
    /// [`Effect::run`] there.
    fn into_future(self) -> Bind<A, E> {
        Bind::new(self)
    }
}

#[cfg(test)]
mod tests {
    //! The thread-local hand-off pointer and the request slot are the `unsafe` code of the
    //! hand-off: these tests check that the pointer is set exactly while a hand-off is
    //! offered, nests, and is restored when a poll unwinds, and that a request is taken once,
    //! refused when one is there, and dropped (not leaked) when never taken.
    use super::*;
    use crate::cause::Never;
    use crate::effect::succeed;

    fn core() -> Arc<FiberCore> {
        FiberCore::new(None, ())
    }

    /// A request whose body sets `dropped` when it is dropped (it is never polled).
    fn request_noting_its_drop(dropped: &Arc<std::sync::atomic::AtomicBool>) -> Prim {
        struct Note(Arc<std::sync::atomic::AtomicBool>);
        impl Drop for Note {
            fn drop(&mut self) {
                self.0.store(true, std::sync::atomic::Ordering::SeqCst);
            }
        }
        let note = Note(dropped.clone());
        Effect::<(), Never>::from_future(async move {
            let _note = note;
            Ok(())
        })
        .into_prim()
    }

    #[test]
    fn the_request_slot_is_filled_once_taken_once_and_drops_what_it_holds() {
        use std::sync::atomic::{AtomicBool, Ordering};
        let slot = RequestSlot::new();
        assert!(slot.take().is_none(), "empty at first");
        let (first, second) = (
            Arc::new(AtomicBool::new(false)),
            Arc::new(AtomicBool::new(false)),
        );
        assert!(slot.fill(request_noting_its_drop(&first)).is_ok());
        let refused = slot.fill(request_noting_its_drop(&second));
        assert!(refused.is_err(), "a filled slot refuses a second request");
        assert!(!second.load(Ordering::SeqCst), "and hands it back, whole");
        drop(refused);
        assert!(second.load(Ordering::SeqCst));
        let taken = slot.take().expect("the first request");
        assert!(slot.take().is_none(), "taken once");
        assert!(!first.load(Ordering::SeqCst), "taking is not dropping");
        drop(taken);
        assert!(first.load(Ordering::SeqCst));
        // Filled again after a take; dropped with the slot when never taken.
        let third = Arc::new(AtomicBool::new(false));
        assert!(slot.fill(request_noting_its_drop(&third)).is_ok());
        drop(slot);
        assert!(
            third.load(Ordering::SeqCst),
            "a request never taken is dropped, not leaked"
        );
    }

    #[test]
    fn a_request_made_by_a_poll_that_unwinds_is_dropped_with_the_hand_off() {
        use std::sync::atomic::{AtomicBool, Ordering};
        let (ctx, core) = (Context::new(), core());
        let no_locals = Cell::default();
        let dropped = Arc::new(AtomicBool::new(false));
        let handoff = HandOff::new(None, &ctx, &no_locals, &core);
        let unwound = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            handoff.offer(|| {
                assert!(hand_off(request_noting_its_drop(&dropped)).is_ok());
                panic!("the body panicked after its bind");
            })
        }));
        assert!(unwound.is_err());
        assert!(!dropped.load(Ordering::SeqCst));
        drop(handoff);
        assert!(dropped.load(Ordering::SeqCst));
        core.complete();
    }

    fn current_ctx_has_u32() -> Option<u32> {
        with_current(|handoff| handoff.and_then(|h| h.ctx.try_get::<u32>().copied()))
    }

    #[test]
    fn no_hand_off_is_current_outside_an_offer() {
        assert!(with_current(|handoff| handoff.is_none()));
        assert!(current_context().is_empty());
    }

    #[test]
    fn offers_nest_and_restore_the_outer_one() {
        let outer_ctx = Context::new().with(1u32);
        let inner_ctx = Context::new().with(2u32);
        let (outer_core, inner_core) = (core(), core());
        let no_locals = Cell::default();
        inner_core.interrupt();
        let outer = HandOff::new(None, &outer_ctx, &no_locals, &outer_core);
        outer.offer(|| {
            assert_eq!(current_ctx_has_u32(), Some(1));
            let inner = HandOff::new(None, &inner_ctx, &no_locals, &inner_core);
            inner.offer(|| {
                assert_eq!(current_ctx_has_u32(), Some(2));
            });
            assert_eq!(current_ctx_has_u32(), Some(1));
        });
        assert_eq!(current_ctx_has_u32(), None);
        outer_core.complete();
        inner_core.complete();
    }

    #[test]
    fn an_unwinding_poll_restores_the_previous_hand_off() {
        let outer_ctx = Context::new().with(1u32);
        let inner_ctx = Context::new().with(2u32);
        let (outer_core, inner_core) = (core(), core());
        let no_locals = Cell::default();
        let outer = HandOff::new(None, &outer_ctx, &no_locals, &outer_core);
        outer.offer(|| {
            let inner = HandOff::new(None, &inner_ctx, &no_locals, &inner_core);
            let unwound = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                inner.offer(|| panic!("a body panicked"))
            }));
            assert!(unwound.is_err());
            assert_eq!(current_ctx_has_u32(), Some(1));
        });
        assert_eq!(current_ctx_has_u32(), None);
        outer_core.complete();
        inner_core.complete();
    }

    #[test]
    fn a_hand_off_takes_one_request_and_refuses_a_second() {
        let (ctx, core) = (Context::new(), core());
        let no_locals = Cell::default();
        let handoff = HandOff::new(None, &ctx, &no_locals, &core);
        let first = succeed::<(), Never>(()).into_prim();
        let second = succeed::<(), Never>(()).into_prim();
        handoff.offer(|| {
            assert!(hand_off(first).is_ok());
            assert!(hand_off(second).is_err(), "one request per poll");
        });
        assert!(handoff.into_request().is_some());
        // Outside any offer, a hand-off is a misuse, refused loudly.
        let outside = std::panic::catch_unwind(|| {
            let _ = hand_off(succeed::<(), Never>(()).into_prim());
        });
        let payload = outside.unwrap_err();
        let message = crate::cause::Defect::from_panic(payload);
        let message = message.message();
        assert!(
            message.contains("awaited outside any effect run"),
            "{message}"
        );
        core.complete();
    }
}
