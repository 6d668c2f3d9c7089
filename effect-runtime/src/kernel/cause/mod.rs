//! Why an effect did not succeed: [`Cause`], [`Defect`] and the [`Exit`] of a run.
//!
//! Here: the cause as a tree (its constructors, what it holds, how it maps and splits), and
//! the error types around it. A defect, what a panic becomes, is in `defect.rs`; how a cause
//! reads (its `Display` tree and its `std::error::Error` impl) in `render.rs`.

mod defect;
mod render;

use std::convert::Infallible;

use crate::kernel::fiber::id::FiberId;

pub use defect::Defect;

/// The error type of an effect that cannot fail with a typed error.
///
/// Finalizers (`ensuring`, `on_exit`, ...) are `Effect<(), Never>`: they may still *die*
/// (panic), and that defect is kept in the [`Cause`] of the effect they guard.
///
/// ```
/// use effect::{run_blocking, succeed, Effect, Never};
///
/// fn config_port() -> Effect<u16, Never> {
///     succeed(8080) // cannot fail: nothing to handle
/// }
/// let Ok(port) = run_blocking(config_port()) else { unreachable!("only a defect could end here") };
/// assert_eq!(port, 8080);
/// ```
pub type Never = Infallible;

// The attribute comes before the docs: tests/doc_examples.rs reads the docs right above an item.
#[diagnostic::on_unimplemented(
    message = "this effect fails with `{F}`, which its error type `{Self}` cannot hold",
    label = "its error type must implement `From<{F}>`",
    note = "an effect's error type is the one written on its call, or else inferred from the code around it: in an `#[effect]` fn, the declared one; in an `effect_block!`, an effect whose error type is not written is taken to be `Never` (`Infallible`), which holds no failure",
    note = "write the error type on the call, `::<MyError>`, with `MyError` implementing `From<{F}>` (`{F}` itself does)"
)]
/// An error type that holds a failure `F`: one that converts from it with `From` (`F`
/// itself, or your error type with an `impl From<F>`). Constructors that can fail with `F`
/// whatever error type you choose, such as [`Queue::offer`](crate::Queue::offer) failing with
/// [`QueueShutdown`](crate::QueueShutdown), take their error type with this bound, so a
/// type that cannot hold the failure is reported with what to write.
///
/// ```
/// use effect::{run_blocking, Effect, Queue, QueueShutdown};
///
/// #[derive(Debug, PartialEq)]
/// enum AppError { Closed }
/// impl From<QueueShutdown> for AppError {
///     fn from(_: QueueShutdown) -> Self { AppError::Closed }
/// }
///
/// let queue = Queue::<u32>::bounded(1);
/// queue.shutdown();
/// let offered: Effect<bool, AppError> = queue.offer(1); // `AppError: HoldsFailure<QueueShutdown>`
/// assert_eq!(run_blocking(offered).unwrap_err().failure(), Some(&AppError::Closed));
/// ```
pub trait HoldsFailure<F>: From<F> {}

#[diagnostic::do_not_recommend]
impl<F, E: From<F>> HoldsFailure<F> for E {}

/// The outcome of running an effect: its value, or the [`Cause`] of its failure.
///
/// ```
/// use effect::{fail, run_blocking, succeed, Cause, Effect, Exit};
///
/// let ok: Exit<u32, String> = run_blocking(succeed(1));
/// assert_eq!(ok, Ok(1));
/// let failed: Exit<u32, String> = run_blocking(fail("no".to_string()));
/// assert_eq!(failed, Err(Cause::Fail("no".to_string())));
/// ```
pub type Exit<A, E> = Result<A, Cause<E>>;

/// Why an effect did not produce a value.
///
/// A cause keeps *every* reason a run went wrong: the typed failure, panics ("defects"),
/// interruption, and how several of those combined. Nothing is swallowed: when a finalizer dies
/// while an effect is already failing, the result is `Then(original, finalizer's defect)`;
/// when two parallel branches fail, it is `Both(left, right)`.
///
/// ```
/// use effect::{Cause, Defect};
///
/// let cause: Cause<String> = Cause::fail("timeout".to_string()).then(Cause::die("cleanup panicked"));
/// assert_eq!(cause.failure(), Some(&"timeout".to_string()));
/// assert!(cause.is_die());
/// assert_eq!(
///     cause.to_string(),
///     "sequential causes:\n├─ timeout\n└─ defect: cleanup panicked"
/// );
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Cause<E> {
    /// An expected failure, with the effect's typed error.
    Fail(E),
    /// A defect: a panic in user code or an explicit [`die`](crate::die).
    Die(Defect),
    /// The fiber running the effect was interrupted, by the fiber with this id
    /// ([`FiberId::NONE`] when the interruption came from outside any fiber: a dropped
    /// [`Run`](crate::Run), a runtime shutting down).
    Interrupt(FiberId),
    /// The first cause happened, then the second (e.g. a finalizer failing after a failure).
    Then(Box<Cause<E>>, Box<Cause<E>>),
    /// Both causes happened in parallel branches.
    Both(Box<Cause<E>>, Box<Cause<E>>),
}

