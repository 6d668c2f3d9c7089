//! Where streams come from: values, iterators, effects, queues and hubs, futures streams,
//! schedules and resources.

use std::collections::VecDeque;
use std::pin::Pin;
use std::sync::Arc;

use super::{Pull, Step, Stream, CHUNK_SIZE};
use crate::kernel::cause::Cause;
use crate::kernel::effect::{fail_cause, succeed, suspend, sync, Effect};
use crate::kernel::random::Random;
use crate::ops::schedule::{Schedule, ScheduleRun, REPEATS};
use crate::ops::scope::{acquire_release, ScopeExit};
use crate::ops::time::sleep;
use crate::services::sync::{Queue, QueueShutdown, Subscription};
use crate::Never;

/// The pull of a stream that has ended.
pub(crate) fn end<A: Send + 'static, E: Send + 'static>() -> Pull<A, E> {
    succeed(Step::End)
}

/// The pull that gives `chunk`, then `rest`.
pub(crate) fn emit<A: Send + 'static, E: Send + 'static>(
    chunk: Vec<A>,
    rest: Pull<A, E>,
) -> Pull<A, E> {
    succeed(Step::emit(chunk, rest))
}

/// The pull of the rest of `iter`, in chunks of `size` values, doubling up to
/// [`CHUNK_SIZE`]: a stream that is only partly consumed (`take(3)`) runs its iterator little
/// ahead of what was taken, and a long one runs in full chunks.
fn iter_pull<I, E>(mut iter: I, size: usize) -> Pull<I::Item, E>
where
    I: Iterator + Send + 'static,
    I::Item: Send + 'static,
    E: Send + 'static,
{
    // The iterator advances only when this pull runs.
    sync(move || {
        // Room for the whole chunk at once (or for what the iterator says is left): a chain
        // of iterators knows no bound, and growing the chunk as it fills costs more than it.
        let room = iter.size_hint().1.map_or(size, |left| left.min(size));
        let mut chunk: Vec<I::Item> = Vec::with_capacity(room);
        chunk.extend(iter.by_ref().take(size));
        if chunk.is_empty() {
            Step::End
        } else if chunk.len() < size {
            // The iterator has said it is done: the end comes with its last values (and the
            // iterator is not asked again, which an iterator that is not fused could answer).
            Step::emit(chunk, end())
        } else {
            Step::emit(chunk, iter_pull(iter, (size * 2).min(CHUNK_SIZE)))
        }
    })
}

/// The source of a [`Stream::from_iter`]: its iterator, opened as a pull of its own type
/// (monomorphic: a stream of one iterator pays no dynamic call per value), or handed over
/// as a [`Fill`], for a concat to run with its neighbours.
pub(super) trait IterSource<A, E>: Send {
    /// The stream's first pull.
    fn open(self: Box<Self>) -> Pull<A, E>;

    /// The iterator, as a filler of chunks.
    fn into_fill(self: Box<Self>) -> Box<dyn Fill<A>>;
}

/// An iterator that fills chunks: one dynamic call per chunk (and part), not per value.
pub(super) trait Fill<A>: Send {
    /// Moves up to `max` values into `chunk`; whether the iterator has ended.
    fn fill(&mut self, chunk: &mut Vec<A>, max: usize) -> bool;
}

/// An iterator as an [`IterSource`] and a [`Fill`].
pub(super) struct IterOf<I>(pub(super) I);

impl<I, E> IterSource<I::Item, E> for IterOf<I>
where
    I: Iterator + Send + 'static,
    I::Item: Send + 'static,
    E: Send + 'static,
{
    fn open(self: Box<Self>) -> Pull<I::Item, E> {
        iter_pull(self.0, 1)
    }

    fn into_fill(self: Box<Self>) -> Box<dyn Fill<I::Item>> {
        self
    }
}

