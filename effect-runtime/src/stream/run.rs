//! Running a stream: into a [`Sink`] (`run`, `run_with_leftovers`), into the everyday sinks
//! (`run_collect`, `run_fold`, `run_for_each`, `run_drain`, `run_into_queue`), and the bridge
//! to `futures::Stream`.
//!
//! Every run is one effect: it opens the stream in a fresh [`Scope`] (through [`scoped`]),
//! feeds the sink until the end, a failure, or the sink is done, and closes the scope however
//! the run ends, so the stream's resources are released and the fibers it started are
//! interrupted and awaited before the run's effect ends.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context as TaskContext, Poll};

use super::sink::Progress;
use super::{Sink, Step, Stream};
use crate::kernel::cause::{Cause, Exit};
use crate::kernel::context::Context;
use crate::kernel::effect::Effect;
use crate::kernel::fiber::run::Run;
use crate::ops::scope::{scoped, Scope};
use crate::services::sync::{Queue, QueueShutdown};

impl<A: Send + 'static, E: Send + 'static> Stream<A, E> {
    /// Runs the stream into `sink`: its result, once the stream has ended or the sink is
    /// done, whichever comes first. The values the sink left over are dropped; see
    /// [`run_with_leftovers`](Stream::run_with_leftovers).
    ///
    /// The stream is pulled only when the sink wants more, so nothing is read ahead beyond
    /// the chunk the sink is consuming. When the sink is done early, the stream is not pulled
    /// again and its scope closes (its resources released, its fibers awaited) before the
    /// run gives the result. A failure or a defect of the stream or of the sink fails the
    /// run with its cause; interrupting the run interrupts the pull or the sink's step in
    /// progress. See [`Sink`] for the model.
    ///
    /// ```
    /// use effect::{run_blocking, stream::{Sink, Stream}};
    ///
    /// let first_even = Stream::<u32, String>::from_iter(1..).filter(|n| n % 2 == 0).run(Sink::head());
    /// assert_eq!(run_blocking(first_even), Ok(Some(2)));
    /// ```
    pub fn run<Out: Send + 'static>(self, sink: Sink<A, Out, E>) -> Effect<Out, E> {
        self.run_sink(sink, |out, _| out)
    }

    /// Runs the stream into `sink`, as [`run`](Stream::run) does: the sink's result, and the
    /// values it did not consume. Those are the rest of the chunk the sink finished in: the
    /// values the stream had produced and the sink left (the stream is not pulled further).
    /// None when the stream ended first, or when the sink was done before any input.
    ///
    /// ```
    /// use effect::{run_blocking, stream::{Sink, Stream}};
    ///
    /// let header = Stream::<&str, String>::from_chunks([vec!["name", "age", "alice", "30"]])
    ///     .run_with_leftovers(Sink::collect_n(2));
    /// assert_eq!(run_blocking(header), Ok((vec!["name", "age"], vec!["alice", "30"])));
    /// ```
    pub fn run_with_leftovers<Out: Send + 'static>(
        self,
        sink: Sink<A, Out, E>,
    ) -> Effect<(Out, Vec<A>), E> {
        self.run_sink(sink, |out, left| (out, left))
    }

    /// The loop of every run: feeds `sink` the stream's chunks, and gives what `finish` makes
    /// of its result and leftovers.
    fn run_sink<Out, R>(self, sink: Sink<A, Out, E>, finish: fn(Out, Vec<A>) -> R) -> Effect<R, E>
    where
        Out: Send + 'static,
        R: Send + 'static,
    {
        scoped(Effect::new(move |ctx: Context| async move {
            let mut consumer = match sink.start() {
                Progress::More(consumer) => consumer,
                // Done before any input: the stream is not even opened.
                Progress::Done(out, left) => return Ok(finish(out, left)),
            };
            // `scoped` has put the scope there; it closes when this effect ends.
            let mut pull = self.open(ctx.get::<Scope>());
            loop {
                match pull.await? {
                    Step::Emit(chunk, rest) => {
                        pull = *rest;
                        if chunk.is_empty() {
                            continue;
                        }
                        match consumer.push(chunk).await? {
                            Progress::More(next) => consumer = next,
                            // The rest of the stream is dropped unpulled; its scope closes
                            // as this effect ends, before the result is given.
                            Progress::Done(out, left) => return Ok(finish(out, left)),
                        }
                    }
                    Step::End => return Ok(finish(consumer.end().await?, Vec::new())),
                }
            }
        }))
    }

    /// Runs the stream to its end, folding its values into `init` with `f`: the sink
    /// [`Sink::fold`] that always continues. The fold is a plain loop over each chunk.
    ///
    /// ```
    /// use effect::{run_blocking, stream::Stream};
    ///
    /// let sum = Stream::<u64, String>::from_iter(1..=100).run_fold(0, |sum, n| sum + n);
    /// assert_eq!(run_blocking(sum), Ok(5050));
    /// ```
    pub fn run_fold<S, F>(self, init: S, f: F) -> Effect<S, E>
    where
        S: Send + 'static,
        F: FnMut(S, A) -> S + Send + 'static,
    {
        self.run(Sink::fold(init, |_| true, f))
    }

    /// Runs the stream to its end, collecting its values in order: the sink
    /// [`Sink::collect`].
    ///
    /// ```
    /// use effect::{run_blocking, stream::Stream};
    ///
    /// let letters = Stream::<char, String>::from_iter("abc".chars()).run_collect();
    /// assert_eq!(run_blocking(letters), Ok(vec!['a', 'b', 'c']));
    /// ```
    pub fn run_collect(self) -> Effect<Vec<A>, E> {
        self.run(Sink::collect())
    }

    /// Runs the stream to its end, running the effect `f` builds for each value, one after
    /// another (the next value is pulled only once the previous effect is done): the sink
    /// [`Sink::for_each`]. The first failure, of the stream or of an effect, ends the run with
    /// it.
    ///
    /// ```
    /// use std::sync::{Arc, Mutex};
    /// use effect::{run_blocking, stream::Stream, sync};
    ///
    /// let seen = Arc::new(Mutex::new(Vec::new()));
    /// let record = seen.clone();
    /// let run = Stream::<u32, String>::from_iter(1..=3).run_for_each(move |n| {
    ///     let record = record.clone();
    ///     sync(move || record.lock().unwrap().push(n))
    /// });
    /// assert_eq!(run_blocking(run), Ok(()));
    /// assert_eq!(*seen.lock().unwrap(), [1, 2, 3]);
    /// ```
    pub fn run_for_each<F>(self, f: F) -> Effect<(), E>
    where
        F: FnMut(A) -> Effect<(), E> + Send + 'static,
    {
        self.run(Sink::for_each(f))
    }

    /// Runs the stream to its end for its effects, discarding the values: the sink
    /// [`Sink::drain`].
    ///
    /// ```
    /// use effect::{run_blocking, stream::Stream};
    ///
    /// assert_eq!(run_blocking(Stream::<u8, String>::from_iter(0..10).run_drain()), Ok(()));
    /// ```
    pub fn run_drain(self) -> Effect<(), E> {
        self.run(Sink::drain())
    }

    /// Runs the stream into `queue`: each value is offered (waiting while the queue is full,
    /// so the stream goes at the consumer's pace), and the queue is shut down when the
    /// stream ends or fails, so a consumer reading it with [`Stream::from_queue`] sees the end.
    /// If the consumer shuts the queue down first, the run stops there, successfully (the
    /// sink is a [`Sink::for_each_while`] whose offers say whether to go on).
    ///
    /// ```
    /// use effect::{run_blocking, stream::Stream, Effect, Queue};
    ///
    /// let queue = Queue::bounded(16);
    /// run_blocking(Stream::<u32, String>::from_iter(1..=3).run_into_queue(queue.clone())).unwrap();
    /// let drained: Effect<Vec<u32>, String> = Stream::from_queue(queue).run_collect();
    /// assert_eq!(run_blocking(drained), Ok(vec![1, 2, 3]));
    /// ```
    pub fn run_into_queue(self, queue: Queue<A>) -> Effect<(), E> {
        let closing = queue.clone();
        // An offer refused means the consumer shut the queue down: nothing more to deliver.
        self.run(Sink::for_each_while(move |value| {
            queue
                .offer::<QueueShutdown>(value)
                .result()
                .map(|offered| offered.is_ok())
        }))
        .ensuring(crate::kernel::effect::sync(move || closing.shutdown()))
    }

    /// This stream as a [`futures::Stream`] of `Result`s, run with `ctx`: its values as
    /// `Ok`, then, if it fails, one `Err` with the cause, then the end.
    ///
    /// The stream runs only while the futures stream is polled (one value ahead at most), on
    /// the polling task. Dropping the futures stream before the end interrupts the stream,
    /// and its finalizers run as when a [`Run`] is dropped: on a task spawned
    /// onto the current tokio runtime.
    ///
    /// ```
    /// use futures::StreamExt;
    /// use effect::{stream::Stream, Context};
    ///
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let numbers = Stream::<u32, String>::from_iter(1..=3).into_futures_stream(&Context::new());
    /// let collected: Vec<_> = numbers.collect().await;
    /// assert_eq!(collected, [Ok(1), Ok(2), Ok(3)]);
    /// # }
    /// ```
    pub fn into_futures_stream(self, ctx: &Context) -> IntoFuturesStream<A, E> {
        // One value in flight: the run waits in `offer` until the consumer has taken it.
        let queue = Queue::bounded(1);
        let run = self.run_into_queue(queue.clone()).run(ctx);
        IntoFuturesStream {
            queue,
            run: Some(run),
            failure: None,
        }
    }
}

