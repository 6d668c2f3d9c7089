//! metrics: what the runtime, the combinators and the toolkit record through the `metrics`
//! facade, and what `tracked` and the effect-valued `Counter`/`Gauge`/`Histogram` record.
//! Each test runs its program on a current-thread runtime with a debugging recorder of its
//! own as the thread's recorder, so its numbers are its program's alone (the tests of this
//! binary run in parallel), and reads exact values from the recorder's snapshot. Times are a
//! `TestClock`'s: durations are exact virtual seconds. No test waits on the wall clock.
#![cfg(feature = "metrics")]

#[path = "../../tests/common/mod.rs"]
mod common;

use std::collections::HashMap;
use std::future::Future;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;

use common::test_env;
use effect::metrics::{Counter, Gauge, Histogram};
use effect::prelude::*;
use effect::supervisor::{Child, Supervisor};
use effect::{Cache, Deferred, KeyedPool, Pool, Queue, QueueShutdown, RateLimiter, Runtime};
use metrics_util::debugging::{DebugValue, DebuggingRecorder};
use metrics_util::MetricKind;

/// A metric: its kind, its name and its labels, sorted.
type Series = (MetricKind, String, Vec<(String, String)>);

/// What a program recorded.
struct Recorded {
    values: HashMap<Series, DebugValue>,
}

impl Recorded {
    fn get(&self, kind: MetricKind, name: &str, labels: &[(&str, &str)]) -> Option<&DebugValue> {
        let mut labels: Vec<(String, String)> = labels
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        labels.sort();
        self.values.get(&(kind, name.to_string(), labels))
    }

    /// A counter's value; 0 if it was never recorded.
    fn counter(&self, name: &str, labels: &[(&str, &str)]) -> u64 {
        match self.get(MetricKind::Counter, name, labels) {
            Some(DebugValue::Counter(n)) => *n,
            None => 0,
            other => panic!("{name} is not a counter: {other:?}"),
        }
    }

    fn gauge(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        match self.get(MetricKind::Gauge, name, labels) {
            Some(DebugValue::Gauge(value)) => value.into_inner(),
            other => panic!("{name}{labels:?} is not a recorded gauge: {other:?}"),
        }
    }

    /// A histogram's samples, in the order recorded; empty if none was.
    fn histogram(&self, name: &str, labels: &[(&str, &str)]) -> Vec<f64> {
        match self.get(MetricKind::Histogram, name, labels) {
            Some(DebugValue::Histogram(values)) => values.iter().map(|v| v.into_inner()).collect(),
            None => Vec::new(),
            other => panic!("{name} is not a histogram: {other:?}"),
        }
    }

    /// Every metric whose name starts with `prefix`.
    fn named_like(&self, prefix: &str) -> Vec<&str> {
        let mut names: Vec<&str> = self
            .values
            .keys()
            .filter(|(_, name, _)| name.starts_with(prefix))
            .map(|(_, name, _)| name.as_str())
            .collect();
        names.sort();
        names.dedup();
        names
    }
}

/// Runs `test` (given a test clock and a runtime whose context holds it) on a current-thread
/// tokio runtime, with a fresh debugging recorder as this thread's; checks that no fiber is
/// left, and gives what `test` returned with what was recorded.
fn recorded<F, Fut, R>(test: F) -> (R, Recorded)
where
    F: FnOnce(TestClock, Runtime) -> Fut,
    Fut: Future<Output = R>,
{
    recorded_watching(|clock, rt, _| test(clock, rt))
}

/// [`recorded`], `test` given also a way to read what is recorded so far (each read drains
/// the histograms: what it saw is not seen again).
fn recorded_watching<F, Fut, R>(test: F) -> (R, Recorded)
where
    F: FnOnce(TestClock, Runtime, Arc<dyn Fn() -> Recorded + Send + Sync>) -> Fut,
    Fut: Future<Output = R>,
{
    let recorder = DebuggingRecorder::new();
    let snapshotter = Arc::new(recorder.snapshotter());
    let so_far: Arc<dyn Fn() -> Recorded + Send + Sync> = {
        let snapshotter = snapshotter.clone();
        Arc::new(move || values_of(&snapshotter))
    };
    let result = metrics::with_local_recorder(&recorder, || {
        let tokio = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a tokio runtime");
        let (clock, rt) = test_env();
        let result = tokio.block_on(test(clock, rt.clone(), so_far));
        assert_eq!(rt.live_fibers(), 0, "no fiber is left");
        result
    });
    (result, values_of(&snapshotter))
}

