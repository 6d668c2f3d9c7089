//! Sinks (`Stream::run`, `Stream::run_with_leftovers`): each sink's result, on values, on no
//! values, on an early stop with the values it left; failures and defects of the stream and of
//! the sink failing the run; interruption; and the stream's resources released, on every way
//! out, before the run gives its result. Then `Stream::aggregate_within`, on a TestClock, at
//! exact virtual instants. Every run checks that it left no fiber alive.

use crate::common;

use common::{at_times, run_for, stamped, test_env, Log};
use effect::prelude::*;
use effect::stream::{Sink, Stream};

/// Runs `effect` on a runtime of its own (with a test clock), checking that the run left no
/// fiber alive.
fn exit_of<A: Send + 'static>(effect: Effect<A, String>) -> Exit<A, String> {
    let (_clock, runtime) = test_env();
    let exit = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(runtime.run(effect));
    assert_eq!(runtime.live_fibers(), 0, "the run left no fiber alive");
    exit
}

fn run<Out: Send + 'static>(
    stream: Stream<u32, String>,
    sink: Sink<u32, Out, String>,
) -> Exit<Out, String> {
    exit_of(stream.run(sink))
}

fn run_with_leftovers<Out: Send + 'static>(
    stream: Stream<u32, String>,
    sink: Sink<u32, Out, String>,
) -> Exit<(Out, Vec<u32>), String> {
    exit_of(stream.run_with_leftovers(sink))
}

/// The stream of `chunk`, as one chunk.
fn one_chunk(chunk: Vec<u32>) -> Stream<u32, String> {
    Stream::from_chunks([chunk])
}

/// `values`, then a failure.
fn failing(values: Vec<u32>) -> Stream<u32, String> {
    Stream::from_iter(values).concat(Stream::fail("upstream broke".to_string()))
}

fn upstream_broke<A>() -> Exit<A, String> {
    Err(Cause::Fail("upstream broke".to_string()))
}

/// `inner`, over a resource opened when first pulled and closed when the run's scope closes;
/// the open and the close (with how the scope ended) are logged.
fn over_resource(log: &Log, inner: Stream<u32, String>) -> Stream<u32, String> {
    let (opened, closed) = (log.clone(), log.clone());
    let mut inner = Some(inner);
    Stream::acquire_release(sync(move || opened.push("open")), move |(), exit| {
        closed.note(if exit.is_ok() {
            "close ok"
        } else {
            "close err"
        })
    })
    .flat_map(move |()| inner.take().expect("the resource is opened once"))
}

/// Runs `stream` into `sink`, logging "result" once the run has given its result.
fn logged_run<Out: Send + 'static>(
    log: &Log,
    stream: Stream<u32, String>,
    sink: Sink<u32, Out, String>,
) -> Exit<Out, String> {
    let log = log.clone();
    exit_of(stream.run(sink).tap(move |_| log.note("result")))
}

/// Every sink, with its result shown as text, to check what they all promise alike.
fn every_sink() -> Vec<(&'static str, Sink<u32, String, String>)> {
    fn shown<Out: std::fmt::Debug + Send + 'static>(
        sink: Sink<u32, Out, String>,
    ) -> Sink<u32, String, String> {
        sink.map(|out| format!("{out:?}"))
    }
    vec![
        ("fold", shown(Sink::fold(0, |_| true, |a, n| a + n))),
        (
            "fold_effect",
            shown(Sink::fold_effect(0, |_| true, |a, n| succeed(a + n))),
        ),
        (
            "fold_weighted",
            shown(Sink::fold_weighted(0, 100, |n| u64::from(*n), |a, n| a + n)),
        ),
        ("collect", shown(Sink::collect())),
        ("collect_n", shown(Sink::collect_n(10))),
        ("for_each", shown(Sink::for_each(|_| succeed(())))),
        (
            "for_each_while",
            shown(Sink::for_each_while(|_| succeed(true))),
        ),
        ("count", shown(Sink::count())),
        ("sum", shown(Sink::sum())),
        ("head", shown(Sink::head())),
        ("last", shown(Sink::last())),
        ("drain", shown(Sink::drain())),
        ("zip", shown(Sink::count().zip(Sink::collect()))),
        ("race", shown(Sink::collect_n(10).race(Sink::collect()))),
        ("contramap", shown(Sink::sum().contramap(|n: &u32| n * 10))),
    ]
}

