//! Streams, timed operators: `tick`, `grouped_within`, `throttle`, `debounce`, `timeout`
//! and `interrupt_when`. Everything runs on a TestClock: the tests assert the virtual time of
//! each emission, never wait on the wall clock, and check that each run left no fiber alive.

use crate::common;

use std::time::Duration;

use common::{at_times, fail_after, run_for, stamped, test_env, Log};
use effect::prelude::*;
use effect::stream::Stream;

// ---- tick ----

#[tokio::test]
async fn tick_emits_at_once_then_every_interval() {
    let (clock, rt) = test_env();
    let ticks = stamped(&clock, Stream::tick(ms(250)).take(5)).run_collect();
    let times: Vec<Duration> = run_for(&rt, &clock, secs(1), ticks)
        .await
        .unwrap()
        .into_iter()
        .map(|(at, ())| at)
        .collect();
    assert_eq!(times, [ms(0), ms(250), ms(500), ms(750), ms(1000)]);
}

#[tokio::test]
async fn tick_waits_each_interval_from_the_consumers_pull() {
    let (clock, rt) = test_env();
    // A consumer that takes 100 ms over each tick: spaced, so each tick comes 250 ms after
    // the consumer asked for it, never in a burst.
    let ticks = stamped(&clock, Stream::tick(ms(250)).take(3))
        .map_effect(|(at, ())| sleep(ms(100)).as_value(at))
        .run_collect();
    assert_eq!(
        run_for(&rt, &clock, secs(2), ticks).await,
        Ok(vec![ms(0), ms(350), ms(700)])
    );
}

// ---- grouped_within ----

#[tokio::test]
async fn grouped_within_emits_a_full_group_at_once_and_a_partial_one_at_the_deadline() {
    let (clock, rt) = test_env();
    // 250 values at once, then a few at 1.2 s, then one after a long wait.
    let burst: Vec<(u64, u32)> = (0..250).map(|n| (0, n)).collect();
    let values = at_times(&burst)
        .concat(at_times(&[(1200, 1000), (1300, 1001), (1400, 1002)]))
        .concat(at_times(&[(5000, 2000)]));
    let groups = stamped(&clock, values.grouped_within(100, secs(1))).run_collect();
    let emitted: Vec<(Duration, usize)> = run_for(&rt, &clock, secs(10), groups)
        .await
        .unwrap()
        .into_iter()
        .map(|(at, group)| (at, group.len()))
        .collect();
    assert_eq!(
        emitted,
        [
            // Full groups go at once.
            (ms(0), 100),
            (ms(0), 100),
            // The rest when the second since the last emission is up.
            (ms(1000), 50),
            // The next deadline is 1 s after that emission: 2 s.
            (ms(2000), 3),
            // After a quiet spell (no group was due at 3 s), a value goes as soon as it comes.
            (ms(6400), 1),
        ]
    );
}

#[tokio::test]
async fn grouped_within_times_each_group_from_the_previous_emission() {
    let (clock, rt) = test_env();
    // One value every 300 ms; groups of up to 10 within 1 s.
    let values = Stream::<u32, String>::from_iter(1..=7).map_effect(|n| sleep(ms(300)).as_value(n));
    let groups = stamped(&clock, values.grouped_within(10, secs(1))).run_collect();
    assert_eq!(
        run_for(&rt, &clock, secs(3), groups).await,
        Ok(vec![
            (ms(1000), vec![1, 2, 3]),
            (ms(2000), vec![4, 5, 6]),
            (ms(2100), vec![7]),
        ])
    );
}

#[tokio::test]
async fn grouped_within_after_a_quiet_spell_emits_the_next_value_as_it_comes() {
    let (clock, rt) = test_env();
    // As ZIO's groupedWithin: the timer ran out at 1 s with nothing to emit, so the value
    // arriving at 2.5 s goes at once, and the next group is due 1 s after it.
    let values = at_times(&[(2500, "late"), (2700, "later"), (4000, "last")]);
    let groups = stamped(&clock, values.grouped_within(10, secs(1))).run_collect();
    assert_eq!(
        run_for(&rt, &clock, secs(5), groups).await,
        Ok(vec![
            (ms(2500), vec!["late"]),
            (ms(3500), vec!["later"]),
            (ms(4000), vec!["last"]),
        ])
    );
}

