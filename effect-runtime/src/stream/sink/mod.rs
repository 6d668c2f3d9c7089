//! [`Sink`]: what a stream is run *into*. A sink consumes a stream's values chunk by chunk
//! and gives a result; it may finish before the stream ends and say which values it did not
//! consume.
//!
//! The consumers behind every sink: a started sink is a [`Progress`], whose running side is
//! a [`Consumer`] stepped one chunk at a time. Invariant (relied on by `contramap`, `zip` and
//! `race`): a sink's leftovers are always a suffix of the last chunk it was given, in order.

mod aggregate;
mod combinators;

use std::ops::{Add, ControlFlow};

use crate::kernel::cause::Never;
use crate::kernel::effect::{fail_cause, succeed, Effect, Repr};

/// What a stream is run into: it consumes `In`s, chunk by chunk, and gives an `Out`, or fails
/// with an `E`; it may finish before the stream ends, and say which values it did not consume.
///
/// # Model
///
/// Like a [`Stream`](super::Stream) or an [`Effect`], a sink is a lazy, single-use
/// description: building one runs nothing, and [`Stream::run`](super::Stream::run) (or
/// [`run_with_leftovers`](super::Stream::run_with_leftovers)) consumes it. A run *starts* the
/// sink, then feeds it each chunk the stream emits (empty chunks are skipped), one at a time:
/// the stream is pulled again only once the sink has taken the previous chunk, so a sink
/// reads ahead nothing beyond the chunk it is consuming.
///
/// A started sink either wants more input, or is done with its result and its *leftovers*,
/// the values of the last chunk it did not consume. Every run ends one way or another:
///
/// - **End of input**: the sink is told, and gives its result (its leftovers are none).
/// - **Early stop**: the sink is done before the stream ends (`head`, `collect_n`, a `fold`
///   whose predicate says stop, ...). The stream is not pulled again: its scope closes at
///   once, releasing what it acquired and awaiting the fibers it started, before the run
///   gives the sink's result. A sink done before any input (`collect_n(0)`) does not even
///   open the stream.
/// - **Failure or defect**, of the stream or of the sink (its effect fails, its function
///   panics): the run fails with that cause, after the stream's scope has closed. What the
///   sink had gathered is dropped.
/// - **Interruption** of the run: the pull or the sink's effect in progress is interrupted,
///   and the stream's scope closes, as on a failure.
///
/// A value handed to a sink's function is consumed, even when the function's answer is that
/// the sink is done; the leftovers are the values after it, always the end of the chunk, in
/// order. The rest of the stream is never pulled.
///
/// ```
/// use effect::{run_blocking, stream::{Sink, Stream}};
///
/// // The first three values, and the rest of their chunk left over.
/// let run = Stream::<u32, String>::from_chunks([vec![1, 2, 3, 4, 5]]).run_with_leftovers(Sink::collect_n(3));
/// assert_eq!(run_blocking(run), Ok((vec![1, 2, 3], vec![4, 5])));
/// ```
#[must_use = "a sink does nothing until a stream is run into it"]
pub struct Sink<In, Out, E = Never> {
    start: Box<dyn FnOnce() -> Progress<In, Out, E> + Send>,
}

/// A started sink: wanting more input, or done.
pub(crate) enum Progress<In, Out, E> {
    /// Wants the next chunk (or to be told the input has ended).
    More(Running<In, Out, E>),
    /// Done: the result, and the values of the last chunk it did not consume (a suffix of
    /// that chunk; none when it finished before any input).
    Done(Out, Vec<In>),
}

/// A started sink that wants more input.
pub(crate) type Running<In, Out, E> = Box<dyn Consumer<In, Out, E>>;

/// A sink that wants more input. Each step consumes the consumer and gives back what follows,
/// so a consumer's state moves through its steps without being shared or cloned.
pub(crate) trait Consumer<In, Out, E>: Send {
    /// Takes `chunk` (never empty): the sink as it is after it.
    fn push(self: Box<Self>, chunk: Vec<In>) -> Effect<Progress<In, Out, E>, E>;

    /// The input has ended: the sink's result.
    fn end(self: Box<Self>) -> Effect<Out, E>;
}

impl<In, Out, E> std::fmt::Debug for Sink<In, Out, E> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Sink")
    }
}

