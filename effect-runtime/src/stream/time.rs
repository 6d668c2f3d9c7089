//! Operators that read the clock: `tick`, `grouped_within`, `throttle`, `debounce`,
//! `timeout` and `interrupt_when`.
//!
//! Every one of them sleeps on, and reads time from, the [`Clock`] of the context the stream
//! runs with, so under a `TestClock` a timed stream runs instantly and the same way every
//! time.
//!
//! `grouped_within` and `debounce` must act while their upstream is still producing, so
//! their upstream runs on a fiber of its own; `interrupt_when` watches its signal on one.
//! Those fibers are owned by the stream's scope like those of [`merge`](Stream::merge) (see
//! [`channel`](super::channel)). `throttle` and `timeout` run on the pulling fiber; `timeout`
//! runs each pull in `Effect::timeout`, so fibers first started by a pull there (a `buffer`
//! upstream's producer) still belong to the stream's scope, not to that timeout.

use std::collections::VecDeque;
use std::pin::pin;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::Notify;

use super::channel::{Channel, Signal, Workers, CHANNEL_CHUNKS};
use super::sources::end;
use super::{Pull, Sink, Step, Stream};
use crate::kernel::cause::{Exit, Never};
use crate::kernel::clock::Clock;
use crate::kernel::effect::{fail_cause, succeed, suspend, Effect};
use crate::ops::race::race_first;
use crate::ops::schedule::Schedule;

/// How much of `span`, started at `since`, is left now on `clock`.
pub(super) fn left_of(clock: &Clock, since: Instant, span: Duration) -> Duration {
    span.saturating_sub(clock.instant().saturating_duration_since(since))
}

impl<E: Send + 'static> Stream<(), E> {
    /// A stream of `()` ticks: one at once, then one every `interval` on the context's
    /// clock, forever (take what you need with [`take`](Stream::take) or end it with
    /// [`interrupt_when`](Stream::interrupt_when)).
    ///
    /// As in ZIO, the interval is *spaced*: each tick's wait starts when the consumer pulls
    /// the next one, so a consumer slower than `interval` gets ticks at its own pace, never
    /// a burst of missed ones.
    ///
    /// ```
    /// use effect::{ms, stream::Stream, Clock, Context, Runtime, TestClock};
    ///
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let clock = TestClock::new();
    /// let runtime = Runtime::new(Context::new().with(Clock::from(clock.clone())));
    /// let time = clock.clone();
    /// let ticks = Stream::<(), String>::tick(ms(100)).take(3).map(move |()| time.current_time());
    /// let run = runtime.fork(ticks.run_collect());
    /// clock.advance(ms(200)).await;
    /// assert_eq!(runtime.run(run.join()).await, Ok(vec![ms(0), ms(100), ms(200)]));
    /// # }
    /// ```
    pub fn tick(interval: Duration) -> Self {
        Stream::repeat_effect(|| succeed(()), Schedule::spaced(interval))
    }
}

