//! [`Stream`]: an effectful, resource-safe, back-pressured sequence of values, run by effects.
//!
//! # Model
//!
//! A `Stream<A, E>` is, like an [`Effect`], a lazy `Send + 'static` description: building
//! one runs nothing. Running it (`run_collect`, `run_for_each`, `run_fold`, ...) is an
//! effect, which opens the stream in a fresh [`Scope`] and *pulls* it chunk by chunk:
//!
//! - **Pull-based, so back-pressured by construction.** Nothing upstream runs until the
//!   consumer asks for the next chunk. Operators that decouple producer and consumer
//!   (`buffer`, `merge`, `map_par`, ...) do so through a bounded queue, so a fast producer
//!   is never more than that bound ahead of a slow consumer.
//! - **Chunked.** Each pull yields a `Vec` of values: `from_iter` emits chunks growing from
//!   1 to [`CHUNK_SIZE`] values, so pure pipelines cost a few nanoseconds per value while a
//!   partly consumed iterator runs little ahead; effectful sources (and `unfold`) emit one
//!   value per pull, so what they have produced and what has been consumed never drift
//!   apart by more than the stages' buffers.
//! - **Resource-safe.** Resources a stream acquires ([`Stream::scoped`],
//!   [`Stream::acquire_release`]) are released when the stream's scope closes: when the run
//!   ends, however it ends (end of input, failure, defect, interruption, or the consumer
//!   taking only what it needs, as `take(3)` does). An inner stream of `flat_map` has a scope
//!   of its own, closed as soon as that inner stream ends.
//! - **Structured.** Fibers a stream starts (for `buffer`, `merge`, `map_par`, timers) are
//!   owned by its scope: they are interrupted, and their finalizers have run, before the
//!   run that started them ends. A run leaves no fiber behind. The consumers of one
//!   `broadcast` or `partition`, which may run anywhere, share the fiber pulling their
//!   source: the last of them to be done interrupts it and waits for it.
//! - **Deterministic time.** Every timed operator sleeps on the context's [`Clock`], so a
//!   `TestClock` makes a timed stream run instantly and reproducibly.
//!
//! ```
//! use effect::{run_blocking, stream::Stream, Effect};
//!
//! let squares: Effect<Vec<u64>, String> = Stream::from_iter(1..=10u64)
//!     .filter(|n| n % 2 == 0)
//!     .map(|n| n * n)
//!     .take(3)
//!     .run_collect();
//! assert_eq!(run_blocking(squares), Ok(vec![4, 16, 36]));
//! ```
//!
//! # How far each operator reads ahead, and what it does on each exit
//!
//! Every stream ends one of five ways: its **end**, a **failure** (or a **defect**, a
//! panic), an **early stop** (the consumer takes what it needs: `take`, `take_while`,
//! `interrupt_when`, `timeout`, a failing consumer) or an **interruption** of the run.
//! Whatever the way, every resource the stream acquired is released exactly once, inner
//! before outer, before the run ends, and no fiber it started outlives it. The operators
//! differ in how far they pull ahead of the consumer and in which exit a release sees:
//!
//! | Operators | Reads ahead | On the exits |
//! |---|---|---|
//! | `map`, `filter`, `filter_map`, `map_err`, `scan`, `take`, `take_while`, `take_until`, `drop`, `drop_while`, `chunks`, `zip_with_index`, `changes`, `map_accum`, `sliding` | the upstream's current chunk | pass the upstream's exit on, after the values already emitted |
//! | `map_effect`, `map_accum_effect`, `tap`, `schedule` | the current chunk; one effect at a time | an effect's failure fails the stream; `schedule`'s sleep is interrupted by an early stop |
//! | `concat`, `flat_map`, `retry` | one part (inner stream, attempt) at a time | each part in a scope of its own, closed as it ends; on any other exit the open part is released first, seeing that exit |
//! | `zip`, `zip_with`, `interleave` | one chunk of each side | when both sides are needed they are pulled together, so a failure of either ends it even if the other never emits |
//! | `catch_all`, `catch_all_cause`, `or_else` | as the stream | the failed stream's resources are released, seeing the failure, before the fallback opens |
//! | `ensuring`, `on_done` | nothing | `ensuring` runs on every exit, `on_done` on the end only |
//! | `buffer(n)`, `map_par(n)`, `map_par_unordered(n)` | `n` values, on fibers of their own | fail-fast: the first failure interrupts the other fibers, whose finalizers run before the stream fails; an early stop or interruption interrupts them (their releases see the interruption) |
//! | `merge`, `merge_all`, `zip_with_latest`, `flat_map_par(n)` | 16 chunks (shared), on a fiber per source | as above; `flat_map_par` runs at most `n` inner streams, each in its own scope |
//! | `group_by_key`, `broadcast`, `partition` | `buffer` values per group or consumer | as above; see each for when the source starts and ends |
//! | `buffer_sliding(n)`, `buffer_dropping(n)` | without bound, holding at most `n` values | the upstream's end or failure is never lost: it comes after the values kept |
//! | `grouped_within`, `debounce` | 16 chunks, on a fiber of its own | a failure fails the stream at once, dropping the group or value waiting |
//! | `aggregate_within` | 16 chunks, on a fiber of its own | a failure fails the stream at once; an early stop, an interruption or a failure drops the aggregate being gathered |
//! | sinks (`run(sink)`, the `run_*` methods) | the chunk the sink finishes in | a sink that is done stops the pull; the stream's scope closes before the run gives its result, and the values left over are given back by `run_with_leftovers` |
//! | `throttle`, `timeout`, `interrupt_when` | the current chunk | `timeout` and `interrupt_when` end the stream, interrupting the pull in progress |
//!
//! Each operator's documentation says the same in full.
//!
//! # Writing an operator
//!
//! Every operator is built on the pull API, which is public: a stream is opened in a
//! [`Scope`] ([`Stream::into_pull`]) and gives a [`Pull`], an effect whose [`Step`] is a
//! chunk of values and the pull of the rest, or the end. An operator is a function from the
//! upstream's pull to its own, wrapped by [`Stream::from_pull`]; its state travels in the
//! recursion. What a well-behaved operator does:
//!
//! - **Pull only when asked**: run the upstream's pull inside your own pull, not before, so
//!   back-pressure holds; say in its docs how far it reads ahead.
//! - **Let failures through**: a failing upstream pull fails yours (use `flat_map`/`?`, not a
//!   catch), and dropping a pull unrun is how the stream stops early.
//! - **Keep resources in the scope**: open the upstream in the scope you were given; the run
//!   closes it, with the stream's exit, on every way out.
//!
//! Here, an operator that emits running batches whose sum stays within a limit:
//!
//! ```
//! use effect::{run_blocking, stream::{Pull, Step, Stream}, succeed};
//!
//! fn batches_within(upstream: Stream<u32, String>, limit: u32) -> Stream<Vec<u32>, String> {
//!     fn pull(upstream: Pull<u32, String>, mut batch: Vec<u32>, limit: u32) -> Pull<Vec<u32>, String> {
//!         upstream.flat_map(move |step| match step {
//!             Step::Emit(chunk, rest) => {
//!                 let mut full = Vec::new();
//!                 for n in chunk {
//!                     if !batch.is_empty() && batch.iter().sum::<u32>() + n > limit {
//!                         full.push(std::mem::take(&mut batch));
//!                     }
//!                     batch.push(n);
//!                 }
//!                 succeed(Step::emit(full, pull(*rest, batch, limit)))
//!             }
//!             // The upstream has ended: the last batch, if any, then the end.
//!             Step::End if batch.is_empty() => succeed(Step::End),
//!             Step::End => succeed(Step::emit(vec![batch], succeed(Step::End))),
//!         })
//!     }
//!     Stream::from_pull(move |scope| pull(upstream.into_pull(scope), Vec::new(), limit))
//! }
//!
//! let batches = batches_within(Stream::from_iter([3, 4, 5, 1, 9, 2]), 10).run_collect();
//! assert_eq!(run_blocking(batches), Ok(vec![vec![3, 4], vec![5, 1], vec![9], vec![2]]));
//! ```
//!
//! [`Clock`]: crate::Clock

