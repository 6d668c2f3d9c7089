//! Streams combined and paced: `zip_with`, `zip_with_latest`, `map_accum_effect`,
//! `schedule`, `on_done`, the lossy buffers (`buffer_sliding`, `buffer_dropping`) and an
//! operator written with the public pull API. Values, empty inputs, failures and defects,
//! early stops and interruptions; timed ones at exact virtual instants on a `TestClock`; the
//! ones that run fibers on both runtime flavours; every run leaves no fiber behind.

use crate::common;

use common::{fail_after, run_for, stamped, test_env, Log};
use effect::prelude::*;
use effect::stream::{Pull, Step, Stream};
use effect::Schedule;

/// `values`, each after `every` of virtual time.
fn spaced(values: Vec<u32>, every: std::time::Duration) -> Stream<u32, String> {
    Stream::from_iter(values).map_effect(move |n| sleep(every).as_value(n))
}

/// A stream holding a resource named `name` (its opening and release logged, with how the
/// release saw the stream end), then `values`.
fn holding(log: &Log, name: &'static str, inner: Stream<u32, String>) -> Stream<u32, String> {
    let (open, close) = (log.clone(), log.clone());
    let mut inner = Some(inner);
    Stream::acquire_release(
        sync(move || open.push(format!("{name} open"))),
        move |(), exit| {
            let how = if exit.is_ok() { "ok" } else { "not ok" };
            let event = format!("{name} released ({how})");
            sync(move || close.push(event))
        },
    )
    .flat_map(move |()| inner.take().expect("one resource, opened once"))
}

/// A stream that never emits and never ends.
fn forever() -> Stream<u32, String> {
    Stream::from_effect(never())
}

// ---- zip_with / zip_with_latest ----

#[tokio::test]
async fn zip_with_combines_pairs_and_ends_with_the_shorter_side() {
    let (clock, rt) = test_env();
    let sums = Stream::<u32, String>::from_iter([1, 2, 3])
        .zip_with(Stream::from_iter([10, 20]), |a, b| a + b)
        .run_collect();
    assert_eq!(run_for(&rt, &clock, ms(0), sums).await, Ok(vec![11, 22]));
    let empty = Stream::<u32, String>::empty()
        .zip_with(Stream::from_iter([1]), |a, b| a + b)
        .run_collect();
    assert_eq!(run_for(&rt, &clock, ms(0), empty).await, Ok(vec![]));
}

async fn zip_with_fails_with_either_side_even_if_the_other_never_emits() {
    let (clock, rt) = test_env();
    let zipped = forever()
        .zip_with(
            Stream::from_effect(fail_after(ms(5), "right broke".to_string())),
            |a, b: u32| a + b,
        )
        .run_collect();
    let cause = run_for(&rt, &clock, ms(5), zipped).await.unwrap_err();
    assert_eq!(cause.failure(), Some(&"right broke".to_string()));
}

async fn zip_with_latest_combines_each_value_with_the_latest_of_the_other_side() {
    let (clock, rt) = test_env();
    // Prices at 10, 20 and 30 ms; rates at 5, 15 and 40 ms.
    let prices = spaced(vec![100, 200, 300], ms(10));
    let rates = Stream::<(u32, u64), String>::from_iter([(1, 5), (2, 10), (3, 25)])
        .map_effect(|(rate, after)| sleep(ms(after)).as_value(rate));
    let quoted = stamped(&clock, prices.zip_with_latest(rates, |p, r| p * r)).run_collect();
    let expected = [(10, 100), (15, 200), (20, 400), (30, 600)].map(|(at, v)| (ms(at), v));
    assert_eq!(
        run_for(&rt, &clock, ms(30), quoted).await,
        Ok(expected.to_vec()),
        "it ends as the prices end, at 30 ms"
    );
}

async fn zip_with_latest_fails_fast_and_releases_the_other_side() {
    let (clock, rt) = test_env();
    let log = Log::default();
    let left = holding(&log, "left", forever());
    let right = Stream::from_effect(fail_after(ms(20), "right broke".to_string()));
    let zipped = left
        .zip_with_latest(right, |a: u32, b: u32| a + b)
        .run_drain();
    let cause = run_for(&rt, &clock, ms(20), zipped).await.unwrap_err();
    assert_eq!(cause.failure(), Some(&"right broke".to_string()));
    assert_eq!(log.events(), ["left open", "left released (not ok)"]);
}

async fn zip_with_latest_of_an_empty_side_is_empty() {
    let (clock, rt) = test_env();
    let log = Log::default();
    let left = holding(&log, "left", forever());
    let zipped = left
        .zip_with_latest(Stream::<u32, String>::empty(), |a, b| a + b)
        .run_collect();
    assert_eq!(run_for(&rt, &clock, ms(0), zipped).await, Ok(vec![]));
    // The left side may not even have opened before the empty one ended the zip; if it
    // did, it was released.
    assert_eq!(
        log.count("left released (ok)") + log.count("left released (not ok)"),
        log.count("left open")
    );
}

