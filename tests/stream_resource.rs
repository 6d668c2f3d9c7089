//! Streams over resources: whatever way a run ends, every resource a stream acquired is
//! released, exactly once, and as early as the stream's structure allows.

use crate::common;

use common::{test_env, Log};
use effect::prelude::*;
use effect::stream::Stream;
use futures::StreamExt;

/// A stream of the lines of a (pretend) file, opened when first pulled and closed when the
/// stream's scope closes; each open and close is logged.
fn lines(log: &Log, name: &'static str, count: u32) -> Stream<String, String> {
    resource(log, name)
        .flat_map(move |name| Stream::from_iter(0..count).map(move |i| format!("{name}:{i}")))
}

/// An endless stream over a resource.
fn endless(log: &Log) -> Stream<u64, String> {
    let (opened, closed) = (log.clone(), log.clone());
    Stream::acquire_release(sync(move || opened.push("open")), move |(), _| {
        closed.note("close")
    })
    .flat_map(|()| Stream::from_iter(0..))
}

#[test]
fn a_resource_is_released_when_the_stream_ends() {
    let log = Log::default();
    let all = effect::run_blocking(lines(&log, "a", 3).run_collect()).unwrap();
    assert_eq!(all, ["a:0", "a:1", "a:2"]);
    assert_eq!(log.events(), ["open a", "close a ok"]);
}

#[test]
fn take_of_an_endless_resource_backed_stream_releases_once() {
    let log = Log::default();
    let first = effect::run_blocking(endless(&log).take(3).run_collect()).unwrap();
    assert_eq!(first, [0, 1, 2]);
    assert_eq!(log.events(), ["open", "close"]);
}

#[test]
fn a_resource_is_released_when_the_stream_fails_or_dies() {
    let log = Log::default();
    let failing = lines(&log, "f", 5).map_effect(|line| {
        if line.ends_with(":2") {
            fail(format!("bad line {line}"))
        } else {
            succeed(line)
        }
    });
    let exit = effect::run_blocking(failing.run_drain());
    assert_eq!(exit, Err(Cause::Fail("bad line f:2".into())));
    let dying = lines(&log, "d", 5).map(|line| {
        assert!(!line.ends_with(":1"), "corrupt line");
        line
    });
    assert!(effect::run_blocking(dying.run_drain())
        .unwrap_err()
        .is_die());
    assert_eq!(
        log.events(),
        ["open f", "close f err", "open d", "close d err"]
    );
}

#[test]
fn a_resource_is_released_when_the_consumer_fails() {
    let log = Log::default();
    let run = lines(&log, "c", 5).run_for_each(|line| {
        if line == "c:1" {
            fail("consumer gave up".to_string())
        } else {
            succeed(())
        }
    });
    assert!(effect::run_blocking(run).is_err());
    assert_eq!(log.events(), ["open c", "close c err"]);
}

#[tokio::test]
async fn a_resource_is_released_when_the_run_is_interrupted() {
    let (clock, rt) = test_env();
    let log = Log::default();
    let slow = endless(&log)
        .map_effect(|n| sleep(secs(1)).as_value(n))
        .run_drain();
    let fiber = rt.fork(slow);
    clock.advance(secs(3)).await;
    let exit = rt.run(fiber.interrupt::<String>()).await.unwrap();
    assert!(exit.unwrap_err().is_interrupted_only());
    assert_eq!(log.events(), ["open", "close"]);
    assert_eq!(rt.live_fibers(), 0);
}

#[test]
fn inner_streams_release_their_resources_as_each_ends() {
    let log = Log::default();
    let files = ["x", "y", "z"];
    let record = log.clone();
    let inner_log = log.clone();
    let all = Stream::<&'static str, String>::from_iter(files)
        .flat_map(move |name| lines(&inner_log, name, 2))
        .run_for_each(move |line| record.note(&line));
    effect::run_blocking(all).unwrap();
    assert_eq!(
        log.events(),
        [
            "open x",
            "x:0",
            "x:1",
            "close x ok",
            "open y",
            "y:0",
            "y:1",
            "close y ok",
            "open z",
            "z:0",
            "z:1",
            "close z ok",
        ]
    );
}