// ---- what every sink promises ----

#[test]
fn every_sink_gives_its_result_for_no_values_and_for_some() {
    let on_none: Vec<(&str, Exit<String, String>)> = every_sink()
        .into_iter()
        .map(|(name, sink)| (name, run(Stream::empty(), sink)))
        .collect();
    let expected = [
        ("fold", "0"),
        ("fold_effect", "0"),
        ("fold_weighted", "0"),
        ("collect", "[]"),
        ("collect_n", "[]"),
        ("for_each", "()"),
        ("for_each_while", "()"),
        ("count", "0"),
        ("sum", "0"),
        ("head", "None"),
        ("last", "None"),
        ("drain", "()"),
        ("zip", "(0, [])"),
        ("race", "[]"),
        ("contramap", "0"),
    ];
    let expected: Vec<(&str, Exit<String, String>)> = expected
        .into_iter()
        .map(|(name, out)| (name, Ok(out.to_string())))
        .collect();
    assert_eq!(on_none, expected);

    // 1, 2, 3 in chunks of 1 and 2 (`from_iter`'s first chunks).
    let on_some: Vec<(&str, Exit<String, String>)> = every_sink()
        .into_iter()
        .map(|(name, sink)| (name, run(Stream::from_iter([1, 2, 3]), sink)))
        .collect();
    let expected = [
        ("fold", "6"),
        ("fold_effect", "6"),
        ("fold_weighted", "6"),
        ("collect", "[1, 2, 3]"),
        ("collect_n", "[1, 2, 3]"),
        ("for_each", "()"),
        ("for_each_while", "()"),
        ("count", "3"),
        ("sum", "6"),
        ("head", "Some(1)"),
        ("last", "Some(3)"),
        ("drain", "()"),
        ("zip", "(3, [1, 2, 3])"),
        ("race", "[1, 2, 3]"),
        ("contramap", "60"),
    ];
    let expected: Vec<(&str, Exit<String, String>)> = expected
        .into_iter()
        .map(|(name, out)| (name, Ok(out.to_string())))
        .collect();
    assert_eq!(on_some, expected);
}

#[test]
fn an_upstream_failure_fails_every_sink_and_releases_the_stream() {
    for (name, sink) in every_sink() {
        let log = Log::default();
        let exit = logged_run(&log, over_resource(&log, failing(vec![])), sink);
        assert_eq!(exit, upstream_broke(), "{name}");
        assert_eq!(log.events(), ["open", "close err"], "{name}");
    }
    // After values too: what the sink gathered is dropped with the failure.
    assert_eq!(run(failing(vec![1, 2]), Sink::collect()), upstream_broke());
    assert_eq!(run(failing(vec![1, 2]), Sink::count()), upstream_broke());
}

#[tokio::test]
async fn interrupting_the_run_interrupts_the_pull_and_releases_the_stream() {
    for (name, sink) in every_sink() {
        let (clock, runtime) = test_env();
        let log = Log::default();
        let stuck = over_resource(&log, Stream::from_effect(never()));
        let fiber = runtime.fork(stuck.run(sink));
        clock.advance(ms(1)).await;
        let exit = runtime.run(fiber.interrupt::<String>()).await.unwrap();
        assert!(exit.unwrap_err().is_interrupted_only(), "{name}");
        assert_eq!(log.events(), ["open", "close err"], "{name}");
        assert_eq!(runtime.live_fibers(), 0, "{name}");
    }
}

#[tokio::test]
async fn interrupting_the_run_interrupts_the_sinks_effect_in_progress() {
    let (clock, runtime) = test_env();
    let log = Log::default();
    let consumed = log.clone();
    let slow = Sink::for_each(move |n: u32| {
        let consumed = consumed.clone();
        sleep(secs(1)).flat_map(move |()| consumed.note(&format!("consumed {n}")))
    });
    let fiber = runtime.fork(over_resource(&log, Stream::from_iter(0..)).run(slow));
    clock.advance(ms(2500)).await;
    let exit = runtime.run(fiber.interrupt::<String>()).await.unwrap();
    assert!(exit.unwrap_err().is_interrupted_only());
    assert_eq!(
        log.events(),
        ["open", "consumed 0", "consumed 1", "close err"]
    );
    assert_eq!(runtime.live_fibers(), 0);
}

