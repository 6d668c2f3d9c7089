//! Operators that run parts of a stream on fibers of their own: `buffer`, `merge`,
//! `merge_all`, `map_par`, `map_par_unordered` and `flat_map_par`.
//!
//! Each starts its fibers on the stream's first pull, as daemons owned by the stream's scope
//! (see [`channel`](super::channel)): when the run ends, however it ends, they are
//! interrupted and awaited before it does. They hand their values to the pulling fiber
//! through a bounded [`Channel`], so a slow consumer holds back a fast producer. A failure
//! (or defect) of any of them fails the stream, *fail-fast*: the other fibers are
//! interrupted, and their finalizers have run, before the failure is reported.

use std::collections::VecDeque;
use std::pin::pin;
use std::sync::Arc;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use super::channel::{Channel, Signal, Workers, CHANNEL_CHUNKS};
use super::{Pull, Step, Stream};
use crate::cause::{Cause, Never};
use crate::context::Context;
use crate::effect::Effect;
use crate::fiber::bind::current_fiber;
use crate::fiber::region::{Placement, Region};
use crate::scope::{scoped, Scope};

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

    /// Each value mapped by the effect `f` builds, running up to `n` of those effects at
    /// once, each on a fiber of its own, and emitting the results **in input order**.
    ///
    /// At most `n` values are in flight: being mapped, or mapped and waiting for an earlier
    /// one to be emitted. So a slow effect at the head holds back the ones after it, and a
    /// slow consumer holds back the effects and the upstream (pulled only when a value may
    /// start, beyond the rest of one upstream chunk). `f` is called on a fiber of the
    /// stream, in order, as values start.
    ///
    /// Fail-fast: the first effect to fail (or die, or a panic in `f`, or a failure of the
    /// upstream) fails the stream at once, even if earlier values are still being mapped;
    /// every effect still running is interrupted, and its finalizers have run, before it
    /// does.
    ///
    /// # Panics
    /// When `n` is 0: no effect could ever run.
    ///
    /// ```
    /// use effect::{ms, run_blocking, sleep, stream::Stream};
    ///
    /// // The first value takes longest, yet comes out first.
    /// let delays = Stream::<u64, String>::from_iter([30, 10, 20])
    ///     .map_par(3, |delay| sleep(ms(delay)).as_value(delay));
    /// assert_eq!(run_blocking(delays.run_collect()), Ok(vec![30, 10, 20]));
    /// ```
    pub fn map_par<B, F>(self, n: usize, f: F) -> Stream<B, E>
    where
        B: Send + 'static,
        F: FnMut(A) -> Effect<B, E> + Send + 'static,
    {
        assert!(n > 0, "Stream::map_par: n must be at least 1");
        self.map_par_with(
            n,
            f,
            |index, value| (index, value),
            |channel, workers| in_order(channel, workers, Reorder::default()),
        )
    }

    /// Like [`map_par`](Stream::map_par), but emits each result as soon as its effect
    /// finishes: **in completion order**. At most `n` values are in flight (being mapped, or
    /// mapped and not yet emitted); a slow effect holds back nothing but its own slot.
    ///
    /// # Panics
    /// When `n` is 0.
    ///
    /// ```
    /// use effect::{ms, sleep, stream::Stream, Clock, Context, Runtime, TestClock};
    ///
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let clock = TestClock::new();
    /// let runtime = Runtime::new(Context::new().with(Clock::from(clock.clone())));
    /// let delays = Stream::<u64, String>::from_iter([30, 10, 20])
    ///     .map_par_unordered(3, |delay| sleep(ms(delay)).as_value(delay));
    /// let run = runtime.fork(delays.run_collect());
    /// clock.advance(ms(30)).await;
    /// assert_eq!(runtime.run(run.join()).await, Ok(vec![10, 20, 30]));
    /// # }
    /// ```
    pub fn map_par_unordered<B, F>(self, n: usize, f: F) -> Stream<B, E>
    where
        B: Send + 'static,
        F: FnMut(A) -> Effect<B, E> + Send + 'static,
    {
        assert!(n > 0, "Stream::map_par_unordered: n must be at least 1");
        self.map_par_with(n, f, |_, value| value, Channel::receive)
    }

    /// `map_par` and `map_par_unordered`: one producer fiber pulls the upstream and runs the
    /// effects of up to `n` values at once as in-place members of a region of its own (polled
    /// by its task, as `race` polls its branches: no task per value); each result, tagged by
    /// `tag` with the value's index, goes to the channel, and `consume` makes the pull that
    /// emits them.
    fn map_par_with<B, T, F>(
        self,
        n: usize,
        f: F,
        tag: fn(u64, B) -> T,
        consume: fn(Channel<T, E>, Workers) -> Pull<B, E>,
    ) -> Stream<B, E>
    where
        B: Send + 'static,
        T: Send + 'static,
        F: FnMut(A) -> Effect<B, E> + Send + 'static,
    {
        Stream::from_open(move |scope| {
            let workers = Workers::new(&scope);
            let channel: Channel<T, E> = Channel::with_value_bound(n, 1);
            let producer = map_in_place(self, f, tag, channel.clone());
            workers.start(vec![producer], move |workers| consume(channel, workers))
        })
    }
}