impl<I: Iterator + Send> Fill<I::Item> for IterOf<I> {
    fn fill(&mut self, chunk: &mut Vec<I::Item>, max: usize) -> bool {
        for _ in 0..max {
            match self.0.next() {
                Some(value) => chunk.push(value),
                None => return true,
            }
        }
        false
    }
}

/// The pull of the iterators of consecutive `from_iter` parts of a concat, one after
/// another, in chunks of `size` values doubling up to [`CHUNK_SIZE`] across the parts'
/// boundaries, as [`iter_pull`] pulls one iterator. A part that has ended is not asked again.
pub(super) fn fill_pull<A, E>(mut parts: VecDeque<Box<dyn Fill<A>>>, size: usize) -> Pull<A, E>
where
    A: Send + 'static,
    E: Send + 'static,
{
    sync(move || {
        let mut chunk = Vec::with_capacity(size);
        while let Some(part) = parts.front_mut() {
            let left = size - chunk.len();
            if left == 0 {
                break;
            }
            if part.fill(&mut chunk, left) {
                parts.pop_front();
            }
        }
        match (chunk.is_empty(), parts.is_empty()) {
            (true, _) => Step::End,
            (false, true) => Step::emit(chunk, end()),
            (false, false) => Step::emit(chunk, fill_pull(parts, (size * 2).min(CHUNK_SIZE))),
        }
    })
}

/// What `from_queue` and `from_subscription` read: a queue of items that ends with
/// [`QueueShutdown`] once shut down and drained.
trait Takes<A>: Send + 'static {
    fn take(&self) -> Effect<A, QueueShutdown>;
    fn try_take(&self) -> Option<A>;
}

impl<A: Send + 'static> Takes<A> for Queue<A> {
    fn take(&self) -> Effect<A, QueueShutdown> {
        Queue::take(self)
    }
    fn try_take(&self) -> Option<A> {
        Queue::try_take(self)
    }
}

impl<A: Send + 'static> Takes<A> for Subscription<A> {
    fn take(&self) -> Effect<A, QueueShutdown> {
        Subscription::take(self)
    }
    fn try_take(&self) -> Option<A> {
        Subscription::try_take(self)
    }
}

/// Each pull waits for one item, then takes what else is already there, up to
/// [`CHUNK_SIZE`]; the stream ends at the shutdown.
fn take_pull<A, E, Q>(source: Q) -> Pull<A, E>
where
    A: Send + 'static,
    E: Send + 'static,
    Q: Takes<A>,
{
    source.take().result().map(move |taken| match taken {
        Ok(first) => {
            let mut chunk = vec![first];
            while chunk.len() < CHUNK_SIZE {
                match source.try_take() {
                    Some(item) => chunk.push(item),
                    None => break,
                }
            }
            Step::emit(chunk, take_pull(source))
        }
        Err(QueueShutdown) => Step::End,
    })
}

impl<A: Send + 'static, E: Send + 'static> Stream<A, E> {
    /// The stream of no values.
    ///
    /// ```
    /// use effect::{run_blocking, stream::Stream};
    ///
    /// assert_eq!(run_blocking(Stream::<u8, String>::empty().run_collect()), Ok(vec![]));
    /// ```
    pub fn empty() -> Self {
        Stream::from_open(|_| end())
    }

    /// The stream of one value.
    ///
    /// ```
    /// use effect::{run_blocking, stream::Stream};
    ///
    /// assert_eq!(run_blocking(Stream::<_, String>::succeed(7).run_collect()), Ok(vec![7]));
    /// ```
    pub fn succeed(value: A) -> Self {
        Stream::from_open(move |_| emit(vec![value], end()))
    }

    /// A stream that never gives a value and never ends: a pull waits until the run is
    /// interrupted or stopped (by `interrupt_when`, `timeout`, a `merge` partner failing).
    ///
    /// ```
    /// use effect::{ms, run_blocking, stream::Stream};
    ///
    /// let quiet = Stream::<u32, String>::from_iter([1, 2]).concat(Stream::never()).timeout(ms(10));
    /// assert_eq!(run_blocking(quiet.run_collect()), Ok(vec![1, 2]));
    /// ```
    pub fn never() -> Self {
        Stream::from_open(|_| crate::kernel::effect::never())
    }