#[tokio::test]
async fn grouped_within_of_an_empty_stream_gives_no_group() {
    let (clock, rt) = test_env();
    let groups = Stream::<u32, String>::empty()
        .grouped_within(10, secs(1))
        .run_collect();
    assert_eq!(run_for(&rt, &clock, ms(0), groups).await, Ok(vec![]));
}

#[tokio::test]
async fn grouped_within_fails_as_its_upstream_fails() {
    let (clock, rt) = test_env();
    let log = Log::default();
    let failing = at_times(&[(100, 1), (200, 2)])
        .concat(Stream::from_effect(fail_after(
            ms(100),
            "broken".to_string(),
        )))
        .ensuring_stream(&log);
    let groups = stamped(&clock, failing.grouped_within(10, secs(1))).run_collect();
    let cause = run_for(&rt, &clock, ms(300), groups).await.unwrap_err();
    assert_eq!(cause.failure(), Some(&"broken".to_string()));
    assert_eq!(log.events(), ["upstream released"]);
}

// ---- throttle ----

#[tokio::test]
async fn throttle_delays_values_to_at_most_n_in_any_span() {
    let (clock, rt) = test_env();
    let limited = stamped(&clock, Stream::from_iter(1..=7).throttle(3, secs(1))).run_collect();
    assert_eq!(
        run_for(&rt, &clock, secs(2), limited).await,
        Ok(vec![
            (ms(0), 1),
            (ms(0), 2),
            (ms(0), 3),
            (ms(1000), 4),
            (ms(1000), 5),
            (ms(1000), 6),
            (ms(2000), 7),
        ])
    );
}

#[tokio::test]
async fn throttle_slides_its_span_so_no_burst_goes_over_n() {
    let (clock, rt) = test_env();
    // Two values at 0 and 600 ms use up the span of 1 s; the burst at 900 ms gets one value
    // at 1000 ms (the 0 ms one has left the span) and one at 1600 ms, and so on.
    let values = at_times(&[(0, 'a'), (600, 'b'), (900, 'c'), (900, 'd'), (900, 'e')]);
    let limited = stamped(&clock, values.throttle(2, secs(1))).run_collect();
    assert_eq!(
        run_for(&rt, &clock, secs(3), limited).await,
        Ok(vec![
            (ms(0), 'a'),
            (ms(600), 'b'),
            (ms(1000), 'c'),
            (ms(1600), 'd'),
            (ms(2000), 'e'),
        ])
    );
}

#[tokio::test]
async fn throttle_back_pressures_its_upstream_while_values_wait() {
    let (clock, rt) = test_env();
    let pulled = Log::default();
    let record = pulled.clone();
    let time = clock.clone();
    let source = Stream::<u32, String>::unfold_effect(1, move |n| {
        let (record, time) = (record.clone(), time.clone());
        sync(move || {
            record.push(format!("{n} pulled at {:?}", time.current_time()));
            (n <= 3).then_some((n, n + 1))
        })
    });
    let limited = source.throttle(1, secs(1)).run_drain();
    assert_eq!(run_for(&rt, &clock, secs(3), limited).await, Ok(()));
    assert_eq!(
        pulled.events(),
        [
            "1 pulled at 0ns",
            "2 pulled at 0ns",
            "3 pulled at 1s",
            "4 pulled at 2s"
        ]
    );
}

#[tokio::test]
async fn throttle_of_an_empty_stream_is_empty() {
    let (clock, rt) = test_env();
    let empty = Stream::<u32, String>::empty()
        .throttle(1, secs(1))
        .run_collect();
    assert_eq!(run_for(&rt, &clock, ms(0), empty).await, Ok(vec![]));
}

#[test]
#[should_panic(expected = "Stream::throttle: n must be at least 1")]
fn throttle_to_no_value_is_refused_where_it_is_built() {
    let _ = Stream::<u32, String>::empty().throttle(0, secs(1));
}

// ---- debounce ----

#[tokio::test]
async fn debounce_emits_a_value_only_once_the_quiet_time_has_passed_without_a_newer_one() {
    let (clock, rt) = test_env();
    let values = at_times(&[
        (0, 1),
        (50, 2),
        (100, 3),
        // Quiet from 100 ms: 3 goes at 300 ms.
        (500, 4),
        // Quiet from 500 ms: 4 goes at 700 ms.
        (1000, 5),
        (1150, 6),
        (1300, 7),
        // Quiet from 1300 ms: 7 goes at 1500 ms.
        (2000, 8),
    ]);
    let debounced = stamped(&clock, values.debounce(ms(200))).run_collect();
    assert_eq!(
        run_for(&rt, &clock, secs(3), debounced).await,
        // 8 goes as the stream ends, right after it.
        Ok(vec![
            (ms(300), 3),
            (ms(700), 4),
            (ms(1500), 7),
            (ms(2000), 8)
        ])
    );
}