// ---- early stops ----

#[test]
fn sinks_that_stop_early_give_back_the_rest_of_the_chunk() {
    let values = || one_chunk(vec![1, 2, 3, 4, 5, 6]);
    assert_eq!(
        run_with_leftovers(values(), Sink::fold(0, |total| *total < 5, |a, n| a + n)),
        Ok((6, vec![4, 5, 6]))
    );
    assert_eq!(
        run_with_leftovers(
            values(),
            Sink::fold_effect(0, |total| *total < 5, |a, n| succeed(a + n))
        ),
        Ok((6, vec![4, 5, 6]))
    );
    assert_eq!(
        run_with_leftovers(values(), Sink::collect_n(2)),
        Ok((vec![1, 2], vec![3, 4, 5, 6]))
    );
    assert_eq!(
        run_with_leftovers(values(), Sink::head()),
        Ok((Some(1), vec![2, 3, 4, 5, 6]))
    );
    // The value the function says stop to is consumed.
    assert_eq!(
        run_with_leftovers(values(), Sink::for_each_while(|n| succeed(n < 3))),
        Ok(((), vec![4, 5, 6]))
    );
    // Stopped exactly at a chunk's end: nothing left over.
    assert_eq!(
        run_with_leftovers(
            Stream::from_chunks([vec![1, 2], vec![3]]),
            Sink::collect_n(2)
        ),
        Ok((vec![1, 2], vec![]))
    );
    // Sinks that read it all leave nothing.
    assert_eq!(
        run_with_leftovers(values(), Sink::collect()),
        Ok((vec![1, 2, 3, 4, 5, 6], vec![]))
    );
}

#[test]
fn leftovers_are_only_of_the_chunk_the_sink_finished_in() {
    // The stream is not pulled again: the next chunk is never produced.
    let log = Log::default();
    let pulled = log.clone();
    let chunks = [vec![1, 2, 3], vec![4, 5]]
        .into_iter()
        .inspect(move |chunk| pulled.push(format!("pulled {chunk:?}")));
    assert_eq!(
        run_with_leftovers(Stream::from_chunks(chunks), Sink::collect_n(2)),
        Ok((vec![1, 2], vec![3]))
    );
    assert_eq!(log.events(), ["pulled [1, 2, 3]"]);
}

#[test]
fn a_sink_done_before_any_input_does_not_open_the_stream() {
    let log = Log::default();
    let stream = || over_resource(&log, Stream::from_iter(0..));
    assert_eq!(
        run_with_leftovers(stream(), Sink::collect_n(0)),
        Ok((vec![], vec![]))
    );
    assert_eq!(
        run(stream(), Sink::fold(7, |n| *n < 5, |a, n| a + n)),
        Ok(7)
    );
    assert_eq!(
        run(
            stream(),
            Sink::fold_effect(7, |n| *n < 5, |a, n| succeed(a + n))
        ),
        Ok(7)
    );
    assert_eq!(
        run(stream(), Sink::collect_n(0).zip(Sink::collect_n(0))),
        Ok((vec![], vec![]))
    );
    assert_eq!(
        run(stream(), Sink::collect_n(0).race(Sink::collect())),
        Ok(vec![])
    );
    assert_eq!(
        run(stream(), Sink::collect().race(Sink::collect_n(0))),
        Ok(vec![])
    );
    assert!(log.events().is_empty(), "{:?}", log.events());
}

#[test]
fn an_early_stop_releases_the_stream_before_the_run_gives_its_result() {
    let endless = |log: &Log| over_resource(log, Stream::from_iter(10..));
    let log = Log::default();
    assert_eq!(logged_run(&log, endless(&log), Sink::head()), Ok(Some(10)));
    assert_eq!(log.events(), ["open", "close ok", "result"]);

    let log = Log::default();
    let taken = logged_run(&log, endless(&log), Sink::collect_n(300));
    assert_eq!(taken.map(|all| all.len()), Ok(300));
    assert_eq!(log.events(), ["open", "close ok", "result"]);

    let log = Log::default();
    let under = logged_run(
        &log,
        endless(&log),
        Sink::fold(0, |n| *n < 100, |a, n| a + n),
    );
    assert_eq!(under, Ok((10..=17).sum()));
    assert_eq!(log.events(), ["open", "close ok", "result"]);

    let log = Log::default();
    let both = logged_run(&log, endless(&log), Sink::head().zip(Sink::collect_n(3)));
    assert_eq!(both, Ok((Some(10), vec![10, 11, 12])));
    assert_eq!(log.events(), ["open", "close ok", "result"]);
}

