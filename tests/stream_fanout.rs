//! Streams, fan-out operators: `group_by_key` (a group per key, consumed at once, merged),
//! `broadcast` (one source, n consumers, the slowest setting the pace) and `partition`.
//! Each scenario runs on both runtime flavours, on a TestClock (no real-time waits), with
//! `live_fibers() == 0` checked after it.

use crate::common;

use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{fail_after, Lead, Log};
use effect::prelude::*;
use effect::stream::Stream;
use effect::{ScopeExit, TestClock};

// ---- helpers ----

/// How a scope closed, in a word.
fn how(exit: &ScopeExit) -> &'static str {
    match exit {
        Ok(()) => "ended",
        Err(cause) if cause.is_interrupted() => "interrupted",
        Err(cause) if cause.is_die() => "died",
        Err(_) => "failed",
    }
}

/// `values` over a resource named `name`: "NAME open" when first pulled, "NAME released
/// (how)" when its scope closes.
fn guarded<A: Send + 'static>(
    log: &Log,
    name: impl Into<String>,
    values: Stream<A, String>,
) -> Stream<A, String> {
    let name = name.into();
    let (open, close, opened) = (log.clone(), log.clone(), format!("{name} open"));
    let mut values = Some(values);
    Stream::acquire_release(sync(move || open.push(opened)), move |(), exit| {
        close.note(&format!("{name} released ({})", how(exit)))
    })
    .flat_map(move |()| values.take().unwrap_or_else(Stream::empty))
}

/// Checks that the resources of `released` (each a name and how it was released), and no
/// other, were each opened and released once, in whatever order.
fn assert_resources(log: &Log, released: &[(&str, &str)]) {
    let mut events = log.events();
    events.sort();
    let mut expected: Vec<String> = released
        .iter()
        .flat_map(|(name, how)| [format!("{name} open"), format!("{name} released ({how})")])
        .collect();
    expected.sort();
    assert_eq!(events, expected);
}

/// 0, 1, 2, ... one every 10 ms, forever.
fn ticking() -> Stream<u32, String> {
    Stream::tick(ms(10))
        .zip_with_index()
        .map(|((), i)| i as u32)
}

/// Records the values of a stream, from any fiber.
#[derive(Clone, Default)]
struct Seen(Arc<Mutex<Vec<u32>>>);

impl Seen {
    fn record(&self, stream: Stream<u32, String>) -> Effect<(), String> {
        let seen = self.clone();
        stream.run_for_each(move |n| {
            let seen = seen.clone();
            sync(move || seen.0.lock().unwrap().push(n))
        })
    }
    fn values(&self) -> Vec<u32> {
        self.0.lock().unwrap().clone()
    }
}

/// The time at which `effect` ended.
fn ended_at<A: Send + 'static>(
    clock: &TestClock,
    effect: Effect<A, String>,
) -> Effect<Duration, String> {
    let clock = clock.clone();
    effect.map(move |_| clock.current_time())
}

/// How `effect` ended, as a value.
fn exit_of<A: Send + 'static>(effect: Effect<A, String>) -> Effect<Exit<A, String>, String> {
    effect.fork().flat_map(|fiber| fiber.await_exit())
}

/// The `n` streams of `broadcast(n, buffer)`, as an array.
fn broadcast<const N: usize>(
    source: Stream<u32, String>,
    buffer: usize,
) -> [Stream<u32, String>; N] {
    source.broadcast(N, buffer).try_into().unwrap()
}

// ---- group_by_key ----

crate::effect_tests_on_both_flavours! {
    group_by_key:
    each_group_folds_the_values_of_its_key => groups_fold_their_values;
    each_group_gets_its_values_in_order => groups_keep_order;
    an_empty_source_starts_no_group => group_empty;
    a_source_failure_interrupts_every_group_and_is_reported_once => group_source_failure;
    a_panic_in_the_key_function_is_a_defect_of_the_run => group_key_panic;
    a_failing_group_fails_the_run_and_interrupts_the_others => group_failure;
    a_slow_group_keeps_the_source_at_most_twice_its_buffer_ahead => group_back_pressure;
    a_slow_group_holds_back_the_other_groups => group_slow_holds_others;
    a_group_that_stops_early_no_longer_holds_the_source_back => group_early_stop;
    interrupting_the_run_interrupts_the_groups_and_releases_the_source => group_interrupt;
    taking_from_the_merged_stream_releases_the_source_and_the_groups => group_take;
    the_source_is_released_as_it_ends_before_the_groups_end => group_release_order;
}