#[tokio::test]
async fn debounce_emits_the_value_waiting_when_the_stream_ends() {
    let (clock, rt) = test_env();
    let debounced = stamped(&clock, Stream::from_iter([1, 2, 3]).debounce(secs(1))).run_collect();
    assert_eq!(
        run_for(&rt, &clock, ms(0), debounced).await,
        Ok(vec![(ms(0), 3)])
    );
}

#[tokio::test]
async fn debounce_fails_at_once_when_its_upstream_fails() {
    let (clock, rt) = test_env();
    let failing = at_times(&[(0, 1)]).concat(Stream::from_effect(fail_after(
        ms(50),
        "broken".to_string(),
    )));
    let debounced = stamped(&clock, failing.debounce(ms(200))).run_collect();
    let cause = run_for(&rt, &clock, ms(50), debounced).await.unwrap_err();
    assert_eq!(cause.failure(), Some(&"broken".to_string()));
}

#[tokio::test]
async fn debounce_of_an_empty_stream_is_empty() {
    let (clock, rt) = test_env();
    let empty = Stream::<u32, String>::empty()
        .debounce(secs(1))
        .run_collect();
    assert_eq!(run_for(&rt, &clock, ms(0), empty).await, Ok(vec![]));
}

// ---- timeout ----

#[tokio::test]
async fn timeout_ends_the_stream_when_no_value_comes_in_time_and_interrupts_the_pull() {
    let (clock, rt) = test_env();
    let log = Log::default();
    let stalled = at_times(&[(100, 1), (300, 2)])
        .concat(Stream::from_effect(
            sleep(secs(60))
                .as_value(3)
                .on_interrupt(log.note("stalled pull interrupted")),
        ))
        .ensuring_stream(&log);
    let (timed, time) = (log.clone(), clock.clone());
    let run = stamped(&clock, stalled.timeout(ms(500)))
        .run_collect()
        .ensuring(sync(move || {
            timed.push(format!("ended at {:?}", time.current_time()))
        }));
    assert_eq!(
        run_for(&rt, &clock, ms(800), run).await,
        Ok(vec![(ms(100), 1), (ms(300), 2)])
    );
    assert_eq!(
        log.events(),
        [
            "stalled pull interrupted",
            "upstream released",
            "ended at 800ms"
        ]
    );
}

#[tokio::test]
async fn timeout_lets_a_stream_that_keeps_producing_in_time_run_to_its_end() {
    let (clock, rt) = test_env();
    let steady = Stream::tick(ms(400)).take(5).timeout(ms(500)).run_collect();
    assert_eq!(
        run_for(&rt, &clock, secs(2), steady)
            .await
            .map(|ticks| ticks.len()),
        Ok(5)
    );
}

#[tokio::test]
async fn timeout_counts_only_values_not_empty_pulls() {
    let (clock, rt) = test_env();
    // Every 100 ms a value that is filtered out: the pulls give nothing, so time runs out.
    let nothing = Stream::tick(ms(100))
        .map(|()| 0)
        .filter(|_| false)
        .timeout(ms(350))
        .run_collect();
    assert_eq!(run_for(&rt, &clock, ms(350), nothing).await, Ok(vec![]));
}

// ---- interrupt_when ----

#[tokio::test]
async fn interrupt_when_ends_the_stream_and_interrupts_its_upstream_when_the_signal_completes() {
    let (clock, rt) = test_env();
    let log = Log::default();
    let interrupted = log.clone();
    let upstream = Stream::<u32, String>::from_iter(1..)
        .map_effect(move |n| {
            let note = interrupted.note("pull interrupted");
            sleep(ms(300)).as_value(n).on_interrupt(note)
        })
        .ensuring_stream(&log);
    let (timed, time) = (log.clone(), clock.clone());
    let run = stamped(&clock, upstream.interrupt_when(sleep(ms(1000))))
        .run_collect()
        .ensuring(sync(move || {
            timed.push(format!("ended at {:?}", time.current_time()))
        }));
    assert_eq!(
        run_for(&rt, &clock, secs(1), run).await,
        Ok(vec![(ms(300), 1), (ms(600), 2), (ms(900), 3)])
    );
    assert_eq!(
        log.events(),
        ["pull interrupted", "upstream released", "ended at 1s"]
    );
}