#[test]
fn empty_chunks_are_not_given_to_the_sink() {
    let chunks = Stream::from_chunks([vec![], vec![1], vec![], vec![2, 3]]);
    assert_eq!(
        run_with_leftovers(chunks, Sink::head()),
        Ok((Some(1), vec![]))
    );
    let filtered = Stream::from_iter(0..10u32).filter(|n| *n > 6);
    assert_eq!(run(filtered, Sink::head()), Ok(Some(7)));
}

// ---- failures and defects of the sink ----

#[test]
fn a_failing_sink_effect_fails_the_run_and_releases_the_stream() {
    let refuse = |n: u32| -> Effect<(), String> {
        if n == 3 {
            fail("no threes".to_string())
        } else {
            succeed(())
        }
    };
    fn no_threes<A>() -> Exit<A, String> {
        Err(Cause::Fail("no threes".to_string()))
    }

    let log = Log::default();
    let stream = over_resource(&log, Stream::from_iter(1..));
    assert_eq!(
        logged_run(&log, stream, Sink::for_each(refuse)),
        no_threes()
    );
    assert_eq!(log.events(), ["open", "close err"]);

    let log = Log::default();
    let stream = over_resource(&log, Stream::from_iter(1..));
    let sink = Sink::for_each_while(move |n| refuse(n).as_value(true));
    assert_eq!(logged_run(&log, stream, sink), no_threes());
    assert_eq!(log.events(), ["open", "close err"]);

    let log = Log::default();
    let stream = over_resource(&log, Stream::from_iter(1..));
    let sink = Sink::fold_effect(0, |_| true, move |a, n| refuse(n).as_value(a + n));
    assert_eq!(logged_run(&log, stream, sink), no_threes());
    assert_eq!(log.events(), ["open", "close err"]);

    // Either side of a zip or a race.
    let sink = Sink::count().zip(Sink::for_each(refuse));
    assert_eq!(run(Stream::from_iter(1..10), sink), no_threes());
    let sink = Sink::for_each(refuse).race(Sink::drain());
    assert_eq!(run(Stream::from_iter(1..10), sink), no_threes());
}

#[test]
fn a_panic_in_a_sinks_function_is_a_defect_and_releases_the_stream() {
    fn dies<Out: Send + 'static>(sink: Sink<u32, Out, String>) {
        let log = Log::default();
        let stream = over_resource(&log, Stream::from_iter(1..));
        let exit = logged_run(&log, stream, sink);
        assert!(exit.is_err_and(|cause| cause.is_die()));
        assert_eq!(log.events(), ["open", "close err"]);
    }
    let bug = |n: &u32| assert!(*n < 3, "no value of 3 or more");
    dies(Sink::fold(
        0,
        |_| true,
        move |a, n| {
            bug(&n);
            a + n
        },
    ));
    dies(Sink::fold(
        0,
        move |a| {
            bug(a);
            true
        },
        |a, n| a + n,
    ));
    dies(Sink::fold_weighted(
        0,
        1000,
        move |n| {
            bug(n);
            1
        },
        |a, n| a + n,
    ));
    dies(Sink::for_each(move |n| {
        bug(&n);
        succeed(())
    }));
    dies(Sink::fold_effect(
        0,
        |_| true,
        |a, n| {
            sync(move || {
                assert!(n < 3, "no value of 3 or more");
                a + n
            })
        },
    ));
    dies(Sink::collect_n(5).map(|_: Vec<u32>| -> u32 { panic!("no result") }));
    dies(Sink::sum().contramap(move |n: &u32| {
        bug(n);
        *n
    }));
}

// ---- the sinks one by one ----