async fn interrupting_zip_with_latest_releases_both_sides() {
    let (clock, rt) = test_env();
    let log = Log::default();
    let left = holding(&log, "left", forever());
    let right = holding(&log, "right", forever());
    let run = rt.fork(left.zip_with_latest(right, |a, b| a + b).run_drain());
    clock.advance(ms(10)).await;
    let _ = rt.run(run.interrupt::<String>()).await;
    let mut events = log.events();
    events.sort();
    assert_eq!(
        events,
        [
            "left open",
            "left released (not ok)",
            "right open",
            "right released (not ok)"
        ]
    );
    assert_eq!(rt.live_fibers(), 0);
}

// ---- map_accum_effect ----

#[tokio::test]
async fn map_accum_effect_threads_its_state_through_effects() {
    let (clock, rt) = test_env();
    let totals = spaced(vec![3, 4, 5], ms(1))
        .map_accum_effect(0, |total, n| sleep(ms(1)).as_value((total + n, total + n)));
    let stamped = stamped(&clock, totals).run_collect();
    let expected = [(2, 3), (4, 7), (6, 12)].map(|(at, v)| (ms(at), v));
    assert_eq!(
        run_for(&rt, &clock, ms(6), stamped).await,
        Ok(expected.to_vec())
    );
    let empty = Stream::<u32, String>::empty()
        .map_accum_effect(0, |s, n| succeed((s, n)))
        .run_collect();
    assert_eq!(run_for(&rt, &clock, ms(0), empty).await, Ok(vec![]));
}

#[tokio::test]
async fn map_accum_effect_fails_with_its_effect_or_the_upstream() {
    let (clock, rt) = test_env();
    let over = Stream::<u32, String>::from_iter([5, 6, 7]).map_accum_effect(0, |total, n| {
        let total = total + n;
        if total > 10 {
            fail(format!("over at {n}"))
        } else {
            succeed((total, total))
        }
    });
    let seen = Log::default();
    let noted = seen.clone();
    let run = over.tap(move |n| noted.note(&format!("{n}"))).run_drain();
    let cause = run_for(&rt, &clock, ms(0), run).await.unwrap_err();
    assert_eq!(cause.failure(), Some(&"over at 6".to_string()));
    assert_eq!(
        seen.events(),
        ["5"],
        "the values before the failure went through"
    );

    let broken = Stream::<u32, String>::from_iter([1])
        .concat(Stream::fail("upstream broke".to_string()))
        .map_accum_effect(0, |s, n| succeed((s, n)))
        .run_collect();
    let cause = run_for(&rt, &clock, ms(0), broken).await.unwrap_err();
    assert_eq!(cause.failure(), Some(&"upstream broke".to_string()));

    let panicking = Stream::<u32, String>::from_iter([1, 2])
        .map_accum_effect(0, |_, n| {
            if n == 2 {
                panic!("bad step")
            } else {
                succeed((0, n))
            }
        })
        .run_collect();
    let cause = run_for(&rt, &clock, ms(0), panicking).await.unwrap_err();
    assert_eq!(cause.defects()[0].message(), "bad step");
}

// ---- schedule ----

async fn schedule_spaces_values_at_exact_instants() {
    let (clock, rt) = test_env();
    let paced = Stream::<u32, String>::from_iter([1, 2, 3]).schedule(Schedule::spaced(ms(100)));
    let run = stamped(&clock, paced).run_collect();
    let expected = [(100, 1), (200, 2), (300, 3)].map(|(at, v)| (ms(at), v));
    assert_eq!(
        run_for(&rt, &clock, ms(300), run).await,
        Ok(expected.to_vec())
    );
}

#[tokio::test]
async fn schedule_starts_over_when_the_schedule_is_done() {
    let (clock, rt) = test_env();
    // Two spaced delays, then done: the third value goes out at once and the schedule
    // starts over for the fourth and fifth.
    let twice = Schedule::spaced(ms(10)) & Schedule::recurs(2);
    let paced = Stream::<u32, String>::from_iter(1..=5).schedule(twice);
    let run = stamped(&clock, paced).run_collect();
    let expected = [(10, 1), (20, 2), (20, 3), (30, 4), (40, 5)].map(|(at, v)| (ms(at), v));
    assert_eq!(
        run_for(&rt, &clock, ms(40), run).await,
        Ok(expected.to_vec())
    );
}