impl<In: Send + 'static, Out: Send + 'static, E: Send + 'static> Sink<In, Out, E> {
    /// A sink from how to start it; `start` runs when a run begins, not before.
    pub(crate) fn from_start(
        start: impl FnOnce() -> Progress<In, Out, E> + Send + 'static,
    ) -> Self {
        Sink {
            start: Box::new(start),
        }
    }

    /// Starts the sink.
    pub(crate) fn start(self) -> Progress<In, Out, E> {
        (self.start)()
    }

    /// A sink whose every step is pure: `step` takes the state and a chunk, and goes on with
    /// the next state, or breaks with the result and the values of the chunk it left. At the
    /// end of input the result is the state.
    fn chunked<F>(init: Out, step: F) -> Self
    where
        F: FnMut(Out, Vec<In>) -> ControlFlow<(Out, Vec<In>), Out> + Send + 'static,
    {
        Sink::from_start(move || Chunked::start(init, step))
    }

    /// Folds the values into `init` with `f` while `cont` holds for the state: `cont` is
    /// asked before the first value (a sink whose `init` fails it is done at once, and the
    /// stream is not opened) and after each value. As ZIO's `ZSink.fold`.
    ///
    /// Reads ahead nothing beyond the current chunk. Early stop: once `cont` says `false`,
    /// with the state as it is; the value that made it so is consumed, the rest of its chunk
    /// is left over. End: the state. A panic in `f` or `cont` is a defect of the run. The
    /// per-value cost is a call of each in a plain loop over the chunk.
    ///
    /// ```
    /// use effect::{run_blocking, stream::{Sink, Stream}};
    ///
    /// // Add values up while the total stays under 10.
    /// let under_ten = Sink::fold(0, |total| *total < 10, |total, n| total + n);
    /// let run = Stream::<u32, String>::from_chunks([vec![4, 5, 6, 7]]).run_with_leftovers(under_ten);
    /// assert_eq!(run_blocking(run), Ok((15, vec![7])));
    /// ```
    pub fn fold<C, F>(init: Out, mut cont: C, mut f: F) -> Self
    where
        C: FnMut(&Out) -> bool + Send + 'static,
        F: FnMut(Out, In) -> Out + Send + 'static,
    {
        Sink::from_start(move || {
            if !cont(&init) {
                return Progress::Done(init, Vec::new());
            }
            Chunked::start(init, move |mut state, chunk: Vec<In>| {
                let mut values = chunk.into_iter();
                for value in values.by_ref() {
                    state = f(state, value);
                    if !cont(&state) {
                        return ControlFlow::Break((state, values.collect()));
                    }
                }
                ControlFlow::Continue(state)
            })
        })
    }

    /// Folds the values into `init` with the effects `f` builds, one after another (the next
    /// value waits until the previous effect is done), while `cont` holds for the state
    /// (asked before the first value and after each, as in [`fold`](Sink::fold)).
    ///
    /// Reads ahead nothing beyond the current chunk. Early stop and end: as `fold`. A failure
    /// of an effect fails the run with it; interrupting the run interrupts the effect in
    /// progress.
    ///
    /// ```
    /// use effect::{fail, run_blocking, stream::{Sink, Stream}, succeed};
    ///
    /// let checked_total = Sink::fold_effect(0, |_| true, |total, n: u32| {
    ///     if n > 100 { fail(format!("{n} is out of range")) } else { succeed(total + n) }
    /// });
    /// let run = Stream::from_iter([1, 2, 300]).run(checked_total);
    /// assert_eq!(run_blocking(run).unwrap_err().failure(), Some(&"300 is out of range".to_string()));
    /// ```
    pub fn fold_effect<C, F>(init: Out, mut cont: C, f: F) -> Self
    where
        C: FnMut(&Out) -> bool + Send + 'static,
        F: FnMut(Out, In) -> Effect<Out, E> + Send + 'static,
    {
        Sink::from_start(move || {
            if !cont(&init) {
                return Progress::Done(init, Vec::new());
            }
            Progress::More(Box::new(FoldEffect {
                state: Some(init),
                cont,
                f,
            }))
        })
    }

    /// Folds values into `init` with `f` until their total weight (each value's `cost`)
    /// reaches `max_weight`, never going over it: a value that would take the total over is
    /// left over for the next sink. One exception, so that the sink always makes progress: a
    /// value heavier than `max_weight` on its own, coming first, is folded alone. As ZIO's
    /// `ZSink.foldWeighted`, with the cost read from the value alone.
    ///
    /// Reads ahead nothing beyond the current chunk. Early stop: as soon as the total reaches
    /// `max_weight`, or the next value would take it over (that value is left over, with the
    /// rest of its chunk). End: the state. A panic in `cost` or `f` is a defect of the run.
    ///
    /// ```
    /// use effect::{run_blocking, stream::{Sink, Stream}};
    ///
    /// // Words into a line of at most 10 bytes.
    /// let line = Sink::fold_weighted(String::new(), 10, |word: &&str| word.len() as u64, |line, word| line + word);
    /// let run = Stream::<_, String>::from_chunks([vec!["tiny", "words", "fill", "lines"]]).run_with_leftovers(line);
    /// assert_eq!(run_blocking(run), Ok(("tinywords".to_string(), vec!["fill", "lines"])));
    /// ```
    pub fn fold_weighted<W, F>(init: Out, max_weight: u64, mut cost: W, mut f: F) -> Self
    where
        W: FnMut(&In) -> u64 + Send + 'static,
        F: FnMut(Out, In) -> Out + Send + 'static,
    {
        let (mut total, mut taken) = (0u64, false);
        Sink::chunked(init, move |mut state, chunk| {
            let mut values = chunk.into_iter();
            while let Some(value) = values.next() {
                let weight = total.saturating_add(cost(&value));
                if taken && weight > max_weight {
                    // Too heavy to fit: left over, in front of the rest of the chunk.
                    let mut left = Vec::with_capacity(values.len() + 1);
                    left.push(value);
                    left.extend(values);
                    return ControlFlow::Break((state, left));
                }
                state = f(state, value);
                (total, taken) = (weight, true);
                if total >= max_weight {
                    return ControlFlow::Break((state, values.collect()));
                }
            }
            ControlFlow::Continue(state)
        })
    }
}