#[test]
fn an_inner_stream_cut_short_is_released_when_the_run_ends() {
    let log = Log::default();
    let inner_log = log.clone();
    let first_three = Stream::<&'static str, String>::from_iter(["x", "y"])
        .flat_map(move |name| lines(&inner_log, name, 10))
        .take(3);
    let taken = effect::run_blocking(first_three.run_collect()).unwrap();
    assert_eq!(taken, ["x:0", "x:1", "x:2"]);
    // `y` was never opened; `x` was closed once, as the run ended (successfully).
    assert_eq!(log.events(), ["open x", "close x ok"]);
}

#[test]
fn concat_releases_the_first_before_opening_the_second() {
    let log = Log::default();
    let both = lines(&log, "1", 1).concat(lines(&log, "2", 1));
    effect::run_blocking(both.run_drain()).unwrap();
    assert_eq!(
        log.events(),
        ["open 1", "close 1 ok", "open 2", "close 2 ok"]
    );
}

#[tokio::test]
async fn retry_releases_a_failed_attempts_resource_before_the_next_attempt() {
    let (clock, rt) = test_env();
    let log = Log::default();
    let attempts = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let (make_log, counter) = (log.clone(), attempts.clone());
    let make = move || {
        let attempt = counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let stream = lines(&make_log, "r", 1);
        if attempt == 0 {
            stream.concat(Stream::fail("flaky".into()))
        } else {
            stream
        }
    };
    let stream = Stream::retry(make, Schedule::spaced(secs(1)));
    let run = tokio::spawn(rt.run(stream.run_collect()));
    clock.advance(secs(1)).await;
    assert_eq!(run.await.unwrap().unwrap(), ["r:0", "r:0"]);
    assert_eq!(
        log.events(),
        ["open r", "close r ok", "open r", "close r ok"]
    );
    assert_eq!(rt.live_fibers(), 0);
}

#[tokio::test]
async fn dropping_a_futures_stream_releases_the_resource() {
    let (_, rt) = test_env();
    let log = Log::default();
    let mut values = endless(&log).into_futures_stream(rt.context());
    assert_eq!(values.next().await, Some(Ok(0)));
    assert_eq!(values.next().await, Some(Ok(1)));
    assert_eq!(log.events(), ["open"]);
    drop(values);
    // The interrupted run finishes its cleanup on a task of its own.
    for _ in 0..100 {
        if log.count("close") == 1 {
            break;
        }
        tokio::task::yield_now().await;
    }
    assert_eq!(log.events(), ["open", "close"]);
}

#[test]
fn a_scoped_stream_releases_what_its_effect_acquired() {
    let log = Log::default();
    let (opened, closed) = (log.clone(), log.clone());
    let connection = acquire_release(
        sync(move || {
            opened.push("connect");
            7u32
        }),
        move |_, _| closed.note("disconnect"),
    );
    let ids =
        Stream::<u32, String>::scoped(connection).flat_map(|id| Stream::from_iter([id, id + 1]));
    assert_eq!(effect::run_blocking(ids.run_collect()), Ok(vec![7, 8]));
    assert_eq!(log.events(), ["connect", "disconnect"]);
}