impl<A: Send + 'static, E: Send + 'static> Stream<A, E> {
    /// The values in groups of up to `n`: a group is emitted as soon as it holds `n` values,
    /// or once `within` has passed (on the context's clock) since the previous group was
    /// emitted (or since the stream started), if it holds any value by then. At the end, the
    /// last group is emitted however small; an empty stream gives no group.
    ///
    /// The timer follows ZIO's `groupedWithin`: it runs from the previous emission, not from
    /// the group's first value. So a value arriving after a quiet spell longer than `within`
    /// is emitted at once (in a group of whatever else is ready), and the timer starts again
    /// from there. Values keep flowing in meanwhile: the upstream runs ahead on a fiber of its
    /// own, up to 16 chunks. On an upstream failure (or defect) the stream fails at once; the
    /// values of the group being collected are dropped, as [`chunks`](Stream::chunks) drops
    /// its last group. It is [`aggregate_within`](Stream::aggregate_within) with the sink
    /// [`Sink::collect_n`] and the schedule [`Schedule::spaced`].
    ///
    /// # Panics
    /// When `n` is 0.
    ///
    /// ```
    /// use effect::{ms, secs, sleep, stream::Stream, Clock, Context, Runtime, TestClock};
    ///
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let clock = TestClock::new();
    /// let runtime = Runtime::new(Context::new().with(Clock::from(clock.clone())));
    /// // One value every 400 ms, grouped by 3 or within a second.
    /// let values = Stream::<u32, String>::from_iter(1..=4)
    ///     .map_effect(|n| sleep(ms(400)).as_value(n));
    /// let time = clock.clone();
    /// let groups = values
    ///     .grouped_within(3, secs(1))
    ///     .map(move |group| (time.current_time(), group));
    /// let run = runtime.fork(groups.run_collect());
    /// clock.advance(secs(2)).await;
    /// assert_eq!(
    ///     runtime.run(run.join()).await,
    ///     // [1, 2] when the second is up, [3, 4] as the stream ends.
    ///     Ok(vec![(secs(1), vec![1, 2]), (ms(1600), vec![3, 4])])
    /// );
    /// # }
    /// ```
    pub fn grouped_within(self, n: usize, within: Duration) -> Stream<Vec<A>, E> {
        assert!(
            n > 0,
            "Stream::grouped_within: the group size must be at least 1"
        );
        self.aggregate_within(move || Sink::collect_n(n), Schedule::spaced(within))
    }

    /// The values spread out to at most `n` in any span of `per` (on the context's clock):
    /// a value that would be one too many waits until the oldest of the last `n` leaves the
    /// span. Values are delayed, never dropped (ZIO's `throttleShape` with a cost of one per
    /// value), and while they wait the upstream is not pulled, so the limit back-pressures
    /// it.
    ///
    /// The span slides: it limits every interval of length `per`, unlike a token bucket, so
    /// no burst goes over `n`, even after a quiet spell. The first `n` values go at once.
    ///
    /// # Panics
    /// When `n` is 0: no value could ever go.
    ///
    /// ```
    /// use effect::{ms, secs, stream::Stream, Clock, Context, Runtime, TestClock};
    ///
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let clock = TestClock::new();
    /// let runtime = Runtime::new(Context::new().with(Clock::from(clock.clone())));
    /// let time = clock.clone();
    /// let limited = Stream::<u32, String>::from_iter(1..=5)
    ///     .throttle(2, secs(1))
    ///     .map(move |n| (n, time.current_time()));
    /// let run = runtime.fork(limited.run_collect());
    /// clock.advance(secs(2)).await;
    /// assert_eq!(
    ///     runtime.run(run.join()).await,
    ///     Ok(vec![(1, ms(0)), (2, ms(0)), (3, secs(1)), (4, secs(1)), (5, secs(2))])
    /// );
    /// # }
    /// ```
    pub fn throttle(self, n: usize, per: Duration) -> Stream<A, E> {
        assert!(n > 0, "Stream::throttle: n must be at least 1");
        Stream::from_open(move |scope| {
            let upstream = self.open(scope);
            Effect::new(move |ctx| async move {
                let window = Window {
                    n,
                    per,
                    recent: VecDeque::new(),
                    count: 0,
                };
                throttled(upstream, VecDeque::new(), window, Clock::of(&ctx)).await
            })
        })
    }

