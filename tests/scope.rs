//! Scope, scoped and acquire_release: every release runs exactly once, whatever ends the
//! region, including interruption at every suspension point.

use crate::common;

use common::{test_env, Log};
use effect::prelude::*;
use effect::{Context, Queue, QueueShutdown, Scope};

/// A resource whose acquisition and release are logged.
fn resource(log: &Log, name: &'static str) -> Effect<&'static str, String> {
    let (acquired, released) = (log.clone(), log.clone());
    acquire_release(
        sync(move || {
            acquired.push(format!("acquire {name}"));
            name
        }),
        move |name, exit| {
            let how = match exit {
                Ok(()) => "ok",
                Err(cause) if cause.is_interrupted() => "interrupted",
                Err(cause) if cause.is_die() => "died",
                Err(_) => "failed",
            };
            sync(move || released.push(format!("release {name} ({how})")))
        },
    )
}

#[tokio::test]
async fn close_runs_finalizers_in_reverse_order_exactly_once() {
    let log = Log::default();
    let scope = Scope::new();
    scope.add_finalizer_now(log.note("first registered"));
    scope.add_finalizer_now(log.note("second registered"));
    assert_eq!(scope.close(Ok(())).await, Ok(()));
    assert_eq!(
        scope.close(Ok(())).await,
        Ok(()),
        "closing again runs nothing"
    );
    assert_eq!(log.events(), ["second registered", "first registered"]);
    assert!(scope.is_closed());
}

#[tokio::test]
async fn every_finalizer_failure_is_kept_and_the_others_still_run() {
    let log = Log::default();
    let scope = Scope::new();
    scope.add_finalizer_now(log.note("survivor"));
    scope.add_finalizer_now(die("first broke"));
    scope.add_finalizer_now(sync(|| panic!("second broke")));
    let cause = scope.close(Ok(())).await.unwrap_err();
    let messages: Vec<&str> = cause.defects().iter().map(|d| d.message()).collect();
    assert_eq!(messages, ["second broke", "first broke"]);
    assert_eq!(log.events(), ["survivor"]);
}

#[tokio::test]
async fn a_finalizer_added_to_a_closed_scope_runs_at_once() {
    let log = Log::default();
    let scope = Scope::new();
    scope.close(Ok(())).await.unwrap();
    let late = scope.add_finalizer::<String>(log.note("late"));
    assert_eq!(late.run(&Context::new()).await, Ok(()));
    assert_eq!(log.events(), ["late"]);
}

#[tokio::test]
async fn release_runs_on_success_failure_and_defect() {
    let log = Log::default();
    let ok = scoped(resource(&log, "a").map(|_| 1));
    assert_eq!(ok.run(&Context::new()).await, Ok(1));
    let failed = scoped(resource(&log, "b").flat_map(|_| fail::<u32, String>("boom".into())));
    failed.run(&Context::new()).await.unwrap_err();
    let died = scoped(resource(&log, "c").flat_map(|_| sync::<u32, String, _>(|| panic!("bug"))));
    died.run(&Context::new()).await.unwrap_err();
    assert_eq!(
        log.events(),
        [
            "acquire a",
            "release a (ok)",
            "acquire b",
            "release b (failed)",
            "acquire c",
            "release c (died)"
        ]
    );
}

#[tokio::test]
async fn resources_are_released_in_reverse_order_of_acquisition() {
    let log = Log::default();
    let (l1, l2) = (log.clone(), log.clone());
    let both = scoped(
        resource(&log, "outer")
            .flat_map(move |_| resource(&l1, "inner"))
            .flat_map(move |_| l2.note("use")),
    );
    both.run(&Context::new()).await.unwrap();
    assert_eq!(
        log.events(),
        [
            "acquire outer",
            "acquire inner",
            "use",
            "release inner (ok)",
            "release outer (ok)"
        ]
    );
}

#[tokio::test]
async fn release_runs_exactly_once_when_interrupted_at_every_suspension_point() {
    // The program suspends at 0 ms (acquire), 10 ms (use), 20 ms (release); interrupt it at
    // each step in turn and check the release ran exactly once iff the acquire finished.
    for interrupt_at in [0u64, 5, 10, 15, 20, 25] {
        let (clock, rt) = test_env();
        let log = Log::default();
        let (acquired, released, used) = (log.clone(), log.clone(), log.clone());
        let slow_acquire = sleep::<String>(ms(10))
            .flat_map(move |()| acquired.note("acquired"))
            .as_value("conn");
        let program = scoped(
            acquire_release(slow_acquire, move |_, _| {
                sleep(ms(10)).flat_map(move |()| released.note("released"))
            })
            .flat_map(move |_| sleep(ms(10)).flat_map(move |()| used.note("used"))),
        );
        let fiber = rt.fork(program);
        clock.advance(ms(interrupt_at)).await;
        let interrupter = rt.fork(fiber.interrupt::<()>());
        clock.advance(ms(100)).await;
        assert!(interrupter.is_done());
        let events = log.events();
        assert_eq!(
            log.count("acquired"),
            1,
            "acquire is uninterruptible (at {interrupt_at} ms): {events:?}"
        );
        assert_eq!(
            log.count("released"),
            1,
            "release exactly once (at {interrupt_at} ms): {events:?}"
        );
        assert_eq!(rt.live_fibers(), 0);
    }
}

#[tokio::test]
async fn a_race_loser_and_a_zip_par_sibling_release_their_resources() {
    let (clock, rt) = test_env();
    let log = Log::default();
    let holding = |name: &'static str, log: &Log| {
        scoped(resource(log, name).flat_map(|_| never::<u32, String>()))
    };
    let raced = race([holding("loser", &log), sleep(ms(5)).as_value(1)]);
    let zipped = zip_par((
        holding("sibling", &log),
        sleep(ms(5)).flat_map(|()| fail::<u32, String>("x".into())),
    ));
    let (a, b) = (rt.fork(raced), rt.fork(zipped));
    clock.advance(ms(5)).await;
    assert_eq!(rt.run(a.join()).await, Ok(1));
    rt.run(b.join()).await.unwrap_err();
    let mut events = log.events();
    events.sort();
    assert_eq!(
        events,
        [
            "acquire loser",
            "acquire sibling",
            "release loser (interrupted)",
            "release sibling (interrupted)"
        ]
    );
}