impl<E> From<E> for Cause<E> {
    /// A typed failure, so `Err(e)?` works inside `Effect::new` bodies.
    fn from(error: E) -> Self {
        Cause::Fail(error)
    }
}

impl<E> Cause<E> {
    /// An expected failure.
    ///
    /// ```
    /// use effect::Cause;
    ///
    /// let cause = Cause::fail("not found");
    /// assert!(cause.is_failure());
    /// assert_eq!(cause.failure(), Some(&"not found"));
    /// ```
    pub fn fail(error: E) -> Self {
        Cause::Fail(error)
    }

    /// A defect with the given message.
    ///
    /// ```
    /// use effect::Cause;
    ///
    /// let cause: Cause<String> = Cause::die("index out of bounds");
    /// assert!(cause.is_die() && !cause.is_failure());
    /// assert_eq!(cause.defects()[0].message(), "index out of bounds");
    /// ```
    pub fn die(message: impl Into<String>) -> Self {
        Cause::Die(Defect::new(message))
    }

    /// An interruption from outside any fiber ([`FiberId::NONE`]).
    ///
    /// ```
    /// use effect::{Cause, FiberId};
    ///
    /// let cause: Cause<String> = Cause::interrupt();
    /// assert_eq!(cause, Cause::Interrupt(FiberId::NONE));
    /// assert!(cause.is_interrupted_only());
    /// ```
    pub fn interrupt() -> Self {
        Cause::Interrupt(FiberId::NONE)
    }

    /// The fibers that interrupted this one, left to right, without repeats
    /// ([`FiberId::NONE`] stands for an interruption from outside any fiber).
    ///
    /// ```
    /// use effect::{Cause, FiberId};
    ///
    /// let cause: Cause<()> = Cause::interrupt().both(Cause::die("cleanup failed"));
    /// assert_eq!(cause.interruptors(), [FiberId::NONE]);
    /// ```
    pub fn interruptors(&self) -> Vec<FiberId> {
        let mut out = Vec::new();
        self.visit(&mut |leaf| {
            if let Cause::Interrupt(by) = leaf {
                if !out.contains(by) {
                    out.push(*by);
                }
            }
        });
        out
    }

    /// `self` happened, then `next` (sequential composition).
    ///
    /// ```
    /// use effect::Cause;
    ///
    /// // The request failed, then its cleanup panicked: both are kept, in order.
    /// let cause = Cause::fail("request failed").then(Cause::die("cleanup panicked"));
    /// assert_eq!(cause.failure(), Some(&"request failed"));
    /// assert!(cause.is_die());
    /// ```
    pub fn then(self, next: Cause<E>) -> Self {
        Cause::Then(Box::new(self), Box::new(next))
    }

    /// `self` and `other` happened in parallel (parallel composition).
    ///
    /// ```
    /// use effect::Cause;
    ///
    /// // Two parallel branches failed.
    /// let cause = Cause::fail("left").both(Cause::fail("right"));
    /// assert_eq!(cause.failures(), [&"left", &"right"]);
    /// ```
    pub fn both(self, other: Cause<E>) -> Self {
        Cause::Both(Box::new(self), Box::new(other))
    }

    /// The first typed failure in the cause, reading left to right.
    ///
    /// ```
    /// use effect::Cause;
    ///
    /// assert_eq!(Cause::<u8>::die("bug").then(Cause::fail(7)).failure(), Some(&7));
    /// assert_eq!(Cause::<u8>::interrupt().failure(), None);
    /// ```
    pub fn failure(&self) -> Option<&E> {
        match self {
            Cause::Fail(e) => Some(e),
            Cause::Die(_) | Cause::Interrupt(_) => None,
            Cause::Then(a, b) | Cause::Both(a, b) => a.failure().or_else(|| b.failure()),
        }
    }

    /// Every typed failure in the cause, left to right.
    ///
    /// ```
    /// use effect::Cause;
    ///
    /// let cause = Cause::fail(1).both(Cause::die("bug")).both(Cause::fail(2));
    /// assert_eq!(cause.failures(), [&1, &2]);
    /// ```
    pub fn failures(&self) -> Vec<&E> {
        let mut out = Vec::new();
        self.visit(&mut |leaf| {
            if let Cause::Fail(e) = leaf {
                out.push(e);
            }
        });
        out
    }

