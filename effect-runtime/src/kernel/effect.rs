//! [`Effect`]: the lazy description of async work, and its constructors.

use std::fmt;
use std::future::Future;
use std::marker::PhantomData;

use crate::kernel::cause::{Cause, Exit};
use crate::kernel::context::Context;
use crate::kernel::fiber::frame::{Finished, FrameBox, FutureFrame, IntoExit, PollBody};
use crate::kernel::fiber::handoff::current_context;
use crate::kernel::fiber::prim::{DeferDrop, MakePrim, Prim};
use crate::kernel::fiber::waiting::{self, Wait};

/// A lazy, single-shot description of async work that succeeds with an `A` or fails with a
/// [`Cause<E>`](Cause).
///
/// Nothing happens when an effect is built: it runs when [`run`](Effect::run) is awaited
/// (or when it is bound inside another effect that runs). Effects are `Send + 'static` values;
/// combining them builds bigger values. Running consumes the effect: to run "the same" effect
/// again, build it again (a function returning an effect is the reusable thing).
///
/// Effects are interpreted with an explicit stack, so a chain of a million binds, or an
/// effect recursing a million levels deep, runs and drops without growing the native stack.
///
/// ```
/// use effect::{fail, succeed, Cause, Context, Effect};
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// let ctx = Context::new();
/// let answer: Effect<u32, String> = succeed(6).zip(succeed(7)).map(|(a, b)| a * b);
/// assert_eq!(answer.run(&ctx).await, Ok(42));
///
/// let failed: Effect<u32, String> = fail("no".to_string());
/// let recovered = failed.catch_all(|e| succeed(e.len() as u32));
/// assert_eq!(recovered.run(&ctx).await, Ok::<u32, Cause<String>>(2));
/// # }
/// ```
#[must_use = "an effect does nothing until it is run or bound"]
pub struct Effect<A, E> {
    pub(crate) repr: Repr<A, E>,
}

pub(crate) enum Repr<A, E> {
    /// A plain value: binding it does not allocate or touch the interpreter.
    Succeed(A),
    /// A plain failure.
    Fail(Cause<E>),
    /// An effect made from the context when it runs, without waiting (`sync`, `attempt`, the
    /// toolkit's fast paths). Bound in a body, it is made and bound in place, with no frame
    /// and no trip through the interpreter (see `fiber/bind.rs`); anywhere else it is a body
    /// frame like any other.
    Suspend(MakeEffect<A, E>),
    /// Anything else, for the interpreter.
    Prim(DeferDrop, PhantomData<fn() -> (A, E)>),
}

/// What a [`Repr::Suspend`] effect is made by: typed for a bind, which makes it in place;
/// erased (upcast to [`MakePrim`]) for the interpreter.
pub(crate) type MakeEffect<A, E> = Box<dyn Make<A, E>>;

pub(crate) trait Make<A, E>: MakePrim {
    fn make(self: Box<Self>, ctx: &Context) -> Effect<A, E>;
}

/// A maker closure, with room for the exit of what it makes: made outside a bind (forked,
/// raced, in a combinator), a plain value or failure is stored here and the same box runs as
/// an already finished frame, so a suspended effect costs one allocation wherever it runs.
struct Maker<F, A, E> {
    make: Option<F>,
    out: Option<Exit<A, E>>,
}

// Nothing in a maker is pinned: its frame is finished before it is ever polled.
impl<F, A, E> Unpin for Maker<F, A, E> {}

impl<F, A, E> Maker<F, A, E>
where
    F: FnOnce(&Context) -> Effect<A, E> + Send + 'static,
{
    fn take(&mut self) -> F {
        self.make
            .take()
            .expect("effect runtime: a suspended effect was made twice")
    }
}

impl<F, A, E> Make<A, E> for Maker<F, A, E>
where
    F: FnOnce(&Context) -> Effect<A, E> + Send + 'static,
    A: Send + 'static,
    E: Send + 'static,
{
    fn make(mut self: Box<Self>, ctx: &Context) -> Effect<A, E> {
        (self.take())(ctx)
    }
}

impl<F, A, E> MakePrim for Maker<F, A, E>
where
    F: FnOnce(&Context) -> Effect<A, E> + Send + 'static,
    A: Send + 'static,
    E: Send + 'static,
{
    fn make_prim(mut self: Box<Self>, ctx: &Context) -> Prim {
        let make = self.take();
        let exit = match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| make(ctx))) {
            Ok(Effect {
                repr: Repr::Succeed(a),
            }) => Ok(a),
            Ok(Effect {
                repr: Repr::Fail(cause),
            }) => Err(cause),
            Ok(effect) => return effect.into_prim(),
            Err(panic) => Err(Cause::Die(crate::kernel::cause::Defect::from_panic(panic))),
        };
        self.out = Some(exit);
        Prim::Frame(Box::into_pin(self))
    }
}

