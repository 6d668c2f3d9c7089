//! Sinks made of sinks: `map`, `contramap`, `zip` and `race`.
//!
//! Each wraps the consumers of the sinks it is made of and steps them with the chunks it is
//! given. Wrapping pure sinks stays pure: a step of the inner sink that is already a value is
//! combined at once (see [`and_then`]), so no effect frame is built per chunk.

use super::{and_then, then, Consumer, Progress, Running, Sink};
use crate::kernel::effect::{succeed, Effect};

impl<In: Send + 'static, Out: Send + 'static, E: Send + 'static> Sink<In, Out, E> {
    /// This sink, with its result transformed by `f` (run once, when the sink is done).
    ///
    /// Reads ahead, stops and fails as this sink does; the leftovers are this sink's. A panic
    /// in `f` is a defect of the run.
    ///
    /// ```
    /// use effect::{run_blocking, stream::{Sink, Stream}};
    ///
    /// let mean = Sink::collect().map(|all: Vec<f64>| all.iter().sum::<f64>() / all.len() as f64);
    /// assert_eq!(run_blocking(Stream::<f64, String>::from_iter([1.0, 2.0, 6.0]).run(mean)), Ok(3.0));
    /// ```
    pub fn map<Out2, F>(self, f: F) -> Sink<In, Out2, E>
    where
        Out2: Send + 'static,
        F: FnOnce(Out) -> Out2 + Send + 'static,
    {
        Sink::from_start(move || match self.start() {
            Progress::Done(out, left) => Progress::Done(f(out), left),
            Progress::More(inner) => Progress::More(Box::new(Mapped {
                inner: Some(inner),
                f: Some(f),
            })),
        })
    }

    /// This sink, fed with the values of another type, each mapped by `f` first: a sink of
    /// `In2`s.
    ///
    /// `f` reads each value by reference, so the values this sink leaves over are given back
    /// as they came, `In2`s. `f` is applied to a whole chunk before this sink takes it: it
    /// may see values that this sink then leaves over. Reads ahead, stops and fails as this
    /// sink does; a panic in `f` is a defect of the run.
    ///
    /// ```
    /// use effect::{run_blocking, stream::{Sink, Stream}};
    ///
    /// let total_length = Sink::sum().contramap(|word: &&str| word.len());
    /// let words = Stream::<&str, String>::from_iter(["three", "words", "here"]);
    /// assert_eq!(run_blocking(words.run(total_length)), Ok(14));
    /// ```
    pub fn contramap<In2, F>(self, f: F) -> Sink<In2, Out, E>
    where
        In2: Send + 'static,
        F: FnMut(&In2) -> In + Send + 'static,
    {
        Sink::from_start(move || match self.start() {
            // Done before any input: it left nothing of a chunk it never had.
            Progress::Done(out, _) => Progress::Done(out, Vec::new()),
            Progress::More(inner) => Progress::More(Box::new(Contramapped {
                inner: Some(inner),
                f,
            })),
        })
    }

    /// Both sinks, side by side: each sees every value, until it is done. Done when both are;
    /// the result is both results. Each chunk is given to this sink first, then to `other`
    /// (cloned while both still take values).
    ///
    /// Reads ahead nothing beyond the chunk the later of the two finishes in. Leftovers: the
    /// values neither consumed, that is the shorter of the two sinks' leftovers when both
    /// finish in the same chunk, otherwise the leftovers of the one that finished last.
    /// A failure or a defect of either fails the run; on interruption, the step in progress
    /// is interrupted.
    ///
    /// ```
    /// use effect::{run_blocking, stream::{Sink, Stream}};
    ///
    /// let stats = Sink::count().zip(Sink::sum());
    /// let run = Stream::<u64, String>::from_iter([3, 4, 5]).run(stats);
    /// assert_eq!(run_blocking(run), Ok((3, 12)));
    /// ```
    pub fn zip<Out2>(self, other: Sink<In, Out2, E>) -> Sink<In, (Out, Out2), E>
    where
        In: Clone,
        Out2: Send + 'static,
    {
        Sink::from_start(move || {
            let left = Side::from(self.start());
            let right = Side::from(other.start());
            match (left, right) {
                (Side::Done(a), Side::Done(b)) => Progress::Done((a, b), Vec::new()),
                sides => Progress::More(Box::new(Zip { sides: Some(sides) })),
            }
        })
    }

    /// Both sinks, racing: each sees every value, and the first to finish gives the result,
    /// the other is dropped unfinished. "First" is in the stream's order: of two sinks that
    /// finish in the same chunk, the one that consumed fewer of its values wins (it has more
    /// leftovers); on a tie, or when the input ends before either is done, this sink wins.
    /// The result type is shared; to tell which sink won, [`map`](Sink::map) each first
    /// (into an enum of your own, or `Result`).
    ///
    /// Each chunk is given to this sink, then (cloned) to `other`, so both have run their
    /// effects on the values of the chunk the race is decided in. Reads ahead nothing beyond
    /// that chunk. Leftovers: the winner's. A failure or a defect of either fails the run
    /// (the race is for the first *result*, not the first success); on interruption, the
    /// step in progress is interrupted.
    ///
    /// ```
    /// use effect::{run_blocking, stream::{Sink, Stream}};
    ///
    /// // Up to 3 values, or up to the first zero, whichever comes first.
    /// let batch = Sink::collect_n(3).map(Ok).race(
    ///     Sink::fold(Vec::new(), |seen: &Vec<u32>| seen.last() != Some(&0), |mut seen, n| { seen.push(n); seen }).map(Err),
    /// );
    /// let run = Stream::<u32, String>::from_iter([7, 0, 8, 9]).run(batch);
    /// assert_eq!(run_blocking(run), Ok(Err(vec![7, 0])));
    /// ```
    pub fn race(self, other: Sink<In, Out, E>) -> Sink<In, Out, E>
    where
        In: Clone,
    {
        Sink::from_start(move || {
            // Done before any input, a sink has won before the other starts.
            let left = match self.start() {
                Progress::More(left) => left,
                done => return done,
            };
            match other.start() {
                Progress::More(right) => Progress::More(Box::new(Race {
                    sides: Some((left, right)),
                })),
                done => done,
            }
        })
    }
}

