//! Streams: sources, sequential operators and sinks, on their happy and unhappy paths
//! (failure, defect, interruption, empty input, bad arguments).

use crate::common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use common::{test_env, Log};
use effect::prelude::*;
use effect::stream::Stream;
use effect::{Context, Hub, Queue, QueueShutdown};
use futures::StreamExt;

fn collect<A: Send + 'static>(stream: Stream<A, String>) -> Exit<Vec<A>, String> {
    effect::run_blocking(stream.run_collect())
}

/// Counts how many values have been pulled out of `0..`.
fn counted(pulled: &Arc<AtomicUsize>) -> Stream<u64, String> {
    let pulled = pulled.clone();
    Stream::from_iter(0..).map(move |n| {
        pulled.fetch_add(1, Ordering::SeqCst);
        n
    })
}

// ---- sources ----

#[test]
fn a_stream_is_lazy_until_it_runs() {
    let pulled = Arc::new(AtomicUsize::new(0));
    let stream = counted(&pulled).take(5);
    assert_eq!(pulled.load(Ordering::SeqCst), 0);
    let run = stream.run_collect();
    assert_eq!(pulled.load(Ordering::SeqCst), 0);
    assert_eq!(effect::run_blocking(run), Ok(vec![0, 1, 2, 3, 4]));
}

/// An iterator that is not fused: it says `None` once, then has more.
struct Resumes(u32);

impl Iterator for Resumes {
    type Item = u32;
    fn next(&mut self) -> Option<u32> {
        self.0 += 1;
        (self.0 != 3).then_some(self.0)
    }
}

#[test]
fn from_iter_ends_at_the_first_none_of_an_iterator_that_is_not_fused() {
    // 1, 2, then None (in the middle of the second chunk), then 4, 5, ...: the stream is 1, 2.
    assert_eq!(
        collect(Stream::<u32, String>::from_iter(Resumes(0))),
        Ok(vec![1, 2])
    );
    let after_a_concat = Stream::from_iter(Resumes(0)).concat(Stream::from_iter([9]));
    assert_eq!(collect(after_a_concat), Ok(vec![1, 2, 9]));
}

#[test]
fn basic_sources() {
    assert_eq!(collect(Stream::<u8, String>::empty()), Ok(vec![]));
    assert_eq!(collect(Stream::succeed(1)), Ok(vec![1]));
    assert_eq!(collect(Stream::from_iter(Vec::<u8>::new())), Ok(vec![]));
    assert_eq!(collect(Stream::from_effect(sync(|| 'x'))), Ok(vec!['x']));
    assert_eq!(
        collect(Stream::from_effect(fail::<u8, _>("no".to_string()))),
        Err(Cause::Fail("no".to_string()))
    );
    assert_eq!(
        collect(Stream::<u8, _>::fail("early".to_string())),
        Err(Cause::Fail("early".to_string()))
    );
    // More values than one chunk, in order.
    let many = collect(Stream::from_iter(0..10_000u32)).unwrap();
    assert_eq!(many, (0..10_000).collect::<Vec<_>>());
}

#[test]
fn unfold_and_unfold_effect() {
    // One value per pull: the step never runs ahead of what is taken (so a state that would
    // overflow past the values taken is never computed).
    let fib = Stream::unfold((0u8, 1u8), |(a, b)| Some((a, (b, a + b)))).take(12);
    assert_eq!(
        collect(fib),
        Ok(vec![0, 1, 1, 2, 3, 5, 8, 13, 21, 34, 55, 89])
    );
    let countdown = Stream::unfold_effect(3u32, |n| {
        if n == 0 {
            succeed(None)
        } else {
            succeed(Some((n, n - 1)))
        }
    });
    assert_eq!(collect(countdown), Ok(vec![3, 2, 1]));
    let failing = Stream::unfold_effect(0u32, |n| {
        if n == 2 {
            fail("page 2 failed".to_string())
        } else {
            succeed(Some((n, n + 1)))
        }
    });
    assert_eq!(
        effect::run_blocking(failing.run_fold(Vec::new(), |mut v, n| {
            v.push(n);
            v
        })),
        Err(Cause::Fail("page 2 failed".to_string()))
    );
}

