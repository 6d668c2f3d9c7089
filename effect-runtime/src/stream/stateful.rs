//! Operators that carry state from value to value (`take_until`, `drop`, `zip_with_index`, `changes`,
//! `map_accum`, `sliding`, `interleave`), the small ones pipelines reach for first (`tap`,
//! `or_else`, `catch_all_cause`, `ensuring`, `run_head`, `run_last`, `run_count`).
//!
//! Each is a transducer over the chunks the upstream emits: it reads no further ahead than
//! the upstream's current chunk, and on a failure, a defect or an interruption it stops with
//! the upstream, emitting nothing more (the values of the current chunk it has already
//! passed on stay emitted).

use std::collections::VecDeque;

use super::sources::{emit, end};
use super::{Pull, Sink, Step, Stream};
use crate::kernel::cause::{Cause, Never};
use crate::kernel::effect::{succeed, suspend, Effect};
use crate::ops::scope::Scope;

impl<A: Send + 'static, E: Send + 'static> Stream<A, E> {
    /// The values up to and including the first one for which `predicate` holds; then the
    /// stream ends (as ZIO's `takeUntil`). Reads no further ahead than the upstream's current
    /// chunk; the upstream is released when the run ends.
    ///
    /// ```
    /// use effect::{run_blocking, stream::Stream};
    ///
    /// let through_stop = Stream::<&str, String>::from_iter(["a", "b", "STOP", "c"]).take_until(|s| *s == "STOP");
    /// assert_eq!(run_blocking(through_stop.run_collect()), Ok(vec!["a", "b", "STOP"]));
    /// ```
    pub fn take_until<F>(self, predicate: F) -> Stream<A, E>
    where
        F: FnMut(&A) -> bool + Send + 'static,
    {
        self.cut_at(true, predicate)
    }

    /// `take_while` and `take_until`: the values until the first one for which `stop`
    /// holds (that one too, when `keep_it`), then the end.
    pub(super) fn cut_at<F>(self, keep_it: bool, mut stop: F) -> Stream<A, E>
    where
        F: FnMut(&A) -> bool + Send + 'static,
    {
        self.transduce(move |chunk| match chunk {
            Some(chunk) => {
                let mut out = Vec::with_capacity(chunk.len());
                for value in chunk {
                    if stop(&value) {
                        if keep_it {
                            out.push(value);
                        }
                        return (out, true);
                    }
                    out.push(value);
                }
                (out, false)
            }
            None => (Vec::new(), true),
        })
    }

    /// The values after the first `n`.
    ///
    /// ```
    /// use effect::{run_blocking, stream::Stream};
    ///
    /// let rest = Stream::<u32, String>::from_iter(1..=5).drop(2);
    /// assert_eq!(run_blocking(rest.run_collect()), Ok(vec![3, 4, 5]));
    /// ```
    pub fn drop(self, n: usize) -> Stream<A, E> {
        let mut left = n;
        self.transduce(move |chunk| match chunk {
            Some(mut chunk) => {
                let skip = left.min(chunk.len());
                left -= skip;
                chunk.drain(..skip);
                (chunk, false)
            }
            None => (Vec::new(), true),
        })
    }

    /// Each value with its index, from 0.
    ///
    /// ```
    /// use effect::{run_blocking, stream::Stream};
    ///
    /// let indexed = Stream::<&str, String>::from_iter(["a", "b"]).zip_with_index();
    /// assert_eq!(run_blocking(indexed.run_collect()), Ok(vec![("a", 0), ("b", 1)]));
    /// ```
    pub fn zip_with_index(self) -> Stream<(A, u64), E> {
        self.map_accum(0u64, |index, value| (index + 1, (value, index)))
    }

