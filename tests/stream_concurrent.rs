//! Streams, concurrent operators: `buffer`, `merge` / `merge_all`, `map_par`,
//! `map_par_unordered` and `flat_map_par`. Every test runs on a TestClock (no real-time
//! waits) and checks that the run left no fiber behind; the parallel operators' tests run on
//! both runtime flavours, and a rendezvous on two worker threads checks that they are
//! parallel.

use crate::common;

use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use common::{fail_after, run_for, stamped, test_env, Gauge, Lead, Log};
use effect::prelude::*;
use effect::stream::Stream;
use effect::TestClock;

/// A stream that holds a resource (logging its opening and its release, and whether it was
/// released at its end or on interruption) and ticks every 100 ms forever.
fn holding(log: &Log, name: &'static str) -> Stream<u32, String> {
    let (open, close) = (log.clone(), log.clone());
    Stream::acquire_release(
        sync(move || open.push(format!("{name} open"))),
        move |(), exit| {
            let how = if exit.is_ok() { "ended" } else { "interrupted" };
            let event = format!("{name} released ({how})");
            sync(move || close.push(event))
        },
    )
    .flat_map(|()| Stream::tick(ms(100)))
    .map(|()| 1)
}

/// The events of `holding(.., "a")` and `holding(.., "b")`, both interrupted, sorted.
const A_AND_B_INTERRUPTED: [&str; 4] = [
    "a open",
    "a released (interrupted)",
    "b open",
    "b released (interrupted)",
];

/// A meeting point for two threads: `meet` blocks its thread (as CPU-bound work does) until
/// the other party has arrived too. Only two effects running at the same time on two
/// threads can meet. A guard of 10 s of real time turns a failure to meet (which would
/// block both workers for good) into `false`; nothing waits for it when they meet.
#[derive(Clone, Default)]
struct Rendezvous(Arc<(Mutex<usize>, Condvar)>);

impl Rendezvous {
    fn meet(&self) -> bool {
        let (arrived, met) = &*self.0;
        let mut arrived = arrived.lock().unwrap();
        *arrived += 1;
        let pair = arrived.div_ceil(2);
        met.notify_all();
        let (arrived, guard) = met
            .wait_timeout_while(arrived, Duration::from_secs(10), |arrived| {
                *arrived < pair * 2
            })
            .unwrap();
        drop(arrived);
        !guard.timed_out()
    }

    /// An effect that meets the other party, blocking its thread meanwhile, and gives `n`
    /// if they met.
    fn effect(&self, n: u32) -> Effect<u32, String> {
        let meeting = self.clone();
        sync(move || meeting.meet()).flat_map(move |met| {
            if met {
                succeed(n)
            } else {
                fail(format!("{n} never met"))
            }
        })
    }
}

// ---- buffer ----

#[tokio::test]
async fn buffer_keeps_a_fast_producer_at_most_its_capacity_ahead_of_a_slow_consumer() {
    let ahead = Lead::most_ahead_through(|source| source.buffer(8)).await;
    // At most 8 values wait in the buffer (or in the producer's hand), and the consumer may
    // be working through one chunk of at most 8 it took at once.
    assert!(ahead <= 16, "ahead by {ahead}");
    // The producer did run ahead while the consumer slept.
    assert!(ahead >= 8, "ahead by {ahead}");
}

#[tokio::test]
async fn buffer_passes_every_value_of_a_chunked_stream_in_order() {
    let (clock, rt) = test_env();
    let values = Stream::<u32, String>::from_iter(0..1000)
        .buffer(3)
        .run_collect();
    assert_eq!(
        run_for(&rt, &clock, ms(0), values).await,
        Ok((0..1000).collect())
    );
}

