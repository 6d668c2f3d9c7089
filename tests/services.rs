//! Services, time and randomness read from inside bodies: `service`, `service_with`, `now`,
//! `instant`, `timed`, `Random`/`TestRandom` (and `Schedule::jittered` drawing from it), and
//! `provide` inferring a layer's error type.

use crate::common;

use std::sync::{Arc, Mutex};
use std::time::{Duration, UNIX_EPOCH};

use common::test_env;
use effect::prelude::*;
use effect::{random_range, random_u64, Context, Layer, Random, TestClockLayer, TestRandom};

#[derive(Clone, Debug, PartialEq)]
struct RequestConfig {
    retries: u32,
}

/// Not `Clone`: read in place with `service_with`.
struct Pool {
    size: usize,
}

#[derive(Debug, PartialEq)]
enum AppError {
    Invalid,
}

#[effect]
fn configured_retries() -> Effect<u32, AppError> {
    let config = service::<RequestConfig>()?;
    if config.retries > 10 {
        fail(AppError::Invalid)?;
    }
    config.retries
}

#[effect]
fn pool_size() -> Effect<usize, String> {
    service_with(|pool: &Pool| pool.size)?
}

#[effect::test]
fn a_body_reads_services_without_writing_effect_new() -> Effect<(), AppError> {
    let retries = configured_retries().provide_service(RequestConfig { retries: 3 })?;
    assert_eq!(retries, 3);
    let too_many = configured_retries()
        .provide_service(RequestConfig { retries: 11 })
        .result()?;
    assert_eq!(too_many, Err(AppError::Invalid));
}

#[effect::test]
fn service_with_reads_a_service_that_is_not_clone() -> Effect<(), String> {
    assert_eq!(pool_size().provide_service(Pool { size: 16 })?, 16);
}

#[tokio::test]
async fn a_missing_service_is_a_defect_naming_it() {
    let cause = configured_retries().run(&Context::new()).await.unwrap_err();
    assert!(!cause.is_failure());
    let message = cause.defects()[0].message().to_string();
    assert!(
        message.contains("RequestConfig") && message.contains("is not in the context"),
        "{message}"
    );
    let cause = pool_size().run(&Context::new()).await.unwrap_err();
    assert!(cause.defects()[0].message().contains("Pool"));
}

// ---- time ----

#[effect::test]
fn now_and_instant_follow_the_test_clock(clock: TestClock) -> Effect<(), String> {
    assert_eq!(now()?, UNIX_EPOCH);
    let start = instant()?;
    let sleeper = sleep::<String>(secs(90)).fork()?;
    clock.advance(secs(90)).await;
    sleeper.join()?;
    assert_eq!(now()?, UNIX_EPOCH + secs(90));
    assert_eq!(instant()? - start, secs(90));
}

#[effect::test]
fn timed_measures_virtual_time_and_passes_failures_on(clock: TestClock) -> Effect<(), String> {
    let work = sleep::<String>(ms(1500)).as_value("done").timed().fork()?;
    clock.advance(ms(1500)).await;
    assert_eq!(work.join()?, ("done", ms(1500)));
    let failing = fail::<u32, String>("nope".into()).timed().result()?;
    assert_eq!(failing, Err("nope".to_string()));
}

#[tokio::test]
async fn the_live_clock_gives_wall_time_and_monotonic_instants() {
    let program: Effect<(Duration, Duration), String> = effect_block! {
        let wall = now()?;
        let (a, b) = (instant()?, instant()?);
        (wall.duration_since(UNIX_EPOCH).unwrap(), b - a)
    };
    let (since_epoch, elapsed) = program.run(&Context::new()).await.unwrap();
    assert!(since_epoch > secs(1_600_000_000));
    assert!(elapsed < secs(60));
}

// ---- provide infers the layer's error type ----

#[tokio::test]
async fn provide_takes_a_test_clock_layer_without_annotations() {
    let clock = TestClock::new();
    let (_, rt) = test_env();
    let program: Effect<Duration, String> = effect_block! {
        sleep(secs(5))?;
        now()?.duration_since(UNIX_EPOCH).unwrap()
    };
    let run = tokio::spawn(rt.run(program.provide(TestClockLayer(clock.clone()))));
    clock.advance(secs(5)).await;
    assert_eq!(run.await.unwrap(), Ok(secs(5)));
    // A layer of services needs none either.
    let config = configured_retries().provide(Layer::succeed(RequestConfig { retries: 2 }));
    assert_eq!(rt.run(config).await, Ok(2));
    assert_eq!(rt.live_fibers(), 0);
}

// ---- randomness ----

fn rolls() -> Effect<Vec<u64>, String> {
    effect::for_each_par(0..20, |_| random_range(1..=6), 1)
}

#[tokio::test]
async fn a_seeded_test_random_gives_the_same_numbers_every_run() {
    let seeded = |seed| Context::new().with(Random::from(TestRandom::new(seed)));
    let first = rolls().run(&seeded(7)).await.unwrap();
    assert_eq!(rolls().run(&seeded(7)).await.unwrap(), first);
    assert!(first.iter().all(|roll| (1..=6).contains(roll)));
    assert_ne!(rolls().run(&seeded(8)).await.unwrap(), first);
    // Without a generator in the context, the live one is used.
    let live = random_u64::<String>().run(&Context::new()).await.unwrap();
    let again = random_u64::<String>().run(&Context::new()).await.unwrap();
    assert_ne!(live, again);
}

#[effect::test]
fn effect_tests_are_seeded(_clock: TestClock) -> Effect<(), String> {
    // Every `#[effect::test]` runs with `TestRandom::new(TEST_SEED)`.
    let expected = Random::from(TestRandom::new(effect::dsl::TEST_SEED)).next_u64();
    assert_eq!(random_u64()?, expected);
}

/// The virtual times at which each attempt of a jittered retry started.
async fn jittered_attempt_times(seed: u64) -> Vec<Duration> {
    let (clock, _) = test_env();
    let ctx = Context::new()
        .with(effect::Clock::from(clock.clone()))
        .with(Random::from(TestRandom::new(seed)));
    let times = Arc::new(Mutex::new(Vec::new()));
    let record = times.clone();
    let attempt = move || -> Effect<(), String> {
        let record = record.clone();
        now().flat_map(move |at| {
            record
                .lock()
                .unwrap()
                .push(at.duration_since(UNIX_EPOCH).unwrap());
            fail("flaky".to_string())
        })
    };
    let policy = Schedule::exponential(ms(100)).jittered() & Schedule::recurs(4);
    let run = tokio::spawn(retry(attempt, policy).run(&ctx));
    clock.advance(secs(10)).await;
    assert_eq!(run.await.unwrap(), Err(Cause::Fail("flaky".to_string())));
    times.lock().unwrap().clone()
}

#[tokio::test]
async fn jittered_retries_draw_from_the_contexts_random() {
    let first = jittered_attempt_times(1).await;
    assert_eq!(first.len(), 5);
    // Each delay is the exponential one, scaled into [0.8, 1.2).
    for (n, pair) in first.windows(2).enumerate() {
        let delay = pair[1] - pair[0];
        let base = ms(100) * 2u32.pow(n as u32);
        assert!(
            delay >= base.mul_f64(0.8) && delay < base.mul_f64(1.2),
            "{delay:?}"
        );
    }
    assert_eq!(jittered_attempt_times(1).await, first);
    assert_ne!(jittered_attempt_times(2).await, first);
}

#[test]
fn an_empty_range_is_a_defect() {
    let roll: Effect<u64, String> = random_range(3..3);
    assert!(effect::run_blocking(roll).unwrap_err().is_die());
}