impl<In: Send + 'static, E: Send + 'static> Sink<In, Vec<In>, E> {
    /// All the values, in order.
    ///
    /// Reads the whole stream; never stops early. End: the values. A chunk is appended whole.
    ///
    /// ```
    /// use effect::{run_blocking, stream::{Sink, Stream}};
    ///
    /// let run = Stream::<char, String>::from_iter("abc".chars()).run(Sink::collect());
    /// assert_eq!(run_blocking(run), Ok(vec!['a', 'b', 'c']));
    /// ```
    pub fn collect() -> Self {
        Sink::chunked(Vec::new(), |mut all, mut chunk| {
            if all.is_empty() {
                // The first chunk is kept as it is: no copy.
                return ControlFlow::Continue(chunk);
            }
            all.append(&mut chunk);
            ControlFlow::Continue(all)
        })
    }

    /// The first `n` values, in order (all of them if the stream has fewer).
    ///
    /// Reads ahead nothing beyond the chunk holding the `n`-th value. Early stop: once it
    /// holds `n` values; the rest of that chunk is left over. With `n == 0` it is done at
    /// once and the stream is not opened. End: the values it holds.
    ///
    /// ```
    /// use effect::{run_blocking, stream::{Sink, Stream}};
    ///
    /// let run = Stream::<u32, String>::from_iter(1..).run(Sink::collect_n(3));
    /// assert_eq!(run_blocking(run), Ok(vec![1, 2, 3]));
    /// ```
    pub fn collect_n(n: usize) -> Self {
        Sink::from_start(move || {
            if n == 0 {
                return Progress::Done(Vec::new(), Vec::new());
            }
            Chunked::start(Vec::new(), move |mut taken: Vec<In>, mut chunk: Vec<In>| {
                let wanted = n - taken.len();
                let left = chunk.split_off(wanted.min(chunk.len()));
                if taken.is_empty() {
                    // The first chunk is kept as it is: no copy.
                    taken = chunk;
                } else {
                    taken.append(&mut chunk);
                }
                if taken.len() < n {
                    return ControlFlow::Continue(taken);
                }
                ControlFlow::Break((taken, left))
            })
        })
    }
}

impl<In: Send + 'static, E: Send + 'static> Sink<In, (), E> {
    /// Runs the effect `f` builds for each value, one after another (the next value waits
    /// until the previous effect is done).
    ///
    /// Reads ahead nothing beyond the current chunk; never stops early. A failure of an
    /// effect fails the run with it; interrupting the run interrupts the effect in progress.
    ///
    /// ```
    /// use std::sync::{Arc, Mutex};
    /// use effect::{run_blocking, stream::{Sink, Stream}, sync};
    ///
    /// let seen = Arc::new(Mutex::new(Vec::new()));
    /// let record = seen.clone();
    /// let print = Sink::for_each(move |n: u32| {
    ///     let record = record.clone();
    ///     sync(move || record.lock().unwrap().push(n))
    /// });
    /// assert_eq!(run_blocking(Stream::<u32, String>::from_iter(1..=3).run(print)), Ok(()));
    /// assert_eq!(*seen.lock().unwrap(), [1, 2, 3]);
    /// ```
    pub fn for_each<F>(mut f: F) -> Self
    where
        F: FnMut(In) -> Effect<(), E> + Send + 'static,
    {
        Sink::fold_effect((), |()| true, move |(), value| f(value))
    }

