//! Helpers shared by the integration tests.
#![allow(dead_code)]

use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use effect::prelude::*;
use effect::Context;
use effect::{Clock, Runtime, TestClock};

/// A runtime whose context holds a fresh test clock.
pub fn test_env() -> (TestClock, Runtime) {
    let clock = TestClock::new();
    let runtime = Runtime::new(Context::new().with(Clock::from(clock.clone())));
    (clock, runtime)
}

/// Awaits `future`, failing the test after 10 s of real time. Nothing waits on real time:
/// the limit turns a bug that would hang the test into a failure.
pub async fn within<F: Future>(future: F) -> F::Output {
    tokio::time::timeout(Duration::from_secs(10), future)
        .await
        .expect("the test was stuck for 10 s")
}

/// Records events in order, from any fiber.
#[derive(Clone, Default)]
pub struct Log(Arc<Mutex<Vec<String>>>);

impl Log {
    pub fn push(&self, event: impl Into<String>) {
        self.0.lock().unwrap().push(event.into());
    }
    /// An effect that records `event` when it runs.
    pub fn note<E: Send + 'static>(&self, event: &str) -> Effect<(), E> {
        let (log, event) = (self.clone(), event.to_string());
        sync(move || log.push(event))
    }
    pub fn events(&self) -> Vec<String> {
        self.0.lock().unwrap().clone()
    }
    pub fn count(&self, event: &str) -> usize {
        self.events().iter().filter(|e| *e == event).count()
    }
}

/// Tracks how many effects are in flight at once.
#[derive(Clone, Default)]
pub struct Gauge {
    current: Arc<AtomicUsize>,
    max: Arc<AtomicUsize>,
}

impl Gauge {
    /// Wraps `effect` so the gauge counts it while it runs.
    pub fn track<A: Send + 'static, E: Send + 'static>(
        &self,
        effect: Effect<A, E>,
    ) -> Effect<A, E> {
        let (enter, exit) = (self.clone(), self.clone());
        sync(move || {
            let now = enter.current.fetch_add(1, Ordering::SeqCst) + 1;
            enter.max.fetch_max(now, Ordering::SeqCst);
        })
        .flat_map(move |()| effect)
        .ensuring(sync(move || {
            exit.current.fetch_sub(1, Ordering::SeqCst);
        }))
    }
    pub fn max(&self) -> usize {
        self.max.load(Ordering::SeqCst)
    }
    pub fn current(&self) -> usize {
        self.current.load(Ordering::SeqCst)
    }
}

/// How far a source got ahead of a slow consumer: a source of `0..count`, one value per
/// pull, and a count of the values that consumer has consumed.
#[derive(Clone, Default)]
pub struct Lead {
    produced: Arc<AtomicUsize>,
    consumed: Arc<AtomicUsize>,
    most: Arc<AtomicUsize>,
}

impl Lead {
    /// The source: `0..count`, one value per pull, noting how far ahead of the consumer it
    /// is as it produces each.
    pub fn source(&self, count: u32) -> effect::stream::Stream<u32, String> {
        let lead = self.clone();
        effect::stream::Stream::unfold_effect(0, move |n| {
            let lead = lead.clone();
            sync(move || {
                if n == count {
                    return None;
                }
                let produced = lead.produced.fetch_add(1, Ordering::SeqCst) + 1;
                let ahead = produced - lead.consumed.load(Ordering::SeqCst);
                lead.most.fetch_max(ahead, Ordering::SeqCst);
                Some((n, n + 1))
            })
        })
    }

    /// The slow consumer: 10 ms per value.
    pub fn consume(&self, stream: effect::stream::Stream<u32, String>) -> Effect<(), String> {
        let lead = self.clone();
        stream.run_for_each(move |_| {
            let lead = lead.clone();
            sleep(std::time::Duration::from_millis(10)).map(move |()| {
                lead.consumed.fetch_add(1, Ordering::SeqCst);
            })
        })
    }

    /// The values the consumer has consumed.
    pub fn consumed(&self) -> usize {
        self.consumed.load(Ordering::SeqCst)
    }

    /// How far the source got ahead of the consumer at most.
    pub fn most_ahead(&self) -> usize {
        self.most.load(Ordering::SeqCst)
    }