#[test]
fn fold_weighted_stops_before_going_over_and_folds_a_heavy_value_alone() {
    let weighted = |max| {
        Sink::fold_weighted(
            Vec::new(),
            max,
            |n: &u32| u64::from(*n),
            |mut all, n| {
                all.push(n);
                all
            },
        )
    };
    // 1 + 2 = 3; 3 more would make 6 > 5.
    assert_eq!(
        run_with_leftovers(one_chunk(vec![1, 2, 3, 4]), weighted(5)),
        Ok((vec![1, 2], vec![3, 4]))
    );
    // Reaching the limit exactly is done at once, without waiting for another value.
    let then_stuck = one_chunk(vec![2, 3]).concat(Stream::from_effect(never()));
    assert_eq!(
        run_with_leftovers(then_stuck, weighted(5)),
        Ok((vec![2, 3], vec![]))
    );
    // A value heavier than the limit on its own, first, is folded alone.
    assert_eq!(
        run_with_leftovers(one_chunk(vec![9, 1]), weighted(5)),
        Ok((vec![9], vec![1]))
    );
    // Across chunks, the weight carries on.
    assert_eq!(
        run_with_leftovers(Stream::from_chunks([vec![2], vec![2, 2]]), weighted(5)),
        Ok((vec![2, 2], vec![2]))
    );
}

#[test]
fn fold_effect_and_for_each_run_one_effect_at_a_time_in_order() {
    let log = Log::default();
    let (record, seen) = (log.clone(), log.clone());
    let sink = Sink::fold_effect(
        Vec::new(),
        |_| true,
        move |mut all: Vec<u32>, n| {
            let record = record.clone();
            sync(move || {
                record.push(format!("fold {n}"));
                all.push(n);
                all
            })
        },
    );
    assert_eq!(run(Stream::from_iter(1..=3), sink), Ok(vec![1, 2, 3]));
    let sink = Sink::for_each(move |n: u32| seen.note(&format!("each {n}")));
    assert_eq!(run(Stream::from_iter(1..=2), sink), Ok(()));
    assert_eq!(
        log.events(),
        ["fold 1", "fold 2", "fold 3", "each 1", "each 2"]
    );
}

#[test]
fn count_sum_last_and_collect_read_every_chunk() {
    let many = || Stream::from_iter(0..1000u32);
    assert_eq!(run(many(), Sink::count()), Ok(1000));
    assert_eq!(run(many(), Sink::sum()), Ok(499_500));
    assert_eq!(run(many(), Sink::last()), Ok(Some(999)));
    assert_eq!(run(many(), Sink::collect()), Ok((0..1000).collect()));
    assert_eq!(
        run(many(), Sink::collect_n(2000)).map(|v| v.len()),
        Ok(1000)
    );
    let log = Log::default();
    let drained = log.clone();
    let effects = Stream::from_iter(1..=3u32).tap(move |n| drained.note(&format!("{n}")));
    assert_eq!(run(effects, Sink::drain()), Ok(()));
    assert_eq!(log.events(), ["1", "2", "3"]);
}

// ---- combinators ----

#[test]
fn map_transforms_the_result_and_keeps_the_leftovers() {
    let sink = Sink::collect_n(2).map(|two: Vec<u32>| two.iter().sum::<u32>());
    assert_eq!(
        run_with_leftovers(one_chunk(vec![4, 5, 6]), sink),
        Ok((9, vec![6]))
    );
    let sink = Sink::count().map(|n| n * 2);
    assert_eq!(run(Stream::from_iter(0..5), sink), Ok(10));
    // Done before any input, mapped too.
    let sink = Sink::collect_n(0).map(|none: Vec<u32>| none.len() + 1);
    assert_eq!(run(Stream::from_iter(0..5), sink), Ok(1));
}

#[test]
fn contramap_maps_each_value_and_gives_back_the_leftovers_as_they_came() {
    let lengths = Sink::fold_weighted(0usize, 8, |len: &usize| *len as u64, |a, len| a + len)
        .contramap(|word: &String| word.len());
    let words = Stream::from_chunks([["four", "five", "six", "seven"].map(String::from).to_vec()]);
    assert_eq!(
        exit_of(words.run_with_leftovers(lengths)),
        Ok((8, vec!["six".to_string(), "seven".to_string()]))
    );
    let doubled = Sink::collect().contramap(|n: &u32| n * 2);
    assert_eq!(run(Stream::from_iter(1..=3), doubled), Ok(vec![2, 4, 6]));
}