/// A [`Stream`] running as a [`futures::Stream`]; see [`Stream::into_futures_stream`].
///
/// ```
/// use futures::StreamExt;
/// use effect::stream::{IntoFuturesStream, Stream};
/// use effect::Context;
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// let mut words: IntoFuturesStream<&str, String> =
///     Stream::from_iter(["one", "two"]).into_futures_stream(&Context::new());
/// assert_eq!(words.next().await, Some(Ok("one")));
/// assert_eq!(words.next().await, Some(Ok("two")));
/// assert_eq!(words.next().await, None);
/// # }
/// ```
#[must_use = "streams do nothing unless polled"]
pub struct IntoFuturesStream<A, E> {
    queue: Queue<A>,
    /// The stream's run, until it has ended.
    run: Option<Run<(), E>>,
    /// The run's failure, given after the values it produced before failing.
    failure: Option<Cause<E>>,
}

impl<A, E> std::fmt::Debug for IntoFuturesStream<A, E> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("IntoFuturesStream")
    }
}

impl<A, E> Unpin for IntoFuturesStream<A, E> {}

impl<A: Send + 'static, E: Send + 'static> futures::Stream for IntoFuturesStream<A, E> {
    type Item = Result<A, Cause<E>>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<Option<Self::Item>> {
        let this = &mut *self;
        loop {
            if let Some(value) = this.queue.try_take() {
                return Poll::Ready(Some(Ok(value)));
            }
            let Some(run) = this.run.as_mut() else {
                return Poll::Ready(this.failure.take().map(Err));
            };
            // Drives the stream until it has offered a value and waits for room (or for
            // anything else: it registered this task's waker), or ends.
            match Pin::new(run).poll(cx) {
                Poll::Ready(exit) => {
                    let exit: Exit<(), E> = exit;
                    this.run = None;
                    this.failure = exit.err();
                }
                // Taking the value makes room, which wakes the run (on this task) again.
                Poll::Pending => {
                    return this
                        .queue
                        .try_take()
                        .map(|v| Some(Ok(v)))
                        .map_or(Poll::Pending, Poll::Ready)
                }
            }
        }
    }
}
