//! The hand-off between an interpreter and the body it polls: for the length of one poll, the
//! interpreter makes a [`HandOff`] current on its thread, through which the body's binds ask
//! it to run an effect (see [`bind`](super::bind)), and the body's code reads the fiber's
//! context and fiber-locals. Also the step budget every poll of a run spends.
//!
//! Below the interpreter and the binds, which both import it.

use std::cell::{Cell, UnsafeCell};
use std::mem::MaybeUninit;
use std::sync::Arc;

use super::core::{Family, FiberCore};
use super::frame::Delivery;
use super::locals::{FiberLocals, Inherited};
use super::prim::Prim;
use crate::kernel::context::Context;

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

    /// Set when a run on this thread spent its whole budget (it yields to the scheduler
    /// though it could go on): how a region tells a busy in-place member from one that
    /// waits, and moves it to a task of its own (see `Region`).
    static SPENT: Cell<bool> = const { Cell::new(false) };
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
/// Every step of a run calls it (I10).
#[inline]
pub(crate) fn spend_budget() -> bool {
    let left = BUDGET.get();
    if left == 0 {
        SPENT.set(true);
        return false;
    }
    BUDGET.set(left - 1);
    true
}

/// Whether a run on this thread spent its whole budget since the last call (which clears it).
pub(crate) fn take_budget_spent() -> bool {
    SPENT.replace(false)
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
/// The pointer is set only inside `HandOff::offer` (I8).
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
pub(crate) fn hand_off(prim: Prim) -> Result<(), (Prim, Inherited, Option<Arc<Family>>)> {
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
pub(crate) fn awaited_outside_any_run() -> ! {
    panic!(
        "an `Effect` was awaited outside any effect run. `effect.await` (and `effect?` in a \
         body) works only inside an effect body (`#[effect]` fns, `effect_block!`, \
         `Effect::new`); from plain async code, run the effect with its context: \
         `effect.run(&ctx).await` (the context holding your TestClock and services), \
         `runtime.run(effect).await`, or `run_blocking(effect)`"
    )
}

/// Takes the frame delivered to the body being polled, if any (`None` outside any run).
pub(crate) fn take_delivered() -> Option<Delivery> {
    with_current(|handoff| handoff?.delivered.take())
}

/// Calls `make` with the context of the body being polled, spending a step of the budget:
/// how a bind makes a suspended effect in place. `None`, with `make` not called, outside any
/// run, when the fiber is being interrupted, or when the budget is spent (the effect then goes
/// to the interpreter as a frame, which yields or sees the interruption).
pub(crate) fn make_in_place<R>(make: impl FnOnce(&Context) -> R) -> Option<R> {
    with_current(|handoff| {
        let handoff = handoff.filter(|h| !h.core.is_interrupted())?;
        if !spend_budget() {
            return None;
        }
        Some(make(handoff.ctx))
    })
}

#[cfg(test)]
mod tests {
    //! The thread-local hand-off pointer and the request slot are the `unsafe` code of the
    //! hand-off: these tests check that the pointer is set exactly while a hand-off is
    //! offered, nests, and is restored when a poll unwinds, and that a request is taken once,
    //! refused when one is there, and dropped (not leaked) when never taken.
    use super::*;
    use crate::kernel::cause::Never;
    use crate::kernel::effect::{succeed, Effect};
    use crate::kernel::fiber::core::FiberKind;

    fn core() -> Arc<FiberCore> {
        FiberCore::new(None, FiberKind::User, ())
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
        let message = crate::kernel::cause::Defect::from_panic(payload);
        let message = message.message();
        assert!(
            message.contains("awaited outside any effect run"),
            "{message}"
        );
        core.complete();
    }
}
