//! `Stream::aggregate_within`: a stream of aggregates, each made by a fresh sink, emitted when
//! the sink is done or when the schedule's interval is up.
//!
//! As in `grouped_within` (see [`time`](super::super::time)), the upstream runs on a fiber of
//! its own feeding a channel, so an interval can end while the upstream is still producing;
//! the sinks run on the pulling fiber, one chunk at a time.

use std::time::{Duration, Instant};

use super::{Progress, Running, Sink};
use crate::kernel::cause::Cause;
use crate::kernel::clock::Clock;
use crate::kernel::effect::Effect;
use crate::kernel::random::Random;
use crate::ops::schedule::{Schedule, ScheduleRun};
use crate::stream::channel::{Channel, Signal, Workers, CHANNEL_CHUNKS};
use crate::stream::sources::end;
use crate::stream::time::left_of;
use crate::stream::{Pull, Step, Stream};

impl<A: Send + 'static, E: Send + 'static> Stream<A, E> {
    /// The values aggregated by sinks: each aggregate is the result of a sink that `sink`
    /// makes (a fresh one per aggregate; a sink is used once), emitted as soon as the sink is
    /// done, or when the schedule's current interval is up, whichever comes first. As ZIO's
    /// `aggregateAsyncWithin`.
    ///
    /// - **The sink done**: its result is emitted at once, and the values it left over go to
    ///   the next sink (so a chunk can complete several aggregates).
    /// - **The interval up**: if the sink has consumed a value, it is told its input has
    ///   ended, and its result is emitted. An interval that ends before the sink has consumed
    ///   anything emits nothing: the next value to arrive is aggregated and emitted at once
    ///   (as in [`grouped_within`](Stream::grouped_within), whose timer this follows).
    /// - **The schedule**: the first interval is its delay for `None`, and each emission
    ///   starts the next one, of its delay for `Some(aggregate)` (a sink done early restarts
    ///   the timer too). Once the schedule stops, aggregates are emitted only when the sink is
    ///   done and at the end. Intervals are measured on the context's clock.
    ///
    /// Reads ahead: the upstream runs on a fiber of its own, up to 16 chunks ahead; the sink
    /// takes them one at a time while the stream is pulled. The sink runs on the pulling
    /// fiber: an interval that ends while it is busy with a chunk (an effectful sink) takes
    /// effect once that chunk is taken. On each exit:
    /// - **End** of the upstream: the last aggregate is emitted, if its sink has consumed a
    ///   value; an empty stream gives no aggregate.
    /// - **Failure or defect of the upstream**: the stream fails at once (its upstream fiber
    ///   is interrupted and awaited first); the aggregate being gathered is dropped.
    /// - **Failure or defect of a sink** (its effect fails, its function panics): the stream
    ///   fails with it. A sink done without consuming any value (`collect_n(0)`) is a defect:
    ///   it would emit forever.
    /// - **Interruption**, or a consumer that stops early: the stream's scope closes, which
    ///   interrupts and awaits the upstream fiber; the aggregate being gathered is dropped.
    ///
    /// ```
    /// use effect::{ms, secs, sleep, stream::{Sink, Stream}, Clock, Context, Runtime, Schedule, TestClock};
    ///
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let clock = TestClock::new();
    /// let runtime = Runtime::new(Context::new().with(Clock::from(clock.clone())));
    /// // One value every 400 ms, summed in batches worth at most 5, or each second.
    /// let values = Stream::<u32, String>::from_iter(1..=4).map_effect(|n| sleep(ms(400)).as_value(n));
    /// let batch = || Sink::fold_weighted(0, 5, |n: &u32| u64::from(*n), |sum, n| sum + n);
    /// let time = clock.clone();
    /// let sums = values
    ///     .aggregate_within(batch, Schedule::spaced(secs(1)))
    ///     .map(move |sum| (time.current_time(), sum));
    /// let run = runtime.fork(sums.run_collect());
    /// clock.advance(secs(2)).await;
    /// assert_eq!(
    ///     runtime.run(run.join()).await,
    ///     // 1 + 2 when the second is up; 3, as 4 would take it over 5; 4 at the end.
    ///     Ok(vec![(secs(1), 3), (ms(1600), 3), (ms(1600), 4)])
    /// );
    /// # }
    /// ```
    pub fn aggregate_within<B, F>(self, sink: F, schedule: Schedule<Option<B>>) -> Stream<B, E>
    where
        B: Send + 'static,
        F: FnMut() -> Sink<A, B, E> + Send + 'static,
    {
        Stream::from_open(move |scope| {
            let channel = Channel::new(CHANNEL_CHUNKS, 1);
            self.open_producing(&scope, channel, move |channel, workers| {
                Effect::new(move |ctx| async move {
                    let clock = Clock::of(&ctx);
                    let mut schedule = schedule.start_run(&Random::of(&ctx));
                    let interval = schedule.next(&None);
                    let state = Aggregating {
                        channel,
                        workers,
                        since: clock.instant(),
                        clock,
                        make: sink,
                        sink: None,
                        schedule,
                        interval,
                        ended: false,
                    };
                    aggregating(state).await
                })
            })
        })
    }
}