#[tokio::test]
async fn acquire_release_outside_a_scope_dies_saying_what_to_do() {
    let log = Log::default();
    let cause = resource(&log, "x").run(&Context::new()).await.unwrap_err();
    assert!(cause.defects()[0]
        .message()
        .contains("wrap the effect that uses the resource in `scoped(..)`"));
}

#[tokio::test]
async fn acquire_use_release_brackets_one_use() {
    let log = Log::default();
    let released = log.clone();
    let used = acquire_use_release(
        succeed::<u32, String>(20),
        |n| succeed(n + 1),
        move |n, _| sync(move || released.push(format!("released {n}"))),
    );
    assert_eq!(used.run(&Context::new()).await, Ok(21));
    assert_eq!(log.events(), ["released 20"]);
}

/// The guide's connection pool: 3 connections, 10 concurrent queries.
#[tokio::test]
async fn guide_connection_pool_never_exceeds_its_size_and_returns_every_connection() {
    #[derive(Clone, Debug)]
    struct Connection(u32);
    let (clock, rt) = test_env();
    let available: Queue<Connection> = Queue::bounded(3);
    for id in 0..3 {
        available.try_offer(Connection(id)).unwrap();
    }
    let in_use = common::Gauge::default();
    let with_connection = {
        let pool = available.clone();
        move || {
            let (take, give_back) = (pool.clone(), pool.clone());
            acquire_release(
                take.take::<QueueShutdown>().map_err(|e| e.to_string()),
                move |conn, _| give_back.offer::<QueueShutdown>(conn).as_value(()).or_die(),
            )
        }
    };
    let gauge = in_use.clone();
    let db_operation = move |query: String| {
        let gauge = in_use.clone();
        scoped(with_connection().flat_map(move |conn: Connection| {
            gauge.track(
                sleep(ms(100)).map(move |()| format!("Connection {}: {query} -> result", conn.0)),
            )
        }))
    };
    let operations: Vec<String> = (0..10).map(|i| format!("SELECT {i}")).collect();
    let fiber = rt.fork(for_each_par(operations, db_operation, 10));
    clock.advance(ms(400)).await;
    let results = rt.run(fiber.join()).await.unwrap();
    assert_eq!(results.len(), 10);
    assert!(results[0].ends_with("SELECT 0 -> result"));
    assert_eq!(
        gauge.max(),
        3,
        "never more than the pool's 3 connections in use"
    );
    assert_eq!(available.size(), 3, "every connection returned");
    assert_eq!(
        clock.current_time(),
        ms(400),
        "ten 100 ms queries on 3 connections take 4 rounds"
    );
}

/// A child scope closed first takes itself out of its parent: a parent making a child per
/// element keeps no entry for the ones closed; one closed with the parent is closed once.
#[tokio::test]
async fn child_scopes_closed_first_leave_their_parent_as_it_was() {
    let parent = Scope::new();
    for _ in 0..1_000 {
        let child = parent.child();
        child.add_finalizer_now(succeed(()));
        child.close(Ok(())).await.unwrap();
    }
    assert_eq!(
        format!("{parent:?}"),
        "Scope { finalizers: 0, closed: false }"
    );
    let log = Log::default();
    let open = parent.child();
    open.add_finalizer_now(log.note("child released"));
    parent.close(Err(Cause::Fail(()))).await.unwrap();
    open.close(Ok(())).await.unwrap();
    assert_eq!(log.events(), ["child released"]);
    assert!(open.is_closed());
    let late = parent.child();
    assert!(late.is_closed(), "a child of a closed scope is closed");
}