#[tokio::test]
async fn buffer_passes_the_values_before_an_upstream_failure_then_the_failure() {
    let (clock, rt) = test_env();
    let failing = Stream::<u32, String>::from_iter([1, 2, 3])
        .concat(Stream::fail("broken".to_string()))
        .buffer(2);
    let seen = Arc::new(Mutex::new(Vec::new()));
    let record = seen.clone();
    let run = failing.run_for_each(move |n| {
        let record = record.clone();
        sync(move || record.lock().unwrap().push(n))
    });
    let cause = run_for(&rt, &clock, ms(0), run).await.unwrap_err();
    assert_eq!(cause.failure(), Some(&"broken".to_string()));
    assert_eq!(*seen.lock().unwrap(), [1, 2, 3]);
}

#[tokio::test]
async fn a_defect_in_a_buffers_producer_is_a_defect_of_the_stream() {
    let (clock, rt) = test_env();
    let dying = Stream::<u32, String>::from_effect(sync(|| panic!("producer bug"))).buffer(4);
    let cause = run_for(&rt, &clock, ms(0), dying.run_drain())
        .await
        .unwrap_err();
    assert!(cause.is_die(), "{cause:?}");
    assert_eq!(cause.defects()[0].message(), "producer bug");
}

#[tokio::test]
async fn a_consumer_stopping_early_interrupts_a_buffers_producer_and_releases_its_resources() {
    let (clock, rt) = test_env();
    let log = Log::default();
    let first = holding(&log, "source").buffer(4).take(3).run_collect();
    assert_eq!(
        run_for(&rt, &clock, ms(200), first).await,
        Ok(vec![1, 1, 1])
    );
    assert_eq!(
        log.events(),
        ["source open", "source released (interrupted)"]
    );
}

#[tokio::test]
async fn buffer_of_an_empty_stream_is_empty() {
    let (clock, rt) = test_env();
    let empty = Stream::<u32, String>::empty().buffer(4).run_collect();
    assert_eq!(run_for(&rt, &clock, ms(0), empty).await, Ok(vec![]));
}

#[test]
#[should_panic(expected = "Stream::buffer: the capacity must be at least 1")]
fn a_buffer_of_no_capacity_is_refused_where_it_is_built() {
    let _ = Stream::<u32, String>::empty().buffer(0);
}

// ---- merge / merge_all ----

/// `count` values from each of `sources` sources, each source's values 10 ms apart.
fn spaced_sources(sources: u32, count: u32) -> Vec<Stream<(u32, u32), String>> {
    (0..sources)
        .map(|source| {
            Stream::from_iter(0..count).map_effect(move |n| sleep(ms(10)).as_value((source, n)))
        })
        .collect()
}

/// Checks that `values` holds every value of `spaced_sources(sources, count)`, each
/// source's in order.
fn assert_merged(values: &[(u32, u32)], sources: u32, count: u32) {
    assert_eq!(values.len(), (sources * count) as usize);
    for source in 0..sources {
        let own: Vec<u32> = values
            .iter()
            .filter(|(s, _)| *s == source)
            .map(|(_, n)| *n)
            .collect();
        assert_eq!(own, (0..count).collect::<Vec<_>>(), "source {source}");
    }
}

async fn merge_all_emits_every_value_of_every_source_in_its_order() {
    let (clock, rt) = test_env();
    let merged = Stream::merge_all(spaced_sources(5, 20)).run_collect();
    let values = run_for(&rt, &clock, secs(1), merged).await.unwrap();
    assert_merged(&values, 5, 20);
    // The sources ran at once: their values interleave.
    assert_ne!(
        values[..5].iter().map(|(s, _)| *s).collect::<Vec<_>>(),
        [0; 5]
    );
}