    /// `init`, `f(init)`, `f(f(init))`, ...: an endless stream, computed as it is pulled
    /// (one value per pull, so `f` never runs ahead of what is consumed).
    ///
    /// ```
    /// use effect::{run_blocking, stream::Stream};
    ///
    /// let doubling = Stream::<u64, String>::iterate(1, |n| n * 2).take(5);
    /// assert_eq!(run_blocking(doubling.run_collect()), Ok(vec![1, 2, 4, 8, 16]));
    /// ```
    pub fn iterate<F>(init: A, mut f: F) -> Self
    where
        A: Clone,
        F: FnMut(&A) -> A + Send + 'static,
    {
        Stream::unfold(init, move |value| {
            let next = f(&value);
            Some((value, next))
        })
    }

    /// `value`, over and over: an endless stream (cut it with `take`, `zip`, ...), in chunks
    /// of [`CHUNK_SIZE`] clones.
    ///
    /// ```
    /// use effect::{run_blocking, stream::Stream};
    ///
    /// let labelled = Stream::<u32, String>::from_iter([1, 2, 3]).zip(Stream::repeat_value("x"));
    /// assert_eq!(run_blocking(labelled.run_collect()), Ok(vec![(1, "x"), (2, "x"), (3, "x")]));
    /// ```
    pub fn repeat_value(value: A) -> Self
    where
        A: Clone,
    {
        Stream::from_iter(std::iter::repeat(value))
    }

    /// A stream that fails with `error` when pulled, before giving any value.
    ///
    /// ```
    /// use effect::{run_blocking, stream::Stream};
    ///
    /// let failing = Stream::<u8, _>::fail("no input").run_collect();
    /// assert_eq!(run_blocking(failing).unwrap_err().failure(), Some(&"no input"));
    /// ```
    pub fn fail(error: E) -> Self {
        Stream::from_open(move |_| fail_cause(Cause::Fail(error)))
    }

    /// The values of `items`, in order. The iterator is advanced only as the stream is
    /// pulled, in chunks of 1, 2, 4, ... up to [`CHUNK_SIZE`] values, so an endless iterator
    /// is fine, and one that is only partly consumed runs at most as far again as what was
    /// taken.
    ///
    /// ```
    /// use effect::{run_blocking, stream::Stream};
    ///
    /// let evens = Stream::<u64, String>::from_iter(0..).filter(|n| n % 2 == 0).take(4);
    /// assert_eq!(run_blocking(evens.run_collect()), Ok(vec![0, 2, 4, 6]));
    /// ```
    #[allow(clippy::should_implement_trait)]
    pub fn from_iter<I>(items: I) -> Self
    where
        I: IntoIterator<Item = A>,
        I::IntoIter: Send + 'static,
    {
        Stream {
            repr: super::Repr::Iter(Box::new(IterOf(items.into_iter()))),
        }
    }

    /// The values of `chunks`, each emitted as one chunk, as it is: for a source that already
    /// reads in batches, and to see what a chunk boundary changes (the leftovers of a sink are
    /// the rest of the chunk it finished in). The iterator is advanced one chunk per pull.
    ///
    /// ```
    /// use effect::{run_blocking, stream::{Sink, Stream}};
    ///
    /// let batches = Stream::<u32, String>::from_chunks([vec![1, 2, 3], vec![4, 5]]);
    /// assert_eq!(run_blocking(batches.run_with_leftovers(Sink::head())), Ok((Some(1), vec![2, 3])));
    /// ```
    pub fn from_chunks<I>(chunks: I) -> Self
    where
        I: IntoIterator<Item = Vec<A>>,
        I::IntoIter: Send + 'static,
    {
        fn pull<I, A, E>(mut chunks: I) -> Pull<A, E>
        where
            I: Iterator<Item = Vec<A>> + Send + 'static,
            A: Send + 'static,
            E: Send + 'static,
        {
            sync(move || match chunks.next() {
                Some(chunk) => Step::emit(chunk, pull(chunks)),
                None => Step::End,
            })
        }
        let chunks = chunks.into_iter();
        Stream::from_open(move |_| pull(chunks))
    }