fn groups_fold_their_values(_clock: TestClock) -> Effect<(), String> {
    let sums = Stream::<u64, String>::from_iter(0..1000)
        .group_by_key(|n| n % 7, 4)
        .merge_groups(|key, group| {
            Stream::from_effect(group.run_fold(0, |sum, n| sum + n)).map(move |sum| (key, sum))
        })
        .run_collect();
    sums.map(|mut sums| {
        sums.sort();
        let expected: Vec<(u64, u64)> = (0..7)
            .map(|key| (key, (0..1000).filter(|n| n % 7 == key).sum()))
            .collect();
        assert_eq!(sums, expected);
    })
}

fn groups_keep_order(_clock: TestClock) -> Effect<(), String> {
    // An effectful source (one value per pull) and groups that yield: the groups interleave.
    let tagged = Stream::<u32, String>::from_iter(0..300)
        .map_effect(|n| yield_now().as_value(n))
        .group_by_key(|n| n % 3, 2)
        .merge_groups(|key, group| group.map_effect(move |n| yield_now().as_value((key, n))))
        .run_collect();
    tagged.map(|tagged| {
        assert_eq!(tagged.len(), 300);
        for key in 0..3 {
            let own: Vec<u32> = tagged
                .iter()
                .filter(|(k, _)| *k == key)
                .map(|(_, n)| *n)
                .collect();
            let expected: Vec<u32> = (0..300).filter(|n| n % 3 == key).collect();
            assert_eq!(own, expected, "group {key}");
        }
    })
}

fn group_empty(_clock: TestClock) -> Effect<(), String> {
    let started = Arc::new(AtomicUsize::new(0));
    let counter = started.clone();
    Stream::<u32, String>::empty()
        .group_by_key(|n| *n, 4)
        .merge_groups(move |_, group| {
            counter.fetch_add(1, SeqCst);
            group
        })
        .run_collect()
        .map(move |values| {
            assert!(values.is_empty());
            assert_eq!(started.load(SeqCst), 0, "no group started");
        })
}

fn group_source_failure(clock: TestClock) -> Effect<(), String> {
    let log = Log::default();
    let results = Seen::default();
    // The failure comes once every group has started.
    let failing = Stream::from_effect(fail_after(ms(10), "broken".to_string()));
    let source = guarded(&log, "source", Stream::from_iter(0..10).concat(failing));
    let groups = log.clone();
    let merged = source
        .group_by_key(|n| n % 3, 4)
        .merge_groups(move |key, group| {
            let sum = Stream::from_effect(group.run_fold(0, |sum, n| sum + n));
            guarded(&groups, format!("group {key}"), sum)
        });
    with_time(&clock, ms(10), exit_of(results.record(merged))).map(move |exit| {
        let cause = exit.unwrap_err();
        assert_eq!(cause.failure(), Some(&"broken".to_string()));
        assert_eq!(cause.failures().len(), 1, "{cause:?}");
        assert!(results.values().is_empty(), "no partial sum was emitted");
        assert_resources(
            &log,
            &[
                ("group 0", "interrupted"),
                ("group 1", "interrupted"),
                ("group 2", "interrupted"),
                ("source", "failed"),
            ],
        );
    })
}

fn group_key_panic(clock: TestClock) -> Effect<(), String> {
    let log = Log::default();
    let groups = log.clone();
    // One value a millisecond: every group has started by the time 5 comes.
    let merged = Stream::<u32, String>::from_iter(0..10)
        .map_effect(|n| sleep(ms(1)).as_value(n))
        .group_by_key(
            |n| {
                if *n == 5 {
                    panic!("no key for 5")
                } else {
                    n % 2
                }
            },
            4,
        )
        .merge_groups(move |key, group| guarded(&groups, format!("group {key}"), group));
    with_time(&clock, ms(10), exit_of(merged.run_drain())).map(move |exit| {
        let cause = exit.unwrap_err();
        assert!(cause.is_die(), "{cause:?}");
        assert_eq!(cause.defects()[0].message(), "no key for 5");
        assert_eq!(log.count("group 0 released (interrupted)"), 1);
        assert_eq!(log.count("group 1 released (interrupted)"), 1);
    })
}

