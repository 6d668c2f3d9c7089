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
//!   run that started them ends. A run leaves no fiber behind.
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
//! [`Clock`]: crate::Clock

mod channel;
mod concat;
mod concurrent;
mod ops;
mod run;
mod sink;
mod sources;
mod stateful;
mod time;

use std::collections::VecDeque;

use crate::cause::Never;
use crate::effect::Effect;
use crate::scope::Scope;

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
    /// Streams run one after another ([`Stream::concat`]). Invariant: at least two parts,
    /// none of them a `Concat` itself: a concat of concats is one flat list, so however
    /// deeply concats nest (to the left, to the right, or recursively through
    /// [`Stream::suspend`]), a value passes through one concat on its way out, not one per
    /// level.
    Concat(VecDeque<Stream<A, E>>),
}

/// The next step of an opened stream: an effect that yields a chunk and the rest, or the
/// end. Running it is what pulls; dropping it unrun pulls nothing more.
pub(crate) type Pull<A, E> = Effect<Step<A, E>, E>;

/// What one pull gives.
pub(crate) enum Step<A, E> {
    /// Some values (possibly none), and the pull of the rest (boxed: a pull is an effect
    /// that may hold its step inline).
    Emit(Vec<A>, Box<Pull<A, E>>),
    /// The stream has ended.
    End,
}

impl<A: Send + 'static, E: Send + 'static> Step<A, E> {
    /// The step giving `chunk`, then `rest`.
    pub(crate) fn emit(chunk: Vec<A>, rest: Pull<A, E>) -> Self {
        Step::Emit(chunk, Box::new(rest))
    }
}

impl<A, E> std::fmt::Debug for Stream<A, E> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Stream")
    }
}

impl<A: Send + 'static, E: Send + 'static> Stream<A, E> {
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
            Repr::Concat(parts) => concat::run(parts, scope),
        }
    }

    /// The parts of a concat: this stream's, or this stream alone.
    fn into_parts(self) -> VecDeque<Stream<A, E>> {
        match self.repr {
            Repr::Concat(parts) => parts,
            open @ Repr::Open(_) => VecDeque::from([Stream { repr: open }]),
        }
    }

    /// This stream's values, then `other`'s. Each runs in a scope of its own, closed as it
    /// ends (the last one's is the stream's own); `other` is opened only once this stream
    /// has ended. Concats nest at no cost per value: a value passes through one concat
    /// however deeply they nest, so a stream built from a hundred thousand concats, or
    /// defined recursively with [`Stream::suspend`], runs in time linear in its values.
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