#[tokio::test]
async fn schedule_passes_failures_on_and_stops_early_without_waiting() {
    let (clock, rt) = test_env();
    let broken = Stream::<u32, String>::from_iter([1])
        .concat(Stream::fail("upstream broke".to_string()))
        .schedule(Schedule::spaced(ms(10)));
    let seen = Log::default();
    let noted = seen.clone();
    let run = broken.tap(move |n| noted.note(&format!("{n}"))).run_drain();
    let cause = run_for(&rt, &clock, ms(10), run).await.unwrap_err();
    assert_eq!(cause.failure(), Some(&"upstream broke".to_string()));
    assert_eq!(seen.events(), ["1"]);

    let first = Stream::<u32, String>::from_iter(0..)
        .schedule(Schedule::spaced(secs(1)))
        .take(2)
        .run_collect();
    assert_eq!(run_for(&rt, &clock, secs(2), first).await, Ok(vec![0, 1]));

    let empty = Stream::<u32, String>::empty()
        .schedule(Schedule::spaced(secs(1)))
        .run_collect();
    assert_eq!(run_for(&rt, &clock, ms(0), empty).await, Ok(vec![]));
}

// ---- on_done ----

#[tokio::test]
async fn on_done_runs_after_a_normal_end_only() {
    let (clock, rt) = test_env();
    let log = Log::default();
    let (seen, done) = (log.clone(), log.clone());
    let values = Stream::<u32, String>::from_iter([1, 2])
        .on_done(done.note("done"))
        .tap(move |n| seen.note(&format!("value {n}")))
        .run_drain();
    assert_eq!(run_for(&rt, &clock, ms(0), values).await, Ok(()));
    assert_eq!(log.events(), ["value 1", "value 2", "done"]);

    for cut_short in [
        Stream::<u32, String>::from_iter([1, 2])
            .on_done(log.note("failed"))
            .take(1),
        Stream::from_iter([1])
            .concat(Stream::fail("broke".to_string()))
            .on_done(log.note("failed")),
    ] {
        let _ = run_for(&rt, &clock, ms(0), cut_short.run_drain()).await;
    }
    assert_eq!(
        log.count("failed"),
        0,
        "an early stop or a failure is not done"
    );

    let failing_done = Stream::<u32, String>::from_iter([1])
        .on_done(fail("done failed".to_string()))
        .run_collect();
    let cause = run_for(&rt, &clock, ms(0), failing_done).await.unwrap_err();
    assert_eq!(cause.failure(), Some(&"done failed".to_string()));
}

// ---- buffer_sliding / buffer_dropping ----

/// A consumer taking 10 ms per value behind `buffer`, over a source of ten values that come
/// all at once: what gets through.
async fn through_lossy(buffer: fn(Stream<u32, String>) -> Stream<u32, String>) -> Vec<u32> {
    let (clock, rt) = test_env();
    let slow = buffer(Stream::from_iter(0..10)).map_effect(|n| sleep(ms(10)).as_value(n));
    run_for(&rt, &clock, ms(100), slow.run_collect())
        .await
        .unwrap()
}

#[tokio::test]
async fn buffer_sliding_loses_the_oldest_values_and_keeps_the_latest() {
    let seen = through_lossy(|s| s.buffer_sliding(3)).await;
    assert_eq!(
        seen,
        [7, 8, 9],
        "the producer ran ahead; the latest three were kept"
    );
}

#[tokio::test]
async fn buffer_dropping_loses_the_newest_values_and_keeps_the_oldest() {
    let seen = through_lossy(|s| s.buffer_dropping(3)).await;
    assert_eq!(seen, [0, 1, 2]);
}

async fn lossy_buffers_lose_nothing_when_the_consumer_keeps_up() {
    let (clock, rt) = test_env();
    for lossy in [
        spaced((0..20).collect(), ms(10)).buffer_sliding(1),
        spaced((0..20).collect(), ms(10)).buffer_dropping(1),
    ] {
        let run = lossy.run_collect();
        assert_eq!(
            run_for(&rt, &clock, ms(200), run).await,
            Ok((0..20).collect())
        );
    }
}

async fn lossy_buffers_fail_after_the_values_kept_once_the_upstream_is_released() {
    let (clock, rt) = test_env();
    for sliding in [true, false] {
        let log = Log::default();
        let upstream = holding(
            &log,
            "upstream",
            Stream::from_iter([1, 2]).concat(Stream::fail("upstream broke".to_string())),
        );
        let buffered = if sliding {
            upstream.buffer_sliding(4)
        } else {
            upstream.buffer_dropping(4)
        };
        let noted = log.clone();
        let run = buffered
            .tap(move |n| noted.note(&format!("value {n}")))
            .run_drain()
            .ensuring(log.note("run ended"));
        let cause = run_for(&rt, &clock, ms(0), run).await.unwrap_err();
        assert_eq!(cause.failure(), Some(&"upstream broke".to_string()));
        // The producer may run ahead of the consumer and release before the values are
        // taken; what is fixed is that the values kept come through, the release sees the
        // failure, and the run fails only after both.
        let events = log.events();
        assert_eq!(events.first().map(String::as_str), Some("upstream open"));
        assert_eq!(events.last().map(String::as_str), Some("run ended"));
        for event in ["value 1", "value 2", "upstream released (not ok)"] {
            assert_eq!(log.count(event), 1, "{event}: {events:?}");
        }
        let position = |event: &str| events.iter().position(|e| e == event);
        assert!(position("value 1") < position("value 2"), "{events:?}");
    }
}

