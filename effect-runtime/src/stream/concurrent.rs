//! Operators that run parts of a stream on fibers of their own: `buffer`, `merge`,
//! `merge_all` and `flat_map_par` (and `map_par`, in a module of its own).
//!
//! Each starts its fibers on the stream's first pull, as daemons owned by the stream's scope
//! (see [`channel`](super::channel)): when the run ends, however it ends, they are
//! interrupted and awaited before it does. They hand their values to the pulling fiber
//! through a bounded [`Channel`], so a slow consumer holds back a fast producer. A failure
//! (or defect) of any of them fails the stream, *fail-fast*: the other fibers are
//! interrupted, and their finalizers have run, before the failure is reported.

use std::sync::Arc;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use super::channel::{Channel, Workers, CHANNEL_CHUNKS};
use super::{Step, Stream};
use crate::kernel::cause::{Cause, Never};
use crate::kernel::context::Context;
use crate::kernel::effect::Effect;
use crate::ops::scope::{scoped, Scope};

impl<A: Send + 'static, E: Send + 'static> Stream<A, E> {
    /// This stream, produced ahead of its consumer on a fiber of its own through a buffer of
    /// `capacity` values, so a producer and a consumer of uneven speeds both keep going.
    ///
    /// The bound is in values, not chunks: the producer takes room for a value before it
    /// pulls upstream, and hands over what it pulled in pieces as room frees up. So the
    /// values pulled from upstream and not yet taken by the consumer are at most `capacity`
    /// for an upstream giving one value per pull (an effectful source), and at most
    /// `capacity + c - 1` for one giving chunks of `c` values. Each pull of the consumer
    /// takes everything waiting at once, as one chunk; what the consumer holds is not
    /// counted.
    ///
    /// Values and the end come in order; an upstream failure (or defect) fails the stream
    /// after the values pulled before it. The producer runs the upstream in a scope of its
    /// own, closed as the upstream ends, or when the run ends early (the producer is then
    /// interrupted and awaited: its finalizers have run before the run ends).
    ///
    /// # Panics
    /// When `capacity` is 0: a buffer that holds nothing could never pass a value on.
    ///
    /// ```
    /// use effect::{ms, sleep, stream::Stream, Clock, Context, Runtime, TestClock};
    ///
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let clock = TestClock::new();
    /// let runtime = Runtime::new(Context::new().with(Clock::from(clock.clone())));
    /// // Producing a value takes 10 ms, and so does consuming it.
    /// let values = || Stream::<u32, String>::from_iter(0..10).map_effect(|n| sleep(ms(10)).as_value(n));
    /// let consume = |_| sleep(ms(10));
    /// let in_turn = runtime.fork(values().run_for_each(consume));
    /// let overlapped = runtime.fork(values().buffer(4).run_for_each(consume));
    /// clock.advance(ms(110)).await;
    /// assert!(overlapped.is_done(), "the producer worked while the consumer did");
    /// assert!(!in_turn.is_done(), "one after the other, it takes 200 ms");
    /// clock.advance(ms(90)).await;
    /// assert!(in_turn.is_done());
    /// assert_eq!(runtime.live_fibers(), 0);
    /// # }
    /// ```
    pub fn buffer(self, capacity: usize) -> Stream<A, E> {
        assert!(
            capacity > 0,
            "Stream::buffer: the capacity must be at least 1"
        );
        Stream::from_open(move |scope| {
            let channel = Channel::with_value_bound(capacity, 1);
            self.open_producing(&scope, channel, Channel::receive)
        })
    }

    /// The values of this stream and `other`, as they come, both running concurrently; see
    /// [`merge_all`](Stream::merge_all).
    ///
    /// ```
    /// use effect::{run_blocking, stream::Stream};
    ///
    /// let both = Stream::<u32, String>::from_iter(1..=3).merge(Stream::from_iter(10..=12));
    /// let mut values = run_blocking(both.run_collect()).unwrap();
    /// values.sort();
    /// assert_eq!(values, [1, 2, 3, 10, 11, 12]);
    /// ```
    pub fn merge(self, other: Stream<A, E>) -> Stream<A, E> {
        Stream::merge_all([self, other])
    }

    /// The values of every stream of `streams`, as they come: each runs on a fiber of its
    /// own, all at once, and hands its chunks over through a buffer of a few chunks (16,
    /// shared), so no source gets far ahead of the consumer. Each source's values keep their
    /// order; the merged stream ends once every source has ended. A merge of no streams is
    /// empty.
    ///
    /// Fail-fast: the first source to fail (or die) fails the merged stream, after the values
    /// that reached the buffer before its failure. Every other source is interrupted first,
    /// and its finalizers (its resources' releases) have run before the merged stream fails;
    /// the failure of a source that also failed meanwhile is kept beside the first, in
    /// parallel. Interrupting or ending the run early (`take`) interrupts every source the
    /// same way.
    ///
    /// ```
    /// use effect::{run_blocking, stream::Stream};
    ///
    /// let sources = (0..4).map(|k| Stream::<u32, String>::from_iter((0..3).map(move |n| 10 * k + n)));
    /// let mut values = run_blocking(Stream::merge_all(sources).run_collect()).unwrap();
    /// values.sort();
    /// assert_eq!(values, [0, 1, 2, 10, 11, 12, 20, 21, 22, 30, 31, 32]);
    /// ```
    pub fn merge_all<I>(streams: I) -> Stream<A, E>
    where
        I: IntoIterator<Item = Stream<A, E>>,
    {
        let streams: Vec<Stream<A, E>> = streams.into_iter().collect();
        if streams.is_empty() {
            return Stream::empty();
        }
        Stream::from_open(move |scope| {
            let workers = Workers::new(&scope);
            let channel = Channel::new(CHANNEL_CHUNKS, streams.len());
            let sources = streams
                .into_iter()
                .map(|stream| channel.clone().pump(stream, None))
                .collect();
            workers.start(sources, move |workers| channel.receive(workers))
        })
    }