    /// Runs the effect `f` builds for each value, one after another, until one says `false`.
    ///
    /// Reads ahead nothing beyond the current chunk. Early stop: once an effect says `false`;
    /// that value is consumed, the rest of its chunk is left over. Failure and interruption:
    /// as [`for_each`](Sink::for_each).
    ///
    /// ```
    /// use effect::{run_blocking, stream::{Sink, Stream}, succeed};
    ///
    /// let until_zero = Sink::for_each_while(|n: u32| succeed(n != 0));
    /// let run = Stream::<u32, String>::from_chunks([vec![3, 0, 5]]).run_with_leftovers(until_zero);
    /// assert_eq!(run_blocking(run), Ok(((), vec![5])));
    /// ```
    pub fn for_each_while<F>(mut f: F) -> Self
    where
        F: FnMut(In) -> Effect<bool, E> + Send + 'static,
    {
        Sink::fold_effect(true, |go| *go, move |_, value| f(value)).map(|_| ())
    }

    /// Consumes every value, discarding it: the stream runs to its end for its effects.
    ///
    /// Reads the whole stream; never stops early.
    ///
    /// ```
    /// use effect::{run_blocking, stream::{Sink, Stream}};
    ///
    /// assert_eq!(run_blocking(Stream::<u8, String>::from_iter(0..10).run(Sink::drain())), Ok(()));
    /// ```
    pub fn drain() -> Self {
        Sink::chunked((), |(), _| ControlFlow::Continue(()))
    }
}

impl<In: Send + 'static, E: Send + 'static> Sink<In, u64, E> {
    /// How many values there are.
    ///
    /// Reads the whole stream; never stops early. Costs nothing per value: a chunk is counted
    /// by its length.
    ///
    /// ```
    /// use effect::{run_blocking, stream::{Sink, Stream}};
    ///
    /// assert_eq!(run_blocking(Stream::<u32, String>::from_iter(1..=3).run(Sink::count())), Ok(3));
    /// ```
    pub fn count() -> Self {
        Sink::chunked(0, |count, chunk| {
            ControlFlow::Continue(count + chunk.len() as u64)
        })
    }
}

impl<In, E> Sink<In, In, E>
where
    In: Add<Output = In> + Default + Send + 'static,
    E: Send + 'static,
{
    /// The sum of the values (`In::default()` for none). An overflow behaves as `+` does: it
    /// panics in a debug build (a defect of the run).
    ///
    /// Reads the whole stream; never stops early.
    ///
    /// ```
    /// use effect::{run_blocking, stream::{Sink, Stream}};
    ///
    /// assert_eq!(run_blocking(Stream::<u64, String>::from_iter(1..=100).run(Sink::sum())), Ok(5050));
    /// ```
    pub fn sum() -> Self {
        Sink::fold(In::default(), |_| true, |total, value| total + value)
    }
}

impl<In: Send + 'static, E: Send + 'static> Sink<In, Option<In>, E> {
    /// The first value, if any.
    ///
    /// Reads ahead nothing beyond the first chunk. Early stop: at the first value; the rest
    /// of its chunk is left over, and the stream is not pulled again (its resources are
    /// released at once). End (an empty stream): `None`.
    ///
    /// ```
    /// use effect::{run_blocking, stream::{Sink, Stream}};
    ///
    /// assert_eq!(run_blocking(Stream::<u32, String>::from_iter(7..).run(Sink::head())), Ok(Some(7)));
    /// assert_eq!(run_blocking(Stream::<u32, String>::empty().run(Sink::head())), Ok(None));
    /// ```
    pub fn head() -> Self {
        Sink::chunked(None, |_, chunk| {
            let mut values = chunk.into_iter();
            let first = values.next();
            ControlFlow::Break((first, values.collect()))
        })
    }