fn group_failure(clock: TestClock) -> Effect<(), String> {
    let log = Log::default();
    let groups = log.clone();
    let merged = guarded(&log, "source", ticking())
        .group_by_key(|n| n % 3, 4)
        .merge_groups(move |key, group| match key {
            1 => group
                .take(2)
                .concat(Stream::fail("group 1 broke".to_string())),
            _ => guarded(&groups, format!("group {key}"), group),
        });
    with_time(&clock, ms(100), exit_of(merged.run_drain())).map(move |exit| {
        let cause = exit.unwrap_err();
        assert_eq!(cause.failure(), Some(&"group 1 broke".to_string()));
        assert_eq!(cause.failures().len(), 1, "{cause:?}");
        assert_resources(
            &log,
            &[
                ("group 0", "interrupted"),
                ("group 2", "interrupted"),
                ("source", "interrupted"),
            ],
        );
    })
}

fn group_back_pressure(clock: TestClock) -> Effect<(), String> {
    let lead = Lead::default();
    let consumer = lead.clone();
    let run = lead
        .source(60)
        .group_by_key(|_| 0, 4)
        .merge_groups(move |_, group| Stream::from_effect(consumer.consume(group)))
        .run_drain();
    with_time(&clock, ms(700), run).map(move |()| {
        assert_eq!(lead.consumed(), 60);
        // At most 4 values wait in the group's buffer, one in the dispatcher's hand, and the
        // group may be working through a chunk of at most 4 it took at once.
        let ahead = lead.most_ahead();
        assert!(ahead <= 9, "ahead by {ahead}");
        assert!(ahead >= 4, "the source did run ahead: by {ahead}");
    })
}

fn group_slow_holds_others(clock: TestClock) -> Effect<(), String> {
    // Keys alternate; group 0 takes 10 ms a value, group 1 no time. The source runs at most
    // 2 * 2 + 1 values of key 0 ahead of group 0, so group 1's last value (after the 20th
    // of key 0) cannot come before group 0 has consumed 15 values: 150 ms.
    let time = clock.clone();
    let merged = Stream::<u32, String>::from_iter(0..40)
        .group_by_key(|n| n % 2, 2)
        .merge_groups(move |key, group| {
            let done = match key {
                0 => ended_at(&time, group.run_for_each(|_| sleep(ms(10)))),
                _ => ended_at(&time, group.run_drain()),
            };
            Stream::from_effect(done).map(move |at| (key, at))
        });
    with_time(&clock, ms(250), merged.run_collect()).map(|mut done| {
        done.sort();
        assert_eq!(done[0], (0, ms(200)));
        assert!(
            done[1].1 >= ms(150),
            "the fast group was held back: {done:?}"
        );
    })
}

fn group_early_stop(_clock: TestClock) -> Effect<(), String> {
    let started = Arc::new(AtomicUsize::new(0));
    let counter = started.clone();
    Stream::<u32, String>::from_iter(0..300)
        .group_by_key(|n| n % 3, 1)
        .merge_groups(move |key, group| {
            counter.fetch_add(1, SeqCst);
            let group = if key == 0 { group.take(1) } else { group };
            Stream::from_effect(group.run_collect()).map(move |values| (key, values))
        })
        .run_collect()
        .map(move |mut groups| {
            groups.sort();
            assert_eq!(groups[0], (0, vec![0]));
            assert_eq!(
                groups[1].1,
                (0..300).filter(|n| n % 3 == 1).collect::<Vec<_>>()
            );
            assert_eq!(
                groups[2].1,
                (0..300).filter(|n| n % 3 == 2).collect::<Vec<_>>()
            );
            assert_eq!(started.load(SeqCst), 3, "a stopped key starts no new group");
        })
}