#[tokio::test]
async fn repeat_effect_follows_its_schedule_on_the_clock() {
    let (clock, rt) = test_env();
    let log = Log::default();
    let times = Stream::<std::time::Duration, String>::repeat_effect(
        || now().map(|t| t.duration_since(std::time::UNIX_EPOCH).unwrap()),
        Schedule::spaced(secs(10)) & Schedule::recurs(3),
    );
    let record = log.clone();
    let run = tokio::spawn(rt.run(times.run_for_each(move |t| record.note(&format!("{t:?}")))));
    clock.advance(secs(30)).await;
    assert_eq!(run.await.unwrap(), Ok(()));
    assert_eq!(log.events(), ["0ns", "10s", "20s", "30s"]);
    assert_eq!(rt.live_fibers(), 0);
}

#[tokio::test]
async fn from_queue_ends_when_the_queue_is_shut_down_and_drained() {
    let (_, rt) = test_env();
    let queue = Queue::bounded(4);
    let producer = queue.clone();
    let produce: Effect<(), QueueShutdown> = effect_block! {
        for n in 1..=10u32 {
            producer.offer::<QueueShutdown>(n)?;
        }
        producer.shutdown();
    };
    let consumer = Stream::<u32, QueueShutdown>::from_queue(queue).run_collect();
    let (_, all) = rt.run(zip_par((produce, consumer))).await.unwrap();
    assert_eq!(all, (1..=10).collect::<Vec<_>>());
}

#[tokio::test]
async fn from_subscription_streams_what_is_published_after_subscribing() {
    let (_, rt) = test_env();
    let hub = Hub::bounded(16);
    // Published before anyone subscribed: nobody sees it.
    rt.run(hub.publish::<QueueShutdown>(0)).await.unwrap();
    let events = Stream::<u32, QueueShutdown>::from_subscription(hub.subscribe());
    let publisher = hub.clone();
    let publish: Effect<(), QueueShutdown> = effect_block! {
        for n in 1..=3u32 {
            publisher.publish::<QueueShutdown>(n)?;
        }
        publisher.shutdown();
    };
    let (_, seen) = rt
        .run(zip_par((publish, events.run_collect())))
        .await
        .unwrap();
    assert_eq!(seen, [1, 2, 3]);
}

#[test]
fn futures_streams_in_and_out() {
    let items = Stream::<_, String>::from_futures_stream(futures::stream::iter(1..=3));
    assert_eq!(collect(items), Ok(vec![1, 2, 3]));
    let failing = futures::stream::iter([Ok(1), Err("bad line".to_string()), Ok(3)]);
    assert_eq!(
        collect(Stream::from_futures_try_stream(failing)),
        Err(Cause::Fail("bad line".to_string()))
    );
}

#[tokio::test]
async fn into_futures_stream_yields_values_then_the_failure() {
    let ctx = Context::new();
    let ok: Vec<_> = Stream::<u32, String>::from_iter(1..=3)
        .into_futures_stream(&ctx)
        .collect()
        .await;
    assert_eq!(ok, [Ok(1), Ok(2), Ok(3)]);
    let failing: Vec<_> = Stream::from_iter([1u32])
        .concat(Stream::fail("boom".to_string()))
        .into_futures_stream(&ctx)
        .collect()
        .await;
    assert_eq!(failing, [Ok(1), Err(Cause::Fail("boom".to_string()))]);
    let empty: Vec<_> = Stream::<u32, String>::empty()
        .into_futures_stream(&ctx)
        .collect()
        .await;
    assert!(empty.is_empty());
}

#[tokio::test]
async fn into_futures_stream_is_pulled_at_the_consumers_pace() {
    let pulled = Arc::new(AtomicUsize::new(0));
    let stream = Stream::<u64, String>::from_iter(0..100)
        .map_effect({
            let pulled = pulled.clone();
            move |n| {
                pulled.fetch_add(1, Ordering::SeqCst);
                succeed(n)
            }
        })
        .into_futures_stream(&Context::new());
    let first_two: Vec<_> = stream.take(2).collect().await;
    assert_eq!(first_two, [Ok(0), Ok(1)]);
    // One value ahead at most: the one waiting in the hand-over slot.
    assert!(pulled.load(Ordering::SeqCst) <= 3, "{pulled:?}");
}

// ---- sequential operators ----

#[test]
fn map_filter_filter_map() {
    let stream = Stream::from_iter(1..=10u32)
        .map(|n| n * 3)
        .filter(|n| n % 2 == 0)
        .filter_map(|n| (n != 12).then_some(n.to_string()));
    assert_eq!(
        collect(stream),
        Ok(vec!["6".into(), "18".into(), "24".into(), "30".into()])
    );
}