/// What `aggregate_within` keeps between pulls.
struct Aggregating<A, B, E, F> {
    channel: Channel<A, E>,
    workers: Workers,
    clock: Clock,
    make: F,
    /// The sink gathering the current aggregate, once it has consumed a value (a sink is
    /// started for a chunk, and kept only if it wants more after it).
    sink: Option<Running<A, B, E>>,
    schedule: ScheduleRun<Option<B>>,
    /// When the current interval started (the previous emission, or the start) and how long
    /// it is; no interval once the schedule has stopped.
    since: Instant,
    interval: Option<Duration>,
    ended: bool,
}

fn aggregating<A, B, E, F>(mut state: Aggregating<A, B, E, F>) -> Pull<B, E>
where
    A: Send + 'static,
    B: Send + 'static,
    E: Send + 'static,
    F: FnMut() -> Sink<A, B, E> + Send + 'static,
{
    Effect::from_future(async move {
        loop {
            if state.sink.is_some() && (state.ended || state.is_time_up()) {
                let sink = state.sink.take().expect("a sink that consumed is kept");
                let aggregate = sink.end().await?;
                let emitted = state.emitted(vec![aggregate]);
                let rest = if state.ended {
                    end()
                } else {
                    aggregating(state)
                };
                return Ok(Step::emit(emitted, rest));
            }
            if state.ended {
                return Ok(Step::End);
            }
            // Time matters only once there is something to emit.
            let timer = match (&state.sink, state.interval) {
                (Some(_), Some(interval)) => Some(left_of(&state.clock, state.since, interval)),
                _ => None,
            };
            match state.channel.recv_within(&state.clock, timer).await {
                None => {} // Time is up: the aggregate goes out on the next turn.
                Some(Signal::Chunk(chunk)) => {
                    let done = state.feed(chunk).await?;
                    if !done.is_empty() {
                        let emitted = state.emitted(done);
                        return Ok(Step::emit(emitted, aggregating(state)));
                    }
                }
                Some(Signal::End) => state.ended = true,
                Some(Signal::Failed) => return state.channel.fail_fast(&state.workers).await,
            }
        }
    })
}

impl<A, B, E, F> Aggregating<A, B, E, F>
where
    A: Send + 'static,
    B: Send + 'static,
    E: Send + 'static,
    F: FnMut() -> Sink<A, B, E> + Send + 'static,
{
    fn is_time_up(&self) -> bool {
        self.interval
            .is_some_and(|interval| left_of(&self.clock, self.since, interval).is_zero())
    }

    /// Feeds `chunk` to the current sink (started for it if there is none), and the values
    /// each sink done leaves to a fresh one: the aggregates of the sinks done.
    async fn feed(&mut self, mut chunk: Vec<A>) -> Result<Vec<B>, Cause<E>> {
        let mut done = Vec::new();
        while !chunk.is_empty() {
            let (sink, fresh) = match self.sink.take() {
                Some(sink) => (sink, false),
                None => (self.start()?, true),
            };
            let offered = chunk.len();
            match sink.push(chunk).await? {
                Progress::More(sink) => {
                    self.sink = Some(sink);
                    break;
                }
                Progress::Done(aggregate, left) => {
                    if fresh && left.len() == offered {
                        return Err(no_progress());
                    }
                    done.push(aggregate);
                    chunk = left;
                }
            }
        }
        Ok(done)
    }

    /// A fresh sink.
    fn start(&mut self) -> Result<Running<A, B, E>, Cause<E>> {
        match (self.make)().start() {
            Progress::More(sink) => Ok(sink),
            Progress::Done(..) => Err(no_progress()),
        }
    }

    /// Shows each aggregate to the schedule (unless it has stopped), which gives the next
    /// interval, starting now; gives the aggregates back, to emit.
    fn emitted(&mut self, aggregates: Vec<B>) -> Vec<B> {
        self.since = self.clock.instant();
        // Mapped in place: the aggregates' vector is the one emitted.
        aggregates
            .into_iter()
            .map(|aggregate| {
                let shown = Some(aggregate);
                if self.interval.is_some() {
                    self.interval = self.schedule.next(&shown);
                }
                let Some(aggregate) = shown else {
                    unreachable!("the schedule is shown the aggregate, which stays Some")
                };
                aggregate
            })
            .collect()
    }
}

/// The defect of a sink done without consuming a value: aggregating with it would emit
/// forever.
fn no_progress<E>() -> Cause<E> {
    Cause::die(
        "Stream::aggregate_within: the sink was done without consuming a value, so it would \
         emit aggregates forever; use a sink that takes at least one value",
    )
}