    /// The stream of the one value of `effect` (or its failure), run when the stream is
    /// first pulled.
    ///
    /// ```
    /// use effect::{run_blocking, stream::Stream, sync};
    ///
    /// let once = Stream::<_, String>::from_effect(sync(|| 42));
    /// assert_eq!(run_blocking(once.run_collect()), Ok(vec![42]));
    /// ```
    pub fn from_effect(effect: Effect<A, E>) -> Self {
        Stream::from_open(move |_| effect.map(|value| Step::emit(vec![value], end())))
    }

    /// The values `step` unfolds from `state`: each call gives a value and the next state,
    /// or `None` to end. One value per pull, so `step` never runs ahead of what is consumed.
    /// Pure; for an effectful step use [`unfold_effect`](Stream::unfold_effect).
    ///
    /// ```
    /// use effect::{run_blocking, stream::Stream};
    ///
    /// let powers = Stream::<u32, String>::unfold(1, |n| (n <= 100).then(|| (n, n * 3)));
    /// assert_eq!(run_blocking(powers.run_collect()), Ok(vec![1, 3, 9, 27, 81]));
    /// ```
    pub fn unfold<S, F>(state: S, step: F) -> Self
    where
        S: Send + 'static,
        F: FnMut(S) -> Option<(A, S)> + Send + 'static,
    {
        fn pull<A, E, S, F>(state: S, mut step: F) -> Pull<A, E>
        where
            A: Send + 'static,
            E: Send + 'static,
            S: Send + 'static,
            F: FnMut(S) -> Option<(A, S)> + Send + 'static,
        {
            sync(move || match step(state) {
                Some((value, state)) => Step::emit(vec![value], pull(state, step)),
                None => Step::End,
            })
        }
        Stream::from_open(move |_| pull(state, step))
    }

    /// The values the effects of `step` unfold from `state`, one per pull: each effect gives
    /// a value and the next state, or `None` to end; a failure fails the stream.
    ///
    /// ```
    /// use effect::{run_blocking, stream::Stream, succeed};
    ///
    /// // Pages of a paginated API: fetch until there is no next page.
    /// let pages = Stream::<String, String>::unfold_effect(Some(1), |page: Option<u32>| {
    ///     succeed(page.map(|n| (format!("page {n}"), (n < 3).then_some(n + 1))))
    /// });
    /// assert_eq!(run_blocking(pages.run_collect()).unwrap(), ["page 1", "page 2", "page 3"]);
    /// ```
    pub fn unfold_effect<S, F>(state: S, step: F) -> Self
    where
        S: Send + 'static,
        F: Fn(S) -> Effect<Option<(A, S)>, E> + Send + Sync + 'static,
    {
        fn pull<A, E, S, F>(state: S, step: Arc<F>) -> Pull<A, E>
        where
            A: Send + 'static,
            E: Send + 'static,
            S: Send + 'static,
            F: Fn(S) -> Effect<Option<(A, S)>, E> + Send + Sync + 'static,
        {
            suspend(move || {
                step(state).map(move |next| match next {
                    Some((value, state)) => Step::emit(vec![value], pull(state, step)),
                    None => Step::End,
                })
            })
        }
        let step = Arc::new(step);
        Stream::from_open(move |_| pull(state, step))
    }

