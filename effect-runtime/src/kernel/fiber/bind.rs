//! Binding an effect inside an async body: the hand-off between a body and its interpreter.
//!
//! A body that binds an effect does not poll that effect's body itself (nesting futures is what
//! overflows the native stack in deep recursion). Instead the bind hands the effect to the
//! interpreter polling the body, through the [`HandOff`](super::handoff::HandOff) that interpreter made current on this
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

use std::future::{Future, IntoFuture};
use std::marker::PhantomData;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::pin::Pin;
use std::task::{Context as TaskContext, Poll};

use super::handoff::{hand_off, make_in_place, spend_budget, take_delivered};
use super::prim::Prim;
use super::run::Run;
use crate::kernel::cause::{Cause, Defect, Exit, Never};
use crate::kernel::effect::{Effect, MakeEffect, Repr};

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
        match hand_off(Prim::Yield(crate::kernel::effect::yield_frame::<Never>)) {
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
            None => match take_delivered() {
                Some(delivery) => Poll::Ready(delivery.into_exit()),
                // Not finished yet: this is the poll right after the hand-off, or a foreign
                // waker fired while the interpreter still runs the effect.
                None => Poll::Pending,
            },
            Some(NotHandedOff::Nested(run)) => Pin::new(run).poll(cx),
            Some(NotHandedOff::Yielded(exit)) => {
                match take_delivered() {
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
        let made = make_in_place(|ctx| {
            let make = pending.take().expect("a suspended effect is made once");
            catch_unwind(AssertUnwindSafe(move || make.make(ctx)))
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