async fn stopping_early_interrupts_a_lossy_buffers_producer_and_releases_its_resources() {
    let (clock, rt) = test_env();
    let log = Log::default();
    let endless = holding(&log, "upstream", Stream::from_iter(0..));
    let first = endless.buffer_sliding(8).take(3).run_collect();
    let values = run_for(&rt, &clock, ms(0), first).await.unwrap();
    assert_eq!(values.len(), 3);
    assert_eq!(
        log.events(),
        ["upstream open", "upstream released (not ok)"]
    );

    let defect = Stream::<u32, String>::from_iter([1])
        .map(|_| -> u32 { panic!("producer bug") })
        .buffer_dropping(2)
        .run_drain();
    let cause = run_for(&rt, &clock, ms(0), defect).await.unwrap_err();
    assert_eq!(cause.defects()[0].message(), "producer bug");

    let empty = Stream::<u32, String>::empty()
        .buffer_sliding(2)
        .run_collect();
    assert_eq!(run_for(&rt, &clock, ms(0), empty).await, Ok(vec![]));
}

#[test]
#[should_panic(expected = "Stream::buffer_sliding: the capacity must be at least 1")]
fn a_sliding_buffer_of_no_capacity_is_refused_where_it_is_built() {
    let _ = Stream::<u32, String>::empty().buffer_sliding(0);
}

#[test]
#[should_panic(expected = "Stream::buffer_dropping: the capacity must be at least 1")]
fn a_dropping_buffer_of_no_capacity_is_refused_where_it_is_built() {
    let _ = Stream::<u32, String>::empty().buffer_dropping(0);
}

// ---- the pull API ----

/// A custom operator, written with the public pull API: pairs each value with the one
/// before it.
fn with_previous(upstream: Stream<u32, String>) -> Stream<(u32, u32), String> {
    fn pull(upstream: Pull<u32, String>, previous: Option<u32>) -> Pull<(u32, u32), String> {
        upstream.flat_map(move |step| match step {
            Step::Emit(chunk, rest) => {
                let mut previous = previous;
                let mut out = Vec::new();
                for n in chunk {
                    if let Some(p) = previous {
                        out.push((p, n));
                    }
                    previous = Some(n);
                }
                succeed(Step::emit(out, pull(*rest, previous)))
            }
            Step::End => succeed(Step::End),
        })
    }
    Stream::from_pull(move |scope| pull(upstream.into_pull(scope), None))
}

#[tokio::test]
async fn an_operator_written_with_the_pull_api_behaves_like_a_built_in_one() {
    let (clock, rt) = test_env();
    let pairs = with_previous(spaced(vec![1, 2, 3], ms(1))).run_collect();
    assert_eq!(
        run_for(&rt, &clock, ms(3), pairs).await,
        Ok(vec![(1, 2), (2, 3)])
    );

    // Resources of its upstream are released with the run's exit, on an early stop too.
    let log = Log::default();
    let first = with_previous(holding(&log, "upstream", Stream::from_iter(0..)))
        .take(2)
        .run_collect();
    assert_eq!(
        run_for(&rt, &clock, ms(0), first).await,
        Ok(vec![(0, 1), (1, 2)])
    );
    assert_eq!(log.events(), ["upstream open", "upstream released (ok)"]);

    let broken = with_previous(Stream::from_iter([1, 2]).concat(Stream::fail("broke".to_string())));
    let cause = run_for(&rt, &clock, ms(0), broken.run_collect())
        .await
        .unwrap_err();
    assert_eq!(cause.failure(), Some(&"broke".to_string()));
}

crate::tokio_tests_on_both_flavours!(
    zip_with_fails_with_either_side_even_if_the_other_never_emits,
    zip_with_latest_combines_each_value_with_the_latest_of_the_other_side,
    zip_with_latest_fails_fast_and_releases_the_other_side,
    zip_with_latest_of_an_empty_side_is_empty,
    interrupting_zip_with_latest_releases_both_sides,
    lossy_buffers_lose_nothing_when_the_consumer_keeps_up,
    lossy_buffers_fail_after_the_values_kept_once_the_upstream_is_released,
    stopping_early_interrupts_a_lossy_buffers_producer_and_releases_its_resources,
    schedule_spaces_values_at_exact_instants,
);