fn values_of(snapshotter: &metrics_util::debugging::Snapshotter) -> Recorded {
    let values = snapshotter
        .snapshot()
        .into_vec()
        .into_iter()
        .map(|(key, _, _, value)| {
            let (kind, key) = key.into_parts();
            let (name, labels) = key.into_parts();
            let mut labels: Vec<(String, String)> = labels
                .into_iter()
                .map(|label| {
                    let (k, v) = label.into_parts();
                    (k.to_string(), v.to_string())
                })
                .collect();
            labels.sort();
            ((kind, name.as_str().to_string(), labels), value)
        })
        .collect();
    Recorded { values }
}

// --- Fibers ---

#[test]
fn user_fibers_are_counted_by_outcome_apart_from_members_and_none_is_left_live() {
    let (exit, m) = recorded(|clock, rt| async move {
        let program: Effect<u32, String> = effect_block! {
            let ok = succeed::<u32, String>(1).fork()?;
            let failing = fail::<u32, String>("no".to_string()).fork()?;
            let dying = die::<u32, String>("bug").fork()?;
            let sleeper = sleep::<String>(secs(60)).fork()?;
            let a = ok.join()?;
            let b = failing.await_exit()?.is_err();
            let c = dying.await_exit()?.is_err();
            assert!(sleeper.interrupt()?.is_err());
            // Two members, each yielding once: neither is a user's fiber.
            let (x, y) = zip_par((yield_now().as_value(2u32), yield_now().as_value(3u32)))?;
            assert!(b && c);
            a + x + y
        };
        let running = rt.fork(program);
        clock.advance(secs(1)).await;
        rt.run(running.join()).await
    });
    assert_eq!(exit, Ok(6));
    let user = [("kind", "user")];
    // The program's fiber (a `Runtime::fork`), its four forks, and the root run joining it.
    assert_eq!(m.counter("effect_fibers_started_total", &user), 6);
    let ended = |outcome| {
        m.counter(
            "effect_fibers_ended_total",
            &[("kind", "user"), ("outcome", outcome)],
        )
    };
    assert_eq!(
        (
            ended("success"),
            ended("failure"),
            ended("defect"),
            ended("interrupted")
        ),
        (3, 1, 1, 1)
    );
    assert_eq!(m.gauge("effect_fibers_live", &user), 0.0);
    assert_eq!(m.histogram("effect_fiber_lifetime_seconds", &user).len(), 6);
    let member = [("kind", "member")];
    let members = m.counter("effect_fibers_started_total", &member);
    assert!(members >= 1, "zip_par's members are counted as members");
    assert_eq!(
        m.counter(
            "effect_fibers_ended_total",
            &[("kind", "member"), ("outcome", "success")]
        ),
        members
    );
    // Members are counted, not gauged or timed.
    assert!(m
        .get(MetricKind::Gauge, "effect_fibers_live", &member)
        .is_none());
    assert!(m
        .histogram("effect_fiber_lifetime_seconds", &member)
        .is_empty());
}

#[test]
fn a_race_counts_its_interrupted_losers_and_they_end_as_interrupted_members() {
    let (exit, m) = recorded(|_clock, rt| async move {
        let winner = yield_now::<String>().as_value("fast");
        let slow = sleep::<String>(secs(10)).as_value("slow");
        let first = race([winner, slow, never()]);
        let second = race_first([succeed("first"), never()]);
        rt.run(first.zip(second)).await
    });
    assert_eq!(exit, Ok(("fast", "first")));
    assert_eq!(m.counter("effect_race_losers_interrupted_total", &[]), 3);
    assert_eq!(
        m.counter(
            "effect_fibers_ended_total",
            &[("kind", "member"), ("outcome", "interrupted")]
        ),
        3
    );
}