mod broadcast;
mod channel;
mod combine;
mod concat;
mod concurrent;
mod fanout;
mod group_by;
mod lossy;
mod map_par;
mod nested;
mod ops;
mod run;
mod sink;
mod sources;
mod stateful;
mod time;

use std::collections::VecDeque;

use crate::kernel::cause::Never;
use crate::kernel::effect::Effect;
use crate::ops::scope::Scope;

pub use group_by::GroupBy;
pub use run::IntoFuturesStream;
pub use sink::Sink;

/// The most values [`Stream::from_iter`] emits per pull.
///
/// ```
/// use effect::run_blocking;
/// use effect::stream::{Stream, CHUNK_SIZE};
///
/// // A source longer than one chunk is pulled chunk by chunk, lazily; the values are the same.
/// let many = Stream::<usize, String>::from_iter(0..CHUNK_SIZE * 2 + 1).run_collect();
/// assert_eq!(run_blocking(many).map(|v| v.len()), Ok(CHUNK_SIZE * 2 + 1));
/// ```
pub const CHUNK_SIZE: usize = 256;

/// A lazy, effectful sequence of `A`s that may fail with an `E`. See the [module
/// documentation](self) for the model.
///
/// ```
/// use effect::{run_blocking, stream::Stream, succeed, Effect};
///
/// let total: Effect<u32, String> = Stream::from_iter([1, 2, 3])
///     .map_effect(|n| succeed(n * 10))
///     .run_fold(0, |sum, n| sum + n);
/// assert_eq!(run_blocking(total), Ok(60));
/// ```
#[must_use = "a stream does nothing until it is run"]
pub struct Stream<A, E = Never> {
    repr: Repr<A, E>,
}