    /// Each value only once `quiet` has passed (on the context's clock) without a newer one:
    /// a burst of values gives its last one, `quiet` after the burst. When the upstream ends,
    /// the value waiting (if any) is emitted at once, then the stream ends.
    ///
    /// The upstream runs on a fiber of its own (so newer values keep arriving while a value
    /// waits), up to 16 chunks ahead. The values of one chunk arrive together: only the last
    /// of a chunk counts. On an upstream failure (or defect) the stream fails at once, and the
    /// value waiting is dropped.
    ///
    /// ZIO's `debounce` waits out `quiet` for the last value too; here the end of the stream
    /// is as good as a newer value: nothing can come after it.
    ///
    /// ```
    /// use effect::{ms, sleep, stream::Stream, Clock, Context, Runtime, TestClock};
    ///
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let clock = TestClock::new();
    /// let runtime = Runtime::new(Context::new().with(Clock::from(clock.clone())));
    /// // Keystrokes: a burst at once, a pause, then two more 50 ms apart, and the end.
    /// let keys = Stream::<&str, String>::from_iter(["e", "ef"])
    ///     .concat(Stream::from_effect(sleep(ms(300)).as_value("eff")))
    ///     .concat(Stream::from_effect(sleep(ms(50)).as_value("effect")));
    /// let time = clock.clone();
    /// let searches = keys.debounce(ms(100)).map(move |text| (text, time.current_time()));
    /// let run = runtime.fork(searches.run_collect());
    /// clock.advance(ms(400)).await;
    /// assert_eq!(
    ///     runtime.run(run.join()).await,
    ///     Ok(vec![("ef", ms(100)), ("effect", ms(350))])
    /// );
    /// # }
    /// ```
    pub fn debounce(self, quiet: Duration) -> Stream<A, E> {
        Stream::from_open(move |scope| {
            let channel = Channel::new(CHANNEL_CHUNKS, 1);
            self.open_producing(&scope, channel, move |channel, workers| {
                Effect::new(move |ctx| async move {
                    let state = Debouncing {
                        channel,
                        workers,
                        clock: Clock::of(&ctx),
                        quiet,
                        waiting: None,
                        ended: false,
                    };
                    debouncing(state).await
                })
            })
        })
    }

    /// This stream, ended (successfully) once `after` passes (on the context's clock)
    /// without a value: from the start, or from the consumer asking for the next value.
    /// The upstream's pull that took too long is interrupted (its finalizers have run before
    /// the stream ends), and the upstream is not pulled again.
    ///
    /// This is ZIO's `ZStream#timeout`: every pull is timed, so it bounds the wait for each
    /// value, not the whole run. Only values count: an upstream pull giving none (a chunk
    /// filtered out) does not restart the clock.
    ///
    /// ```
    /// use effect::{never, secs, stream::Stream, Clock, Context, Runtime, TestClock};
    ///
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let clock = TestClock::new();
    /// let runtime = Runtime::new(Context::new().with(Clock::from(clock.clone())));
    /// // Two values, then a source that goes quiet for good.
    /// let stalled = Stream::<u32, String>::from_iter([1, 2]).concat(Stream::from_effect(never()));
    /// let run = runtime.fork(stalled.timeout(secs(5)).run_collect());
    /// clock.advance(secs(5)).await;
    /// assert_eq!(runtime.run(run.join()).await, Ok(vec![1, 2]));
    /// assert_eq!(runtime.live_fibers(), 0);
    /// # }
    /// ```
    pub fn timeout(self, after: Duration) -> Stream<A, E> {
        Stream::from_open(move |scope| timed(self.open(scope), after))
    }