#[test]
fn take_pulls_no_further_than_it_needs() {
    let pulled = Arc::new(AtomicUsize::new(0));
    assert_eq!(collect(counted(&pulled).take(0)), Ok(vec![]));
    assert_eq!(pulled.load(Ordering::SeqCst), 0);
    // An endless stream ends after the 3 values; the source is never asked for more than
    // the chunk holding them.
    assert_eq!(collect(counted(&pulled).take(3)), Ok(vec![0, 1, 2]));
    assert_eq!(pulled.load(Ordering::SeqCst), 3);
    // A failure after the values taken is never reached.
    let then_fail = Stream::from_iter([1, 2]).concat(Stream::fail("unreached".to_string()));
    assert_eq!(collect(then_fail.take(2)), Ok(vec![1, 2]));
    // Taking more than there is gives what there is.
    assert_eq!(collect(Stream::from_iter([1, 2]).take(10)), Ok(vec![1, 2]));
}

#[test]
fn take_while_drop_while_scan() {
    let s = || Stream::from_iter([1, 2, 3, 10, 1, 2]);
    assert_eq!(collect(s().take_while(|n| *n < 3)), Ok(vec![1, 2]));
    assert_eq!(collect(s().drop_while(|n| *n < 3)), Ok(vec![3, 10, 1, 2]));
    assert_eq!(collect(s().drop_while(|_| true)), Ok(vec![]));
    assert_eq!(
        collect(s().scan(0, |acc, n| acc + n)),
        Ok(vec![0, 1, 3, 6, 16, 17, 19])
    );
    assert_eq!(
        collect(Stream::<u8, String>::empty().scan(5, |a, _| a)),
        Ok(vec![5])
    );
}

#[test]
fn chunks_group_across_pulls() {
    let grouped = Stream::from_iter(0..1000u32).chunks(300);
    let groups = collect(grouped).unwrap();
    assert_eq!(
        groups.iter().map(Vec::len).collect::<Vec<_>>(),
        [300, 300, 300, 100]
    );
    assert_eq!(groups.concat(), (0..1000).collect::<Vec<_>>());
    assert_eq!(collect(Stream::<u8, String>::empty().chunks(3)), Ok(vec![]));
}

#[test]
#[should_panic(expected = "the group size must be at least 1")]
fn chunks_of_zero_is_refused() {
    let _ = Stream::<u8, String>::empty().chunks(0);
}

#[test]
fn map_effect_runs_one_effect_at_a_time_in_order_and_stops_at_a_failure() {
    let log = Log::default();
    let record = log.clone();
    let stream = Stream::from_iter(1..=5u32).map_effect(move |n| {
        let record = record.clone();
        effect_block! {
            record.push(format!("start {n}"));
            if n == 3 {
                fail(format!("{n} is odd enough"))?;
            }
            n * 10
        }
    });
    assert_eq!(collect(stream), Err(Cause::Fail("3 is odd enough".into())));
    assert_eq!(log.events(), ["start 1", "start 2", "start 3"]);
}

#[test]
fn a_panic_in_an_operator_is_a_defect_of_the_stream() {
    let stream = Stream::from_iter(1..=3u32).map(|n| {
        assert!(n < 2, "value {n} is out of range");
        n
    });
    let cause = collect(stream).unwrap_err();
    assert!(cause.is_die());
    assert!(cause.defects()[0]
        .message()
        .contains("value 2 is out of range"));
}

#[test]
fn flat_map_and_concat() {
    let nested =
        Stream::from_iter(1..=3u32).flat_map(|n| Stream::from_iter(0..n).map(move |i| (n, i)));
    assert_eq!(
        collect(nested),
        Ok(vec![(1, 0), (2, 0), (2, 1), (3, 0), (3, 1), (3, 2)])
    );
    let empty_inners = Stream::from_iter(0..1000u32).flat_map(|_| Stream::<u32, String>::empty());
    assert_eq!(collect(empty_inners), Ok(vec![]));
    let failing_inner = Stream::from_iter(1..=3u32).flat_map(|n| {
        if n == 2 {
            Stream::fail(format!("inner {n}"))
        } else {
            Stream::succeed(n)
        }
    });
    assert_eq!(collect(failing_inner), Err(Cause::Fail("inner 2".into())));
    let three = Stream::from_iter([1])
        .concat(Stream::empty())
        .concat(Stream::from_iter([2, 3]));
    assert_eq!(collect(three), Ok(vec![1, 2, 3]));
}