    /// Every defect in the cause, left to right.
    ///
    /// ```
    /// use effect::Cause;
    ///
    /// let cause: Cause<()> = Cause::die("first").then(Cause::die("second"));
    /// let messages: Vec<&str> = cause.defects().iter().map(|d| d.message()).collect();
    /// assert_eq!(messages, ["first", "second"]);
    /// ```
    pub fn defects(&self) -> Vec<&Defect> {
        let mut out = Vec::new();
        self.visit(&mut |leaf| {
            if let Cause::Die(d) = leaf {
                out.push(d);
            }
        });
        out
    }

    /// Whether the cause contains a typed failure.
    ///
    /// ```
    /// use effect::Cause;
    ///
    /// assert!(Cause::fail("e").is_failure());
    /// assert!(!Cause::<&str>::die("bug").is_failure());
    /// ```
    pub fn is_failure(&self) -> bool {
        self.failure().is_some()
    }

    /// Whether the cause contains a defect (a panic or `die`).
    ///
    /// ```
    /// use effect::{run_blocking, sync, Effect};
    ///
    /// let panicking: Effect<u32, String> = sync(|| panic!("boom"));
    /// assert!(run_blocking(panicking).unwrap_err().is_die()); // a panic is a defect
    /// ```
    pub fn is_die(&self) -> bool {
        self.any_leaf(&|leaf| matches!(leaf, Cause::Die(_)))
    }

    /// Whether the cause contains an interruption.
    ///
    /// ```
    /// use effect::Cause;
    ///
    /// let cause: Cause<()> = Cause::interrupt().then(Cause::die("finalizer failed"));
    /// assert!(cause.is_interrupted());
    /// assert!(!cause.is_interrupted_only());
    /// ```
    pub fn is_interrupted(&self) -> bool {
        self.any_leaf(&|leaf| matches!(leaf, Cause::Interrupt(_)))
    }

    /// Whether the cause is made of interruptions only (no failure, no defect).
    ///
    /// ```
    /// use effect::Cause;
    ///
    /// assert!(Cause::<()>::interrupt().both(Cause::interrupt()).is_interrupted_only());
    /// assert!(!Cause::<()>::interrupt().both(Cause::fail(())).is_interrupted_only());
    /// ```
    pub fn is_interrupted_only(&self) -> bool {
        !self.any_leaf(&|leaf| !matches!(leaf, Cause::Interrupt(_)))
    }

    /// The cause with every typed failure replaced by `()`, keeping its shape.
    ///
    /// ```
    /// use effect::Cause;
    ///
    /// let cause = Cause::fail("secret".to_string()).then(Cause::die("bug"));
    /// let erased: Cause<()> = cause.clone_erased();
    /// assert_eq!(erased.failure(), Some(&()));
    /// assert!(erased.is_die());
    /// ```
    pub fn clone_erased(&self) -> Cause<()> {
        match self {
            Cause::Fail(_) => Cause::Fail(()),
            Cause::Die(d) => Cause::Die(d.clone()),
            Cause::Interrupt(by) => Cause::Interrupt(*by),
            Cause::Then(a, b) => {
                Cause::Then(Box::new(a.clone_erased()), Box::new(b.clone_erased()))
            }
            Cause::Both(a, b) => {
                Cause::Both(Box::new(a.clone_erased()), Box::new(b.clone_erased()))
            }
        }
    }

    /// Maps the typed failures, keeping the shape of the cause.
    ///
    /// ```
    /// use effect::Cause;
    ///
    /// let cause = Cause::fail(404).then(Cause::die("bug"));
    /// let mapped: Cause<String> = cause.map(|code| format!("HTTP {code}"));
    /// assert_eq!(mapped.failure(), Some(&"HTTP 404".to_string()));
    /// assert!(mapped.is_die()); // the shape is kept
    /// ```
    pub fn map<E2>(self, mut f: impl FnMut(E) -> E2) -> Cause<E2> {
        self.map_with(&mut f)
    }

    fn map_with<E2>(self, f: &mut impl FnMut(E) -> E2) -> Cause<E2> {
        match self {
            Cause::Fail(e) => Cause::Fail(f(e)),
            Cause::Die(d) => Cause::Die(d),
            Cause::Interrupt(by) => Cause::Interrupt(by),
            Cause::Then(a, b) => {
                let a = a.map_with(f);
                Cause::Then(Box::new(a), Box::new(b.map_with(f)))
            }
            Cause::Both(a, b) => {
                let a = a.map_with(f);
                Cause::Both(Box::new(a), Box::new(b.map_with(f)))
            }
        }
    }