    /// This stream until `signal` completes. `signal` starts with the stream, on a fiber of
    /// its own (interrupted if the stream's run ends first); once it has completed, the
    /// stream ends, its upstream's pull in progress interrupted (its finalizers have run
    /// before the stream ends). If `signal` succeeds the stream ends successfully; if it
    /// fails (or dies), the stream fails with its cause. As ZIO's `interruptWhen`.
    ///
    /// ```
    /// use effect::{ms, secs, sleep, stream::Stream, Clock, Context, Runtime, TestClock};
    ///
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let clock = TestClock::new();
    /// let runtime = Runtime::new(Context::new().with(Clock::from(clock.clone())));
    /// // A tick every 300 ms, until a second has passed.
    /// let ticks = Stream::<(), String>::tick(ms(300)).interrupt_when(sleep(secs(1)));
    /// let run = runtime.fork(ticks.run_collect());
    /// clock.advance(secs(1)).await;
    /// assert_eq!(runtime.run(run.join()).await.map(|ticks| ticks.len()), Ok(4));
    /// assert_eq!(runtime.live_fibers(), 0);
    /// # }
    /// ```
    pub fn interrupt_when<X: Send + 'static>(self, signal: Effect<X, E>) -> Stream<A, E> {
        Stream::from_open(move |scope| {
            let workers = Workers::new(&scope);
            let latch = Arc::new(Latch::default());
            let watcher = latch.clone().watch(signal);
            let upstream = self.open(scope);
            workers.start(vec![watcher], move |_| until(upstream, latch))
        })
    }
}

/// The emissions `throttle` remembers, those of the last `per`: (when, how many), and how
/// many in all.
struct Window {
    n: usize,
    per: Duration,
    recent: VecDeque<(Instant, usize)>,
    count: usize,
}

impl Window {
    /// How many values may go now, once emissions `per` old or older are forgotten.
    fn room(&mut self, clock: &Clock) -> usize {
        while let Some(&(at, count)) = self.recent.front() {
            if !left_of(clock, at, self.per).is_zero() {
                break;
            }
            self.recent.pop_front();
            self.count -= count;
        }
        self.n - self.count
    }

    /// How long until the oldest emission remembered leaves the span.
    fn wait(&self, clock: &Clock) -> Duration {
        self.recent
            .front()
            .map_or(Duration::ZERO, |&(at, _)| left_of(clock, at, self.per))
    }

    fn record(&mut self, clock: &Clock, count: usize) {
        let now = clock.instant();
        match self.recent.back_mut() {
            Some((at, earlier)) if *at == now => *earlier += count,
            _ => self.recent.push_back((now, count)),
        }
        self.count += count;
    }
}

fn throttled<A, E>(
    upstream: Pull<A, E>,
    mut pending: VecDeque<A>,
    mut window: Window,
    clock: Clock,
) -> Pull<A, E>
where
    A: Send + 'static,
    E: Send + 'static,
{
    Effect::from_future(async move {
        let mut upstream = upstream;
        while pending.is_empty() {
            match upstream.await? {
                Step::Emit(chunk, rest) => {
                    pending = chunk.into();
                    upstream = *rest;
                }
                Step::End => return Ok(Step::End),
            }
        }
        let mut room = window.room(&clock);
        while room == 0 {
            clock.sleep(window.wait(&clock)).await;
            room = window.room(&clock);
        }
        let out: Vec<A> = pending.drain(..room.min(pending.len())).collect();
        window.record(&clock, out.len());
        Ok(Step::emit(out, throttled(upstream, pending, window, clock)))
    })
}

/// What `debounce` keeps between pulls.
struct Debouncing<A, E> {
    channel: Channel<A, E>,
    workers: Workers,
    clock: Clock,
    quiet: Duration,
    /// The latest value, and when it arrived.
    waiting: Option<(A, Instant)>,
    ended: bool,
}

fn debouncing<A: Send + 'static, E: Send + 'static>(mut state: Debouncing<A, E>) -> Pull<A, E> {
    Effect::from_future(async move {
        loop {
            if state.ended {
                return Ok(match state.waiting.take() {
                    Some((value, _)) => Step::emit(vec![value], end()),
                    None => Step::End,
                });
            }
            let timer = state
                .waiting
                .as_ref()
                .map(|&(_, at)| left_of(&state.clock, at, state.quiet));
            match state.channel.recv_within(&state.clock, timer).await {
                None => {
                    let (value, _) = state
                        .waiting
                        .take()
                        .expect("a timer runs only while a value waits");
                    return Ok(Step::emit(vec![value], debouncing(state)));
                }
                Some(Signal::Chunk(mut chunk)) => {
                    if let Some(latest) = chunk.pop() {
                        state.waiting = Some((latest, state.clock.instant()));
                    }
                }
                Some(Signal::End) => state.ended = true,
                Some(Signal::Failed) => return state.channel.fail_fast(&state.workers).await,
            }
        }
    })
}