    /// The values of the effects `make` builds, one after another: the first at once, then
    /// each after the delay `schedule` chooses (shown the value just emitted), on the
    /// context's clock; ends when the schedule stops. A failure fails the stream.
    ///
    /// ```
    /// use std::sync::atomic::{AtomicU32, Ordering};
    /// use std::sync::Arc;
    /// use effect::{run_blocking, stream::Stream, sync, Schedule};
    ///
    /// let polls = Arc::new(AtomicU32::new(0));
    /// let counter = polls.clone();
    /// let samples = Stream::<u32, String>::repeat_effect(
    ///     move || { let c = counter.clone(); sync(move || c.fetch_add(1, Ordering::SeqCst)) },
    ///     Schedule::recurs(3),
    /// );
    /// assert_eq!(run_blocking(samples.run_collect()), Ok(vec![0, 1, 2, 3]));
    /// ```
    pub fn repeat_effect<F>(make: F, schedule: Schedule<A>) -> Self
    where
        F: Fn() -> Effect<A, E> + Send + Sync + 'static,
    {
        fn pull<A, E, F>(make: Arc<F>, mut run: ScheduleRun<A>) -> Pull<A, E>
        where
            A: Send + 'static,
            E: Send + 'static,
            F: Fn() -> Effect<A, E> + Send + Sync + 'static,
        {
            make().map(move |value| {
                let rest = match run.next_counted(&value, REPEATS) {
                    // `sleep` reads the context's clock.
                    Some(delay) => sleep(delay).flat_map(move |()| pull(make, run)),
                    None => end(),
                };
                Step::emit(vec![value], rest)
            })
        }
        let make = Arc::new(make);
        Stream::from_open(move |_| {
            Effect::new(move |ctx| async move {
                let run = schedule.start_run(&Random::of(&ctx));
                pull(make, run).await
            })
        })
    }

    /// The items taken from `queue`, as they come (each pull waits for at least one, and
    /// takes what else is already there, up to [`CHUNK_SIZE`]); ends once the queue is shut
    /// down and drained.
    ///
    /// ```
    /// use effect::{run_blocking, stream::Stream, Effect, Queue};
    ///
    /// let queue = Queue::bounded(8);
    /// for n in 1..=3 { queue.try_offer(n).unwrap(); }
    /// queue.shutdown();
    /// let drained: Effect<Vec<u32>, String> = Stream::from_queue(queue).run_collect();
    /// assert_eq!(run_blocking(drained), Ok(vec![1, 2, 3]));
    /// ```
    pub fn from_queue(queue: Queue<A>) -> Self {
        Stream::from_open(move |_| take_pull(queue))
    }

    /// The items published to a [`Hub`](crate::Hub) through `subscription` from now on;
    /// ends once the hub is shut down and the subscription drained. The stream owns the
    /// subscription: it unsubscribes when the stream is dropped or ends.
    ///
    /// ```
    /// use effect::{run_blocking, stream::Stream, Effect, Hub, QueueShutdown};
    ///
    /// let hub = Hub::bounded(8);
    /// let events: Stream<&str, String> = Stream::from_subscription(hub.subscribe());
    /// let published: Effect<(), QueueShutdown> = hub.publish("started").flat_map({
    ///     let hub = hub.clone();
    ///     move |()| hub.publish("stopped")
    /// });
    /// run_blocking(published).unwrap();
    /// hub.shutdown();
    /// assert_eq!(run_blocking(events.run_collect()), Ok(vec!["started", "stopped"]));
    /// ```
    pub fn from_subscription(subscription: Subscription<A>) -> Self {
        Stream::from_open(move |_| take_pull(subscription))
    }

    /// The items of a [`futures::Stream`], one per pull, for interop with the futures
    /// ecosystem. The futures stream is polled only when this stream is pulled, and dropped
    /// when this stream ends or its run ends.
    ///
    /// ```
    /// use effect::{run_blocking, stream::Stream};
    ///
    /// let items = Stream::<_, String>::from_futures_stream(futures::stream::iter(["a", "b"]));
    /// assert_eq!(run_blocking(items.run_collect()), Ok(vec!["a", "b"]));
    /// ```
    pub fn from_futures_stream<S>(stream: S) -> Self
    where
        S: futures::Stream<Item = A> + Send + 'static,
    {
        Stream::from_futures_try_stream(futures::StreamExt::map(stream, Ok))
    }

