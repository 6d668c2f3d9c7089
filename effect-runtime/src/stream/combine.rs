//! Operators that combine two streams value by value (`zip_with`, `zip_with_latest`), carry
//! effectful state (`map_accum_effect`), pace values by a [`Schedule`] (`schedule`), or run
//! an effect when a stream has ended (`on_done`).

use std::time::Duration;

use super::sources::{emit, end};
use super::{Pull, Step, Stream};
use crate::kernel::context::Context;
use crate::kernel::effect::{succeed, suspend, Effect};
use crate::kernel::random::Random;
use crate::ops::schedule::{Schedule, ScheduleRun};
use crate::ops::time::sleep;

impl<A: Send + 'static, E: Send + 'static> Stream<A, E> {
    /// Pairs of this stream's and `other`'s values, in order, combined by `f`; ends when
    /// either ends. [`zip`](Stream::zip) followed by a `map`: it reads ahead and ends as `zip`
    /// does, and so ends with a failure of either side even if the other never emits.
    ///
    /// ```
    /// use effect::{run_blocking, stream::Stream};
    ///
    /// let sums = Stream::<u32, String>::from_iter([1, 2, 3])
    ///     .zip_with(Stream::from_iter([10, 20]), |a, b| a + b);
    /// assert_eq!(run_blocking(sums.run_collect()), Ok(vec![11, 22]));
    /// ```
    pub fn zip_with<B, C, F>(self, other: Stream<B, E>, mut f: F) -> Stream<C, E>
    where
        B: Send + 'static,
        C: Send + 'static,
        F: FnMut(A, B) -> C + Send + 'static,
    {
        self.zip(other).map(move |(a, b)| f(a, b))
    }

    /// Whenever either stream emits, `f` of its value and the latest value of the other
    /// (once both have emitted one): a price combined with the latest exchange rate, a
    /// reading with the latest calibration.
    ///
    /// Both streams run at once, each on a fiber of its own, as [`merge`](Stream::merge)
    /// runs them (each reads at most a few chunks ahead of the consumer). It ends as soon as
    /// either ends: the other is then interrupted, and its resources released, when the run's
    /// scope closes. Fail-fast, like `merge`: a failure (or defect) of either side fails the
    /// stream, even if the other never emits, once the other side is interrupted.
    ///
    /// ```
    /// use effect::{ms, sleep, stream::Stream, Clock, Context, Runtime, TestClock};
    ///
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let clock = TestClock::new();
    /// let runtime = Runtime::new(Context::new().with(Clock::from(clock.clone())));
    /// // Prices at 10, 20 and 30 ms; rates at 5, 15 and 40 ms.
    /// let prices = Stream::<u32, String>::from_iter([100, 200, 300])
    ///     .map_effect(|p| sleep(ms(10)).as_value(p));
    /// let rates = Stream::from_iter([(1, 5), (2, 10), (3, 25)])
    ///     .map_effect(|(rate, after)| sleep(ms(after)).as_value(rate));
    /// let quoted = runtime.fork(prices.zip_with_latest(rates, |p, r| p * r).run_collect());
    /// clock.advance(ms(30)).await;
    /// assert_eq!(runtime.run(quoted.join()).await, Ok(vec![100, 200, 400, 600]));
    /// # }
    /// ```
    pub fn zip_with_latest<B, C, F>(self, other: Stream<B, E>, mut f: F) -> Stream<C, E>
    where
        A: Clone,
        B: Clone + Send + 'static,
        C: Send + 'static,
        F: FnMut(A, B) -> C + Send + 'static,
    {
        /// A value of either side, or the end of one.
        enum Side<A, B> {
            Left(A),
            Right(B),
            Ended,
        }
        let left = self.map(Side::Left).concat(Stream::succeed(Side::Ended));
        let right = other.map(Side::Right).concat(Stream::succeed(Side::Ended));
        left.merge(right)
            .take_while(|side| !matches!(side, Side::Ended))
            .map_accum((None, None), move |latest: (Option<A>, Option<B>), side| {
                let (a, b) = latest;
                match side {
                    Side::Left(a) => {
                        let out = b.clone().map(|b| f(a.clone(), b));
                        ((Some(a), b), out)
                    }
                    Side::Right(b) => {
                        let out = a.clone().map(|a| f(a, b.clone()));
                        ((a, Some(b)), out)
                    }
                    Side::Ended => ((a, b), None),
                }
            })
            .filter_map(|out| out)
    }

    /// Like [`map_accum`](Stream::map_accum), with an effectful step: `f` gives an effect of
    /// the next state and the value to emit. One value at a time, in order: the next value
    /// is pulled only once the previous effect is done (it reads no further ahead than the
    /// upstream's current chunk). A failure of an effect fails the stream; on a defect or an
    /// interruption it stops with the upstream.
    ///
    /// ```
    /// use effect::{run_blocking, stream::Stream, succeed};
    ///
    /// // A running total, checked as it goes.
    /// let totals = Stream::<u32, String>::from_iter([3, 4, 5]).map_accum_effect(0, |total, n| {
    ///     let total = total + n;
    ///     if total > 100 { effect::fail("over budget".to_string()) } else { succeed((total, total)) }
    /// });
    /// assert_eq!(run_blocking(totals.run_collect()), Ok(vec![3, 7, 12]));
    /// ```
    pub fn map_accum_effect<S, B, F>(self, init: S, f: F) -> Stream<B, E>
    where
        S: Send + 'static,
        B: Send + 'static,
        F: FnMut(S, A) -> Effect<(S, B), E> + Send + 'static,
    {
        fn pull<A, S, B, E, F>(
            upstream: Pull<A, E>,
            mut pending: std::vec::IntoIter<A>,
            state: S,
            mut f: F,
        ) -> Pull<B, E>
        where
            A: Send + 'static,
            S: Send + 'static,
            B: Send + 'static,
            E: Send + 'static,
            F: FnMut(S, A) -> Effect<(S, B), E> + Send + 'static,
        {
            suspend(move || match pending.next() {
                Some(value) => f(state, value).map(move |(state, out)| {
                    Step::emit(vec![out], pull(upstream, pending, state, f))
                }),
                None => upstream.flat_map(move |step| match step {
                    Step::Emit(chunk, rest) => pull(*rest, chunk.into_iter(), state, f),
                    Step::End => end(),
                }),
            })
        }
        Stream::from_open(move |scope| pull(self.open(scope), Vec::new().into_iter(), init, f))
    }