/// `timeout`'s pull: the upstream's next values within `after`, or the end.
fn timed<A: Send + 'static, E: Send + 'static>(pull: Pull<A, E>, after: Duration) -> Pull<A, E> {
    Effect::new(move |ctx| async move {
        let clock = Clock::of(&ctx);
        let since = clock.instant();
        let mut pull = pull;
        loop {
            // `Effect::timeout` interrupts the pull when time is up, and returns once its
            // finalizers have run. Fibers the pull starts belong to the stream's scope, not
            // to the timeout's guarded fiber (see `channel`), so they live on.
            match pull.timeout(left_of(&clock, since, after)).await? {
                Some(Step::Emit(chunk, rest)) if chunk.is_empty() => pull = *rest,
                Some(Step::Emit(chunk, rest)) => {
                    return Ok(Step::emit(chunk, timed(*rest, after)));
                }
                Some(Step::End) | None => return Ok(Step::End),
            }
        }
    })
}

/// How `interrupt_when`'s signal ended, for every pull to see.
struct Latch<E> {
    outcome: Mutex<Option<Exit<(), E>>>,
    done: Notify,
}

impl<E> Default for Latch<E> {
    fn default() -> Self {
        Latch {
            outcome: Mutex::new(None),
            done: Notify::new(),
        }
    }
}

impl<E: Send + 'static> Latch<E> {
    /// The watching fiber's effect: runs `signal` and records how it ended. Interrupted (the
    /// stream's run ended first), it records nothing.
    fn watch<X: Send + 'static>(self: Arc<Self>, signal: Effect<X, E>) -> Effect<(), Never> {
        Effect::from_future(async move {
            let exit = signal.await.map(|_| ());
            *self.outcome.lock().unwrap_or_else(|p| p.into_inner()) = Some(exit);
            self.done.notify_waiters();
            Ok(())
        })
    }

    /// How the signal ended, if it has. A failure is handed out once: the stream fails with
    /// it, and is not pulled again.
    fn check(&self) -> Option<Exit<(), E>> {
        let mut outcome = self.outcome.lock().unwrap_or_else(|p| p.into_inner());
        match &*outcome {
            None => None,
            Some(Ok(())) => Some(Ok(())),
            Some(Err(_)) => outcome.replace(Ok(())),
        }
    }

    /// Waits until the signal has ended. Cancel-safe.
    async fn wait(&self) -> Exit<(), E> {
        loop {
            let mut notified = pin!(self.done.notified());
            notified.as_mut().enable();
            if let Some(outcome) = self.check() {
                return outcome;
            }
            notified.await;
        }
    }
}

/// `interrupt_when`'s pull: the upstream's next step, unless the signal ends first.
fn until<A: Send + 'static, E: Send + 'static>(
    pull: Pull<A, E>,
    latch: Arc<Latch<E>>,
) -> Pull<A, E> {
    suspend(move || {
        // Once the signal has ended, the upstream is not pulled again.
        if let Some(outcome) = latch.check() {
            return match outcome {
                Ok(()) => succeed(Step::End),
                Err(cause) => fail_cause(cause),
            };
        }
        let watch = latch.clone();
        let signal_ended = Effect::from_future(async move { watch.wait().await.map(|()| None) });
        // The race interrupts the pull when the signal ends first, and waits until its
        // finalizers have run.
        race_first([pull.map(Some), signal_ended]).map(move |step| match step {
            Some(Step::Emit(chunk, rest)) => Step::emit(chunk, until(*rest, latch)),
            Some(Step::End) | None => Step::End,
        })
    })
}
