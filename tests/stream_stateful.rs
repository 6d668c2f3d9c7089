//! The stateful and everyday stream operators (`drop`, `zip_with_index`, `changes`,
//! `map_accum`, `sliding`, `tap`, `or_else`, `ensuring`) and the `run_head` / `run_last` /
//! `run_count` sinks: values, empty inputs, failures and defects passing through after the
//! values already emitted, early stops and interruptions releasing what the stream holds.

use crate::common;

use common::{test_env, Log};
use effect::prelude::*;
use effect::stream::Stream;

fn collect<A: Send + 'static>(stream: Stream<A, String>) -> Exit<Vec<A>, String> {
    effect::run_blocking(stream.run_collect())
}

/// `values`, then a failure.
fn failing(values: Vec<u32>) -> Stream<u32, String> {
    Stream::from_iter(values).concat(Stream::fail("upstream broke".to_string()))
}

/// `values` in chunks of one (an effectful source), to cross chunk boundaries.
fn one_by_one(values: Vec<u32>) -> Stream<u32, String> {
    Stream::from_iter(values).map_effect(succeed)
}

#[test]
fn drop_skips_the_first_values_across_chunks() {
    assert_eq!(
        collect(Stream::from_iter(0..10u32).drop(7)),
        Ok(vec![7, 8, 9])
    );
    assert_eq!(collect(one_by_one(vec![1, 2, 3]).drop(2)), Ok(vec![3]));
    assert_eq!(collect(Stream::from_iter(0..3u32).drop(5)), Ok(vec![]));
    assert_eq!(
        collect(Stream::from_iter(0..3u32).drop(0)),
        Ok(vec![0, 1, 2])
    );
    assert_eq!(collect(Stream::<u32, String>::empty().drop(1)), Ok(vec![]));
    assert_eq!(
        collect(failing(vec![1, 2]).drop(1)),
        Err(Cause::Fail("upstream broke".to_string()))
    );
}

#[test]
fn zip_with_index_and_map_accum_carry_their_state() {
    assert_eq!(
        collect(one_by_one(vec![5, 6, 7]).zip_with_index()),
        Ok(vec![(5, 0), (6, 1), (7, 2)])
    );
    let averages =
        Stream::<f64, String>::from_iter([2.0, 4.0, 9.0]).map_accum((0.0, 0u32), |(sum, n), x| {
            let (sum, n) = (sum + x, n + 1);
            ((sum, n), sum / f64::from(n))
        });
    assert_eq!(collect(averages), Ok(vec![2.0, 3.0, 5.0]));
    assert_eq!(
        collect(Stream::<u32, String>::empty().zip_with_index()),
        Ok(vec![])
    );
    let panicking = Stream::<u32, String>::from_iter([1, 2]).map_accum(0, |_, n| {
        assert!(n < 2, "no state for two");
        (n, n)
    });
    assert!(collect(panicking).unwrap_err().is_die());
}

#[test]
fn changes_keeps_the_first_of_each_run_across_chunks() {
    assert_eq!(
        collect(one_by_one(vec![1, 1, 2, 2, 1, 1]).changes()),
        Ok(vec![1, 2, 1])
    );
    assert_eq!(
        collect(Stream::from_iter(vec![3u32; 1000]).changes()),
        Ok(vec![3])
    );
    assert_eq!(
        collect(Stream::<u32, String>::empty().changes()),
        Ok(vec![])
    );
    assert_eq!(
        collect(failing(vec![1, 1]).changes()),
        Err(Cause::Fail("upstream broke".to_string()))
    );
}

#[test]
fn sliding_gives_every_window_once() {
    assert_eq!(
        collect(one_by_one(vec![1, 2, 3, 4]).sliding(2)),
        Ok(vec![vec![1, 2], vec![2, 3], vec![3, 4]])
    );
    assert_eq!(
        collect(Stream::from_iter([1u32, 2]).sliding(5)),
        Ok(vec![vec![1, 2]])
    );
    assert_eq!(
        collect(Stream::<u32, String>::empty().sliding(2)),
        Ok(vec![])
    );
    assert_eq!(
        collect(Stream::from_iter(0..300u32).sliding(256)).map(|w| w.len()),
        Ok(45)
    );
    let zero = std::panic::catch_unwind(|| Stream::<u32, String>::empty().sliding(0));
    assert!(zero.is_err(), "a window of no values is refused");
}