// --- Combinators ---

#[test]
fn retries_and_repeats_are_counted_by_schedule_name() {
    let (exits, m) = recorded(|clock, rt| async move {
        let calls = Arc::new(AtomicU32::new(0));
        let counter = calls.clone();
        let flaky = move || -> Effect<u32, String> {
            let counter = counter.clone();
            attempt(move || match counter.fetch_add(1, Ordering::SeqCst) {
                0 | 1 => Err("not yet".to_string()),
                n => Ok(n),
            })
        };
        let backoff = (Schedule::spaced(secs(1)) & Schedule::recurs(5)).named("db_backoff");
        let retried = rt.fork(retry(flaky, backoff));
        let repeated = rt.fork(repeat(|| succeed::<u32, String>(7), Schedule::recurs(3)));
        // Retried at once, so the schedule never starts: no retry counted.
        let at_once = rt.fork(retry(|| succeed::<u32, String>(1), Schedule::recurs(3)));
        clock.advance(secs(2)).await;
        (
            rt.run(retried.join()).await,
            rt.run(repeated.join()).await,
            rt.run(at_once.join()).await,
        )
    });
    assert_eq!(exits, (Ok(2), Ok(7), Ok(1)));
    assert_eq!(
        m.counter("effect_retries_total", &[("schedule", "db_backoff")]),
        2
    );
    assert_eq!(
        m.counter("effect_repeats_total", &[("schedule", "recurs")]),
        3
    );
    assert_eq!(
        m.counter("effect_retries_total", &[("schedule", "recurs")]),
        0
    );
}

#[test]
fn a_streams_retries_and_repeats_are_counted_as_a_retrys_and_a_repeats() {
    use effect::stream::Stream;
    let (exits, m) = recorded(|clock, rt| async move {
        let attempts = Arc::new(AtomicU32::new(0));
        let counted = attempts.clone();
        let flaky = move || {
            let n = counted.fetch_add(1, Ordering::SeqCst);
            let values = Stream::from_iter([n]);
            match n {
                0 | 1 => values.concat(Stream::fail("dropped".to_string())),
                _ => values,
            }
        };
        let retried = Stream::retry(flaky, Schedule::spaced(secs(1)).named("reconnect"));
        let repeated = Stream::repeat_effect(
            || succeed::<u32, String>(1),
            Schedule::spaced(secs(1)) & Schedule::recurs(2),
        );
        let retried = rt.fork(retried.run_collect());
        let repeated = rt.fork(repeated.run_collect());
        clock.advance(secs(3)).await;
        (rt.run(retried.join()).await, rt.run(repeated.join()).await)
    });
    assert_eq!(exits, (Ok(vec![0, 1, 2]), Ok(vec![1, 1, 1])));
    assert_eq!(
        m.counter("effect_retries_total", &[("schedule", "reconnect")]),
        2
    );
    assert_eq!(
        m.counter("effect_repeats_total", &[("schedule", "spaced")]),
        2
    );
}

#[test]
fn only_timeouts_that_fire_are_counted() {
    let (exits, m) = recorded(|clock, rt| async move {
        let slow = rt.fork(sleep::<String>(secs(10)).timeout(secs(1)));
        let failing = rt.fork(
            sleep::<String>(secs(10))
                .as_value(1)
                .timeout_fail(secs(2), "too slow".to_string()),
        );
        let quick = rt.fork(sleep::<String>(secs(1)).timeout(secs(5)));
        clock.advance(secs(3)).await;
        (
            rt.run(slow.join()).await,
            rt.run(failing.join()).await.unwrap_err().failure().cloned(),
            rt.run(quick.join()).await,
        )
    });
    assert_eq!(
        exits,
        (Ok(None), Some("too slow".to_string()), Ok(Some(())))
    );
    assert_eq!(m.counter("effect_timeouts_total", &[]), 2);
}

// --- Tracked effects and the user API ---