// Finished: a maker becomes a frame only with its exit stored.
impl<F, A, E> Finished for Maker<F, A, E>
where
    F: FnOnce(&Context) -> Effect<A, E> + Send + 'static,
    A: Send + 'static,
    E: Send + 'static,
{
    type A = A;
    type E = E;

    fn out(&mut self) -> &mut Option<Exit<A, E>> {
        &mut self.out
    }
}

// Effects are moved, never pinned: an unstarted body is boxed and pinned on its own.
impl<A, E> Unpin for Effect<A, E> {}

impl<A, E> fmt::Debug for Effect<A, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = match self.repr {
            Repr::Succeed(_) => "succeed",
            Repr::Fail(_) => "fail",
            Repr::Suspend(_) | Repr::Prim(..) => "suspended",
        };
        write!(f, "Effect({kind})")
    }
}

impl<A: Send + 'static, E: Send + 'static> Effect<A, E> {
    /// An effect whose body is an async block built from the [`Context`] of the run, the
    /// counterpart of the guide's `Effect(impl)`.
    ///
    /// The closure runs when the effect starts (not when it is built). Inside the body,
    /// `other_effect.await` runs another effect on the same fiber and gives its [`Exit`];
    /// `?` propagates its cause, and `Err(e)?` fails with a typed error.
    ///
    /// ```
    /// use effect::{succeed, Context, Effect};
    ///
    /// #[derive(Clone)]
    /// struct Greeting(&'static str);
    ///
    /// let greet: Effect<String, ()> = Effect::new(|ctx| async move {
    ///     let name = succeed("effect").await?;
    ///     Ok(format!("{}, {name}", ctx.get::<Greeting>().0))
    /// });
    /// let ctx = Context::new().with(Greeting("hello"));
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// assert_eq!(greet.run(&ctx).await.unwrap(), "hello, effect");
    /// # });
    /// ```
    pub fn new<F, Fut>(body: F) -> Self
    where
        F: FnOnce(Context) -> Fut + Send + 'static,
        Fut: Future<Output = Exit<A, E>> + Send + 'static,
    {
        Effect::from_prim(Prim::Frame(context_frame(body)))
    }

    /// An effect whose body is the given future (which, being a future, does nothing until the
    /// effect runs). The DSL and the combinators build on this.
    ///
    /// ```
    /// use effect::{run_blocking, Cause, Effect};
    ///
    /// let checked: Effect<u32, String> = Effect::from_future(async {
    ///     let n = 7;
    ///     if n > 5 { Ok(n) } else { Err(Cause::Fail("too small".to_string())) }
    /// });
    /// assert_eq!(run_blocking(checked), Ok(7));
    /// ```
    pub fn from_future<Fut>(body: Fut) -> Self
    where
        Fut: Future<Output = Exit<A, E>> + Send + 'static,
    {
        Effect::from_prim(Prim::Frame(FutureFrame::boxed(body)))
    }

    /// The effect of a DSL body: `poll` is the body's `Future::poll`, reified where the body
    /// is built (see [`PollBody`]).
    pub(crate) fn from_body<Fut>(body: Fut, poll: PollBody<Fut>) -> Self
    where
        Fut: Future + Send + 'static,
        Fut::Output: IntoExit<A, E>,
    {
        Effect::from_prim(Prim::Frame(FutureFrame::<Fut, A, E>::boxed_with(
            body, poll,
        )))
    }

    pub(crate) fn from_prim(prim: Prim) -> Self {
        Effect {
            repr: Repr::Prim(DeferDrop::new(prim), PhantomData),
        }
    }

    /// An effect made by `make` from the context when it runs (see [`Repr::Suspend`]).
    /// `make` must not wait: what waits goes in the effect it makes.
    pub(crate) fn suspend_with<F>(make: F) -> Self
    where
        F: FnOnce(&Context) -> Effect<A, E> + Send + 'static,
    {
        Effect {
            repr: Repr::Suspend(Box::new(Maker {
                make: Some(make),
                out: None,
            })),
        }
    }

    /// The exit of a plain value or failure, which needs no interpreter; anything else as the
    /// instruction to run (a plain value is not made into a frame, as `into_prim` would).
    pub(crate) fn into_exit_or_prim(self) -> Result<Exit<A, E>, Prim> {
        match self.repr {
            Repr::Succeed(a) => Ok(Ok(a)),
            Repr::Fail(cause) => Ok(Err(cause)),
            Repr::Prim(prim, PhantomData) => Err(prim.into_inner()),
            Repr::Suspend(make) => Err(Prim::Suspend(make)),
        }
    }