#[test]
fn tap_sees_each_value_and_its_failure_fails_the_stream() {
    let log = Log::default();
    let seen = log.clone();
    let tapped = Stream::<u32, String>::from_iter([1, 2, 3]).tap(move |n| {
        if *n == 3 {
            fail("no threes".to_string())
        } else {
            seen.note(&format!("saw {n}"))
        }
    });
    assert_eq!(collect(tapped), Err(Cause::Fail("no threes".to_string())));
    assert_eq!(log.events(), ["saw 1", "saw 2"]);
}

#[test]
fn or_else_continues_after_a_failure_but_not_a_defect() {
    let recovered = failing(vec![1]).or_else(Stream::<u32, String>::from_iter([2]));
    assert_eq!(collect(recovered), Ok(vec![1, 2]));
    let died = Stream::<u32, String>::from_effect(die("boom")).or_else(Stream::from_iter([2]));
    assert!(collect(died).unwrap_err().is_die());
}

/// `ensuring` runs once on every way out, after the stream's own releases.
#[tokio::test]
async fn ensuring_runs_once_on_every_way_out_after_the_streams_releases() {
    for way in ["end", "fail", "take", "interrupt"] {
        let (clock, runtime) = test_env();
        let log = Log::default();
        let (opened, closed, done) = (log.clone(), log.clone(), log.clone());
        let values = Stream::acquire_release(sync(move || opened.push("open")), move |(), _| {
            closed.note("close")
        })
        .flat_map(move |()| match way {
            "fail" => failing(vec![1]),
            "interrupt" => Stream::from_iter([1u32]).concat(Stream::from_effect(never())),
            _ => Stream::from_iter(1..=3u32),
        })
        .ensuring(done.note("ensuring"));
        let run = if way == "take" {
            values.take(1).run_collect()
        } else {
            values.run_collect()
        };
        let fiber = runtime.fork(run);
        clock.advance(ms(1)).await;
        let exit = if way == "interrupt" {
            runtime.run(fiber.interrupt::<String>()).await.unwrap()
        } else {
            runtime.run(fiber.await_exit::<String>()).await.unwrap()
        };
        assert_eq!(
            exit.is_ok(),
            way == "end" || way == "take",
            "{way}: {exit:?}"
        );
        assert_eq!(log.events(), ["open", "close", "ensuring"], "{way}");
        assert_eq!(runtime.live_fibers(), 0, "{way}");
    }
}

#[test]
fn run_head_stops_the_stream_and_run_last_and_run_count_read_it_all() {
    let log = Log::default();
    let (opened, closed) = (log.clone(), log.clone());
    let endless = Stream::acquire_release(sync(move || opened.push("open")), move |(), _| {
        closed.note("close")
    })
    .flat_map(|()| Stream::<u64, String>::from_iter(10..));
    assert_eq!(effect::run_blocking(endless.run_head()), Ok(Some(10)));
    assert_eq!(log.events(), ["open", "close"]);
    assert_eq!(
        effect::run_blocking(Stream::<u64, String>::empty().run_head()),
        Ok(None)
    );
    assert_eq!(
        effect::run_blocking(Stream::<u64, String>::from_iter(0..1000).run_last()),
        Ok(Some(999))
    );
    assert_eq!(
        effect::run_blocking(Stream::<u64, String>::empty().run_last()),
        Ok(None)
    );
    assert_eq!(
        effect::run_blocking(Stream::<u64, String>::from_iter(0..1000).run_count()),
        Ok(1000)
    );
    assert_eq!(
        effect::run_blocking(failing(vec![1, 2]).run_count()),
        Err(Cause::Fail("upstream broke".to_string()))
    );
}

#[test]
fn interleave_takes_turns_then_gives_the_rest_of_the_longer_side() {
    let left = || one_by_one(vec![1, 2, 3]);
    assert_eq!(
        collect(left().interleave(Stream::from_iter([10, 20]))),
        Ok(vec![1, 10, 2, 20, 3])
    );
    assert_eq!(
        collect(Stream::from_iter([10u32]).interleave(left())),
        Ok(vec![10, 1, 2, 3])
    );
    assert_eq!(
        collect(Stream::<u32, String>::empty().interleave(left())),
        Ok(vec![1, 2, 3])
    );
    assert_eq!(
        collect(left().interleave(Stream::empty())),
        Ok(vec![1, 2, 3])
    );
    assert_eq!(
        collect(Stream::<u32, String>::from_iter(0..300).interleave(Stream::from_iter(1000..1300)))
            .map(|v| (v.len(), v[..4].to_vec())),
        Ok((600, vec![0, 1000, 1, 1001]))
    );
    assert_eq!(
        collect(left().interleave(failing(vec![10]))),
        Err(Cause::Fail("upstream broke".to_string()))
    );
}