    /// The values that differ from the one before them (the first always passes): runs of
    /// equal values become one.
    ///
    /// ```
    /// use effect::{run_blocking, stream::Stream};
    ///
    /// let readings = Stream::<u32, String>::from_iter([1, 1, 2, 2, 2, 1]).changes();
    /// assert_eq!(run_blocking(readings.run_collect()), Ok(vec![1, 2, 1]));
    /// ```
    pub fn changes(self) -> Stream<A, E>
    where
        A: PartialEq + Clone,
    {
        let mut last: Option<A> = None;
        self.transduce(move |chunk| match chunk {
            Some(chunk) => {
                let mut out = Vec::with_capacity(chunk.len());
                for value in chunk {
                    if last.as_ref() != Some(&value) {
                        last = Some(value.clone());
                        out.push(value);
                    }
                }
                (out, false)
            }
            None => (Vec::new(), true),
        })
    }

    /// Each value mapped with a state carried from one value to the next: `f` takes the
    /// state and the value and gives the next state and what to emit.
    ///
    /// ```
    /// use effect::{run_blocking, stream::Stream};
    ///
    /// // Each value with the running total before it.
    /// let before = Stream::<u32, String>::from_iter([3, 4, 5])
    ///     .map_accum(0, |total, n| (total + n, (n, total)));
    /// assert_eq!(run_blocking(before.run_collect()), Ok(vec![(3, 0), (4, 3), (5, 7)]));
    /// ```
    pub fn map_accum<S, B, F>(self, init: S, mut f: F) -> Stream<B, E>
    where
        S: Send + 'static,
        B: Send + 'static,
        F: FnMut(S, A) -> (S, B) + Send + 'static,
    {
        let mut state = Some(init);
        self.transduce(move |chunk| match chunk {
            Some(chunk) => {
                let mut out = Vec::with_capacity(chunk.len());
                for value in chunk {
                    // The state is always there between values: `f` cannot unwind past this
                    // point without ending the stream (a panic in `f` is a defect of the run).
                    let (next, emitted) = f(state.take().expect("map_accum state"), value);
                    state = Some(next);
                    out.push(emitted);
                }
                (out, false)
            }
            None => (Vec::new(), true),
        })
    }

    /// Windows of `n` consecutive values, each starting one value after the one before. A
    /// stream shorter than `n` (but not empty) gives one shorter window; an empty one none.
    ///
    /// # Panics
    /// When `n` is 0.
    ///
    /// ```
    /// use effect::{run_blocking, stream::Stream};
    ///
    /// let windows = Stream::<u32, String>::from_iter(1..=4).sliding(3);
    /// assert_eq!(
    ///     run_blocking(windows.run_collect()),
    ///     Ok(vec![vec![1, 2, 3], vec![2, 3, 4]])
    /// );
    /// ```
    pub fn sliding(self, n: usize) -> Stream<Vec<A>, E>
    where
        A: Clone,
    {
        assert!(n > 0, "Stream::sliding: n must be at least 1");
        let mut window: VecDeque<A> = VecDeque::with_capacity(n);
        let mut emitted_any = false;
        self.transduce(move |chunk| match chunk {
            Some(chunk) => {
                let mut out = Vec::new();
                for value in chunk {
                    if window.len() == n {
                        window.pop_front();
                    }
                    window.push_back(value);
                    if window.len() == n {
                        out.push(window.iter().cloned().collect());
                        emitted_any = true;
                    }
                }
                (out, false)
            }
            None if !emitted_any && !window.is_empty() => (vec![window.drain(..).collect()], true),
            None => (Vec::new(), true),
        })
    }

    /// Runs the effect `f` makes of each value before the value is emitted (a log line, a
    /// metric); a failure of that effect fails the stream.
    ///
    /// ```
    /// use std::sync::{Arc, Mutex};
    /// use effect::{run_blocking, stream::Stream, sync};
    ///
    /// let seen = Arc::new(Mutex::new(Vec::new()));
    /// let record = seen.clone();
    /// let values = Stream::<u32, String>::from_iter([1, 2]).tap(move |n| {
    ///     let (record, n) = (record.clone(), *n);
    ///     sync(move || record.lock().unwrap().push(n))
    /// });
    /// assert_eq!(run_blocking(values.run_collect()), Ok(vec![1, 2]));
    /// assert_eq!(*seen.lock().unwrap(), [1, 2]);
    /// ```
    pub fn tap<F>(self, mut f: F) -> Stream<A, E>
    where
        F: FnMut(&A) -> Effect<(), E> + Send + 'static,
    {
        self.map_effect(move |value| f(&value).as_value(value))
    }