#[tokio::test]
async fn merge_all_emits_every_value_of_every_source_in_its_order_on_one_thread() {
    merge_all_emits_every_value_of_every_source_in_its_order().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn merge_all_emits_every_value_of_every_source_in_its_order_on_two_threads() {
    merge_all_emits_every_value_of_every_source_in_its_order().await;
}

#[effect::test(flavor = "multi_thread", worker_threads = 2)]
fn merge_of_two_streams_in_an_effect_test_on_two_threads(clock: TestClock) -> Effect<(), String> {
    let [left, right]: [Stream<(u32, u32), String>; 2] =
        spaced_sources(2, 50).try_into().ok().unwrap();
    let merged = left.merge(right).run_collect().fork()?;
    clock.advance(secs(1)).await;
    assert_merged(&merged.join()?, 2, 50);
}

#[tokio::test]
async fn merge_all_fails_fast_once_the_other_sources_are_interrupted_and_released() {
    let (clock, rt) = test_env();
    let log = Log::default();
    let failing = Stream::from_effect(fail_after(secs(1), "broken".to_string()));
    let merged = Stream::merge_all([holding(&log, "a"), holding(&log, "b"), failing]);
    let (reported, time) = (log.clone(), clock.clone());
    let run = merged.run_drain().on_error(move |_| {
        let event = format!("failure reported at {:?}", time.current_time());
        sync(move || reported.push(event))
    });
    let cause = run_for(&rt, &clock, secs(1), run).await.unwrap_err();
    assert_eq!(cause.failure(), Some(&"broken".to_string()));
    assert_eq!(cause.failures().len(), 1);
    let mut events = log.events();
    assert_eq!(events.pop().unwrap(), "failure reported at 1s");
    events.sort();
    assert_eq!(events, A_AND_B_INTERRUPTED);
}

#[tokio::test]
async fn interrupting_a_merged_run_interrupts_every_source_and_releases_its_resources() {
    let (clock, rt) = test_env();
    let log = Log::default();
    let merged = holding(&log, "a").merge(holding(&log, "b"));
    let fiber = rt.fork(merged.run_drain());
    clock.advance(ms(250)).await;
    assert!(!fiber.is_done());
    let exit = rt.run(fiber.interrupt::<String>()).await.unwrap();
    assert!(exit.unwrap_err().is_interrupted());
    let mut events = log.events();
    events.sort();
    assert_eq!(events, A_AND_B_INTERRUPTED);
    assert_eq!(rt.live_fibers(), 0);
}

#[tokio::test]
async fn taking_from_a_merged_stream_stops_the_sources() {
    let (clock, rt) = test_env();
    let log = Log::default();
    let first = holding(&log, "a")
        .merge(holding(&log, "b"))
        .take(5)
        .run_collect();
    assert_eq!(run_for(&rt, &clock, ms(300), first).await, Ok(vec![1; 5]));
    assert_eq!(log.count("a released (interrupted)"), 1);
    assert_eq!(log.count("b released (interrupted)"), 1);
}

#[tokio::test]
async fn a_defect_in_a_merged_source_is_a_defect_of_the_merged_stream() {
    let (clock, rt) = test_env();
    let log = Log::default();
    let dying = Stream::from_effect(sleep(ms(50)).map(|()| -> u32 { panic!("source bug") }));
    let merged = holding(&log, "a").merge(dying).run_drain();
    let cause = run_for(&rt, &clock, ms(50), merged).await.unwrap_err();
    assert_eq!(cause.defects()[0].message(), "source bug");
    assert_eq!(log.count("a released (interrupted)"), 1);
}

#[tokio::test]
async fn a_source_whose_release_dies_as_it_is_interrupted_keeps_that_defect_in_the_run() {
    let (clock, rt) = test_env();
    let dying = Stream::<(), String>::acquire_release(succeed(()), |(), _| die("release failed"))
        .flat_map(|()| Stream::tick(ms(100)).map(|()| 1));
    let first = dying
        .merge(Stream::tick(ms(100)).map(|()| 2))
        .take(3)
        .run_drain();
    let cause = run_for(&rt, &clock, ms(100), first).await.unwrap_err();
    assert_eq!(cause.defects()[0].message(), "release failed");
}

#[tokio::test]
async fn merges_of_no_streams_or_empty_streams_are_empty() {
    let (clock, rt) = test_env();
    let none = Stream::<u32, String>::merge_all(Vec::new()).run_collect();
    assert_eq!(run_for(&rt, &clock, ms(0), none).await, Ok(vec![]));
    let empties = Stream::<u32, String>::empty()
        .merge(Stream::empty())
        .run_collect();
    assert_eq!(run_for(&rt, &clock, ms(0), empties).await, Ok(vec![]));
}

// ---- map_par / map_par_unordered ----

async fn map_par_runs_at_most_n_effects_at_once_and_emits_in_input_order() {
    let (clock, rt) = test_env();
    let gauge = Gauge::default();
    let tracked = gauge.clone();
    // Uneven durations, so later values often finish before earlier ones.
    let mapped = Stream::<u64, String>::from_iter(0..40)
        .map_par(4, move |n| {
            tracked.track(sleep(ms(10 * (1 + (n * 7) % 5))).as_value(n * 10))
        })
        .run_collect();
    let values = run_for(&rt, &clock, secs(2), mapped).await.unwrap();
    assert_eq!(values, (0..40).map(|n| n * 10).collect::<Vec<_>>());
    assert_eq!(gauge.max(), 4, "4 at once, never more");
}

#[tokio::test]
async fn map_par_runs_at_most_n_effects_at_once_and_emits_in_input_order_on_one_thread() {
    map_par_runs_at_most_n_effects_at_once_and_emits_in_input_order().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn map_par_runs_at_most_n_effects_at_once_and_emits_in_input_order_on_two_threads() {
    map_par_runs_at_most_n_effects_at_once_and_emits_in_input_order().await;
}

#[effect::test(flavor = "multi_thread", worker_threads = 2)]
fn map_par_in_an_effect_test_on_two_threads(clock: TestClock) -> Effect<(), String> {
    let gauge = Gauge::default();
    let tracked = gauge.clone();
    let mapped = Stream::<u64, String>::from_iter(0..20)
        .map_par(3, move |n| tracked.track(sleep(ms(20 - n)).as_value(n)))
        .run_collect()
        .fork()?;
    clock.advance(secs(1)).await;
    assert_eq!(mapped.join()?, (0..20).collect::<Vec<_>>());
    assert!(gauge.max() <= 3);
}

async fn map_par_unordered_emits_results_in_completion_order() {
    let (clock, rt) = test_env();
    let delays = Stream::<u64, String>::from_iter([50, 10, 40, 20, 30])
        .map_par_unordered(5, |delay| sleep(ms(delay)).as_value(delay));
    let mapped = stamped(&clock, delays).run_collect();
    let expected = [10, 20, 30, 40, 50].map(|delay| (ms(delay), delay));
    assert_eq!(
        run_for(&rt, &clock, ms(50), mapped).await,
        Ok(expected.to_vec())
    );
}

async fn map_par_unordered_starts_the_next_value_as_soon_as_a_slot_frees_up() {
    let (clock, rt) = test_env();
    // Two slots: 100 blocks one for 100 ms while 10, 10, 10 pass through the other.
    let delays = Stream::<u64, String>::from_iter([100, 10, 10, 10])
        .map_par_unordered(2, |delay| sleep(ms(delay)).as_value(delay));
    let mapped = stamped(&clock, delays).run_collect();
    let expected = [(10, 10), (20, 10), (30, 10), (100, 100)].map(|(at, delay)| (ms(at), delay));
    assert_eq!(
        run_for(&rt, &clock, ms(100), mapped).await,
        Ok(expected.to_vec())
    );
}

async fn map_par_keeps_a_fast_producer_at_most_n_values_ahead_of_a_slow_consumer() {
    let ahead = Lead::most_ahead_through(|source| source.map_par(4, succeed)).await;
    // At most 4 values in flight (mapped or waiting to be emitted), and the consumer may be
    // working through one chunk of at most 4 it took at once.
    assert!(ahead <= 8, "ahead by {ahead}");
    assert!(ahead >= 4, "ahead by {ahead}");
}

async fn map_par_fails_fast_once_the_effects_in_flight_are_interrupted() {
    let (clock, rt) = test_env();
    let log = Log::default();
    let interrupted = log.clone();
    let mapped = Stream::<u32, String>::from_iter(0..10).map_par(4, move |n| {
        if n == 2 {
            fail_after(ms(10), format!("{n} failed"))
        } else {
            let note = interrupted.note(&format!("{n} interrupted"));
            sleep(secs(1)).as_value(n).on_interrupt(note)
        }
    });
    let (reported, time) = (log.clone(), clock.clone());
    let run = mapped.run_drain().on_error(move |_| {
        let event = format!("failure reported at {:?}", time.current_time());
        sync(move || reported.push(event))
    });
    // The failure comes at 10 ms, before the values ahead of it are done.
    let cause = run_for(&rt, &clock, ms(10), run).await.unwrap_err();
    assert_eq!(cause.failure(), Some(&"2 failed".to_string()));
    let mut events = log.events();
    assert_eq!(events.pop().unwrap(), "failure reported at 10ms");
    events.sort();
    assert_eq!(events, ["0 interrupted", "1 interrupted", "3 interrupted"]);
}

async fn panics_in_map_pars_function_or_its_effect_are_defects_of_the_stream() {
    let (clock, rt) = test_env();
    let building = Stream::<u32, String>::from_iter(0..5)
        .map_par(2, |n| {
            if n == 3 {
                panic!("bad input {n}")
            } else {
                succeed(n)
            }
        })
        .run_drain();
    let cause = run_for(&rt, &clock, ms(0), building).await.unwrap_err();
    assert_eq!(cause.defects()[0].message(), "bad input 3");

    let running = Stream::<u32, String>::from_iter(0..5)
        .map_par_unordered(2, |n| {
            sync(move || if n == 3 { panic!("effect bug") } else { n })
        })
        .run_drain();
    let cause = run_for(&rt, &clock, ms(0), running).await.unwrap_err();
    assert_eq!(cause.defects()[0].message(), "effect bug");
}

async fn taking_from_map_par_interrupts_the_effects_still_in_flight() {
    let (clock, rt) = test_env();
    let log = Log::default();
    let interrupted = log.clone();
    let first = Stream::<u64, String>::from_iter(1..)
        .map_par(3, move |n| {
            let note = interrupted.note(&format!("{n} interrupted"));
            sleep(ms(10 * n)).as_value(n).on_interrupt(note)
        })
        .take(2)
        .run_collect();
    assert_eq!(run_for(&rt, &clock, ms(20), first).await, Ok(vec![1, 2]));
    // 3 and 4 were running; 5 may have started as 2 was emitted.
    let events = log.events();
    assert!(events.contains(&"3 interrupted".to_string()), "{events:?}");
    assert!(events.contains(&"4 interrupted".to_string()), "{events:?}");
    assert!(events.len() <= 3, "{events:?}");
}

async fn map_par_of_an_empty_stream_is_empty() {
    let (clock, rt) = test_env();
    let ordered = Stream::<u32, String>::empty()
        .map_par(4, succeed)
        .run_collect();
    assert_eq!(run_for(&rt, &clock, ms(0), ordered).await, Ok(vec![]));
    let unordered = Stream::<u32, String>::empty()
        .map_par_unordered(4, succeed)
        .run_collect();
    assert_eq!(run_for(&rt, &clock, ms(0), unordered).await, Ok(vec![]));
}

async fn map_par_with_unbounded_parallelism_runs_every_value_at_once() {
    let (clock, rt) = test_env();
    let gauge = Gauge::default();
    let tracked = gauge.clone();
    let mapped = Stream::<u64, String>::from_iter(0..1_000)
        .map_par(usize::MAX, move |n| {
            tracked.track(sleep(ms(10)).as_value(n))
        })
        .run_collect();
    // Every value sleeps at once: the whole run takes 10 ms.
    let values = run_for(&rt, &clock, ms(10), mapped).await.unwrap();
    assert_eq!(values, (0..1_000).collect::<Vec<_>>());
    assert_eq!(gauge.max(), 1_000);
}

crate::tokio_tests_on_both_flavours!(
    map_par_with_unbounded_parallelism_runs_every_value_at_once,
    map_par_unordered_emits_results_in_completion_order,
    map_par_unordered_starts_the_next_value_as_soon_as_a_slot_frees_up,
    map_par_keeps_a_fast_producer_at_most_n_values_ahead_of_a_slow_consumer,
    map_par_fails_fast_once_the_effects_in_flight_are_interrupted,
    panics_in_map_pars_function_or_its_effect_are_defects_of_the_stream,
    taking_from_map_par_interrupts_the_effects_still_in_flight,
    map_par_of_an_empty_stream_is_empty,
);

#[test]
#[should_panic(expected = "Stream::map_par: n must be at least 1")]
fn map_par_with_no_parallelism_is_refused_where_it_is_built() {
    let _ = Stream::<u32, String>::empty().map_par(0, succeed);
}

#[test]
#[should_panic(expected = "Stream::map_par_unordered: n must be at least 1")]
fn map_par_unordered_with_no_parallelism_is_refused_where_it_is_built() {
    let _ = Stream::<u32, String>::empty().map_par_unordered(0, succeed);
}

// ---- flat_map_par ----

async fn flat_map_par_runs_at_most_n_inner_streams_at_once() {
    let (clock, rt) = test_env();
    let (open, most) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let (opening, closing, peak) = (open.clone(), open.clone(), most.clone());
    let inner = move |n: u32| {
        let (opening, closing, peak) = (opening.clone(), closing.clone(), peak.clone());
        Stream::acquire_release(
            sync(move || {
                let now = opening.fetch_add(1, SeqCst) + 1;
                peak.fetch_max(now, SeqCst);
            }),
            move |(), _| {
                sync(move || {
                    closing.fetch_sub(1, SeqCst);
                })
            },
        )
        .flat_map(move |()| Stream::tick(ms(10 * (1 + n as u64 % 3))).take(3))
        .map(move |()| n)
    };
    let flattened = Stream::<u32, String>::from_iter(0..10)
        .flat_map_par(3, inner)
        .run_collect();
    let mut values = run_for(&rt, &clock, secs(1), flattened).await.unwrap();
    values.sort();
    assert_eq!(values, (0..10).flat_map(|n| [n; 3]).collect::<Vec<_>>());
    assert_eq!(most.load(SeqCst), 3, "3 inner streams at once, never more");
    assert_eq!(
        open.load(SeqCst),
        0,
        "every inner stream released its resource"
    );
}

async fn flat_map_par_fails_fast_once_the_other_inner_streams_are_released() {
    let (clock, rt) = test_env();
    let log = Log::default();
    let holders = log.clone();
    let flattened = Stream::<u32, String>::from_iter(0..3).flat_map_par(3, move |n| match n {
        1 => Stream::from_effect(fail_after(ms(150), "inner broken".to_string())),
        0 => holding(&holders, "inner 0"),
        _ => holding(&holders, "inner 2"),
    });
    let cause = run_for(&rt, &clock, ms(150), flattened.run_drain())
        .await
        .unwrap_err();
    assert_eq!(cause.failure(), Some(&"inner broken".to_string()));
    assert_eq!(log.count("inner 0 released (interrupted)"), 1);
    assert_eq!(log.count("inner 2 released (interrupted)"), 1);
}

async fn flat_map_par_of_an_empty_stream_is_empty() {
    let (clock, rt) = test_env();
    let empty = Stream::<u32, String>::empty()
        .flat_map_par(2, Stream::succeed)
        .run_collect();
    assert_eq!(run_for(&rt, &clock, ms(0), empty).await, Ok(vec![]));
}

crate::tokio_tests_on_both_flavours!(
    flat_map_par_runs_at_most_n_inner_streams_at_once,
    flat_map_par_fails_fast_once_the_other_inner_streams_are_released,
    flat_map_par_of_an_empty_stream_is_empty,
);

#[test]
#[should_panic(expected = "Stream::flat_map_par: n must be at least 1")]
fn flat_map_par_with_no_parallelism_is_refused_where_it_is_built() {
    let _ = Stream::<u32, String>::empty().flat_map_par(0, Stream::succeed);
}

// ---- parallel: effects that block their thread run at the same time ----

/// Pairs of values (0 and 1, 2 and 3, ...) meet at a rendezvous, blocking their threads as
/// CPU-bound work does: they can only meet if they run at the same time on the two workers.
///
/// With two slots, exactly as many as worker threads. With more, more effects than threads
/// would block at once, and two of them waiting for partners that have not started (0 for
/// 1, 2 for 3) would hold both threads for good: effects that wait on each other while
/// blocking their threads deadlock a runtime whatever runs them, so no operator can promise
/// more (the perturbed CI run found that schedule for `map_par(3)`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn map_par_runs_effects_that_block_their_threads_in_parallel() {
    let meeting = Rendezvous::default();
    let mapped = Stream::<u32, String>::from_iter(0..8)
        .map_par(2, move |i| meeting.effect(i))
        .run_collect();
    let (clock, rt) = test_env();
    assert_eq!(
        run_for(&rt, &clock, ms(0), mapped).await,
        Ok((0..8).collect())
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn map_par_unordered_runs_effects_that_block_their_threads_in_parallel() {
    let meeting = Rendezvous::default();
    let mapped = Stream::<u32, String>::from_iter(0..8)
        .map_par_unordered(2, move |i| meeting.effect(i))
        .run_collect();
    let (clock, rt) = test_env();
    let mut values = run_for(&rt, &clock, ms(0), mapped).await.unwrap();
    values.sort();
    assert_eq!(values, (0..8).collect::<Vec<_>>());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn flat_map_par_runs_inner_streams_that_block_their_threads_in_parallel() {
    let meeting = Rendezvous::default();
    let flattened = Stream::<u32, String>::from_iter(0..8)
        .flat_map_par(2, move |i| Stream::from_effect(meeting.effect(i)))
        .run_collect();
    let (clock, rt) = test_env();
    let mut values = run_for(&rt, &clock, ms(0), flattened).await.unwrap();
    values.sort();
    assert_eq!(values, (0..8).collect::<Vec<_>>());
}

/// Many values through many slots on two workers: every value once, in order, at most `n`
/// at once; the lanes end with the stream.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn map_par_on_two_workers_keeps_order_and_bound_over_many_values() {
    let (clock, rt) = test_env();
    let gauge = Gauge::default();
    let tracked = gauge.clone();
    let mapped = Stream::<u64, String>::from_iter(0..10_000)
        .map_par(7, move |n| tracked.track(yield_now().as_value(n)))
        .run_collect();
    let values = run_for(&rt, &clock, ms(0), mapped).await.unwrap();
    assert_eq!(values, (0..10_000).collect::<Vec<_>>());
    assert!(gauge.max() <= 7, "at most 7 at once, saw {}", gauge.max());
}

async fn flat_map_par_with_room_for_every_inner_stream_runs_them_all_at_once() {
    let (clock, rt) = test_env();
    let gauge = Gauge::default();
    let tracked = gauge.clone();
    let flattened = Stream::<u64, String>::from_iter(0..1_000)
        .flat_map_par(2_000, move |n| {
            Stream::from_effect(tracked.track(sleep(ms(10)).as_value(n)))
        })
        .run_collect();
    // Every inner stream sleeps at once: the whole run takes 10 ms.
    let values = run_for(&rt, &clock, ms(10), flattened).await.unwrap();
    assert_eq!(values.len(), 1_000);
    assert_eq!(gauge.max(), 1_000);
}

crate::tokio_tests_on_both_flavours!(
    flat_map_par_with_room_for_every_inner_stream_runs_them_all_at_once
);