/// A resource as a stream of one value: `open NAME` when acquired, `close NAME ok|err` when
/// released, with the exit the release saw.
fn resource(log: &Log, name: &'static str) -> Stream<&'static str, String> {
    let (opened, closed) = (log.clone(), log.clone());
    Stream::acquire_release(
        sync(move || {
            opened.push(format!("open {name}"));
            name
        }),
        move |name, exit| {
            let how = if exit.is_ok() { "ok" } else { "err" };
            closed.note(&format!("close {name} {how}"))
        },
    )
}

/// How a run over nested resources ends.
#[derive(Clone, Copy, Debug)]
enum Way {
    End,
    Fail,
    Die,
    Take,
    ConsumerFails,
    Interrupt,
}

/// Every way a run ends.
const WAYS: [Way; 6] = [
    Way::End,
    Way::Fail,
    Way::Die,
    Way::Take,
    Way::ConsumerFails,
    Way::Interrupt,
];

/// A connection, a cursor on it and rows through the cursor, ended the `way` given: every
/// way out releases the cursor before the connection, each once, seeing the run's real exit.
#[tokio::test]
async fn nested_resources_are_released_inner_first_on_every_way_out() {
    for way in WAYS {
        let (clock, runtime) = test_env();
        let log = Log::default();
        let inner_log = log.clone();
        let nested = resource(&log, "connection")
            .flat_map(move |_| resource(&inner_log, "cursor").flat_map(move |_| rows(way)));
        let exit = end_the_way(&runtime, &clock, nested, way, None).await;
        let how = match way {
            Way::End | Way::Take => "ok",
            _ => "err",
        };
        assert_eq!(exit.is_ok(), how == "ok", "{way:?}: {exit:?}");
        assert_eq!(
            log.events(),
            [
                "open connection".to_string(),
                "open cursor".to_string(),
                format!("close cursor {how}"),
                format!("close connection {how}"),
            ],
            "{way:?}"
        );
        assert_eq!(runtime.live_fibers(), 0, "{way:?}");
    }
}

/// `catch_all` releases what the failed stream acquired, seeing the failure, before the
/// fallback opens: the fallback never runs beside a half-used connection.
#[test]
fn catch_all_releases_the_failed_streams_resources_before_the_fallback_opens() {
    let log = Log::default();
    let (inner_log, fallback_log) = (log.clone(), log.clone());
    let recovered = resource(&log, "primary")
        .flat_map(move |_| {
            resource(&inner_log, "cursor").flat_map(|_| {
                Stream::from_iter([1u32]).concat(Stream::fail("primary broke".to_string()))
            })
        })
        .catch_all(move |error| {
            assert_eq!(error, "primary broke");
            resource(&fallback_log, "replica").map(|_| 2u32)
        });
    assert_eq!(
        effect::run_blocking(recovered.run_collect()),
        Ok(vec![1, 2])
    );
    assert_eq!(
        log.events(),
        [
            "open primary",
            "open cursor",
            "close cursor err",
            "close primary err",
            "open replica",
            "close replica ok",
        ]
    );
}

/// A stream over a million inner streams holds one inner scope at a time: each closes as its
/// inner stream ends and leaves nothing registered behind.
#[test]
fn inner_scopes_do_not_accumulate_in_the_streams_scope() {
    let log = Log::default();
    let many = resource(&log, "connection")
        .flat_map(|_| Stream::<u32, String>::from_iter(0..100_000))
        .flat_map(|n| Stream::from_iter([n]))
        .run_fold(0u64, |sum, n| sum + u64::from(n));
    assert_eq!(effect::run_blocking(many), Ok(4_999_950_000));
    assert_eq!(log.events(), ["open connection", "close connection ok"]);
}

/// The operators a resource can sit under, for the (operator, exit) table below.
#[derive(Clone, Copy, Debug)]
enum Op {
    FlatMap,
    Concat,
    Merge,
    Zip,
    FlatMapPar,
    Buffer,
    MapPar,
    InterruptWhen,
}

impl Op {
    /// Whether the operator runs the resource's stream on a fiber of its own: an early stop
    /// then interrupts that fiber, so the release sees an interruption rather than the run's
    /// success.
    fn on_a_fiber(self) -> bool {
        matches!(self, Op::Merge | Op::FlatMapPar | Op::Buffer | Op::MapPar)
    }
}

/// The rows that end a run the `way` given: a few rows then the end, a failure, a defect or
/// nothing ever again; endless for the ways the consumer ends (`take`, a failing consumer).
fn rows(way: Way) -> Stream<u32, String> {
    let rows = Stream::<u32, String>::from_iter(0..3);
    match way {
        Way::End => rows,
        Way::Fail => rows.concat(Stream::fail("row 3 is corrupt".to_string())),
        Way::Die => rows.concat(Stream::from_effect(die("row 3 panicked"))),
        Way::Interrupt => rows.concat(Stream::from_effect(never())),
        Way::Take | Way::ConsumerFails => Stream::from_iter(0..),
    }
}

/// Runs `stream` to its end the `way` given (the consumer taking two rows, or failing at the
/// second, or the run interrupted after 1 ms) and gives the run's exit; with `log`, notes
/// "run ended" once the run is over.
async fn end_the_way(
    runtime: &effect::Runtime,
    clock: &effect::TestClock,
    stream: Stream<u32, String>,
    way: Way,
    log: Option<&Log>,
) -> Exit<Vec<u32>, String> {
    let run: Effect<Vec<u32>, String> = match way {
        Way::Take => stream.take(2).run_collect(),
        Way::ConsumerFails => stream
            .run_for_each(|row| {
                if row == 1 {
                    fail("the consumer gave up".to_string())
                } else {
                    succeed(())
                }
            })
            .as_value(Vec::new()),
        _ => stream.run_collect(),
    };
    let run = match log {
        Some(log) => run.ensuring(log.note("run ended")),
        None => run,
    };
    let fiber = runtime.fork(run);
    clock.advance(ms(1)).await;
    if matches!(way, Way::Interrupt) {
        runtime.run(fiber.interrupt::<String>()).await.unwrap()
    } else {
        runtime.run(fiber.await_exit::<String>()).await.unwrap()
    }
}

/// The rows, read under resource `inner`, under the operator `op` (with an `outer` resource
/// around it where the operator nests, and an `other` stream beside it where it combines
/// two).
fn under(op: Op, log: &Log, way: Way) -> Stream<u32, String> {
    let (l1, l2) = (log.clone(), log.clone());
    let inner = move || {
        let log = l1.clone();
        resource(&log, "inner").flat_map(move |_| rows(way))
    };
    let other = move || resource(&l2, "other").flat_map(|_| Stream::from_iter([100u32]));
    match op {
        Op::FlatMap => resource(log, "outer").flat_map(move |_| inner()),
        Op::Concat => other().concat(inner()),
        Op::Merge => inner().merge(other()),
        Op::Zip => inner()
            .zip(other().concat(Stream::from_iter(101..)))
            .map(|(row, _)| row),
        Op::FlatMapPar => resource(log, "outer").flat_map(move |_| {
            let inner = inner.clone();
            Stream::from_iter([0]).flat_map_par(2, move |_| inner())
        }),
        Op::Buffer => inner().buffer(4),
        Op::MapPar => inner().map_par(2, succeed),
        Op::InterruptWhen => inner().interrupt_when(never::<(), String>()),
    }
}

/// Every (operator, exit) pair: each resource is released exactly once, before the run
/// ends; an inner resource before the outer one; the resource whose rows end the run sees
/// the run's real exit (a failure, a defect, an interruption; success at the end, and on an
/// early stop unless its operator had to interrupt its fiber).
#[tokio::test]
async fn every_operator_releases_every_resource_once_on_every_way_out() {
    let ops = [
        Op::FlatMap,
        Op::Concat,
        Op::Merge,
        Op::Zip,
        Op::FlatMapPar,
        Op::Buffer,
        Op::MapPar,
        Op::InterruptWhen,
    ];
    for op in ops {
        for way in WAYS {
            let (clock, runtime) = test_env();
            let log = Log::default();
            let stream = under(op, &log, way);
            let exit = end_the_way(&runtime, &clock, stream, way, Some(&log)).await;
            let case = format!("{op:?} × {way:?}");
            assert_eq!(
                exit.is_ok(),
                matches!(way, Way::End | Way::Take),
                "{case}: {exit:?}"
            );
            let events = log.events();
            assert_eq!(
                events.last().map(String::as_str),
                Some("run ended"),
                "{case}: {events:?}"
            );
            for name in ["inner", "outer", "other"] {
                let opened = log.count(&format!("open {name}"));
                let closed = events
                    .iter()
                    .filter(|e| e.starts_with(&format!("close {name} ")))
                    .count();
                assert_eq!(
                    opened, closed,
                    "{case}: {name} released once per opening: {events:?}"
                );
            }
            assert_eq!(log.count("open inner"), 1, "{case}: {events:?}");
            let position = |event: &str| events.iter().position(|e| e.starts_with(event));
            if let (Some(inner), Some(outer)) = (position("close inner"), position("close outer")) {
                assert!(inner < outer, "{case}: inner released first: {events:?}");
            }
            let inner_saw = match way {
                Way::End => "ok",
                Way::Take if !op.on_a_fiber() => "ok",
                _ => "err",
            };
            assert!(
                events.contains(&format!("close inner {inner_saw}")),
                "{case}: the inner release saw {inner_saw}: {events:?}"
            );
            assert_eq!(runtime.live_fibers(), 0, "{case}");
        }
    }
}