/// The consumer of [`Sink::map`].
struct Mapped<In, Out, E, F> {
    /// Always there between steps (taken for a step, put back after it).
    inner: Option<Running<In, Out, E>>,
    /// Until it has been applied.
    f: Option<F>,
}

impl<In, Out, Out2, E, F> Consumer<In, Out2, E> for Mapped<In, Out, E, F>
where
    In: Send + 'static,
    Out: Send + 'static,
    Out2: Send + 'static,
    E: Send + 'static,
    F: FnOnce(Out) -> Out2 + Send + 'static,
{
    fn push(mut self: Box<Self>, chunk: Vec<In>) -> Effect<Progress<In, Out2, E>, E> {
        let inner = self
            .inner
            .take()
            .expect("a mapped sink holds its sink between chunks");
        then(inner.push(chunk), move |progress| match progress {
            Progress::More(inner) => {
                self.inner = Some(inner);
                Progress::More(self)
            }
            Progress::Done(out, left) => Progress::Done(self.apply(out), left),
        })
    }

    fn end(mut self: Box<Self>) -> Effect<Out2, E> {
        let inner = self
            .inner
            .take()
            .expect("a mapped sink holds its sink between chunks");
        then(inner.end(), move |out| self.apply(out))
    }
}

impl<In, Out, E, F> Mapped<In, Out, E, F> {
    fn apply<Out2>(&mut self, out: Out) -> Out2
    where
        F: FnOnce(Out) -> Out2,
    {
        (self.f.take().expect("a sink is done once"))(out)
    }
}

/// The consumer of [`Sink::contramap`].
struct Contramapped<In, Out, E, F> {
    /// Always there between steps (taken for a step, put back after it).
    inner: Option<Running<In, Out, E>>,
    f: F,
}

impl<In, In2, Out, E, F> Consumer<In2, Out, E> for Contramapped<In, Out, E, F>
where
    In: Send + 'static,
    In2: Send + 'static,
    Out: Send + 'static,
    E: Send + 'static,
    F: FnMut(&In2) -> In + Send + 'static,
{
    fn push(mut self: Box<Self>, mut chunk: Vec<In2>) -> Effect<Progress<In2, Out, E>, E> {
        let inner = self
            .inner
            .take()
            .expect("a contramapped sink holds its sink between chunks");
        let mapped: Vec<In> = chunk.iter().map(&mut self.f).collect();
        then(inner.push(mapped), move |progress| match progress {
            Progress::More(inner) => {
                self.inner = Some(inner);
                Progress::More(self)
            }
            // The inner sink's leftovers are a suffix of the chunk it was given (see the
            // module's invariant): the same suffix of the values as they came.
            Progress::Done(out, left) => {
                debug_assert!(
                    left.len() <= chunk.len(),
                    "leftovers are a suffix of the chunk"
                );
                let consumed = chunk.len() - left.len();
                Progress::Done(out, chunk.split_off(consumed))
            }
        })
    }

    fn end(mut self: Box<Self>) -> Effect<Out, E> {
        let inner = self
            .inner
            .take()
            .expect("a contramapped sink holds its sink between chunks");
        inner.end()
    }
}

/// One sink of a [`zip`](Sink::zip): still taking values, or done with its result.
enum Side<In, Out, E> {
    Running(Running<In, Out, E>),
    Done(Out),
}

/// A side after a chunk, and, if the sink finished with that chunk, the values of it it left.
type Fed<In, Out, E> = (Side<In, Out, E>, Option<Vec<In>>);

impl<In, Out, E> From<Progress<In, Out, E>> for Side<In, Out, E> {
    fn from(progress: Progress<In, Out, E>) -> Self {
        match progress {
            Progress::More(consumer) => Side::Running(consumer),
            Progress::Done(out, _) => Side::Done(out),
        }
    }
}