    pub(crate) fn into_prim(self) -> Prim {
        match self.into_exit_or_prim() {
            Err(prim) => prim,
            Ok(exit) => Prim::Frame(FutureFrame::boxed(std::future::ready(exit))),
        }
    }
}

/// The effect of a region's close (`Owner::close`, `ForkOwner::close`): nothing to do when
/// the region had nothing left to close.
pub(crate) fn closing(close: Option<Prim>) -> Effect<(), crate::kernel::cause::Never> {
    match close {
        Some(closing) => Effect::from_prim(closing),
        None => succeed(()),
    }
}

/// An effect that succeeds with `value`. Binding it costs no allocation.
///
/// ```
/// use effect::{run_blocking, succeed, Effect};
///
/// let greeting: Effect<&str, ()> = succeed("hello");
/// assert_eq!(run_blocking(greeting), Ok("hello"));
/// ```
pub fn succeed<A, E>(value: A) -> Effect<A, E> {
    Effect {
        repr: Repr::Succeed(value),
    }
}

/// An effect that fails with the typed error `error`.
///
/// In an effect body, failing early is one statement: `fail(e)?;`.
///
/// ```
/// use effect::prelude::*;
///
/// #[effect]
/// fn withdraw(balance: u32, amount: u32) -> Effect<u32, String> {
///     if amount > balance {
///         fail(format!("cannot withdraw {amount} from {balance}"))?;
///     }
///     balance - amount
/// }
/// assert_eq!(effect::run_blocking(withdraw(10, 3)), Ok(7));
/// assert!(effect::run_blocking(withdraw(1, 3)).unwrap_err().is_failure());
/// ```
pub fn fail<A, E>(error: E) -> Effect<A, E> {
    fail_cause(Cause::Fail(error))
}

/// An effect that fails with `cause`.
///
/// ```
/// use effect::{fail_cause, run_blocking, Cause, Effect};
///
/// let both: Effect<(), &str> = fail_cause(Cause::fail("a").both(Cause::fail("b")));
/// assert_eq!(run_blocking(both).unwrap_err().failures(), [&"a", &"b"]);
/// ```
pub fn fail_cause<A, E>(cause: Cause<E>) -> Effect<A, E> {
    Effect {
        repr: Repr::Fail(cause),
    }
}

/// An effect that dies with a defect carrying `message`: an unexpected error that typed
/// handlers (`catch_all`, ...) do not recover. The defect records where `die` was called
/// ([`Defect::location`](crate::Defect::location)).
///
/// ```
/// use effect::{die, run_blocking, succeed, Effect};
///
/// let broken: Effect<u32, String> = die("invariant violated");
/// let not_recovered: Effect<u32, ()> = broken.catch_all(|_| succeed(0)); // typed handlers do not see defects
/// let cause = run_blocking(not_recovered).unwrap_err();
/// assert_eq!(cause.defects()[0].message(), "invariant violated");
/// ```
#[track_caller]
pub fn die<A, E>(message: impl Into<String>) -> Effect<A, E> {
    fail_cause(Cause::Die(crate::kernel::cause::Defect::here(message)))
}

/// An effect that calls `f` when it runs and succeeds with its result. A panic in `f` is a
/// defect.
///
/// ```
/// use std::sync::atomic::{AtomicU32, Ordering};
/// use std::sync::Arc;
/// use effect::{run_blocking, sync, Effect};
///
/// let calls = Arc::new(AtomicU32::new(0));
/// let counter = calls.clone();
/// let count: Effect<u32, ()> = sync(move || counter.fetch_add(1, Ordering::SeqCst) + 1);
/// assert_eq!(calls.load(Ordering::SeqCst), 0); // lazy: nothing ran yet
/// assert_eq!(run_blocking(count), Ok(1));
/// ```
pub fn sync<A, E, F>(f: F) -> Effect<A, E>
where
    A: Send + 'static,
    E: Send + 'static,
    F: FnOnce() -> A + Send + 'static,
{
    Effect::suspend_with(move |_| succeed(f()))
}

/// An effect that calls the fallible `f` when it runs: `Ok(a)` succeeds, `Err(e)` fails with
/// `e`.
///
/// ```
/// use effect::{attempt, run_blocking, Effect};
///
/// let parse = |text: &'static str| -> Effect<i32, std::num::ParseIntError> {
///     attempt(move || text.parse::<i32>())
/// };
/// assert_eq!(run_blocking(parse("42")), Ok(42));
/// assert!(run_blocking(parse("forty-two")).unwrap_err().is_failure());
/// ```
pub fn attempt<A, E, F>(f: F) -> Effect<A, E>
where
    A: Send + 'static,
    E: Send + 'static,
    F: FnOnce() -> Result<A, E> + Send + 'static,
{
    Effect::suspend_with(move |_| match f() {
        Ok(a) => succeed(a),
        Err(e) => fail(e),
    })
}