/// What a member of `map_par`'s region gives: the upstream's next step, or the result of
/// the value with this index.
enum Done<A, B, E> {
    Pulled(Step<A, E>),
    Mapped(u64, B),
}

/// `map_par`'s producer: the fiber that pulls `upstream` and maps its values.
///
/// Invariants: a value starts only with a credit of the channel (its value bound, `n`), kept
/// until the consumer emits its result, so at most `n` values are being mapped or waiting to
/// be emitted. The upstream is pulled only when no pulled value waits for a credit and a
/// credit is free, as a member of the same region, so mapping goes on while it is pulled; a
/// pull is never interrupted but by the end of the whole stream. Everything runs in the
/// region on this fiber's stack: when this fiber ends (the upstream and every value done, or
/// a failure, or the stream's scope interrupting it), the region interrupts and awaits
/// whatever is still running. This fiber polls its members continuously, whatever the
/// consumer is doing, so a `TestClock` sees them block like any fiber.
fn map_in_place<A, B, T, E, F>(
    upstream: Stream<A, E>,
    mut f: F,
    tag: fn(u64, B) -> T,
    channel: Channel<T, E>,
) -> Effect<(), Never>
where
    A: Send + 'static,
    B: Send + 'static,
    T: Send + 'static,
    E: Send + 'static,
    F: FnMut(A) -> Effect<B, E> + Send + 'static,
{
    let out = channel.clone();
    let credits = channel.credits().expect("a value-bound channel").clone();
    let run = scoped(Effect::new(move |ctx: Context| async move {
        let mut upstream = Some(upstream.open(ctx.get::<Scope>()));
        let region: Arc<Region<Done<A, B, E>, E>> = Arc::default();
        let members = region.clone();
        Region::effect(region, async move {
            let (ctx, family) = current_fiber();
            let mut pending: VecDeque<A> = VecDeque::new();
            let (mut pulling, mut mapping, mut index) = (false, 0usize, 0u64);
            loop {
                while !pending.is_empty() {
                    let Ok(credit) = credits.try_acquire() else {
                        break;
                    };
                    // The credit stays taken until the consumer emits the result.
                    credit.forget();
                    let value = pending.pop_front().expect("a pending value");
                    let at = index;
                    index += 1;
                    let work = f(value).map(move |out| Done::Mapped(at, out));
                    members.start(work, Placement::InPlace, true, &ctx, &family);
                    mapping += 1;
                }
                if pending.is_empty() && !pulling && credits.available_permits() > 0 {
                    if let Some(pull) = upstream.take() {
                        let step = pull.map(Done::Pulled);
                        members.start(step, Placement::InPlace, true, &ctx, &family);
                        pulling = true;
                    }
                }
                if !pulling && mapping == 0 && pending.is_empty() && upstream.is_none() {
                    return Ok(());
                }
                // Wait for a member to finish, or (values or the upstream waiting) for a
                // credit to free up.
                let waiting_for_credit = !pending.is_empty() || (!pulling && upstream.is_some());
                let finished = if waiting_for_credit && mapping == 0 && !pulling {
                    // Nothing runs: only the consumer can make room.
                    drop(acquire(&credits).await);
                    continue;
                } else if waiting_for_credit {
                    let credit = pin!(acquire(&credits));
                    let next = pin!(members.next_finished());
                    match futures::future::select(next, credit).await {
                        futures::future::Either::Left((finished, _)) => finished,
                        futures::future::Either::Right((credit, _)) => {
                            drop(credit);
                            continue;
                        }
                    }
                } else {
                    members.next_finished().await
                };
                let mut results = Vec::new();
                let mut next = finished;
                // Whatever else has finished goes out in the same chunk.
                while let Some((_, exit)) = next {
                    match exit? {
                        Done::Mapped(at, value) => {
                            mapping -= 1;
                            results.push(tag(at, value));
                        }
                        Done::Pulled(Step::Emit(chunk, rest)) => {
                            pulling = false;
                            pending.extend(chunk);
                            upstream = Some(*rest);
                        }
                        Done::Pulled(Step::End) => pulling = false,
                    }
                    next = members.try_next_finished().await;
                }
                if !results.is_empty() {
                    out.send_chunk(results).await;
                }
            }
        })
        .await
    }));
    channel.finishing(run, None)
}