#[test]
fn interleave_pulls_a_side_only_when_its_turn_comes() {
    let log = Log::default();
    let (l, r) = (log.clone(), log.clone());
    let left = Stream::<u32, String>::from_iter([1, 2]).tap(move |n| l.note(&format!("left {n}")));
    let right =
        Stream::<u32, String>::from_iter([10, 20]).tap(move |n| r.note(&format!("right {n}")));
    let first_two = left.interleave(right).take(2);
    assert_eq!(collect(first_two), Ok(vec![1, 10]));
    assert_eq!(log.events(), ["left 1", "right 10"]);
}

#[test]
fn catch_all_cause_recovers_failures_and_defects_releasing_first() {
    let recovered = failing(vec![1])
        .catch_all_cause(|cause| Stream::from_iter([u32::from(cause.failure().is_some())]));
    assert_eq!(collect(recovered), Ok(vec![1, 1]));

    let log = Log::default();
    let (opened, closed) = (log.clone(), log.clone());
    let crashing = Stream::acquire_release(sync(move || opened.push("open")), move |(), exit| {
        let how = if exit.as_ref().is_err_and(|c| c.is_die()) {
            "died"
        } else {
            "other"
        };
        closed.note(&format!("close {how}"))
    })
    .flat_map(|()| Stream::<u32, String>::from_effect(die("parser bug")));
    let fallback_log = log.clone();
    let recovered = crashing.catch_all_cause(move |cause| {
        assert!(cause.is_die());
        fallback_log.push("fallback");
        Stream::<u32, String>::from_iter([0])
    });
    assert_eq!(collect(recovered), Ok(vec![0]));
    assert_eq!(log.events(), ["open", "close died", "fallback"]);
}

#[tokio::test]
async fn catch_all_cause_does_not_recover_the_runs_interruption() {
    let (clock, runtime) = test_env();
    let stuck = Stream::<u32, String>::from_effect(never())
        .catch_all_cause(|_| Stream::<u32, String>::from_iter([0]));
    let fiber = runtime.fork(stuck.run_collect());
    clock.advance(ms(1)).await;
    let exit = runtime.run(fiber.interrupt::<String>()).await.unwrap();
    assert!(exit.unwrap_err().is_interrupted_only());
    assert_eq!(runtime.live_fibers(), 0);
}

#[test]
fn take_until_ends_after_the_first_value_that_matches() {
    assert_eq!(
        collect(one_by_one(vec![1, 5, 2, 7]).take_until(|n| *n > 4)),
        Ok(vec![1, 5])
    );
    assert_eq!(
        collect(Stream::from_iter(0u32..).take_until(|n| *n == 300)),
        Ok((0..=300).collect()),
        "across chunks of an endless source"
    );
    assert_eq!(
        collect(Stream::from_iter([1u32, 2]).take_until(|_| false)),
        Ok(vec![1, 2])
    );
    assert_eq!(
        collect(Stream::<u32, String>::empty().take_until(|_| true)),
        Ok(vec![])
    );
    assert_eq!(
        collect(failing(vec![1, 2]).take_until(|n| *n > 5)),
        Err(Cause::Fail("upstream broke".to_string()))
    );
    assert_eq!(
        collect(failing(vec![1, 9]).take_until(|n| *n > 5)),
        Ok(vec![1, 9]),
        "it ends before the failure comes"
    );
}

#[test]
fn iterate_and_repeat_value_are_endless_and_lazy() {
    let calls = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counted = calls.clone();
    let doubling = Stream::<u64, String>::iterate(1, move |n| {
        counted.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        n * 2
    });
    assert_eq!(collect(doubling.take(4)), Ok(vec![1, 2, 4, 8]));
    assert!(
        calls.load(std::sync::atomic::Ordering::SeqCst) <= 4,
        "f runs once per value pulled"
    );
    assert_eq!(
        collect(Stream::<char, String>::repeat_value('x').take(300)),
        Ok(vec!['x'; 300])
    );
}

#[tokio::test]
async fn never_waits_until_the_run_is_stopped() {
    let (clock, rt) = test_env();
    let quiet = Stream::<u32, String>::from_iter([1, 2])
        .concat(Stream::never())
        .timeout(ms(10))
        .run_collect();
    let run = rt.fork(quiet);
    clock.advance(ms(9)).await;
    assert!(!run.is_done(), "nothing comes, and nothing ends it");
    clock.advance(ms(1)).await;
    assert_eq!(rt.run(run.join()).await, Ok(vec![1, 2]));
    assert_eq!(rt.live_fibers(), 0);
}