/// How a stream is opened.
enum Repr<A, E> {
    /// Given the scope the stream runs in, its first pull.
    Open(Box<dyn FnOnce(Scope) -> Pull<A, E> + Send>),
    /// The values of an iterator ([`Stream::from_iter`]): no effect, no resource. Kept apart
    /// so that consecutive parts of a concat that are iterators run as one iterator (see
    /// `concat.rs`), in full chunks across the parts' boundaries.
    Iter(Box<dyn sources::IterSource<A, E>>),
    /// Streams run one after another ([`Stream::concat`]). Invariant: at least two parts,
    /// none of them a `Concat` itself: a concat of concats is one flat list, so however
    /// deeply concats nest (to the left, to the right, or recursively through
    /// [`Stream::suspend`]), a value passes through one concat on its way out, not one per
    /// level.
    Concat(VecDeque<Stream<A, E>>),
}

/// The next step of an opened stream: an effect that yields a chunk and the rest, or the
/// end. Running it is what pulls; dropping it unrun pulls nothing more. It fails with the
/// stream's failure. See [Writing an operator](self#writing-an-operator).
///
/// ```
/// use effect::{run_blocking, scoped, stream::{Pull, Step, Stream}, Effect, Scope};
///
/// // Opened by hand and pulled twice: a pull is an effect, and its step holds the next one.
/// let firsts: Effect<Vec<Vec<u32>>, String> = scoped(Effect::new(|ctx: effect::Context| async move {
///     let pull: Pull<u32, String> = Stream::from_chunks([vec![1, 2], vec![3]]).into_pull(ctx.get::<Scope>());
///     let Step::Emit(first, rest) = pull.await? else { return Ok(vec![]) };
///     let Step::Emit(second, _) = (*rest).await? else { return Ok(vec![first]) };
///     Ok(vec![first, second])
/// }));
/// assert_eq!(run_blocking(firsts), Ok(vec![vec![1, 2], vec![3]]));
/// ```
pub type Pull<A, E> = Effect<Step<A, E>, E>;

/// What one [`Pull`] gives: some values and the pull of the rest, or the end.
///
/// ```
/// use effect::stream::{Pull, Step};
/// use effect::succeed;
///
/// // The pull of a stream of 1, 2, 3, written out by hand.
/// let rest: Pull<u32, String> = succeed(Step::emit(vec![3], succeed(Step::End)));
/// let pull: Pull<u32, String> = succeed(Step::emit(vec![1, 2], rest));
/// # let _ = pull;
/// ```
pub enum Step<A, E> {
    /// Some values (possibly none), and the pull of the rest (boxed: a pull is an effect
    /// that may hold its step inline).
    Emit(Vec<A>, Box<Pull<A, E>>),
    /// The stream has ended.
    End,
}

impl<A: Send + 'static, E: Send + 'static> Step<A, E> {
    /// The step giving `chunk`, then `rest`.
    ///
    /// ```
    /// use effect::stream::Step;
    /// use effect::succeed;
    ///
    /// let step: Step<u32, String> = Step::emit(vec![1], succeed(Step::End));
    /// assert!(matches!(step, Step::Emit(chunk, _) if chunk == [1]));
    /// ```
    pub fn emit(chunk: Vec<A>, rest: Pull<A, E>) -> Self {
        Step::Emit(chunk, Box::new(rest))
    }
}

impl<A, E> std::fmt::Debug for Stream<A, E> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Stream")
    }
}

impl<A: Send + 'static, E: Send + 'static> Stream<A, E> {
    /// A stream from how to open it: given the scope the stream runs in, its first
    /// [`Pull`]. The way to write an operator of your own: see [Writing an
    /// operator](self#writing-an-operator).
    ///
    /// `open` is called when the stream is run (each run opens it afresh), on the fiber that
    /// pulls; resources the stream acquires belong in `scope` (`scope.add_finalizer_exit`),
    /// which closes when the run ends, however it ends.
    ///
    /// ```
    /// use effect::{run_blocking, stream::{Pull, Step, Stream}, succeed};
    ///
    /// // Counts down from `n`, one value per pull.
    /// fn countdown(n: u32) -> Pull<u32, String> {
    ///     match n {
    ///         0 => succeed(Step::End),
    ///         n => succeed(Step::emit(vec![n], effect::suspend(move || countdown(n - 1)))),
    ///     }
    /// }
    /// let stream = Stream::from_pull(|_scope| countdown(3));
    /// assert_eq!(run_blocking(stream.run_collect()), Ok(vec![3, 2, 1]));
    /// ```
    pub fn from_pull(open: impl FnOnce(Scope) -> Pull<A, E> + Send + 'static) -> Self {
        Stream::from_open(open)
    }