/// An effect that builds the effect to run when it starts: for recursion and for effects
/// whose construction must not happen before they run.
///
/// ```
/// use effect::{run_blocking, succeed, suspend, Effect};
///
/// fn countdown(n: u64) -> Effect<u64, ()> {
///     if n == 0 {
///         return succeed(0);
///     }
///     // Built when it runs, so building `countdown(100_000)` does not recurse 100,000 deep.
///     suspend(move || countdown(n - 1)).map(move |rest| rest + n)
/// }
/// assert_eq!(run_blocking(countdown(100_000)), Ok(5_000_050_000));
/// ```
pub fn suspend<A, E, F>(f: F) -> Effect<A, E>
where
    A: Send + 'static,
    E: Send + 'static,
    F: FnOnce() -> Effect<A, E> + Send + 'static,
{
    Effect::from_future(async move { f().await })
}

/// An effect that starts the future made by `f` when it runs and succeeds with its output.
///
/// ```
/// use effect::{from_async, run_blocking, Effect};
///
/// let effect: Effect<u32, ()> = from_async(|| async { 40 + 2 });
/// assert_eq!(run_blocking(effect), Ok(42));
/// ```
pub fn from_async<A, E, F, Fut>(f: F) -> Effect<A, E>
where
    A: Send + 'static,
    E: Send + 'static,
    F: FnOnce() -> Fut + Send + 'static,
    Fut: Future<Output = A> + Send + 'static,
{
    Effect::from_future(async move { Ok(f().await) })
}

/// [`from_async`] for a fallible future: `Ok(a)` succeeds, `Err(e)` fails with `e`.
///
/// ```
/// use effect::{attempt_async, run_blocking, Effect};
///
/// let fetch: Effect<String, String> = attempt_async(|| async {
///     tokio::task::yield_now().await;
///     Err("connection refused".to_string())
/// });
/// assert_eq!(run_blocking(fetch).unwrap_err().failure(), Some(&"connection refused".to_string()));
/// ```
pub fn attempt_async<A, E, F, Fut>(f: F) -> Effect<A, E>
where
    A: Send + 'static,
    E: Send + 'static,
    F: FnOnce() -> Fut + Send + 'static,
    Fut: Future<Output = Result<A, E>> + Send + 'static,
{
    Effect::from_future(async move { f().await.map_err(Cause::Fail) })
}

/// An effect that never finishes on its own; it ends only when interrupted.
///
/// ```
/// use effect::prelude::*;
///
/// let hang: Effect<u32, ()> = never();
/// assert_eq!(effect::run_blocking(hang.timeout(ms(5))), Ok(None)); // ends only when interrupted
/// ```
pub fn never<A, E>() -> Effect<A, E>
where
    A: Send + 'static,
    E: Send + 'static,
{
    Effect::from_future(std::future::poll_fn(|_| {
        // Never woken: a dump says so, rather than "a future".
        waiting::on(Wait::Never);
        std::task::Poll::Pending
    }))
}

/// An effect that yields to the scheduler once, letting other tasks run, then succeeds, as
/// `tokio::task::yield_now` does.
///
/// Bound in a body, it costs no allocation: the fiber's task yields to tokio and the body gets
/// its `()` when the task is polled again.
///
/// ```
/// use effect::prelude::*;
///
/// #[effect]
/// fn busy_loop() -> Effect<u64, Never> {
///     let mut sum = 0;
///     for i in 0..1_000 {
///         sum += i;
///         if i % 100 == 0 {
///             yield_now()?; // let other fibers and tasks run
///         }
///     }
///     sum
/// }
/// assert_eq!(effect::run_blocking(busy_loop()), Ok(499_500));
/// ```
pub fn yield_now<E: Send + 'static>() -> Effect<(), E> {
    Effect::from_prim(Prim::Yield(yield_frame::<E>))
}

/// `yield_now`'s unit as a finished frame, for an entry below the yield that needs one (a
/// root run, a finalizer, a deadline; a body or a continuation gets the unit without one).
pub(crate) fn yield_frame<E: Send + 'static>() -> FrameBox {
    FutureFrame::boxed(std::future::ready(Ok::<(), Cause<E>>(())))
}

/// A body built from the run's context when it starts (`Effect::new`).
fn context_frame<S, F, A, E>(start: S) -> FrameBox
where
    S: FnOnce(Context) -> F + Send + 'static,
    F: Future<Output = Exit<A, E>> + Send + 'static,
    A: Send + 'static,
    E: Send + 'static,
{
    // Starting is user code too: it runs inside the frame's first poll, under its panic guard.
    FutureFrame::boxed(async move { start(current_context()).await })
}
