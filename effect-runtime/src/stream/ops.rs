//! Sequential transformations: pure chunk transducers (`map`, `filter`, `take`, `scan`,
//! `chunks`, ...), effectful ones (`map_effect`), and `zip`. The operators that run other
//! streams one after another, each in a scope of its own (`flat_map`, `catch_all`,
//! `retry`), are in `nested.rs`.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use super::sources::{emit, end};
use super::{Pull, Step, Stream};
use crate::kernel::effect::{suspend, Effect};

/// Runs a stateful chunk transducer over every pull: `f` gets each chunk (`None` at the
/// end of the input) and gives the values to emit, and whether the output is complete
/// (then the rest of the input is never pulled).
fn transduce<A, B, E, F>(pull: Pull<A, E>, mut f: F) -> Pull<B, E>
where
    A: Send + 'static,
    B: Send + 'static,
    E: Send + 'static,
    F: FnMut(Option<Vec<A>>) -> (Vec<B>, bool) + Send + 'static,
{
    pull.map(move |step| match step {
        Step::Emit(chunk, rest) => match f(Some(chunk)) {
            (out, true) => Step::emit(out, end()),
            (out, false) => Step::emit(out, transduce(*rest, f)),
        },
        Step::End => match f(None) {
            (out, _) if out.is_empty() => Step::End,
            (out, _) => Step::emit(out, end()),
        },
    })
}

impl<A: Send + 'static, E: Send + 'static> Stream<A, E> {
    /// A stream of the chunks' values passed through a stateful chunk transducer.
    pub(super) fn transduce<B, F>(self, f: F) -> Stream<B, E>
    where
        B: Send + 'static,
        F: FnMut(Option<Vec<A>>) -> (Vec<B>, bool) + Send + 'static,
    {
        Stream::from_open(move |scope| transduce(self.open(scope), f))
    }

    /// Each value mapped with `f`.
    ///
    /// ```
    /// use effect::{run_blocking, stream::Stream};
    ///
    /// let doubled = Stream::<u32, String>::from_iter([1, 2, 3]).map(|n| n * 2);
    /// assert_eq!(run_blocking(doubled.run_collect()), Ok(vec![2, 4, 6]));
    /// ```
    pub fn map<B, F>(self, mut f: F) -> Stream<B, E>
    where
        B: Send + 'static,
        F: FnMut(A) -> B + Send + 'static,
    {
        self.transduce(move |chunk| match chunk {
            Some(chunk) => (chunk.into_iter().map(&mut f).collect(), false),
            None => (Vec::new(), true),
        })
    }

    /// The stream's failure mapped with `f`.
    ///
    /// ```
    /// use effect::{run_blocking, stream::Stream};
    ///
    /// let failing = Stream::<u8, &str>::fail("io").map_err(|e| format!("reading: {e}"));
    /// assert_eq!(run_blocking(failing.run_drain()).unwrap_err().failure().unwrap(), "reading: io");
    /// ```
    pub fn map_err<E2, F>(self, f: F) -> Stream<A, E2>
    where
        E2: Send + 'static,
        F: FnMut(E) -> E2 + Send + 'static,
    {
        fn pull<A, E, E2, F>(pull_: Pull<A, E>, f: Arc<Mutex<F>>) -> Pull<A, E2>
        where
            A: Send + 'static,
            E: Send + 'static,
            E2: Send + 'static,
            F: FnMut(E) -> E2 + Send + 'static,
        {
            let g = f.clone();
            pull_
                .map_err(move |e| (g.lock().unwrap_or_else(|p| p.into_inner()))(e))
                .map(move |step| match step {
                    Step::Emit(chunk, rest) => Step::emit(chunk, pull(*rest, f)),
                    Step::End => Step::End,
                })
        }
        let f = Arc::new(Mutex::new(f));
        Stream::from_open(move |scope| pull(self.open(scope), f))
    }

    /// The values for which `predicate` holds.
    ///
    /// ```
    /// use effect::{run_blocking, stream::Stream};
    ///
    /// let odd = Stream::<u32, String>::from_iter(1..=6).filter(|n| n % 2 == 1);
    /// assert_eq!(run_blocking(odd.run_collect()), Ok(vec![1, 3, 5]));
    /// ```
    pub fn filter<F>(self, mut predicate: F) -> Stream<A, E>
    where
        F: FnMut(&A) -> bool + Send + 'static,
    {
        self.transduce(move |chunk| match chunk {
            Some(mut chunk) => {
                chunk.retain(&mut predicate);
                (chunk, false)
            }
            None => (Vec::new(), true),
        })
    }