fn group_interrupt(clock: TestClock) -> Effect<(), String> {
    let log = Log::default();
    let groups = log.clone();
    let merged = guarded(&log, "source", ticking())
        .group_by_key(|n| n % 2, 4)
        .merge_groups(move |key, group| guarded(&groups, format!("group {key}"), group));
    effect_block! {
        let run = merged.run_drain().fork()?;
        clock.advance(ms(100)).await;
        assert!(!run.is_done());
        let exit = run.interrupt()?;
        assert!(exit.unwrap_err().is_interrupted());
        assert_resources(&log, &[("group 0", "interrupted"), ("group 1", "interrupted"), ("source", "interrupted")]);
    }
}

fn group_take(clock: TestClock) -> Effect<(), String> {
    let log = Log::default();
    let groups = log.clone();
    let first = guarded(&log, "source", ticking())
        .group_by_key(|n| n % 2, 4)
        .merge_groups(move |key, group| guarded(&groups, format!("group {key}"), group))
        .take(5)
        .run_collect();
    with_time(&clock, ms(100), first).map(move |values| {
        assert_eq!(values, [0, 1, 2, 3, 4]);
        assert_eq!(log.count("source released (interrupted)"), 1);
        assert_eq!(log.count("group 0 released (interrupted)"), 1);
        assert_eq!(log.count("group 1 released (interrupted)"), 1);
    })
}

fn group_release_order(_clock: TestClock) -> Effect<(), String> {
    let log = Log::default();
    let groups = log.clone();
    let merged = guarded(&log, "source", Stream::from_iter(0..10))
        .group_by_key(|n| n % 2, 2)
        .merge_groups(move |key, group| {
            let sum = Stream::from_effect(group.run_fold(0, |sum, n| sum + n));
            guarded(&groups, format!("group {key}"), sum)
        });
    merged.run_collect().map(move |mut sums| {
        sums.sort();
        assert_eq!(sums, [20, 25]);
        let events = log.events();
        let at = |event: &str| events.iter().position(|e| e == event).unwrap();
        assert_eq!(log.count("source released (ended)"), 1, "{events:?}");
        assert!(at("source released (ended)") < at("group 0 released (ended)"));
        assert!(at("source released (ended)") < at("group 1 released (ended)"));
    })
}

// ---- broadcast ----

crate::effect_tests_on_both_flavours! {
    broadcast:
    every_consumer_sees_every_value_in_order => broadcast_every_value;
    the_source_starts_once_every_consumer_is_opened => broadcast_starts_when_all_opened;
    a_consumer_dropped_unopened_holds_nothing_back => broadcast_dropped_unopened;
    the_slowest_consumer_sets_the_pace => broadcast_slowest_sets_the_pace;
    a_consumer_that_stops_early_no_longer_holds_the_others_back => broadcast_early_stop;
    a_source_failure_reaches_every_consumer_after_its_values => broadcast_failure;
    a_source_defect_reaches_every_consumer => broadcast_defect;
    interrupting_the_consumers_releases_the_source_once => broadcast_interrupt;
    once_every_consumer_stopped_the_source_is_released_once => broadcast_all_stop;
    an_empty_source_ends_every_consumer => broadcast_empty;
    consumers_merged_into_one_stream_each_get_every_value => broadcast_merged;
}

fn broadcast_every_value(_clock: TestClock) -> Effect<(), String> {
    let [a, b, c] = broadcast(Stream::from_iter(0..1000), 3);
    let runs = vec![
        a.run_collect(),
        b.map_effect(|n| yield_now().as_value(n)).run_collect(),
        c.run_collect(),
    ];
    zip_par(runs).map(|all| {
        for values in all {
            assert_eq!(values, (0..1000).collect::<Vec<_>>());
        }
    })
}

fn broadcast_starts_when_all_opened(clock: TestClock) -> Effect<(), String> {
    let log = Log::default();
    let [a, b] = broadcast(guarded(&log, "source", Stream::from_iter(0..3)), 4);
    effect_block! {
        let first = a.run_collect().fork()?;
        clock.advance(ms(100)).await;
        assert!(log.events().is_empty(), "not started while a consumer is unopened");
        assert!(!first.is_done());
        let second = b.run_collect().fork()?;
        clock.advance(Duration::ZERO).await;
        assert_eq!(first.join()?, [0, 1, 2]);
        assert_eq!(second.join()?, [0, 1, 2]);
        assert_eq!(log.events(), ["source open", "source released (ended)"]);
    }
}