#[tokio::test]
async fn interrupt_when_fails_the_stream_when_the_signal_fails() {
    let (clock, rt) = test_env();
    let run = Stream::<(), String>::tick(ms(100))
        .interrupt_when(fail_after::<(), _>(ms(250), "stop".to_string()))
        .run_collect();
    let cause = run_for(&rt, &clock, ms(250), run).await.unwrap_err();
    assert_eq!(cause.failure(), Some(&"stop".to_string()));
}

#[tokio::test]
async fn interrupt_when_interrupts_its_signal_when_the_stream_ends_first() {
    let (clock, rt) = test_env();
    let log = Log::default();
    let signal = sleep::<String>(secs(60)).on_interrupt(log.note("signal interrupted"));
    let run = Stream::<u32, String>::from_iter([1, 2, 3])
        .map_effect(|n| sleep(ms(10)).as_value(n))
        .interrupt_when(signal)
        .run_collect();
    assert_eq!(run_for(&rt, &clock, ms(30), run).await, Ok(vec![1, 2, 3]));
    assert_eq!(log.events(), ["signal interrupted"]);
}

/// Logs "upstream released" when the stream's scope closes.
trait EnsuringStream {
    fn ensuring_stream(self, log: &Log) -> Self;
}

impl<A: Send + 'static> EnsuringStream for Stream<A, String> {
    fn ensuring_stream(self, log: &Log) -> Self {
        let (log, mut stream) = (log.clone(), Some(self));
        Stream::acquire_release(succeed(()), move |(), _| log.note("upstream released"))
            .flat_map(move |()| stream.take().expect("one resource, one stream"))
    }
}

// ---- timed operators over concurrent ones ----

/// A stream holding a resource (logging its release) and emitting a value every 100 ms.
fn holding(log: &Log) -> Stream<u32, String> {
    Stream::tick(ms(100)).map(|()| 1).ensuring_stream(log)
}

#[tokio::test]
async fn a_buffer_first_pulled_inside_interrupt_when_keeps_its_producer_for_the_whole_run() {
    let (clock, rt) = test_env();
    let log = Log::default();
    // Each pull of the buffer runs inside `interrupt_when`'s race, the first one too, which
    // starts the producer: the producer belongs to the stream's scope, not to that race.
    let run = stamped(
        &clock,
        holding(&log).buffer(4).interrupt_when(sleep(ms(450))),
    )
    .run_collect();
    let times: Vec<Duration> = run_for(&rt, &clock, ms(450), run)
        .await
        .unwrap()
        .into_iter()
        .map(|(at, _)| at)
        .collect();
    assert_eq!(times, [ms(0), ms(100), ms(200), ms(300), ms(400)]);
    assert_eq!(log.events(), ["upstream released"]);
}

#[tokio::test]
async fn a_merge_first_pulled_inside_timeout_keeps_its_sources_until_the_timeout_ends_it() {
    let (clock, rt) = test_env();
    let log = Log::default();
    let quiet = Stream::from_effect(sleep(ms(50)).as_value(2)).concat(Stream::from_effect(never()));
    // Values at 0, 50, 100, 200, then the ticking source is cut off after 250 ms.
    let merged = holding(&log).take(3).merge(quiet).timeout(ms(250));
    let run = stamped(&clock, merged).run_collect();
    assert_eq!(
        run_for(&rt, &clock, ms(450), run).await,
        Ok(vec![(ms(0), 1), (ms(50), 2), (ms(100), 1), (ms(200), 1)])
    );
    assert_eq!(log.events(), ["upstream released"]);
}

#[tokio::test]
async fn grouped_within_over_a_merge_groups_what_both_sources_produce() {
    let (clock, rt) = test_env();
    let left = at_times(&[(100, 'a'), (300, 'b')]);
    let right = at_times(&[(200, 'x'), (1500, 'y')]);
    let groups = stamped(&clock, left.merge(right).grouped_within(10, secs(1))).run_collect();
    assert_eq!(
        run_for(&rt, &clock, secs(2), groups).await,
        Ok(vec![(ms(1000), vec!['a', 'x', 'b']), (ms(1500), vec!['y'])])
    );
}