#[test]
fn flat_map_of_many_inner_streams_is_stack_safe() {
    let n = 100_000u64;
    let sum = Stream::<u64, String>::from_iter(0..n)
        .flat_map(Stream::succeed)
        .run_fold(0u64, |a, b| a + b);
    assert_eq!(effect::run_blocking(sum), Ok(n * (n - 1) / 2));
}

#[test]
fn catch_all_recovers_failures_but_not_defects() {
    let recovered = Stream::from_iter([1, 2])
        .concat(Stream::fail("lost connection".to_string()))
        .catch_all(|e| Stream::<u32, String>::succeed(e.len() as u32));
    assert_eq!(collect(recovered), Ok(vec![1, 2, 15]));
    let defect = Stream::<u32, String>::from_effect(die("bug"))
        .catch_all(|_| Stream::<u32, String>::succeed(0));
    assert!(collect(defect).unwrap_err().is_die());
}

#[tokio::test]
async fn retry_restarts_the_stream_after_the_schedules_delay() {
    let (clock, rt) = test_env();
    let attempts = Arc::new(AtomicUsize::new(0));
    let counter = attempts.clone();
    let flaky = move || {
        let attempt = counter.fetch_add(1, Ordering::SeqCst);
        Stream::from_iter([attempt * 10]).concat(if attempt < 2 {
            Stream::fail(format!("attempt {attempt} failed"))
        } else {
            Stream::empty()
        })
    };
    let stream = Stream::retry(flaky, Schedule::spaced(secs(1)) & Schedule::recurs(5));
    let run = tokio::spawn(rt.run(stream.run_collect()));
    clock.advance(secs(2)).await;
    // Values of failed attempts stay emitted; the stream started again from scratch.
    assert_eq!(run.await.unwrap(), Ok(vec![0, 10, 20]));
    assert_eq!(attempts.load(Ordering::SeqCst), 3);

    let always = || Stream::<u32, String>::fail("down".into());
    let exhausted = rt.run(Stream::retry(always, Schedule::recurs(2)).run_collect());
    assert_eq!(exhausted.await, Err(Cause::Fail("down".into())));
    assert_eq!(rt.live_fibers(), 0);
}

#[test]
fn zip_pairs_values_and_ends_with_the_shorter() {
    let pairs = Stream::from_iter(0..1000u32).zip(Stream::from_iter("abc".chars()));
    assert_eq!(collect(pairs), Ok(vec![(0, 'a'), (1, 'b'), (2, 'c')]));
    let with_empty = Stream::from_iter(0..3u32).zip(Stream::<u8, String>::empty());
    assert_eq!(collect(with_empty), Ok(vec![]));
    let failing = Stream::from_iter(0..3u32).zip(Stream::<u8, String>::fail("right".into()));
    assert_eq!(collect(failing), Err(Cause::Fail("right".into())));
}

#[test]
fn map_err_converts_the_failure() {
    #[derive(Debug, PartialEq)]
    enum AppError {
        Io(String),
    }
    let stream = Stream::<u32, String>::fail("eof".into()).map_err(AppError::Io);
    assert_eq!(
        effect::run_blocking(stream.run_collect()),
        Err(Cause::Fail(AppError::Io("eof".into())))
    );
}

// ---- sinks ----

#[test]
fn sinks() {
    let s = || Stream::<u32, String>::from_iter(1..=4);
    assert_eq!(effect::run_blocking(s().run_fold(1, |a, b| a * b)), Ok(24));
    assert_eq!(effect::run_blocking(s().run_drain()), Ok(()));
    let log = Log::default();
    let record = log.clone();
    let for_each = s().run_for_each(move |n| {
        if n == 3 {
            fail(format!("rejected {n}"))
        } else {
            record.note(&n.to_string())
        }
    });
    assert_eq!(
        effect::run_blocking(for_each),
        Err(Cause::Fail("rejected 3".into()))
    );
    assert_eq!(log.events(), ["1", "2"]);
}