#[test]
fn tracked_counts_and_times_each_outcome_on_the_test_clock() {
    let (exits, m) = recorded(|clock, rt| async move {
        let lookup = |n: u32| sleep::<String>(secs(2)).as_value(n).tracked("lookup");
        let ok = rt.fork(lookup(1));
        let failed = rt.fork(
            sleep::<String>(secs(1))
                .flat_map(|()| fail::<u32, String>("missing".to_string()))
                .tracked("lookup"),
        );
        let died = rt.fork(die::<u32, String>("bug").tracked("lookup"));
        let slow = rt.fork(sleep::<String>(secs(60)).tracked("lookup"));
        clock.advance(secs(3)).await;
        let interrupted = rt.run(slow.interrupt::<Never>()).await;
        (
            rt.run(ok.join()).await,
            rt.run(failed.join()).await.is_err(),
            rt.run(died.join()).await.is_err(),
            interrupted.unwrap().is_err(),
        )
    });
    assert_eq!(exits, (Ok(1), true, true, true));
    let by = |outcome| [("name", "lookup"), ("outcome", outcome)];
    for outcome in ["success", "failure", "defect", "interrupted"] {
        assert_eq!(
            m.counter("effect_tracked_total", &by(outcome)),
            1,
            "{outcome}"
        );
    }
    assert_eq!(
        m.histogram("effect_tracked_duration_seconds", &by("success")),
        [2.0]
    );
    assert_eq!(
        m.histogram("effect_tracked_duration_seconds", &by("failure")),
        [1.0]
    );
    assert_eq!(
        m.histogram("effect_tracked_duration_seconds", &by("defect")),
        [0.0]
    );
    // Interrupted at 3 s, as its fiber unwound.
    assert_eq!(
        m.histogram("effect_tracked_duration_seconds", &by("interrupted")),
        [3.0]
    );
}

#[test]
fn counters_gauges_and_histograms_are_updated_as_their_effects_run_and_not_before() {
    let (exit, m) = recorded(|_clock, rt| async move {
        let orders = Counter::new("orders_total").label("shop", "berlin");
        let open = Gauge::new("connections_open");
        let sizes = Histogram::new("batch_size");
        // Built, never run: records nothing.
        let _unused = orders.increment::<String>(100);
        let program: Effect<(), String> = effect_block! {
            orders.increment(2)?;
            orders.increment(3)?;
            open.set(5.0)?;
            open.increment(2.0)?;
            open.decrement(4.0)?;
            sizes.record(64.0)?;
            sizes.record(8.0)?;
        };
        rt.run(program).await
    });
    assert_eq!(exit, Ok(()));
    assert_eq!(m.counter("orders_total", &[("shop", "berlin")]), 5);
    assert_eq!(m.gauge("connections_open", &[]), 3.0);
    assert_eq!(m.histogram("batch_size", &[]), [64.0, 8.0]);
}

// --- The toolkit ---

#[test]
fn a_named_pool_records_its_items_and_how_long_each_get_waited() {
    let (exit, m) = recorded(|clock, rt| async move {
        let program: Effect<(), String> = scoped(effect_block! {
            let pool = Pool::make(|| succeed::<u32, String>(0), 1..=2)?.named("conns");
            // Holds an item for 5 s, saying when it has it.
            let hold = |pool: Pool<u32, String>, held: &Deferred<()>| {
                let held = held.clone();
                scoped(pool.get().flat_map(move |_| {
                    held.complete::<String>(()).flat_map(|_| sleep(secs(5)))
                }))
            };
            let (held_1, held_2) = (Deferred::new(), Deferred::new());
            let first = hold(pool.clone(), &held_1).fork()?;
            let second = hold(pool.clone(), &held_2).fork()?;
            held_1.wait::<String>()?;
            held_2.wait::<String>()?;
            let third = scoped(pool.get()).fork()?; // waits for one of the two
            first.join()?;
            second.join()?;
            third.join()?;
        });
        let running = rt.fork(program);
        clock.advance(secs(5)).await;
        rt.run(running.join()).await
    });
    assert_eq!(exit, Ok(()));
    let pool = [("pool", "conns")];
    assert_eq!(
        m.histogram("effect_pool_wait_seconds", &pool),
        [0.0, 0.0, 5.0]
    );
    // The pool was closed with its scope: everything released.
    assert_eq!(m.gauge("effect_pool_size", &pool), 0.0);
    assert_eq!(m.gauge("effect_pool_idle", &pool), 0.0);
    assert_eq!(m.gauge("effect_pool_in_use", &pool), 0.0);
}

