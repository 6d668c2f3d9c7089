//! Layers: build services into a context inside a scope; compose; memoize; tear down in
//! reverse order; a failing build tears down what it built.

use crate::common;

use common::{after, test_env, Log};
use effect::prelude::*;
use effect::{Clock, ClockLayer, Context, Layer, Runtime, Scope, TestClockLayer};
use std::time::Duration;

#[derive(Clone, Debug, PartialEq)]
struct Config(&'static str);
#[derive(Clone, Debug, PartialEq)]
struct Database(String);
#[derive(Clone, Debug, PartialEq)]
struct Cache(String);

/// A layer acquiring a resource named `name`, logging acquire and release.
fn resource_layer<T, F>(log: &Log, name: &'static str, make: F) -> Layer<String>
where
    T: Clone + Send + Sync + 'static,
    F: Fn(&Context) -> T + Send + Sync + 'static,
{
    let log = log.clone();
    let make = std::sync::Arc::new(make);
    Layer::scoped(move |ctx: Context| {
        let (acquired, released, make) = (log.clone(), log.clone(), make.clone());
        acquire_release(
            sync(move || {
                acquired.push(format!("build {name}"));
                make(&ctx)
            }),
            move |_, _| sync(move || released.push(format!("teardown {name}"))),
        )
    })
}

/// A layer that waits `delay`, acquires a resource named `name` (logging acquire and
/// release), and then keeps building until it is stopped: a build interrupted half-way.
fn hangs_after_acquiring(log: &Log, name: &'static str, delay: Duration) -> Layer<String> {
    let log = log.clone();
    Layer::scoped(move |_| {
        let (acquired, released) = (log.clone(), log.clone());
        let acquire = acquire_release(
            sync(move || acquired.push(format!("build {name}"))),
            move |_, _| sync(move || released.push(format!("teardown {name}"))),
        );
        sleep(delay)
            .flat_map(move |()| acquire)
            .flat_map(|()| never::<Cache, String>())
    })
}

fn read_services() -> Effect<(Database, Cache), String> {
    Effect::new(|ctx| async move { Ok((ctx.get::<Database>(), ctx.get::<Cache>())) })
}

#[tokio::test]
async fn and_then_lets_the_second_layer_see_the_first() {
    let log = Log::default();
    let config: Layer<String> = Layer::succeed(Config("db://main"));
    let database = resource_layer(&log, "database", |ctx| {
        Database(ctx.get::<Config>().0.to_string())
    });
    let program = Effect::new(|ctx| async move { Ok::<_, Cause<String>>(ctx.get::<Database>()) });
    let exit = program
        .provide(config.and_then(database))
        .run(&Context::new())
        .await;
    assert_eq!(exit, Ok(Database("db://main".into())));
    assert_eq!(log.events(), ["build database", "teardown database"]);
}

#[tokio::test]
async fn a_shared_dependency_is_built_once_and_torn_down_once_in_reverse_order() {
    let log = Log::default();
    let config = resource_layer(&log, "config", |_| Config("shared"));
    let database = config
        .clone()
        .and_then(resource_layer(&log, "database", |ctx| {
            Database(ctx.get::<Config>().0.into())
        }));
    let cache = config
        .clone()
        .and_then(resource_layer(&log, "cache", |ctx| {
            Cache(ctx.get::<Config>().0.into())
        }));
    let app = database.and_then(cache);
    let exit = read_services().provide(app).run(&Context::new()).await;
    assert_eq!(
        exit,
        Ok((Database("shared".into()), Cache("shared".into())))
    );
    assert_eq!(
        log.events(),
        [
            "build config",
            "build database",
            "build cache",
            "teardown cache",
            "teardown database",
            "teardown config"
        ]
    );
}

#[tokio::test]
async fn side_by_side_layers_build_concurrently() {
    let (clock, rt) = test_env();
    let slow = |name: &'static str| {
        Layer::<String>::effect(move |_| sleep(ms(100)).as_value(Cache(name.into())))
    };
    let database = Layer::effect(|_| sleep(ms(100)).as_value(Database("db".into())));
    let program = read_services().provide(database.and(slow("cache")));
    let fiber = rt.fork(program);
    clock.advance(ms(100)).await;
    assert!(fiber.is_done(), "both 100 ms builds ran at the same time");
    assert_eq!(
        rt.run(fiber.join()).await,
        Ok((Database("db".into()), Cache("cache".into())))
    );
}

#[tokio::test]
async fn a_failing_build_tears_down_what_was_built_and_reports_the_cause() {
    let log = Log::default();
    let database = resource_layer(&log, "database", |_| Database("db".into()));
    let broken: Layer<String> =
        Layer::effect(|_| fail::<Cache, String>("cache unreachable".into()));
    let exit = read_services()
        .provide(database.and_then(broken))
        .run(&Context::new())
        .await;
    assert_eq!(
        exit.unwrap_err().failure(),
        Some(&"cache unreachable".to_string())
    );
    assert_eq!(log.events(), ["build database", "teardown database"]);
}

#[tokio::test]
async fn build_scoped_gives_a_context_and_the_scope_tears_it_down() {
    let log = Log::default();
    let scope = Scope::new();
    let layer = resource_layer(&log, "database", |_| Database("db".into()));
    let env = layer
        .build_scoped(&Context::new().with(Config("kept")), &scope)
        .await
        .unwrap();
    assert_eq!(env.get::<Database>(), Database("db".into()));
    assert_eq!(
        env.get::<Config>(),
        Config("kept"),
        "the input context is kept"
    );
    assert_eq!(log.events(), ["build database"]);
    scope.close(Ok(())).await.unwrap();
    assert_eq!(log.events(), ["build database", "teardown database"]);
}

#[tokio::test]
async fn the_services_are_torn_down_when_the_provided_effect_is_interrupted() {
    let (clock, rt) = test_env();
    let log = Log::default();
    let layer = resource_layer(&log, "database", |_| Database("db".into()));
    let fiber = rt.fork(never::<(), String>().provide(layer));
    clock.advance(ms(1)).await;
    rt.run(fiber.interrupt::<()>()).await.unwrap().unwrap_err();
    assert_eq!(log.events(), ["build database", "teardown database"]);
    assert_eq!(rt.live_fibers(), 0);
}

/// What every interrupted build of `config.and_then(socket)` must leave: both torn down,
/// once each, in reverse order.
const HALF_BUILT_AND_TORN_DOWN: [&str; 4] = [
    "build config",
    "build socket",
    "teardown socket",
    "teardown config",
];

fn config_then_hanging_socket(log: &Log) -> Layer<String> {
    resource_layer(log, "config", |_| Config("db://main")).and_then(hangs_after_acquiring(
        log,
        "socket",
        Duration::ZERO,
    ))
}

#[tokio::test]
async fn interrupting_the_fiber_mid_build_tears_down_what_was_built() {
    let (clock, rt) = test_env();
    let log = Log::default();
    let fiber = rt.fork(read_services().provide(config_then_hanging_socket(&log)));
    clock.advance(ms(1)).await;
    assert_eq!(log.events(), ["build config", "build socket"]);
    let exit = rt.run(fiber.interrupt::<()>()).await.unwrap();
    assert!(exit.unwrap_err().is_interrupted());
    assert_eq!(log.events(), HALF_BUILT_AND_TORN_DOWN);
    assert_eq!(rt.live_fibers(), 0);
}

#[tokio::test]
async fn a_timeout_expiring_mid_build_tears_down_what_was_built() {
    let (clock, rt) = test_env();
    let log = Log::default();
    let program = read_services()
        .provide(config_then_hanging_socket(&log))
        .timeout(ms(10));
    let fiber = rt.fork(program);
    clock.advance(ms(10)).await;
    assert_eq!(rt.run(fiber.join()).await, Ok(None));
    assert_eq!(log.events(), HALF_BUILT_AND_TORN_DOWN);
    assert_eq!(rt.live_fibers(), 0);
}

#[tokio::test]
async fn losing_a_race_mid_build_tears_down_what_was_built() {
    let (clock, rt) = test_env();
    let log = Log::default();
    let fallback = (Database("fallback".into()), Cache("fallback".into()));
    let program = race([
        read_services().provide(config_then_hanging_socket(&log)),
        after(ms(5), fallback.clone()),
    ]);
    let fiber = rt.fork(program);
    clock.advance(ms(5)).await;
    assert_eq!(rt.run(fiber.join()).await, Ok(fallback));
    assert_eq!(log.events(), HALF_BUILT_AND_TORN_DOWN);
    assert_eq!(rt.live_fibers(), 0);
}

#[tokio::test]
async fn a_failing_layer_tears_down_every_layer_built_before_it_in_reverse_order() {
    let (_clock, rt) = test_env();
    let log = Log::default();
    let broken: Layer<String> =
        Layer::effect(|_| fail::<Cache, String>("cache unreachable".into()));
    let layer = resource_layer(&log, "config", |_| Config("db://main"))
        .and_then(resource_layer(&log, "database", |_| Database("db".into())))
        .and_then(broken);
    let cause = rt.run(read_services().provide(layer)).await.unwrap_err();
    assert_eq!(cause.failure(), Some(&"cache unreachable".to_string()));
    assert_eq!(
        log.events(),
        [
            "build config",
            "build database",
            "teardown database",
            "teardown config"
        ]
    );
    assert_eq!(rt.live_fibers(), 0);
}

#[tokio::test]
async fn a_dying_layer_tears_down_what_was_built_and_reports_the_defect() {
    let (_clock, rt) = test_env();
    let log = Log::default();
    let dying: Layer<String> =
        Layer::effect(|_| sync::<Cache, String, _>(|| panic!("cache constructor bug")));
    let layer = resource_layer(&log, "config", |_| Config("db://main")).and_then(dying);
    let cause = rt.run(read_services().provide(layer)).await.unwrap_err();
    assert!(cause.defects()[0]
        .message()
        .contains("cache constructor bug"));
    assert_eq!(log.events(), ["build config", "teardown config"]);
    assert_eq!(rt.live_fibers(), 0);
}

#[tokio::test]
async fn side_by_side_layers_interrupted_mid_build_tear_down_both_sides() {
    let (clock, rt) = test_env();
    let log = Log::default();
    let layer = resource_layer(&log, "config", |_| Config("db://main")).and(hangs_after_acquiring(
        &log,
        "socket",
        ms(1),
    ));
    let fiber = rt.fork(read_services().provide(layer));
    clock.advance(ms(2)).await;
    rt.run(fiber.interrupt::<()>()).await.unwrap().unwrap_err();
    assert_eq!(log.events(), HALF_BUILT_AND_TORN_DOWN);
    assert_eq!(rt.live_fibers(), 0);
}

#[tokio::test]
async fn a_shared_layer_interrupted_mid_build_is_torn_down_once_and_last() {
    let (clock, rt) = test_env();
    let log = Log::default();
    let config = resource_layer(&log, "config", |_| Config("shared"));
    let database = config
        .clone()
        .and_then(resource_layer(&log, "database", |ctx| {
            Database(ctx.get::<Config>().0.into())
        }));
    let cache = config
        .clone()
        .and_then(hangs_after_acquiring(&log, "cache", ms(1)));
    let fiber = rt.fork(read_services().provide(database.and(cache)));
    clock.advance(ms(2)).await;
    rt.run(fiber.interrupt::<()>()).await.unwrap().unwrap_err();
    assert_eq!(
        log.events(),
        [
            "build config",
            "build database",
            "build cache",
            "teardown cache",
            "teardown database",
            "teardown config"
        ]
    );
    assert_eq!(rt.live_fibers(), 0);
}

#[tokio::test]
async fn an_interrupted_build_has_torn_down_what_it_built_when_it_ends() {
    let (clock, rt) = test_env();
    let log = Log::default();
    let scope = Scope::new();
    let fiber = rt.fork(config_then_hanging_socket(&log).build(&scope));
    clock.advance(ms(1)).await;
    rt.run(fiber.interrupt::<()>()).await.unwrap().unwrap_err();
    assert_eq!(log.events(), HALF_BUILT_AND_TORN_DOWN);
    scope.close(Ok(())).await.unwrap();
    assert_eq!(
        log.events(),
        HALF_BUILT_AND_TORN_DOWN,
        "closing the scope later tears nothing down twice"
    );
    assert_eq!(rt.live_fibers(), 0);
}

#[tokio::test]
async fn dropping_a_build_scoped_run_mid_build_releases_what_it_built() {
    let clock = TestClock::new();
    let log = Log::default();
    let scope = Scope::new();
    let ctx = Context::new().with(Clock::from(clock.clone()));
    let mut run = config_then_hanging_socket(&log).build_scoped(&ctx, &scope);
    // Poll until the build hangs in the socket (a few polls under EFFECT_PERTURB's yields).
    for _ in 0..1_000 {
        assert!(futures::poll!(&mut run).is_pending());
        if log.events().len() == 2 {
            break;
        }
    }
    assert_eq!(log.events(), ["build config", "build socket"]);
    drop(run);
    // The dropped build unwinds on a task of its own, which has not run yet; the scope owns
    // what it built already, so closing the scope now tears it down. (Under EFFECT_PERTURB the
    // socket's acquisition may still be finishing, uninterruptibly, on that task: its release
    // then comes when it is done; either way each is torn down once.)
    scope.close(Ok(())).await.unwrap();
    for _ in 0..1_000 {
        if log.events().len() == HALF_BUILT_AND_TORN_DOWN.len() {
            break;
        }
        tokio::task::yield_now().await;
    }
    // Let the unwinding task run to its end: it finds nothing left to tear down.
    tokio::task::yield_now().await;
    let mut events = log.events();
    if std::env::var_os("EFFECT_PERTURB").is_none() {
        assert_eq!(events, HALF_BUILT_AND_TORN_DOWN);
    }
    events.sort();
    let mut expected = HALF_BUILT_AND_TORN_DOWN.to_vec();
    expected.sort();
    assert_eq!(events, expected);
}

/// The guide's "Testing with TestClock", with the layers of the guide.
#[tokio::test]
async fn guide_clock_layers() {
    fn time_dependent_operation() -> Effect<String, Never> {
        Effect::new(|ctx| async move {
            let clock = ctx.get::<Clock>();
            let start = clock.current_time();
            clock.sleep(secs(1)).await;
            Ok(format!(
                "Operation took {:.1}s",
                (clock.current_time() - start).as_secs_f64()
            ))
        })
    }
    let test_clock = TestClock::new();
    let scope = Scope::new();
    let env = TestClockLayer(test_clock.clone())
        .build_scoped(&Context::new(), &scope)
        .await
        .unwrap();
    let runtime = Runtime::new(env);
    let operation_fiber = runtime.fork(time_dependent_operation());
    test_clock.advance(secs(1)).await;
    assert_eq!(
        runtime.run(operation_fiber.join()).await,
        Ok("Operation took 1.0s".to_string())
    );
    scope.close(Ok(())).await.unwrap();

    let scope = Scope::new();
    let env = ClockLayer
        .build_scoped(&Context::new(), &scope)
        .await
        .unwrap();
    assert!(
        env.get::<Clock>().current_time() > secs(1_600_000_000),
        "the live clock"
    );
    scope.close(Ok(())).await.unwrap();
}