    /// The values `f` maps to `Some`.
    ///
    /// ```
    /// use effect::{run_blocking, stream::Stream};
    ///
    /// let numbers = Stream::<_, String>::from_iter(["1", "x", "3"]).filter_map(|s| s.parse::<u32>().ok());
    /// assert_eq!(run_blocking(numbers.run_collect()), Ok(vec![1, 3]));
    /// ```
    pub fn filter_map<B, F>(self, mut f: F) -> Stream<B, E>
    where
        B: Send + 'static,
        F: FnMut(A) -> Option<B> + Send + 'static,
    {
        self.transduce(move |chunk| match chunk {
            Some(chunk) => (chunk.into_iter().filter_map(&mut f).collect(), false),
            None => (Vec::new(), true),
        })
    }

    /// The first `n` values; the rest of the stream is never pulled, and its resources are
    /// released as the run ends.
    ///
    /// ```
    /// use effect::{run_blocking, stream::Stream};
    ///
    /// let first = Stream::<u64, String>::from_iter(0..).take(3);
    /// assert_eq!(run_blocking(first.run_collect()), Ok(vec![0, 1, 2]));
    /// ```
    pub fn take(self, n: usize) -> Stream<A, E> {
        if n == 0 {
            return Stream::empty();
        }
        let mut left = n;
        self.transduce(move |chunk| match chunk {
            Some(mut chunk) => {
                chunk.truncate(left);
                left -= chunk.len();
                (chunk, left == 0)
            }
            None => (Vec::new(), true),
        })
    }

    /// The values while `predicate` holds; the stream ends at the first value for which it
    /// does not (that value is not emitted).
    ///
    /// ```
    /// use effect::{run_blocking, stream::Stream};
    ///
    /// let small = Stream::<u32, String>::from_iter([1, 2, 5, 1]).take_while(|n| *n < 3);
    /// assert_eq!(run_blocking(small.run_collect()), Ok(vec![1, 2]));
    /// ```
    pub fn take_while<F>(self, mut predicate: F) -> Stream<A, E>
    where
        F: FnMut(&A) -> bool + Send + 'static,
    {
        self.cut_at(false, move |value| !predicate(value))
    }

    /// The values from the first one for which `predicate` does not hold.
    ///
    /// ```
    /// use effect::{run_blocking, stream::Stream};
    ///
    /// let rest = Stream::<u32, String>::from_iter([1, 2, 5, 1]).drop_while(|n| *n < 3);
    /// assert_eq!(run_blocking(rest.run_collect()), Ok(vec![5, 1]));
    /// ```
    pub fn drop_while<F>(self, mut predicate: F) -> Stream<A, E>
    where
        F: FnMut(&A) -> bool + Send + 'static,
    {
        let mut dropping = true;
        self.transduce(move |chunk| match chunk {
            Some(mut chunk) => {
                if dropping {
                    let keep_from = chunk.iter().position(|v| !predicate(v));
                    match keep_from {
                        Some(i) => {
                            dropping = false;
                            chunk.drain(..i);
                        }
                        None => chunk.clear(),
                    }
                }
                (chunk, false)
            }
            None => (Vec::new(), true),
        })
    }

    /// The running states of folding the values with `f`, starting with `init` itself.
    ///
    /// ```
    /// use effect::{run_blocking, stream::Stream};
    ///
    /// let totals = Stream::<u32, String>::from_iter([1, 2, 3]).scan(0, |sum, n| sum + n);
    /// assert_eq!(run_blocking(totals.run_collect()), Ok(vec![0, 1, 3, 6]));
    /// ```
    pub fn scan<S, F>(self, init: S, mut f: F) -> Stream<S, E>
    where
        S: Clone + Send + 'static,
        F: FnMut(S, A) -> S + Send + 'static,
    {
        let mut state = init.clone();
        Stream::succeed(init).concat(self.transduce(move |chunk| match chunk {
            Some(chunk) => {
                let out = chunk
                    .into_iter()
                    .map(|value| {
                        state = f(state.clone(), value);
                        state.clone()
                    })
                    .collect();
                (out, false)
            }
            None => (Vec::new(), true),
        }))
    }

    /// The values in groups of `n` (the last group may be shorter; an empty stream gives no
    /// group).
    ///
    /// # Panics
    /// When `n` is 0.
    ///
    /// ```
    /// use effect::{run_blocking, stream::Stream};
    ///
    /// let pairs = Stream::<u32, String>::from_iter(1..=5).chunks(2);
    /// assert_eq!(run_blocking(pairs.run_collect()), Ok(vec![vec![1, 2], vec![3, 4], vec![5]]));
    /// ```
    pub fn chunks(self, n: usize) -> Stream<Vec<A>, E> {
        assert!(n > 0, "Stream::chunks: the group size must be at least 1");
        let mut group = Vec::with_capacity(n);
        self.transduce(move |chunk| match chunk {
            Some(chunk) => {
                let mut out = Vec::new();
                for value in chunk {
                    group.push(value);
                    if group.len() == n {
                        out.push(std::mem::replace(&mut group, Vec::with_capacity(n)));
                    }
                }
                (out, false)
            }
            None if group.is_empty() => (Vec::new(), true),
            None => (vec![std::mem::take(&mut group)], true),
        })
    }