fn broadcast_dropped_unopened(clock: TestClock) -> Effect<(), String> {
    let log = Log::default();
    let [a, b, c] = broadcast(guarded(&log, "source", Stream::from_iter(0..100)), 2);
    effect_block! {
        let both = a.run_collect().zip_par(b.run_collect()).fork()?;
        clock.advance(Duration::ZERO).await;
        assert!(log.events().is_empty(), "c is neither opened nor dropped yet");
        drop(c);
        clock.advance(Duration::ZERO).await;
        let (a, b) = both.join()?;
        assert_eq!(a, (0..100).collect::<Vec<_>>());
        assert_eq!(b, a);
        assert_eq!(log.events(), ["source open", "source released (ended)"]);
    }
}

fn broadcast_slowest_sets_the_pace(clock: TestClock) -> Effect<(), String> {
    let lead = Lead::default();
    let [fast, slow] = broadcast(lead.source(40), 4);
    let fast = ended_at(&clock, fast.run_drain());
    let slow = ended_at(&clock, lead.consume(slow));
    with_time(&clock, ms(400), fast.zip_par(slow)).map(move |(fast, slow)| {
        assert_eq!(slow, ms(400));
        // The source is pulled only when the slow consumer has room: it runs at most 4
        // values ahead of its buffer's taker, which may hold a chunk of 4 it took at once.
        let ahead = lead.most_ahead();
        assert!(ahead <= 8, "ahead by {ahead}");
        assert!(ahead >= 4, "the source did run ahead: by {ahead}");
        // So the fast consumer got the last value only once the slow one had consumed 32.
        assert!(
            fast >= ms(320),
            "the fast consumer was held back: done at {fast:?}"
        );
    })
}

fn broadcast_early_stop(_clock: TestClock) -> Effect<(), String> {
    let log = Log::default();
    let [a, b] = broadcast(guarded(&log, "source", Stream::from_iter(0..50)), 1);
    let (done, events) = (log.clone(), log.clone());
    let a = a.take(2).run_collect().tap(move |_| done.note("a done"));
    let b = b.run_collect().tap(move |_| events.note("b done"));
    a.zip_par(b).map(move |(a, b)| {
        assert_eq!(a, [0, 1]);
        assert_eq!(b, (0..50).collect::<Vec<_>>());
        let events = log.events();
        let at = |event: &str| events.iter().position(|e| e == event).unwrap();
        assert_eq!(log.count("source released (ended)"), 1, "{events:?}");
        assert!(at("source released (ended)") < at("b done"), "{events:?}");
    })
}

fn broadcast_failure(_clock: TestClock) -> Effect<(), String> {
    let log = Log::default();
    let failing = Stream::from_iter(0..3).concat(Stream::fail("broken".to_string()));
    let [a, b] = broadcast(guarded(&log, "source", failing), 2);
    let (seen_a, seen_b) = (Seen::default(), Seen::default());
    let runs = exit_of(seen_a.record(a)).zip_par(exit_of(seen_b.record(b)));
    runs.map(move |(a, b)| {
        assert_eq!(a, Err(Cause::Fail("broken".to_string())));
        assert_eq!(b, Err(Cause::Fail("broken".to_string())));
        assert_eq!(seen_a.values(), [0, 1, 2]);
        assert_eq!(seen_b.values(), [0, 1, 2]);
        assert_eq!(log.events(), ["source open", "source released (failed)"]);
    })
}

fn broadcast_defect(_clock: TestClock) -> Effect<(), String> {
    let dying = Stream::from_iter(0..3).concat(Stream::from_effect(sync(|| -> u32 {
        panic!("source bug")
    })));
    let [a, b] = broadcast(dying, 2);
    exit_of(a.run_drain())
        .zip_par(exit_of(b.run_drain()))
        .map(|(a, b)| {
            for exit in [a, b] {
                let cause = exit.unwrap_err();
                assert!(cause.is_die(), "{cause:?}");
                assert_eq!(cause.defects()[0].message(), "source bug");
            }
        })
}