    /// The defects of the cause alone, keeping their order (`None` without any): what a
    /// region keeps of a member it interrupted, whose own failure no longer matters but whose
    /// cleanup failing must not be lost.
    pub(crate) fn into_defects(self) -> Option<Cause<Never>> {
        match self {
            Cause::Fail(_) | Cause::Interrupt(_) => None,
            Cause::Die(d) => Some(Cause::Die(d)),
            Cause::Then(a, b) => match (a.into_defects(), b.into_defects()) {
                (Some(a), Some(b)) => Some(a.then(b)),
                (a, b) => a.or(b),
            },
            Cause::Both(a, b) => match (a.into_defects(), b.into_defects()) {
                (Some(a), Some(b)) => Some(a.both(b)),
                (a, b) => a.or(b),
            },
        }
    }

    /// Splits the cause for typed recovery: `Ok(first failure)` when it contains a typed
    /// failure (the rest of the cause is dropped, as a handler now owns the outcome), or
    /// `Err(cause)` when it holds only defects and interruptions, which no typed handler may
    /// recover.
    ///
    /// ```
    /// use effect::Cause;
    ///
    /// let recoverable = Cause::die("cleanup").then(Cause::fail("timeout"));
    /// assert_eq!(recoverable.failure_or_cause(), Ok("timeout"));
    /// let defect_only: Cause<&str> = Cause::die("bug");
    /// assert!(defect_only.failure_or_cause().unwrap_err().is_die());
    /// ```
    pub fn failure_or_cause(self) -> Result<E, Cause<Never>> {
        match self {
            Cause::Fail(e) => Ok(e),
            Cause::Die(d) => Err(Cause::Die(d)),
            Cause::Interrupt(by) => Err(Cause::Interrupt(by)),
            Cause::Then(a, b) => match (a.failure_or_cause(), b.failure_or_cause()) {
                (Ok(e), _) | (_, Ok(e)) => Ok(e),
                (Err(a), Err(b)) => Err(a.then(b)),
            },
            Cause::Both(a, b) => match (a.failure_or_cause(), b.failure_or_cause()) {
                (Ok(e), _) | (_, Ok(e)) => Ok(e),
                (Err(a), Err(b)) => Err(a.both(b)),
            },
        }
    }

    /// Takes the first typed failure out of the cause, with a function that puts an error
    /// back in its place (so an unhandled failure can propagate with its cause unchanged).
    #[doc(hidden)]
    #[allow(clippy::type_complexity)]
    pub fn split_first_failure(self) -> Result<(E, Box<dyn FnOnce(E) -> Cause<E> + Send>), Cause<E>>
    where
        E: Send + 'static,
    {
        match self {
            Cause::Fail(e) => Ok((e, Box::new(Cause::Fail))),
            Cause::Die(_) | Cause::Interrupt(_) => Err(self),
            Cause::Then(a, b) => Self::split_pair(*a, *b, Cause::Then),
            Cause::Both(a, b) => Self::split_pair(*a, *b, Cause::Both),
        }
    }

    #[allow(clippy::type_complexity)]
    fn split_pair(
        a: Cause<E>,
        b: Cause<E>,
        join: fn(Box<Cause<E>>, Box<Cause<E>>) -> Cause<E>,
    ) -> Result<(E, Box<dyn FnOnce(E) -> Cause<E> + Send>), Cause<E>>
    where
        E: Send + 'static,
    {
        match a.split_first_failure() {
            Ok((e, rebuild)) => Ok((
                e,
                Box::new(move |e| join(Box::new(rebuild(e)), Box::new(b))),
            )),
            Err(a) => match b.split_first_failure() {
                Ok((e, rebuild)) => Ok((
                    e,
                    Box::new(move |e| join(Box::new(a), Box::new(rebuild(e)))),
                )),
                Err(b) => Err(join(Box::new(a), Box::new(b))),
            },
        }
    }

    fn visit<'a>(&'a self, f: &mut impl FnMut(&'a Cause<E>)) {
        match self {
            Cause::Then(a, b) | Cause::Both(a, b) => {
                a.visit(f);
                b.visit(f);
            }
            leaf => f(leaf),
        }
    }

    fn any_leaf(&self, pred: &impl Fn(&Cause<E>) -> bool) -> bool {
        match self {
            Cause::Then(a, b) | Cause::Both(a, b) => a.any_leaf(pred) || b.any_leaf(pred),
            leaf => pred(leaf),
        }
    }
}

impl Cause<Never> {
    /// Widens a cause that holds no typed failure to any error type.
    ///
    /// ```
    /// use effect::{Cause, Never};
    ///
    /// let finalizer_cause: Cause<Never> = Cause::die("release panicked");
    /// let widened: Cause<String> = finalizer_cause.widen();
    /// assert!(widened.is_die());
    /// ```
    pub fn widen<E>(self) -> Cause<E> {
        self.map(|never| match never {})
    }
}