/// The dispatcher of `map_par` and `flat_map_par`, a producer of `channel`: pulls `upstream`
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

async fn acquire(room: &Arc<Semaphore>) -> OwnedSemaphorePermit {
    room.clone()
        .acquire_owned()
        .await
        .expect("effect runtime: a stream's permits are never closed")
}

/// The results of `map_par` waiting for the ones before them: `ready[i]` is the result of
/// value `next + i`, once it has one.
struct Reorder<B> {
    next: u64,
    ready: VecDeque<Option<B>>,
}

impl<B> Default for Reorder<B> {
    fn default() -> Self {
        Reorder {
            next: 0,
            ready: VecDeque::new(),
        }
    }
}

impl<B> Reorder<B> {
    fn insert(&mut self, index: u64, value: B) {
        let at = usize::try_from(index - self.next).expect("at most n results wait");
        if self.ready.len() <= at {
            self.ready.resize_with(at + 1, || None);
        }
        self.ready[at] = Some(value);
    }

    /// The results ready from `next` on, in order.
    fn pop_ready(&mut self) -> Vec<B> {
        let mut out = Vec::new();
        while let Some(Some(_)) = self.ready.front() {
            out.extend(self.ready.pop_front().flatten());
        }
        self.next += out.len() as u64;
        out
    }
}

/// The pull of `map_par`'s results in input order. A result's credit is given back only as
/// it is emitted, so results waiting for an earlier one still count against `n`.
fn in_order<B, E>(
    channel: Channel<(u64, B), E>,
    workers: Workers,
    mut reorder: Reorder<B>,
) -> Pull<B, E>
where
    B: Send + 'static,
    E: Send + 'static,
{
    Effect::from_future(async move {
        loop {
            // Every signal already waiting is taken before anything is emitted, so results
            // that arrived together leave together.
            let signal = match channel.try_recv() {
                Some(signal) => signal,
                None => {
                    let out = reorder.pop_ready();
                    if !out.is_empty() {
                        channel.release(out.len());
                        return Ok(Step::emit(out, in_order(channel, workers, reorder)));
                    }
                    channel.recv().await
                }
            };
            match signal {
                Signal::Chunk(results) => {
                    for (index, value) in results {
                        reorder.insert(index, value);
                    }
                }
                // Every worker sent its result before the last one ended: emit what is
                // left, then end.
                Signal::End => {
                    let out = reorder.pop_ready();
                    return Ok(match out.is_empty() {
                        true => Step::End,
                        false => Step::emit(out, super::sources::end()),
                    });
                }
                Signal::Failed => return channel.fail_fast(&workers).await,
            }
        }
    })
}