fn broadcast_interrupt(clock: TestClock) -> Effect<(), String> {
    let log = Log::default();
    let [a, b] = broadcast(guarded(&log, "source", ticking()), 2);
    let consumers = a.run_drain().zip_par(b.run_for_each(|_| sleep(ms(5))));
    effect_block! {
        let run = consumers.fork()?;
        clock.advance(ms(100)).await;
        assert!(!run.is_done());
        assert!(run.interrupt()?.unwrap_err().is_interrupted());
        assert_eq!(log.events(), ["source open", "source released (interrupted)"]);
    }
}

fn broadcast_all_stop(clock: TestClock) -> Effect<(), String> {
    let log = Log::default();
    let [a, b] = broadcast(guarded(&log, "source", ticking()), 2);
    let (stopped_a, stopped_b) = (log.clone(), log.clone());
    let a = a
        .take(2)
        .run_collect()
        .tap(move |_| stopped_a.note("a done"));
    let b = b
        .take(5)
        .run_collect()
        .tap(move |_| stopped_b.note("b done"));
    with_time(&clock, ms(100), a.zip_par(b)).map(move |(a, b)| {
        assert_eq!((a, b), (vec![0, 1], vec![0, 1, 2, 3, 4]));
        // Released once, after both consumers stopped: within the last one's run.
        assert_eq!(
            log.events(),
            [
                "source open",
                "a done",
                "source released (interrupted)",
                "b done"
            ]
        );
    })
}

fn broadcast_empty(_clock: TestClock) -> Effect<(), String> {
    let [a, b, c] = broadcast(Stream::empty(), 2);
    zip_par(vec![a.run_collect(), b.run_collect(), c.run_collect()])
        .map(|all| assert_eq!(all, [vec![], vec![], vec![]]))
}

fn broadcast_merged(_clock: TestClock) -> Effect<(), String> {
    let consumers = Stream::<u32, String>::from_iter(0..500).broadcast(3, 8);
    let tagged = consumers
        .into_iter()
        .enumerate()
        .map(|(i, consumer)| consumer.map(move |n| (i, n)));
    Stream::merge_all(tagged).run_collect().map(|values| {
        assert_eq!(values.len(), 1500);
        for i in 0..3 {
            let own: Vec<u32> = values
                .iter()
                .filter(|(c, _)| *c == i)
                .map(|(_, n)| *n)
                .collect();
            assert_eq!(own, (0..500).collect::<Vec<_>>(), "consumer {i}");
        }
    })
}

// ---- partition ----

crate::effect_tests_on_both_flavours! {
    partition:
    values_go_left_or_right_in_order => partition_splits;
    a_source_failure_reaches_both_sides => partition_failure;
    a_panic_in_the_predicate_reaches_both_sides => partition_panic;
    a_slow_side_keeps_the_source_at_most_twice_its_buffer_ahead => partition_back_pressure;
    a_side_that_stops_early_no_longer_holds_the_other_back => partition_early_stop;
    interrupting_both_sides_releases_the_source_once => partition_interrupt;
    an_empty_source_ends_both_sides => partition_empty;
}

fn partition_splits(_clock: TestClock) -> Effect<(), String> {
    let (evens, odds) = Stream::<u32, String>::from_iter(0..1000).partition(|n| n % 2 == 0, 4);
    let odds = odds.map_effect(|n| yield_now().as_value(n));
    evens
        .run_collect()
        .zip_par(odds.run_collect())
        .map(|(evens, odds)| {
            assert_eq!(evens, (0..1000).step_by(2).collect::<Vec<_>>());
            assert_eq!(odds, (1..1000).step_by(2).collect::<Vec<_>>());
        })
}

fn partition_failure(_clock: TestClock) -> Effect<(), String> {
    let log = Log::default();
    let failing = Stream::from_iter(0..4).concat(Stream::fail("broken".to_string()));
    let (left, right) = guarded(&log, "source", failing).partition(|n| *n < 2, 2);
    let (seen_left, seen_right) = (Seen::default(), Seen::default());
    let runs = exit_of(seen_left.record(left)).zip_par(exit_of(seen_right.record(right)));
    runs.map(move |(left, right)| {
        assert_eq!(left, Err(Cause::Fail("broken".to_string())));
        assert_eq!(right, Err(Cause::Fail("broken".to_string())));
        assert_eq!(seen_left.values(), [0, 1]);
        assert_eq!(seen_right.values(), [2, 3]);
        assert_eq!(log.events(), ["source open", "source released (failed)"]);
    })
}