#[tokio::test]
async fn run_into_queue_shuts_the_queue_down_at_the_end_and_stops_when_the_consumer_leaves() {
    let (_, rt) = test_env();
    let queue = Queue::bounded(2);
    let producer = Stream::<u32, String>::from_iter(1..=5).run_into_queue(queue.clone());
    let consumer = Stream::<u32, String>::from_queue(queue.clone()).run_collect();
    let ((), all) = rt.run(zip_par((producer, consumer))).await.unwrap();
    assert_eq!(all, [1, 2, 3, 4, 5]);
    assert!(queue.is_shutdown());

    // The consumer shuts the queue down after two values: the producer stops, successfully.
    let queue = Queue::bounded(1);
    let endless = Stream::<u64, String>::from_iter(0..).run_into_queue(queue.clone());
    let taker = queue.clone();
    let consumer: Effect<Vec<u64>, String> = effect_block! {
        let a = taker.take::<QueueShutdown>().map_err(|e| e.to_string())?;
        let b = taker.take::<QueueShutdown>().map_err(|e| e.to_string())?;
        taker.shutdown();
        vec![a, b]
    };
    let ((), taken) = rt.run(zip_par((endless, consumer))).await.unwrap();
    assert_eq!(taken, [0, 1]);
    assert_eq!(rt.live_fibers(), 0);
}

// ---- interruption and the DSL ----

#[tokio::test]
async fn an_interrupted_run_stops_pulling_and_runs_finalizers() {
    let (clock, rt) = test_env();
    let log = Log::default();
    let record = log.clone();
    let slow = Stream::<u32, String>::from_iter(0..)
        .map_effect(|n| sleep(secs(1)).as_value(n))
        .run_for_each(move |n| record.note(&n.to_string()))
        .ensuring(log.note("finalized"));
    let fiber = rt.fork(slow);
    clock.advance(secs(2)).await;
    let exit = rt.run(fiber.interrupt::<String>()).await.unwrap();
    assert!(exit.unwrap_err().is_interrupted_only());
    assert_eq!(log.events(), ["0", "1", "finalized"]);
    assert_eq!(rt.live_fibers(), 0);
}

#[effect]
fn total_of_valid(lines: Vec<&'static str>) -> Effect<u32, String> {
    let log = Log::default();
    let record = log.clone();
    Stream::from_iter(lines)
        .filter_map(|line| line.trim().parse::<u32>().ok())
        .run_for_each(move |n| {
            let record = record.clone();
            effect_block! {
                record.push(n.to_string());
            }
        })?;
    let seen = log.events();
    seen.iter().map(|s| s.parse::<u32>().unwrap()).sum::<u32>()
}

#[effect::test]
fn a_body_consumes_a_stream_with_run_for_each() -> Effect<(), String> {
    assert_eq!(total_of_valid(vec!["1", "x", " 2", "39"])?, 42);
    let collected = Stream::<u32, String>::from_iter(1..=3).run_collect()?;
    assert_eq!(collected, [1, 2, 3]);
}

const NESTED: u64 = 100_000;

/// A hundred thousand concats nested to the left, to the right, and a stream defined
/// recursively: each runs in time linear in its values (a value passes through one concat,
/// not one per level) and without growing the stack.
#[test]
fn deeply_nested_concats_run_in_linear_time() {
    let sum = NESTED * (NESTED - 1) / 2;
    let mut left = Stream::<u64, String>::from_iter([0]);
    for n in 1..NESTED {
        left = left.concat(Stream::succeed(n));
    }
    assert_eq!(
        effect::run_blocking(left.run_fold(0, |s, n| s + n)),
        Ok(sum)
    );

    let mut right = Stream::<u64, String>::from_iter([NESTED - 1]);
    for n in (0..NESTED - 1).rev() {
        right = Stream::succeed(n).concat(right);
    }
    let in_order = right.run_fold((0, true, 0u64), |(count, ordered, sum), n| {
        (count + 1, ordered && n == count, sum + n)
    });
    assert_eq!(effect::run_blocking(in_order), Ok((NESTED, true, sum)));

    fn from(n: u64) -> Stream<u64, String> {
        if n == NESTED {
            return Stream::empty();
        }
        Stream::succeed(n).concat(Stream::suspend(move || from(n + 1)))
    }
    assert_eq!(
        effect::run_blocking(from(0).run_fold(0, |s, n| s + n)),
        Ok(sum)
    );
}