#[test]
fn a_named_pools_gauges_follow_its_items_while_it_is_open() {
    let (counts, m) = recorded(|_clock, rt| async move {
        let program: Effect<(usize, usize), String> = scoped(effect_block! {
            let pool = Pool::make(|| succeed::<u32, String>(0), 2..=4)?.named("buffers");
            let again = pool.clone();
            scoped(pool.get().flat_map(move |_| again.get()).map(|_| ()))?;
            let _held = pool.get()?;
            (pool.size(), pool.in_use())
        });
        rt.run(program).await
    });
    assert_eq!(counts, Ok((2, 1)));
    // The last values set, when the pool closed with the program's scope.
    let pool = [("pool", "buffers")];
    assert_eq!(m.gauge("effect_pool_in_use", &pool), 0.0);
    assert_eq!(m.histogram("effect_pool_wait_seconds", &pool).len(), 3);
}

#[test]
fn a_named_keyed_pools_gauges_sum_its_keys() {
    let (exit, m) = recorded_watching(|_clock, rt, so_far| async move {
        let program: Effect<Vec<[f64; 3]>, String> = scoped(effect_block! {
            let clients = KeyedPool::make(|host: &&str| succeed::<String, String>(host.to_string()), 2)?
                .named("clients");
            let gauges = move || {
                let m = so_far();
                let pool = [("pool", "clients")];
                ["effect_pool_size", "effect_pool_idle", "effect_pool_in_use"]
                    .map(|name| m.gauge(name, &pool))
            };
            let mut seen = Vec::new();
            // Two items of one key, one of another: 3 in use, in two keys' pools.
            let _a1 = clients.get("a")?;
            let _a2 = clients.get("a")?;
            let during = gauges.clone();
            seen.push(scoped(clients.get("b").map(move |_| during()))?);
            // The b item came back (idle); the a items are still out.
            seen.push(gauges());
            seen
        });
        rt.run(program).await
    });
    assert_eq!(
        exit,
        Ok(vec![[3.0, 0.0, 3.0], [3.0, 1.0, 2.0]]),
        "size, idle and in use, summed over the keys"
    );
    // Closed with the program's scope: nothing held in any key.
    let pool = [("pool", "clients")];
    assert_eq!(m.gauge("effect_pool_size", &pool), 0.0);
    assert_eq!(m.gauge("effect_pool_in_use", &pool), 0.0);
    // (The gets' waits are not counted here: a snapshot drains histograms, and the program
    // took two.)
}

#[test]
fn unnamed_toolkit_objects_record_nothing() {
    let (exit, m) = recorded(|_clock, rt| async move {
        let program: Effect<u32, String> = scoped(effect_block! {
            let pool = Pool::make(|| succeed::<u32, String>(0), 1..=1)?;
            let cache = Cache::builder(1, |n: &u32| succeed::<u32, String>(*n)).make()?;
            let queue = Queue::dropping(1);
            let _ = queue.try_offer(1);
            let _ = queue.try_offer(2);
            RateLimiter::token_bucket(1, 1, secs(1)).acquire(1)?;
            pool.get()? + cache.get(1)?
        });
        rt.run(program).await
    });
    assert_eq!(exit, Ok(1));
    for prefix in [
        "effect_pool",
        "effect_cache",
        "effect_queue",
        "effect_rate_limiter",
    ] {
        assert!(
            m.named_like(prefix).is_empty(),
            "{prefix}: {:?}",
            m.named_like(prefix)
        );
    }
}

#[test]
fn a_named_rate_limiter_counts_its_waits_and_times_them() {
    let (exit, m) = recorded(|clock, rt| async move {
        let limiter = RateLimiter::token_bucket(1, 1, secs(1)).named("api");
        let calls: Vec<Effect<(), String>> = (0..3).map(|_| limiter.acquire(1)).collect();
        let all = rt.fork(zip_par(calls));
        clock.advance(secs(2)).await;
        rt.run(all.join()).await.map(|done| done.len())
    });
    assert_eq!(exit, Ok(3));
    let limiter = [("limiter", "api")];
    assert_eq!(m.counter("effect_rate_limiter_waits_total", &limiter), 2);
    assert_eq!(
        m.histogram("effect_rate_limiter_wait_seconds", &limiter),
        [1.0, 2.0]
    );
}