#[test]
fn zip_gives_every_value_to_both_and_ends_when_both_are_done() {
    let values = || one_chunk(vec![1, 2, 3, 4, 5, 6]);
    // Both done in the same chunk: the values neither consumed.
    assert_eq!(
        run_with_leftovers(values(), Sink::collect_n(2).zip(Sink::collect_n(4))),
        Ok(((vec![1, 2], vec![1, 2, 3, 4]), vec![5, 6]))
    );
    assert_eq!(
        run_with_leftovers(values(), Sink::collect_n(4).zip(Sink::collect_n(2))),
        Ok(((vec![1, 2, 3, 4], vec![1, 2]), vec![5, 6]))
    );
    // One done in an earlier chunk: the leftovers of the one that finished last.
    let chunks = || Stream::from_chunks([vec![1, 2], vec![3, 4, 5]]);
    assert_eq!(
        run_with_leftovers(chunks(), Sink::head().zip(Sink::collect_n(4))),
        Ok(((Some(1), vec![1, 2, 3, 4]), vec![5]))
    );
    assert_eq!(
        run_with_leftovers(chunks(), Sink::collect_n(4).zip(Sink::head())),
        Ok(((vec![1, 2, 3, 4], Some(1)), vec![5]))
    );
    // One never done: runs to the end.
    assert_eq!(
        run_with_leftovers(chunks(), Sink::head().zip(Sink::count())),
        Ok(((Some(1), 5), vec![]))
    );
    // Done at the start on one side: the other sees everything.
    assert_eq!(
        run(chunks(), Sink::collect_n(0).zip(Sink::collect())),
        Ok((vec![], vec![1, 2, 3, 4, 5]))
    );
}

#[test]
fn zip_gives_each_chunk_to_the_first_sink_then_the_second() {
    let log = Log::default();
    let side = |name: &'static str| {
        let log = log.clone();
        Sink::for_each(move |n: u32| log.note(&format!("{name} {n}")))
    };
    let chunks = Stream::from_chunks([vec![1, 2], vec![3]]);
    assert_eq!(run(chunks, side("a").zip(side("b"))), Ok(((), ())));
    assert_eq!(log.events(), ["a 1", "a 2", "b 1", "b 2", "a 3", "b 3"]);
}

#[test]
fn race_is_won_by_the_sink_that_finishes_first_in_the_streams_order() {
    let values = || one_chunk(vec![1, 2, 3, 4, 5, 6]);
    let short = || Sink::collect_n(2).map(|v: Vec<u32>| ("short", v));
    let long = || Sink::collect_n(4).map(|v: Vec<u32>| ("long", v));
    // In the same chunk, whichever side it is on.
    assert_eq!(
        run_with_leftovers(values(), long().race(short())),
        Ok((("short", vec![1, 2]), vec![3, 4, 5, 6]))
    );
    assert_eq!(
        run_with_leftovers(values(), short().race(long())),
        Ok((("short", vec![1, 2]), vec![3, 4, 5, 6]))
    );
    // A tie goes to the first sink.
    let other_short = Sink::collect_n(2).map(|v: Vec<u32>| ("other", v));
    assert_eq!(
        run(values(), other_short.race(short())),
        Ok(("other", vec![1, 2]))
    );
    // In different chunks.
    let chunks = Stream::from_chunks([vec![1], vec![2, 3], vec![4]]);
    let sink = Sink::collect_n(3)
        .map(|v: Vec<u32>| ("three", v))
        .race(long());
    assert_eq!(
        run_with_leftovers(chunks, sink),
        Ok((("three", vec![1, 2, 3]), vec![]))
    );
    // Neither done before the end: the first sink wins.
    let sink = Sink::count()
        .map(|n| ("count", n))
        .race(Sink::sum().map(|n: u32| ("sum", u64::from(n))));
    assert_eq!(run(Stream::from_iter([5, 6]), sink), Ok(("count", 2)));
}

// ---- aggregate_within ----

/// A sink of the sum of at most `max` worth of values.
fn sum_up_to(max: u64) -> Sink<u32, u32, String> {
    Sink::fold_weighted(0, max, |n: &u32| u64::from(*n), |sum, n| sum + n)
}