/// The parts of a concat each release their resources as they end, before the next opens;
/// the last one's are released with the stream, and a failure in the middle stops it.
#[test]
fn concat_parts_release_in_turn_and_a_failure_stops_the_rest() {
    fn part(log: &Log, name: &'static str) -> Stream<&'static str, String> {
        let (opened, closed) = (log.clone(), log.clone());
        Stream::acquire_release(
            sync(move || opened.push(format!("open {name}"))),
            move |(), exit| {
                let how = if exit.is_ok() { "ok" } else { "err" };
                closed.note(&format!("close {name} {how}"))
            },
        )
        .map(move |()| name)
    }
    let log = Log::default();
    let all = part(&log, "a")
        .concat(part(&log, "b"))
        .concat(part(&log, "c"));
    assert_eq!(
        effect::run_blocking(all.run_collect()),
        Ok(vec!["a", "b", "c"])
    );
    assert_eq!(
        log.events(),
        [
            "open a",
            "close a ok",
            "open b",
            "close b ok",
            "open c",
            "close c ok"
        ]
    );
    let log = Log::default();
    let broken = part(&log, "a")
        .concat(part(&log, "b").concat(Stream::fail("b broke".to_string())))
        .concat(part(&log, "c"));
    assert_eq!(
        effect::run_blocking(broken.run_collect()),
        Err(Cause::Fail("b broke".to_string()))
    );
    // b ended before the failure after it, so its release saw success; c never opened.
    assert_eq!(
        log.events(),
        ["open a", "close a ok", "open b", "close b ok"]
    );
    let nothing = Stream::<u8, String>::empty().concat(Stream::empty());
    assert_eq!(effect::run_blocking(nothing.run_collect()), Ok(vec![]));
}

/// A zip ends with a failure of either side, even when the other side never emits, and
/// interrupts that side's pull.
#[tokio::test]
async fn zip_ends_with_a_failure_of_either_side_while_the_other_never_emits() {
    for left_fails in [true, false] {
        let (clock, runtime) = test_env();
        let log = Log::default();
        let silent = Stream::<u32, String>::from_effect(
            never::<u32, String>().on_interrupt(log.note("silent side interrupted")),
        );
        let failing = Stream::<u32, String>::from_effect(
            sleep(ms(5)).flat_map(|()| fail::<u32, String>("broken side".to_string())),
        );
        let zipped = if left_fails {
            failing.zip(silent).map(|(a, b)| a + b)
        } else {
            silent.zip(failing).map(|(a, b)| a + b)
        };
        let fiber = runtime.fork(zipped.run_collect());
        clock.advance(ms(5)).await;
        assert_eq!(
            runtime.run(fiber.join()).await,
            Err(Cause::Fail("broken side".to_string())),
            "left fails: {left_fails}"
        );
        assert_eq!(log.events(), ["silent side interrupted"]);
        assert_eq!(runtime.live_fibers(), 0);
    }
}

/// Consecutive `from_iter` parts of a concat run as one iterator, in chunks that keep
/// growing across their boundaries: still lazy (a partly consumed concat runs its iterators
/// at most as far again as what was taken), in order, and around a part with a resource,
/// which keeps its scope and its place.
#[test]
fn iterator_parts_of_a_concat_run_together_lazily_and_in_order() {
    let pulled = Arc::new(AtomicUsize::new(0));
    let counting = |range: std::ops::Range<u64>| {
        let pulled = pulled.clone();
        Stream::<u64, String>::from_iter(range.inspect(move |_| {
            pulled.fetch_add(1, Ordering::SeqCst);
        }))
    };
    let many = (0..1_000).fold(Stream::empty(), |stream, k| {
        stream.concat(counting(k * 3..k * 3 + 3))
    });
    assert_eq!(
        effect::run_blocking(many.take(5).run_collect()),
        Ok(vec![0, 1, 2, 3, 4])
    );
    let ran = pulled.load(Ordering::SeqCst);
    assert!(ran <= 10, "the iterators ran {ran} values for 5 taken");

    let log = Log::default();
    let (opened, closed) = (log.clone(), log.clone());
    let held = Stream::acquire_release(sync(move || opened.push("open")), move |(), _| {
        closed.note("close")
    })
    .map(|()| 100u64);
    let noted = log.clone();
    let mixed = counting(0..3)
        .concat(counting(3..5))
        .concat(held)
        .concat(counting(5..7))
        .concat(Stream::from_iter([7, 8]))
        .tap(move |n| noted.note(&format!("{n}")));
    assert_eq!(
        effect::run_blocking(mixed.run_collect()),
        Ok(vec![0, 1, 2, 3, 4, 100, 5, 6, 7, 8])
    );
    let events = log.events();
    let position = |event: &str| events.iter().position(|e| e == event).unwrap();
    assert!(position("4") < position("open"), "{events:?}");
    assert!(
        position("close") < position("5"),
        "the resource part closed as it ended: {events:?}"
    );
}