    /// The items of a [`futures::Stream`] of `Result`s: `Ok` values are emitted, the first
    /// `Err` fails the stream.
    ///
    /// ```
    /// use effect::{run_blocking, stream::Stream};
    ///
    /// let lines = futures::stream::iter([Ok("header"), Err("truncated".to_string())]);
    /// let run = Stream::from_futures_try_stream(lines).run_collect();
    /// assert_eq!(run_blocking(run).unwrap_err().failure(), Some(&"truncated".to_string()));
    /// ```
    pub fn from_futures_try_stream<S>(stream: S) -> Self
    where
        S: futures::Stream<Item = Result<A, E>> + Send + 'static,
    {
        type Boxed<A, E> = Pin<Box<dyn futures::Stream<Item = Result<A, E>> + Send>>;
        fn pull<A: Send + 'static, E: Send + 'static>(mut stream: Boxed<A, E>) -> Pull<A, E> {
            Effect::from_future(async move {
                match std::future::poll_fn(|cx| stream.as_mut().poll_next(cx)).await {
                    Some(Ok(value)) => Ok(Step::emit(vec![value], pull(stream))),
                    Some(Err(error)) => Err(Cause::Fail(error)),
                    None => Ok(Step::End),
                }
            })
        }
        let boxed: Boxed<A, E> = Box::pin(stream);
        Stream::from_open(move |_| pull(boxed))
    }

    /// The stream of one value: the resource `acquire` gives, acquired in the stream's scope
    /// when the stream is first pulled and released (with `release`) when that scope closes:
    /// as the run ends, however it ends, or, inside [`flat_map`](Stream::flat_map), as soon as
    /// this inner stream ends. Use it with `flat_map` to stream *from* the resource.
    ///
    /// ```
    /// use std::sync::{Arc, Mutex};
    /// use effect::{run_blocking, stream::Stream, succeed, sync, Effect};
    ///
    /// let log = Arc::new(Mutex::new(Vec::new()));
    /// let (opened, closed) = (log.clone(), log.clone());
    /// let lines = Stream::<_, String>::acquire_release(
    ///     sync(move || { opened.lock().unwrap().push("open"); vec!["a", "b", "c"] }),
    ///     move |_, _| sync(move || closed.lock().unwrap().push("close")),
    /// )
    /// .flat_map(|file: Vec<&'static str>| Stream::from_iter(file));
    /// let first: Effect<Vec<&str>, String> = lines.take(1).run_collect();
    /// assert_eq!(run_blocking(first), Ok(vec!["a"]));
    /// assert_eq!(*log.lock().unwrap(), ["open", "close"]);
    /// ```
    pub fn acquire_release<R>(acquire: Effect<A, E>, release: R) -> Self
    where
        A: Clone,
        R: FnOnce(A, &ScopeExit) -> Effect<(), Never> + Send + 'static,
    {
        Stream::scoped(acquire_release(acquire, release))
    }

    /// The stream of the one value of `effect`, run in the stream's scope: resources it
    /// acquires with [`acquire_release`] are released when that scope
    /// closes (see [`Stream::acquire_release`]).
    ///
    /// ```
    /// use effect::{acquire_release, run_blocking, stream::Stream, sync, Effect};
    ///
    /// let connection = acquire_release(sync(|| "conn-1"), |_, _| sync(|| ()));
    /// let ids: Effect<Vec<&str>, String> = Stream::scoped(connection).run_collect();
    /// assert_eq!(run_blocking(ids), Ok(vec!["conn-1"]));
    /// ```
    pub fn scoped(effect: Effect<A, E>) -> Self {
        Stream::from_open(move |scope| {
            effect
                .provide_service(scope)
                .map(|value| Step::emit(vec![value], end()))
        })
    }
}