    /// Opens this stream in `scope`: its first [`Pull`]. Run the pull to get the first
    /// chunk and the pull of the rest; the stream's resources are released when `scope`
    /// closes. Used inside [`from_pull`](Stream::from_pull) to open the upstream of an
    /// operator in the operator's own scope.
    ///
    /// ```
    /// use effect::{run_blocking, scoped, stream::{Step, Stream}, Effect, Scope};
    ///
    /// let first: Effect<u32, String> = scoped(Effect::new(|ctx: effect::Context| async move {
    ///     let pull = Stream::<u32, String>::from_iter([1, 2, 3]).into_pull(ctx.get::<Scope>());
    ///     match pull.await? {
    ///         Step::Emit(chunk, _rest) => Ok(chunk[0]),
    ///         Step::End => Ok(0),
    ///     }
    /// }));
    /// assert_eq!(run_blocking(first), Ok(1));
    /// ```
    pub fn into_pull(self, scope: Scope) -> Pull<A, E> {
        self.open(scope)
    }

    /// A stream from how to open it: given the scope the stream runs in, the first pull.
    pub(crate) fn from_open(open: impl FnOnce(Scope) -> Pull<A, E> + Send + 'static) -> Self {
        Stream {
            repr: Repr::Open(Box::new(open)),
        }
    }

    /// Opens the stream in `scope`: its first pull.
    pub(crate) fn open(self, scope: Scope) -> Pull<A, E> {
        match self.repr {
            Repr::Open(open) => open(scope),
            Repr::Iter(source) => source.open(),
            Repr::Concat(parts) => concat::run(parts, scope),
        }
    }

    /// The parts of a concat: this stream's, or this stream alone.
    fn into_parts(self) -> VecDeque<Stream<A, E>> {
        match self.repr {
            Repr::Concat(parts) => parts,
            single => VecDeque::from([Stream { repr: single }]),
        }
    }

    /// This stream's values, then `other`'s. Each runs in a scope of its own, closed as it
    /// ends (the last one's is the stream's own); `other` is opened only once this stream
    /// has ended. Concats nest at no cost per value: a value passes through one concat
    /// however deeply they nest, so a stream built from a hundred thousand concats, or
    /// defined recursively with [`Stream::suspend`], runs in time linear in its values.
    /// Consecutive [`from_iter`](Stream::from_iter) parts (which hold nothing) run as one
    /// iterator, in chunks that keep growing across their boundaries: a concat of many
    /// small ones costs about what one long `from_iter` does.
    ///
    /// ```
    /// use effect::{run_blocking, stream::Stream};
    ///
    /// let both = Stream::<u32, String>::from_iter([1, 2]).concat(Stream::from_iter([3]));
    /// assert_eq!(run_blocking(both.run_collect()), Ok(vec![1, 2, 3]));
    /// ```
    pub fn concat(self, other: Stream<A, E>) -> Stream<A, E> {
        let mut parts = self.into_parts();
        let mut rest = other.into_parts();
        // Append the shorter list to the longer one: a long chain built either way round
        // (left- or right-nested) costs a constant per concat.
        if parts.len() >= rest.len() {
            parts.append(&mut rest);
        } else {
            while let Some(part) = parts.pop_back() {
                rest.push_front(part);
            }
            parts = rest;
        }
        Stream {
            repr: Repr::Concat(parts),
        }
    }

    /// The stream `make` builds, built when the stream is opened, not before: for streams
    /// defined recursively (a recursive definition built eagerly would never finish).
    ///
    /// ```
    /// use effect::{run_blocking, stream::Stream};
    ///
    /// fn from(n: u64) -> Stream<u64, String> {
    ///     Stream::succeed(n).concat(Stream::suspend(move || from(n + 1)))
    /// }
    /// let first = from(1).take(100_000).run_fold(0, |sum, n| sum + n);
    /// assert_eq!(run_blocking(first), Ok(5_000_050_000));
    /// ```
    pub fn suspend<F>(make: F) -> Stream<A, E>
    where
        F: FnOnce() -> Stream<A, E> + Send + 'static,
    {
        Stream::from_open(move |scope| make().open(scope))
    }
}