    /// Runs 100 values through `stage` to the slow consumer, and gives how far the source got
    /// ahead of it at most.
    pub async fn most_ahead_through(
        stage: impl FnOnce(effect::stream::Stream<u32, String>) -> effect::stream::Stream<u32, String>,
    ) -> usize {
        let (clock, rt) = test_env();
        let lead = Lead::default();
        let run = lead.consume(stage(lead.source(100)));
        assert_eq!(
            run_for(&rt, &clock, Duration::from_secs(2), run).await,
            Ok(())
        );
        assert_eq!(lead.consumed(), 100);
        lead.most_ahead()
    }
}

/// `value` after `delay` of (virtual) time.
pub fn after<A: Send + 'static, E: Send + 'static>(
    delay: std::time::Duration,
    value: A,
) -> Effect<A, E> {
    sleep(delay).as_value(value)
}

/// Fails with `error` after `delay`.
pub fn fail_after<A: Send + 'static, E: Send + 'static>(
    delay: std::time::Duration,
    error: E,
) -> Effect<A, E> {
    sleep(delay).flat_map(move |()| fail(error))
}

/// Runs `effect` on `rt`, moves virtual time on by `time`, and gives the effect's exit,
/// checking that the run finished by then and left no fiber alive.
pub async fn run_for<A: Send + 'static>(
    rt: &Runtime,
    clock: &TestClock,
    time: std::time::Duration,
    effect: Effect<A, String>,
) -> Exit<A, String> {
    let fiber = rt.fork(effect);
    clock.advance(time).await;
    assert!(fiber.is_done(), "the run finished within {time:?}");
    let exit = rt.run(fiber.join()).await;
    assert_eq!(rt.live_fibers(), 0, "the run left no fiber alive");
    exit
}

/// The values of `timeline`, each emitted at its time (from the start of the stream).
pub fn at_times<A: Send + Clone + 'static>(
    timeline: &[(u64, A)],
) -> effect::stream::Stream<A, String> {
    let mut previous = 0;
    let steps: Vec<(u64, A)> = timeline
        .iter()
        .map(|(at, value)| {
            let wait = at - previous;
            previous = *at;
            (wait, value.clone())
        })
        .collect();
    effect::stream::Stream::from_iter(steps)
        .map_effect(|(wait, value)| sleep(ms(wait)).as_value(value))
}

/// Each value of `stream` with the virtual time it was emitted at.
pub fn stamped<A: Send + 'static>(
    clock: &TestClock,
    stream: effect::stream::Stream<A, String>,
) -> effect::stream::Stream<(std::time::Duration, A), String> {
    let clock = clock.clone();
    stream.map(move |value| (clock.current_time(), value))
}

/// Runs each scenario (a fn taking the test's `TestClock` and giving an
/// `Effect<(), String>`) as an `#[effect::test]` on a current-thread and on a two-worker
/// multi-thread runtime, in `mod $group::{current_thread, multi_thread}`:
/// `live_fibers() == 0` is checked after each.
#[macro_export]
macro_rules! effect_tests_on_both_flavours {
    ($group:ident: $($name:ident => $scenario:ident;)+) => {
        mod $group {
            #[allow(unused_imports)]
            use super::*;
            mod current_thread {
                #[allow(unused_imports)]
                use super::*;
                $(
                    #[effect::test]
                    fn $name(clock: TestClock) -> Effect<(), String> {
                        $scenario(clock)?
                    }
                )+
            }
            mod multi_thread {
                #[allow(unused_imports)]
                use super::*;
                $(
                    #[effect::test(flavor = "multi_thread", worker_threads = 2)]
                    fn $name(clock: TestClock) -> Effect<(), String> {
                        $scenario(clock)?
                    }
                )+
            }
        }
    };
}

/// `#[tokio::test]`s of the async fn `$scenario` in `mod $scenario`, on a current-thread
/// runtime and on a two-worker multi-thread one.
#[macro_export]
macro_rules! tokio_tests_on_both_flavours {
    ($($scenario:ident),+ $(,)?) => {
        $(
            mod $scenario {
                #[tokio::test]
                async fn current_thread() {
                    super::$scenario().await;
                }

                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn multi_thread() {
                    super::$scenario().await;
                }
            }
        )+
    };
}