    /// Each value mapped by the effect `f` builds, one at a time, in order: the next value is
    /// pulled only once the previous effect is done, and each result is emitted as soon as
    /// it is ready. A failure of an effect fails the stream.
    ///
    /// ```
    /// use effect::{run_blocking, stream::Stream, succeed, fail};
    ///
    /// let parsed = Stream::<&str, String>::from_iter(["1", "2"])
    ///     .map_effect(|s| match s.parse::<u32>() {
    ///         Ok(n) => succeed(n),
    ///         Err(e) => fail(e.to_string()),
    ///     });
    /// assert_eq!(run_blocking(parsed.run_collect()), Ok(vec![1, 2]));
    /// ```
    pub fn map_effect<B, F>(self, f: F) -> Stream<B, E>
    where
        B: Send + 'static,
        F: FnMut(A) -> Effect<B, E> + Send + 'static,
    {
        fn pull<A, B, E, F>(
            upstream: Pull<A, E>,
            mut pending: std::vec::IntoIter<A>,
            mut f: F,
        ) -> Pull<B, E>
        where
            A: Send + 'static,
            B: Send + 'static,
            E: Send + 'static,
            F: FnMut(A) -> Effect<B, E> + Send + 'static,
        {
            suspend(move || match pending.next() {
                Some(value) => {
                    f(value).map(move |out| Step::emit(vec![out], pull(upstream, pending, f)))
                }
                None => upstream.flat_map(move |step| match step {
                    Step::Emit(chunk, rest) => pull(*rest, chunk.into_iter(), f),
                    Step::End => end(),
                }),
            })
        }
        Stream::from_open(move |scope| pull(self.open(scope), Vec::new().into_iter(), f))
    }

    /// Pairs of this stream's and `other`'s values, in order; ends when either ends.
    ///
    /// When it needs a value from both sides it pulls them together, so a failure of either
    /// side ends the zip with that failure even if the other side never emits. When one side
    /// has values buffered, only the other is pulled (it reads no further ahead than that).
    ///
    /// ```
    /// use effect::{run_blocking, stream::Stream};
    ///
    /// let pairs = Stream::<u32, String>::from_iter(1..).zip(Stream::from_iter(["a", "b"]));
    /// assert_eq!(run_blocking(pairs.run_collect()), Ok(vec![(1, "a"), (2, "b")]));
    /// ```
    pub fn zip<B: Send + 'static>(self, other: Stream<B, E>) -> Stream<(A, B), E> {
        fn pull<A, B, E>(
            left: Pull<A, E>,
            mut lefts: VecDeque<A>,
            right: Pull<B, E>,
            mut rights: VecDeque<B>,
        ) -> Pull<(A, B), E>
        where
            A: Send + 'static,
            B: Send + 'static,
            E: Send + 'static,
        {
            if !lefts.is_empty() && !rights.is_empty() {
                let n = lefts.len().min(rights.len());
                let out: Vec<(A, B)> = lefts.drain(..n).zip(rights.drain(..n)).collect();
                return emit(out, suspend(move || pull(left, lefts, right, rights)));
            }
            if lefts.is_empty() && rights.is_empty() {
                // Both sides are waited on: pull them together, so that a failure of either
                // ends the zip even while the other has not emitted (or never will); the
                // other side's pull is then interrupted. A side that ends ends the zip.
                return crate::zip_par((left, right)).flat_map(move |steps| match steps {
                    (Step::Emit(lchunk, lrest), Step::Emit(rchunk, rrest)) => {
                        lefts.extend(lchunk);
                        rights.extend(rchunk);
                        pull(*lrest, lefts, *rrest, rights)
                    }
                    _ => end(),
                });
            }
            if lefts.is_empty() {
                left.flat_map(move |step| match step {
                    Step::Emit(chunk, rest) => {
                        lefts.extend(chunk);
                        pull(*rest, lefts, right, rights)
                    }
                    Step::End => end(),
                })
            } else {
                right.flat_map(move |step| match step {
                    Step::Emit(chunk, rest) => {
                        rights.extend(chunk);
                        pull(left, lefts, *rest, rights)
                    }
                    Step::End => end(),
                })
            }
        }
        Stream::from_open(move |scope| {
            pull(
                self.open(scope.clone()),
                VecDeque::new(),
                other.open(scope),
                VecDeque::new(),
            )
        })
    }
}