#[test]
fn a_named_cache_counts_hits_misses_loads_and_evictions_as_its_stats_do() {
    let (stats, m) = recorded(|_clock, rt| async move {
        let program: Effect<_, String> = scoped(effect_block! {
            let cache = Cache::builder(1, |n: &u32| succeed::<u32, String>(n * 10))
                .named("users")
                .make()?;
            cache.get(1)?; // miss, load
            cache.get(1)?; // hit
            cache.get(2)?; // miss, load, evicts 1
            cache.stats()
        });
        rt.run(program).await
    });
    let stats = stats.unwrap();
    let cache = [("cache", "users")];
    assert_eq!(m.counter("effect_cache_hits_total", &cache), stats.hits);
    assert_eq!(m.counter("effect_cache_misses_total", &cache), stats.misses);
    assert_eq!(m.counter("effect_cache_loads_total", &cache), stats.loads);
    assert_eq!(
        m.counter("effect_cache_evictions_total", &cache),
        stats.evictions
    );
    assert_eq!(
        (stats.hits, stats.misses, stats.loads, stats.evictions),
        (1, 2, 2, 1)
    );
}

#[test]
fn a_named_queue_records_its_depth_and_what_it_refused_or_dropped() {
    let (exit, m) = recorded(|_clock, rt| async move {
        let jobs = Queue::dropping(2).named("jobs");
        let latest = Queue::sliding(1).named("latest");
        let bounded = Queue::bounded(1).named("bounded");
        let program: Effect<u32, QueueShutdown> = effect_block! {
            jobs.offer::<QueueShutdown>(1)?;
            jobs.offer::<QueueShutdown>(2)?;
            jobs.offer::<QueueShutdown>(3)?; // refused
            latest.offer::<QueueShutdown>(1)?;
            latest.offer::<QueueShutdown>(2)?; // drops 1
            bounded.offer::<QueueShutdown>(1)?;
            assert_eq!(bounded.try_offer(2), Err(2)); // refused: full
            jobs.take::<QueueShutdown>()? + latest.take::<QueueShutdown>()?
        };
        rt.run(program).await
    });
    assert_eq!(exit, Ok(3));
    assert_eq!(
        m.counter("effect_queue_offers_refused_total", &[("queue", "jobs")]),
        1
    );
    assert_eq!(
        m.counter("effect_queue_offers_refused_total", &[("queue", "bounded")]),
        1
    );
    assert_eq!(
        m.counter("effect_queue_dropped_total", &[("queue", "latest")]),
        1
    );
    assert_eq!(m.gauge("effect_queue_depth", &[("queue", "jobs")]), 1.0);
    assert_eq!(m.gauge("effect_queue_depth", &[("queue", "latest")]), 0.0);
    assert_eq!(m.gauge("effect_queue_depth", &[("queue", "bounded")]), 1.0);
}

// --- Supervision ---

#[test]
fn every_restart_counts_by_supervisor_and_child() {
    let (exit, m) = recorded(|clock, rt| async move {
        let crashing = || sleep::<String>(secs(1)).flat_map(|()| die::<(), String>("crashed"));
        let supervisor = Supervisor::new("app")
            .intensity(10, secs(60))
            .child(Child::new("worker", crashing))
            .child(Child::new("idle", never::<(), String>));
        let running = rt.fork(supervisor.run());
        clock.advance(secs(3)).await;
        rt.run(running.interrupt::<Never>()).await
    });
    assert!(exit.unwrap().unwrap_err().is_interrupted());
    let restarts = |child| {
        m.counter(
            "effect_supervisor_restarts_total",
            &[("supervisor", "app"), ("child", child)],
        )
    };
    assert_eq!((restarts("worker"), restarts("idle")), (3, 0));
}