    /// On a typed failure, continues with `other` (what this stream acquired is released
    /// first, as with [`catch_all`](Stream::catch_all)).
    ///
    /// ```
    /// use effect::{run_blocking, stream::Stream};
    ///
    /// let primary = Stream::<u32, String>::from_iter([1]).concat(Stream::fail("down".into()));
    /// let values = primary.or_else(Stream::<u32, String>::from_iter([9]));
    /// assert_eq!(run_blocking(values.run_collect()), Ok(vec![1, 9]));
    /// ```
    pub fn or_else<E2: Send + 'static>(self, other: Stream<A, E2>) -> Stream<A, E2> {
        self.catch_all(move |_| other)
    }

    /// Runs `finalizer` when the stream's scope closes: when the stream ends, fails, dies, is
    /// stopped early by its consumer, or is interrupted; once, after what the stream
    /// acquired has been released.
    ///
    /// ```
    /// use std::sync::atomic::{AtomicBool, Ordering};
    /// use std::sync::Arc;
    /// use effect::{run_blocking, stream::Stream, sync};
    ///
    /// let done = Arc::new(AtomicBool::new(false));
    /// let flag = done.clone();
    /// let first = Stream::<u32, String>::from_iter(1..)
    ///     .ensuring(sync(move || flag.store(true, Ordering::SeqCst)))
    ///     .take(2);
    /// assert_eq!(run_blocking(first.run_collect()), Ok(vec![1, 2]));
    /// assert!(done.load(Ordering::SeqCst));
    /// ```
    pub fn ensuring(self, finalizer: Effect<(), Never>) -> Stream<A, E> {
        Stream::from_open(move |scope| {
            // Registered before the stream opens, so it runs after the stream's own releases
            // (a scope runs its finalizers last registered first). On a scope already closed
            // it runs at once and the stream, opened in that closed scope, releases what it
            // acquires as it acquires it.
            if let Err(late) = scope.add_finalizer_or_back(finalizer) {
                return late.widen().flat_map(move |()| self.open(scope));
            }
            self.open(scope)
        })
    }

    /// The first value, if any: the stream is stopped (and its resources released) as soon
    /// as it has given one. The sink [`Sink::head`].
    ///
    /// ```
    /// use effect::{run_blocking, stream::Stream};
    ///
    /// assert_eq!(run_blocking(Stream::<u32, String>::from_iter(7..).run_head()), Ok(Some(7)));
    /// assert_eq!(run_blocking(Stream::<u32, String>::empty().run_head()), Ok(None));
    /// ```
    pub fn run_head(self) -> Effect<Option<A>, E> {
        self.run(Sink::head())
    }

    /// The last value, if any: the sink [`Sink::last`].
    ///
    /// ```
    /// use effect::{run_blocking, stream::Stream};
    ///
    /// assert_eq!(run_blocking(Stream::<u32, String>::from_iter(1..=3).run_last()), Ok(Some(3)));
    /// ```
    pub fn run_last(self) -> Effect<Option<A>, E> {
        self.run(Sink::last())
    }

    /// How many values the stream gives: the sink [`Sink::count`].
    ///
    /// ```
    /// use effect::{run_blocking, stream::Stream};
    ///
    /// assert_eq!(run_blocking(Stream::<u32, String>::from_iter(1..=3).run_count()), Ok(3));
    /// ```
    pub fn run_count(self) -> Effect<u64, E> {
        self.run(Sink::count())
    }

    /// On any cause (a typed failure or a defect; not this fiber's interruption), continues
    /// with the stream `f` makes of it. What this stream acquired is released first, its
    /// releases seeing that cause; values already emitted stay emitted.
    ///
    /// ```
    /// use effect::{die, run_blocking, stream::Stream};
    ///
    /// let crashed = Stream::<u32, String>::from_iter([1]).concat(Stream::from_effect(die("bug")));
    /// let values = crashed.catch_all_cause(|cause| {
    ///     Stream::<u32, String>::from_iter([if cause.is_die() { 0 } else { 9 }])
    /// });
    /// assert_eq!(run_blocking(values.run_collect()), Ok(vec![1, 0]));
    /// ```
    pub fn catch_all_cause<E2, F>(self, f: F) -> Stream<A, E2>
    where
        E2: Send + 'static,
        F: FnOnce(Cause<E>) -> Stream<A, E2> + Send + 'static,
    {
        fn pull<A, E, E2, F>(upstream: Pull<A, E>, f: F, scope: Scope, own: Scope) -> Pull<A, E2>
        where
            A: Send + 'static,
            E: Send + 'static,
            E2: Send + 'static,
            F: FnOnce(Cause<E>) -> Stream<A, E2> + Send + 'static,
        {
            upstream
                .map(Ok)
                .catch_all_cause(|cause| succeed(Err(cause)))
                .flat_map(move |step| match step {
                    Ok(Step::Emit(chunk, rest)) => emit(chunk, pull(*rest, f, scope, own)),
                    Ok(Step::End) => end(),
                    Err(cause) => own
                        .close_effect(Err(cause.clone_erased()))
                        .widen()
                        .flat_map(move |()| f(cause).open(scope)),
                })
        }
        Stream::from_open(move |scope| {
            let own = scope.child();
            pull(self.open(own.clone()), f, scope, own)
        })
    }

    /// One value of this stream, then one of `other`, in turn; when either ends, the rest of
    /// the other. Each side is pulled only when its turn comes.
    ///
    /// ```
    /// use effect::{run_blocking, stream::Stream};
    ///
    /// let mixed = Stream::<u32, String>::from_iter([1, 2, 3]).interleave(Stream::from_iter([10]));
    /// assert_eq!(run_blocking(mixed.run_collect()), Ok(vec![1, 10, 2, 3]));
    /// ```
    pub fn interleave(self, other: Stream<A, E>) -> Stream<A, E> {
        /// A side: its values pulled and not yet emitted, and its pull (`None` once ended).
        struct Side<A, E> {
            buffered: VecDeque<A>,
            pull: Option<Pull<A, E>>,
        }
        fn next<A: Send + 'static, E: Send + 'static>(
            mut turn: Side<A, E>,
            mut other: Side<A, E>,
        ) -> Pull<A, E> {
            suspend(move || {
                if let Some(value) = turn.buffered.pop_front() {
                    return emit(vec![value], next(other, turn));
                }
                match turn.pull.take() {
                    Some(pull) => pull.flat_map(move |step| {
                        match step {
                            Step::Emit(chunk, rest) => {
                                turn.buffered.extend(chunk);
                                turn.pull = Some(*rest);
                            }
                            Step::End => {}
                        }
                        next(turn, other)
                    }),
                    // This side has ended: the rest is the other's.
                    None if other.buffered.is_empty() && other.pull.is_none() => end(),
                    None => {
                        let rest: Vec<A> = other.buffered.drain(..).collect();
                        match other.pull.take() {
                            Some(pull) => emit(rest, pull),
                            None => emit(rest, end()),
                        }
                    }
                }
            })
        }
        Stream::from_open(move |scope| {
            let left = Side {
                buffered: VecDeque::new(),
                pull: Some(self.open(scope.clone())),
            };
            let right = Side {
                buffered: VecDeque::new(),
                pull: Some(other.open(scope)),
            };
            next(left, right)
        })
    }
}