#[tokio::test]
async fn aggregate_within_emits_when_the_sink_is_done_or_the_interval_is_up() {
    let (clock, rt) = test_env();
    let values = at_times(&[
        (100, 1),
        (200, 2),
        (1500, 4),
        (1600, 3),
        (1700, 9),
        (3500, 1),
    ]);
    let sums = values.aggregate_within(|| sum_up_to(6), Schedule::spaced(secs(1)));
    let emitted = run_for(&rt, &clock, secs(5), stamped(&clock, sums).run_collect()).await;
    assert_eq!(
        emitted,
        Ok(vec![
            // 1 + 2, when the first second is up.
            (ms(1000), 3),
            // 4, as 3 would take it over 6; the timer starts again there.
            (ms(1600), 4),
            // 3, as 9 would take it over; 9 alone, heavier than 6, at once.
            (ms(1700), 3),
            (ms(1700), 9),
            // Nothing was gathered when the interval from 1.7 s was up: 1 goes as it comes.
            (ms(3500), 1),
        ])
    );
}

#[tokio::test]
async fn aggregate_within_of_collect_n_on_spaced_intervals_is_grouped_within() {
    // The timelines of the grouped_within tests: both operators emit the same groups at the
    // same instants.
    let timelines: Vec<Vec<(u64, u32)>> = vec![
        (1..=7).map(|n| (300 * n, n as u32)).collect(),
        vec![(2500, 1), (2700, 2), (4000, 3)],
        (0..250)
            .map(|n| (0, n))
            .chain([(1200, 1000), (1300, 1001), (5000, 2000)])
            .collect(),
    ];
    for timeline in timelines {
        let mut emitted = Vec::new();
        for aggregated in [false, true] {
            let (clock, rt) = test_env();
            let values = at_times(&timeline);
            let groups = if aggregated {
                values.aggregate_within(|| Sink::collect_n(100), Schedule::spaced(secs(1)))
            } else {
                values.grouped_within(100, secs(1))
            };
            let run = stamped(&clock, groups).run_collect();
            emitted.push(run_for(&rt, &clock, secs(10), run).await.unwrap());
        }
        assert_eq!(emitted[0], emitted[1], "{timeline:?}");
    }
}

#[tokio::test]
async fn aggregate_within_times_each_interval_with_the_schedule_shown_the_last_aggregate() {
    let (clock, rt) = test_env();
    // Intervals of 100 ms, 200 ms, 400 ms, 800 ms, ..., each from the emission before; a
    // value every 60 ms, from 10 ms.
    let values = at_times(&(0..30).map(|n| (60 * n + 10, 1u32)).collect::<Vec<_>>());
    let sums = values.aggregate_within(Sink::sum, Schedule::exponential(ms(100)));
    let emitted = run_for(&rt, &clock, secs(2), stamped(&clock, sums).run_collect()).await;
    assert_eq!(
        emitted,
        Ok(vec![
            (ms(100), 2),
            (ms(300), 3),
            (ms(700), 7),
            (ms(1500), 13),
            // The rest at the end, before the next interval is up.
            (ms(1750), 5),
        ])
    );

    // A schedule that stops once an aggregate reaches 3: then only the end emits.
    let (clock, rt) = test_env();
    let values = at_times(&(1..=10).map(|n| (300 * n, 1u32)).collect::<Vec<_>>());
    let until_three =
        Schedule::spaced(secs(1)).while_input(|last: &Option<u32>| last.is_none_or(|sum| sum < 3));
    let sums = values.aggregate_within(Sink::sum, until_three);
    let emitted = run_for(&rt, &clock, secs(4), stamped(&clock, sums).run_collect()).await;
    assert_eq!(emitted, Ok(vec![(ms(1000), 3), (ms(3000), 7)]));
}