    /// This stream's values, each emitted after the delay `schedule` gives for it: with
    /// [`Schedule::spaced`], one value per interval; with [`Schedule::exponential`], ever
    /// slower. The schedule sees each value as its input; when it is done, the value goes
    /// out at once and the schedule starts over. Delays are slept on the context's clock, so
    /// a `TestClock` paces them exactly.
    ///
    /// Reads no further ahead than the upstream's current chunk. Ends with the upstream; a
    /// failure of the upstream fails it after the values before; an interruption or an early
    /// stop interrupts the sleep.
    ///
    /// ```
    /// use effect::{ms, stream::Stream, Clock, Context, Runtime, Schedule, TestClock};
    ///
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let clock = TestClock::new();
    /// let runtime = Runtime::new(Context::new().with(Clock::from(clock.clone())));
    /// let paced = Stream::<u32, String>::from_iter([1, 2, 3]).schedule(Schedule::spaced(ms(100)));
    /// let run = runtime.fork(paced.run_collect());
    /// clock.advance(ms(299)).await;
    /// assert!(!run.is_done(), "the third value comes at 300 ms");
    /// clock.advance(ms(1)).await;
    /// assert_eq!(runtime.run(run.join()).await, Ok(vec![1, 2, 3]));
    /// # }
    /// ```
    pub fn schedule(self, schedule: Schedule<A>) -> Stream<A, E> {
        struct Paced<A, E> {
            upstream: Pull<A, E>,
            pending: std::vec::IntoIter<A>,
            run: ScheduleRun<A>,
            schedule: Schedule<A>,
            random: Random,
        }
        fn pull<A: Send + 'static, E: Send + 'static>(mut paced: Paced<A, E>) -> Pull<A, E> {
            suspend(move || match paced.pending.next() {
                Some(value) => {
                    let delay = paced.run.next(&value).unwrap_or_else(|| {
                        // The schedule is done: this value goes out now, the next starts
                        // a fresh run.
                        paced.run = paced.schedule.start_run(&paced.random);
                        Duration::ZERO
                    });
                    let send = move || emit(vec![value], pull(paced));
                    if delay.is_zero() {
                        send()
                    } else {
                        sleep(delay).flat_map(move |()| send())
                    }
                }
                None => {
                    let Paced {
                        upstream,
                        run,
                        schedule,
                        random,
                        ..
                    } = paced;
                    upstream.flat_map(move |step| match step {
                        Step::Emit(chunk, rest) => pull(Paced {
                            upstream: *rest,
                            pending: chunk.into_iter(),
                            run,
                            schedule,
                            random,
                        }),
                        Step::End => end(),
                    })
                }
            })
        }
        Stream::from_open(move |scope| {
            let upstream = self.open(scope);
            Effect::new(move |ctx: Context| async move {
                let random = Random::of(&ctx);
                pull(Paced {
                    upstream,
                    pending: Vec::new().into_iter(),
                    run: schedule.start_run(&random),
                    schedule,
                    random,
                })
                .await
            })
        })
    }

    /// This stream, then `effect` once it has ended normally, as part of the stream (before
    /// the run sees the end): a "done" log line, a counter, a notification. It does not run
    /// on a failure, a defect, an early stop or an interruption (for those, use
    /// [`ensuring`](Stream::ensuring)). A failure of `effect` fails the stream. Reads nothing
    /// ahead.
    ///
    /// ```
    /// use std::sync::{Arc, Mutex};
    /// use effect::{run_blocking, stream::Stream, sync};
    ///
    /// let log = Arc::new(Mutex::new(Vec::new()));
    /// let (done, seen) = (log.clone(), log.clone());
    /// let values = Stream::<u32, String>::from_iter([1, 2])
    ///     .tap(move |n| {
    ///         let seen = seen.clone();
    ///         let event = format!("value {n}");
    ///         sync(move || seen.lock().unwrap().push(event))
    ///     })
    ///     .on_done(sync(move || done.lock().unwrap().push("done".to_string())));
    /// assert_eq!(run_blocking(values.run_collect()), Ok(vec![1, 2]));
    /// assert_eq!(*log.lock().unwrap(), ["value 1", "value 2", "done"]);
    ///
    /// // Cut short, it is not done.
    /// let ran = Arc::new(Mutex::new(false));
    /// let marked = ran.clone();
    /// let first = Stream::<u32, String>::from_iter([1, 2])
    ///     .on_done(sync(move || *marked.lock().unwrap() = true))
    ///     .take(1);
    /// assert_eq!(run_blocking(first.run_collect()), Ok(vec![1]));
    /// assert!(!*ran.lock().unwrap());
    /// ```
    pub fn on_done(self, effect: Effect<(), E>) -> Stream<A, E> {
        self.concat(Stream::from_open(move |_scope| {
            effect.flat_map(|()| succeed(Step::End))
        }))
    }
}