    /// The last value, if any.
    ///
    /// Reads the whole stream; never stops early. End: the last value (`None` for an empty
    /// stream). Costs nothing per value: each chunk gives its last one.
    ///
    /// ```
    /// use effect::{run_blocking, stream::{Sink, Stream}};
    ///
    /// assert_eq!(run_blocking(Stream::<u32, String>::from_iter(1..=3).run(Sink::last())), Ok(Some(3)));
    /// ```
    pub fn last() -> Self {
        Sink::chunked(None, |last, mut chunk| {
            ControlFlow::Continue(chunk.pop().or(last))
        })
    }
}

/// The consumer of [`Sink::chunked`].
struct Chunked<S, F> {
    /// Always there between steps: a step that panics ends the run (a defect), and the
    /// consumer with it.
    state: Option<S>,
    step: F,
}

impl<S: Send + 'static, F: Send + 'static> Chunked<S, F> {
    /// The consumer started with `init`.
    fn start<In, E>(init: S, step: F) -> Progress<In, S, E>
    where
        In: Send + 'static,
        E: Send + 'static,
        F: FnMut(S, Vec<In>) -> ControlFlow<(S, Vec<In>), S>,
    {
        Progress::More(Box::new(Chunked {
            state: Some(init),
            step,
        }))
    }
}

impl<In, S, E, F> Consumer<In, S, E> for Chunked<S, F>
where
    In: Send + 'static,
    S: Send + 'static,
    E: Send + 'static,
    F: FnMut(S, Vec<In>) -> ControlFlow<(S, Vec<In>), S> + Send + 'static,
{
    fn push(mut self: Box<Self>, chunk: Vec<In>) -> Effect<Progress<In, S, E>, E> {
        let state = self
            .state
            .take()
            .expect("a sink's state is there between chunks");
        succeed(match (self.step)(state, chunk) {
            ControlFlow::Continue(state) => {
                self.state = Some(state);
                Progress::More(self)
            }
            ControlFlow::Break((out, left)) => Progress::Done(out, left),
        })
    }

    fn end(mut self: Box<Self>) -> Effect<S, E> {
        succeed(
            self.state
                .take()
                .expect("a sink's state is there between chunks"),
        )
    }
}

/// The consumer of [`Sink::fold_effect`].
struct FoldEffect<S, C, F> {
    /// Always there between steps (see [`Chunked`]).
    state: Option<S>,
    cont: C,
    f: F,
}

impl<In, S, E, C, F> Consumer<In, S, E> for FoldEffect<S, C, F>
where
    In: Send + 'static,
    S: Send + 'static,
    E: Send + 'static,
    C: FnMut(&S) -> bool + Send + 'static,
    F: FnMut(S, In) -> Effect<S, E> + Send + 'static,
{
    fn push(mut self: Box<Self>, chunk: Vec<In>) -> Effect<Progress<In, S, E>, E> {
        Effect::from_future(async move {
            let mut state = self
                .state
                .take()
                .expect("a sink's state is there between chunks");
            let mut values = chunk.into_iter();
            while let Some(value) = values.next() {
                state = (self.f)(state, value).await?;
                if !(self.cont)(&state) {
                    return Ok(Progress::Done(state, values.collect()));
                }
            }
            self.state = Some(state);
            Ok(Progress::More(self))
        })
    }

    fn end(mut self: Box<Self>) -> Effect<S, E> {
        succeed(
            self.state
                .take()
                .expect("a sink's state is there between chunks"),
        )
    }
}

/// `effect.flat_map(f)`, with `f` applied at once when `effect` is already a value: a pure
/// sink's step is one, so the combinators of pure sinks cost no effect frame per chunk.
fn and_then<A, B, E, F>(effect: Effect<A, E>, f: F) -> Effect<B, E>
where
    A: Send + 'static,
    B: Send + 'static,
    E: Send + 'static,
    F: FnOnce(A) -> Effect<B, E> + Send + 'static,
{
    match effect.repr {
        Repr::Succeed(value) => f(value),
        Repr::Fail(cause) => fail_cause(cause),
        repr => Effect { repr }.flat_map(f),
    }
}

/// `effect.map(f)`, applied at once when `effect` is already a value (see [`and_then`]).
fn then<A, B, E, F>(effect: Effect<A, E>, f: F) -> Effect<B, E>
where
    A: Send + 'static,
    B: Send + 'static,
    E: Send + 'static,
    F: FnOnce(A) -> B + Send + 'static,
{
    and_then(effect, move |value| succeed(f(value)))
}