#[tokio::test]
async fn aggregate_within_gives_one_chunk_to_as_many_sinks_as_it_fills() {
    let (clock, rt) = test_env();
    let values = Stream::from_chunks([vec![1, 2, 3, 4, 5]]);
    let pairs = values.aggregate_within(|| Sink::collect_n(2), Schedule::spaced(secs(1)));
    let emitted = run_for(&rt, &clock, secs(1), stamped(&clock, pairs).run_collect()).await;
    assert_eq!(
        emitted,
        Ok(vec![
            (ms(0), vec![1, 2]),
            (ms(0), vec![3, 4]),
            (ms(0), vec![5]),
        ])
    );
    let (clock, rt) = test_env();
    let none =
        Stream::<u32, String>::empty().aggregate_within(Sink::count, Schedule::spaced(secs(1)));
    assert_eq!(
        run_for(&rt, &clock, secs(1), none.run_collect()).await,
        Ok(vec![])
    );
}

#[tokio::test]
async fn aggregate_within_fails_at_once_when_the_upstream_fails() {
    let (clock, rt) = test_env();
    let log = Log::default();
    let values = over_resource(&log, at_times(&[(100, 1), (200, 2)])).concat(Stream::from_effect(
        common::fail_after(ms(300), "broke".to_string()),
    ));
    let sums = values.aggregate_within(Sink::sum, Schedule::spaced(secs(1)));
    // It fails as the upstream does, at 500 ms, not when the interval is up.
    let fiber = rt.fork(sums.run_collect());
    clock.advance(ms(500)).await;
    assert!(fiber.is_done());
    let exit = rt.run(fiber.join()).await;
    assert_eq!(exit, Err(Cause::Fail("broke".to_string())));
    assert_eq!(log.events(), ["open", "close ok"]);
    assert_eq!(rt.live_fibers(), 0);
}

#[tokio::test]
async fn a_failing_or_dying_sink_fails_aggregate_within() {
    let (clock, rt) = test_env();
    let refusing = || {
        Sink::for_each(|n: u32| {
            if n == 2 {
                fail("no twos".to_string())
            } else {
                succeed(())
            }
        })
    };
    let values = at_times(&[(100, 1), (200, 2)]);
    let run = values
        .aggregate_within(refusing, Schedule::spaced(secs(1)))
        .run_collect();
    assert_eq!(
        run_for(&rt, &clock, secs(1), run).await,
        Err(Cause::Fail("no twos".to_string()))
    );

    let (clock, rt) = test_env();
    let dying = || Sink::fold(0, |_| true, |_, n: u32| -> u32 { panic!("bad value {n}") });
    let values = at_times(&[(100, 1)]);
    let run = values
        .aggregate_within(dying, Schedule::spaced(secs(1)))
        .run_collect();
    assert!(run_for(&rt, &clock, secs(1), run)
        .await
        .unwrap_err()
        .is_die());

    // A sink that takes nothing would emit forever: a defect, as soon as it is started.
    let (clock, rt) = test_env();
    let values = at_times(&[(100, 1)]);
    let run = values
        .aggregate_within(|| Sink::collect_n(0), Schedule::spaced(secs(1)))
        .run_collect();
    let cause = run_for(&rt, &clock, secs(1), run).await.unwrap_err();
    assert!(cause.is_die(), "{cause:?}");
}

#[tokio::test]
async fn aggregate_within_stopped_early_or_interrupted_releases_its_upstream() {
    let (clock, rt) = test_env();
    let log = Log::default();
    let endless = over_resource(&log, Stream::tick(ms(100)).map(|()| 1u32));
    let first = endless
        .aggregate_within(Sink::sum, Schedule::spaced(ms(270)))
        .take(2);
    let sums = run_for(&rt, &clock, secs(1), stamped(&clock, first).run_collect()).await;
    assert_eq!(sums, Ok(vec![(ms(270), 3), (ms(540), 3)]));
    // The upstream's fiber was interrupted when the run ended: its release sees that.
    assert_eq!(log.events(), ["open", "close err"]);

    let (clock, rt) = test_env();
    let log = Log::default();
    let endless = over_resource(&log, Stream::tick(ms(100)).map(|()| 1u32));
    let fiber = rt.fork(
        endless
            .aggregate_within(Sink::sum, Schedule::spaced(ms(270)))
            .run_drain(),
    );
    clock.advance(secs(1)).await;
    let exit = rt.run(fiber.interrupt::<String>()).await.unwrap();
    assert!(exit.unwrap_err().is_interrupted_only());
    assert_eq!(log.events(), ["open", "close err"]);
    assert_eq!(rt.live_fibers(), 0);
}