fn partition_panic(_clock: TestClock) -> Effect<(), String> {
    let (left, right) = Stream::<u32, String>::from_iter(0..10).partition(
        |n| {
            assert!(*n != 5, "cannot place 5");
            n % 2 == 0
        },
        4,
    );
    exit_of(left.run_drain())
        .zip_par(exit_of(right.run_drain()))
        .map(|(left, right)| {
            for exit in [left, right] {
                let cause = exit.unwrap_err();
                assert!(cause.is_die(), "{cause:?}");
                assert_eq!(cause.defects()[0].message(), "cannot place 5");
            }
        })
}

fn partition_back_pressure(clock: TestClock) -> Effect<(), String> {
    let lead = Lead::default();
    let (slow, rest) = lead.source(60).partition(|_| true, 4);
    let run = lead.consume(slow).zip_par(rest.run_collect());
    with_time(&clock, ms(700), run).map(move |((), rest)| {
        assert!(rest.is_empty());
        assert_eq!(lead.consumed(), 60);
        let ahead = lead.most_ahead();
        assert!(ahead <= 9, "ahead by {ahead}");
        assert!(ahead >= 4, "the source did run ahead: by {ahead}");
    })
}

fn partition_early_stop(_clock: TestClock) -> Effect<(), String> {
    let (left, right) = Stream::<u32, String>::from_iter(0..300).partition(|n| n % 3 == 0, 1);
    left.take(2)
        .run_collect()
        .zip_par(right.run_collect())
        .map(|(left, right)| {
            assert_eq!(left, [0, 3]);
            assert_eq!(right, (0..300).filter(|n| n % 3 != 0).collect::<Vec<_>>());
        })
}

fn partition_interrupt(clock: TestClock) -> Effect<(), String> {
    let log = Log::default();
    let (left, right) = guarded(&log, "source", ticking()).partition(|n| n % 2 == 0, 2);
    let sides = left.run_drain().zip_par(right.run_drain());
    effect_block! {
        let run = sides.fork()?;
        clock.advance(ms(100)).await;
        assert!(!run.is_done());
        assert!(run.interrupt()?.unwrap_err().is_interrupted());
        assert_eq!(log.events(), ["source open", "source released (interrupted)"]);
    }
}

fn partition_empty(_clock: TestClock) -> Effect<(), String> {
    let (left, right) = Stream::<u32, String>::empty().partition(|_| true, 1);
    left.run_collect()
        .zip_par(right.run_collect())
        .map(|both| assert_eq!(both, (vec![], vec![])))
}

/// Runs `effect` while moving virtual time on by `time`, and gives what it gave.
fn with_time<A: Send + 'static>(
    clock: &TestClock,
    time: Duration,
    effect: Effect<A, String>,
) -> Effect<A, String> {
    let clock = clock.clone();
    effect_block! {
        let run = effect.fork()?;
        clock.advance(time).await;
        assert!(run.is_done(), "the run finished within {time:?}");
        run.join()?
    }
}

// ---- arguments ----

#[test]
#[should_panic(expected = "Stream::group_by_key: the buffer must hold at least 1 value")]
fn group_by_key_with_no_buffer_is_refused_where_it_is_built() {
    let _ = Stream::<u32, String>::empty().group_by_key(|n| *n, 0);
}

#[test]
#[should_panic(expected = "Stream::broadcast: the buffer must hold at least 1 value")]
fn broadcast_with_no_buffer_is_refused_where_it_is_built() {
    let _ = Stream::<u32, String>::empty().broadcast(2, 0);
}

#[test]
#[should_panic(expected = "Stream::partition: the buffer must hold at least 1 value")]
fn partition_with_no_buffer_is_refused_where_it_is_built() {
    let _ = Stream::<u32, String>::empty().partition(|_| true, 0);
}

#[test]
fn a_broadcast_to_no_consumer_gives_no_stream_and_never_runs_the_source() {
    let log = Log::default();
    let consumers = guarded(&log, "source", Stream::from_iter(0..3)).broadcast(0, 4);
    assert!(consumers.is_empty());
    assert!(log.events().is_empty());
}