impl<In: Send + 'static, Out: Send + 'static, E: Send + 'static> Side<In, Out, E> {
    /// Gives `chunk` to the sink if it is still running (a side done before it takes none of
    /// it, and is given none).
    fn feed(self, chunk: Vec<In>) -> Effect<Fed<In, Out, E>, E> {
        match self {
            Side::Running(consumer) => then(consumer.push(chunk), |progress| match progress {
                Progress::More(consumer) => (Side::Running(consumer), None),
                Progress::Done(out, left) => (Side::Done(out), Some(left)),
            }),
            done @ Side::Done(_) => succeed((done, None)),
        }
    }

    fn end(self) -> Effect<Out, E> {
        match self {
            Side::Running(consumer) => consumer.end(),
            Side::Done(out) => succeed(out),
        }
    }
}

/// The two sides of a zip.
type Sides<In, L, R, E> = (Side<In, L, E>, Side<In, R, E>);

/// The consumer of [`Sink::zip`]: at least one side is running between steps.
struct Zip<In, L, R, E> {
    /// Always there between steps (taken for a step, put back after it).
    sides: Option<Sides<In, L, R, E>>,
}

impl<In, L, R, E> Consumer<In, (L, R), E> for Zip<In, L, R, E>
where
    In: Clone + Send + 'static,
    L: Send + 'static,
    R: Send + 'static,
    E: Send + 'static,
{
    fn push(mut self: Box<Self>, chunk: Vec<In>) -> Effect<Progress<In, (L, R), E>, E> {
        let (left, right) = self
            .sides
            .take()
            .expect("a zip holds its sinks between chunks");
        // Each running side gets the chunk; it is cloned only while both are running.
        let (for_left, for_right) = match (&left, &right) {
            (Side::Running(_), Side::Running(_)) => (chunk.clone(), chunk),
            (Side::Running(_), Side::Done(_)) => (chunk, Vec::new()),
            (Side::Done(_), _) => (Vec::new(), chunk),
        };
        and_then(left.feed(for_left), move |(left, left_rest)| {
            then(right.feed(for_right), move |(right, right_rest)| {
                match (left, right) {
                    (Side::Done(a), Side::Done(b)) => {
                        Progress::Done((a, b), neither_consumed(left_rest, right_rest))
                    }
                    sides => {
                        self.sides = Some(sides);
                        Progress::More(self)
                    }
                }
            })
        })
    }

    fn end(mut self: Box<Self>) -> Effect<(L, R), E> {
        let (left, right) = self
            .sides
            .take()
            .expect("a zip holds its sinks between chunks");
        left.end().zip(right.end())
    }
}

/// The values of a chunk neither side of a zip consumed, both being done after it: a side
/// that finished before this chunk (`None`) consumed none of it.
fn neither_consumed<In>(left: Option<Vec<In>>, right: Option<Vec<In>>) -> Vec<In> {
    match (left, right) {
        (Some(left), Some(right)) if right.len() < left.len() => right,
        (Some(left), _) => left,
        (None, Some(right)) => right,
        // A zip steps only while a side is running, and that side finished with this chunk.
        (None, None) => unreachable!("a zip is done only once a side finishes"),
    }
}

/// The two sinks of a race.
type Racers<In, Out, E> = (Running<In, Out, E>, Running<In, Out, E>);

/// The consumer of [`Sink::race`]: both sides are running between steps.
struct Race<In, Out, E> {
    /// Always there between steps (taken for a step, put back after it).
    sides: Option<Racers<In, Out, E>>,
}

impl<In, Out, E> Consumer<In, Out, E> for Race<In, Out, E>
where
    In: Clone + Send + 'static,
    Out: Send + 'static,
    E: Send + 'static,
{
    fn push(mut self: Box<Self>, chunk: Vec<In>) -> Effect<Progress<In, Out, E>, E> {
        let (left, right) = self
            .sides
            .take()
            .expect("a race holds its sinks between chunks");
        let copy = chunk.clone();
        and_then(left.push(copy), move |left| {
            then(right.push(chunk), move |right| match (left, right) {
                (Progress::More(left), Progress::More(right)) => {
                    self.sides = Some((left, right));
                    Progress::More(self)
                }
                // Both done: the one that stopped earlier in the chunk left more of it.
                (Progress::Done(a, a_left), Progress::Done(b, b_left)) => {
                    if b_left.len() > a_left.len() {
                        Progress::Done(b, b_left)
                    } else {
                        Progress::Done(a, a_left)
                    }
                }
                (done @ Progress::Done(..), Progress::More(_))
                | (Progress::More(_), done @ Progress::Done(..)) => done,
            })
        })
    }

    fn end(mut self: Box<Self>) -> Effect<Out, E> {
        // Neither finished before the end: a tie, which this side wins.
        let (left, _) = self
            .sides
            .take()
            .expect("a race holds its sinks between chunks");
        left.end()
    }
}