    /// For each value, the values of the stream `f` makes of it, running up to `n` of those
    /// inner streams at once and emitting their values as they come (each inner stream's in
    /// order). Values of this stream are pulled only as inner streams may start, so a slow
    /// consumer holds back both the inner streams and this one.
    ///
    /// Each inner stream runs in a scope of its own, closed as it ends (its slot then goes
    /// to the next). Fail-fast, like [`merge_all`](Stream::merge_all): a failure of this
    /// stream or of an inner one (or a panic in `f`) interrupts the others, whose finalizers
    /// have run before the stream fails.
    ///
    /// # Panics
    /// When `n` is 0: no inner stream could ever run.
    ///
    /// ```
    /// use effect::{run_blocking, stream::Stream};
    ///
    /// let pages = Stream::<u32, String>::from_iter(1..=3)
    ///     .flat_map_par(2, |n| Stream::from_iter((0..n).map(move |i| (n, i))));
    /// let mut values = run_blocking(pages.run_collect()).unwrap();
    /// values.sort();
    /// assert_eq!(values, [(1, 0), (2, 0), (2, 1), (3, 0), (3, 1), (3, 2)]);
    /// ```
    pub fn flat_map_par<B, F>(self, n: usize, mut f: F) -> Stream<B, E>
    where
        B: Send + 'static,
        F: FnMut(A) -> Stream<B, E> + Send + 'static,
    {
        assert!(n > 0, "Stream::flat_map_par: n must be at least 1");
        Stream::from_open(move |scope| {
            let workers = Workers::new(&scope);
            let channel = Channel::new(CHANNEL_CHUNKS, 1);
            // One permit per inner stream running: held by its producer until its scope has
            // closed.
            let slots = Arc::new(Semaphore::new(n.min(Semaphore::MAX_PERMITS)));
            let inner = channel.clone();
            let dispatcher = dispatch(
                self,
                slots,
                &workers,
                channel.clone(),
                move |value, slot| inner.clone().pump(f(value), Some(slot)),
            );
            workers.start(vec![dispatcher], move |workers| channel.receive(workers))
        })
    }
}

/// The dispatcher of `flat_map_par`, a producer of `channel`: pulls `upstream`
/// (in a scope of its own) and, for each value, once `room` gives a permit for it, starts the
/// worker `start` makes of the value (with the permit) on a fiber owned by `workers`, as one
/// more producer of `channel`. It takes a permit *before* each pull, so it holds no pulled
/// value it could not start, beyond the rest of the one chunk it is starting.
fn dispatch<A, T, E, F>(
    upstream: Stream<A, E>,
    room: Arc<Semaphore>,
    workers: &Workers,
    channel: Channel<T, E>,
    mut start: F,
) -> Effect<(), Never>
where
    A: Send + 'static,
    T: Send + 'static,
    E: Send + 'static,
    F: FnMut(A, OwnedSemaphorePermit) -> Effect<(), Never> + Send + 'static,
{
    let (out, workers) = (channel.clone(), workers.clone());
    let run = scoped(Effect::new(move |ctx: Context| async move {
        let mut pull = upstream.open(ctx.get::<Scope>());
        let mut permit: Option<OwnedSemaphorePermit> = None;
        loop {
            if permit.is_none() {
                permit = Some(acquire(&room).await);
            }
            match pull.await? {
                Step::Emit(chunk, rest) => {
                    for value in chunk {
                        let slot = match permit.take() {
                            Some(permit) => permit,
                            None => acquire(&room).await,
                        };
                        // Counted before it starts, so the channel cannot end before it does.
                        // The worker belongs to `workers` (the stream's scope), not to this
                        // dispatcher: it runs on when the upstream ends and the dispatcher with
                        // it, and is interrupted only by a fail-fast or the scope's close.
                        out.add_producer();
                        workers
                            .fork(start(value, slot))
                            .await
                            .map_err(Cause::widen)?;
                    }
                    pull = *rest;
                }
                Step::End => return Ok(()),
            }
        }
    }));
    channel.finishing(run, None)
}

pub(super) async fn acquire(room: &Arc<Semaphore>) -> OwnedSemaphorePermit {
    room.clone()
        .acquire_owned()
        .await
        .expect("effect runtime: a stream's permits are never closed")
}
