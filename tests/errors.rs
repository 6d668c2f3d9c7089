//! Errors that fit the ecosystem: a `Cause` in `anyhow` / `Box<dyn Error>` chains (each
//! message once), defects that say where they happened, interruptions that say who
//! interrupted, and layers whose error type is neither `Clone` nor `Sync`.

use crate::common;

use std::error::Error;
use std::io;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use common::test_env;
use effect::prelude::*;
use effect::{fiber_id, run_blocking, Context, FiberId, Layer, Runtime};

#[derive(Debug, thiserror::Error)]
enum StoreError {
    #[error("saving the order failed")]
    Save(#[source] io::Error),
    #[error("order {0} not found")]
    NotFound(u32),
}

#[effect]
fn save(id: u32) -> Effect<u32, StoreError> {
    if id == 0 {
        fail(StoreError::NotFound(id))?;
    }
    attempt(|| Err::<u32, _>(io::Error::other("disk full"))).map_err(StoreError::Save)?
}

fn chain(error: &anyhow::Error) -> Vec<String> {
    error.chain().map(ToString::to_string).collect()
}

fn place_order(id: u32) -> anyhow::Result<u32> {
    // One `?` from the effect's result into anyhow.
    let saved = run_blocking(save(id))?;
    Ok(saved)
}

#[test]
fn a_cause_goes_into_anyhow_with_one_question_mark_and_each_message_once() {
    let error = place_order(7).unwrap_err();
    assert_eq!(chain(&error), ["saving the order failed", "disk full"]);
    // The typed failure is still there to inspect.
    let cause = error.downcast_ref::<Cause<StoreError>>().unwrap();
    assert!(matches!(cause.failure(), Some(StoreError::Save(_))));

    let error = place_order(0).unwrap_err();
    assert_eq!(chain(&error), ["order 0 not found"]);
}

#[test]
fn a_cause_of_an_io_error_shows_the_message_once() {
    let exit: Result<(), Cause<io::Error>> =
        run_blocking(attempt(|| Err(io::Error::other("disk full"))));
    let error = anyhow::Error::from(exit.unwrap_err());
    assert_eq!(chain(&error), ["disk full"]);
}

#[test]
fn a_cause_goes_into_a_boxed_error_with_one_question_mark() {
    fn run() -> Result<u32, Box<dyn Error + Send + Sync>> {
        Ok(run_blocking(save(3))?)
    }
    let error = run().unwrap_err();
    assert_eq!(error.to_string(), "saving the order failed");
    assert_eq!(error.source().unwrap().to_string(), "disk full");
    assert!(error.source().unwrap().source().is_none());
}

#[test]
fn a_composed_cause_displays_its_tree_and_its_source_is_the_first_failures_source() {
    let failing: Effect<u32, StoreError> =
        save(5).ensuring(effect::fail_cause(Cause::die("closing the file failed")));
    let cause = run_blocking(failing).unwrap_err();
    let error = anyhow::Error::from(cause);
    assert_eq!(
        chain(&error),
        [
            "sequential causes:\n├─ saving the order failed\n└─ defect: closing the file failed",
            "disk full"
        ]
    );
}

#[test]
fn a_cause_of_strings_converts_with_its_rendering() {
    // `String` is not an `Error`, so neither is `Cause<String>`: convert it with its text.
    let cause = run_blocking(fail::<(), String>("quota exceeded".into())).unwrap_err();
    let error = anyhow::anyhow!("{cause}");
    assert_eq!(chain(&error), ["quota exceeded"]);
    let boxed: Box<dyn Error + Send + Sync> = cause.to_string().into();
    assert_eq!(boxed.to_string(), "quota exceeded");
}

// ---- defects say where ----

#[effect]
fn parse_port(text: String) -> Effect<u16, String> {
    let text = succeed(text)?;
    text.parse::<u16>().expect("the port is validated upstream")
}

#[test]
fn a_panic_in_a_body_keeps_its_location() {
    let line = line!() - 5; // the `expect` above
    let cause = run_blocking(parse_port("http".into())).unwrap_err();
    let defect = cause.defects()[0];
    assert!(
        defect
            .message()
            .starts_with("the port is validated upstream"),
        "{defect:?}"
    );
    let location = defect.location().expect("a panic's location");
    assert!(
        location.starts_with(&format!("{}:{line}:", file!())),
        "{location}"
    );
    // The rendering carries it too, so a log line says where to look.
    assert!(cause.to_string().contains(&format!("(at {location})")));
}

#[test]
fn a_panic_on_a_forked_fiber_and_in_a_finalizer_keep_their_locations() {
    let (fork_line, finalizer_line) = (line!() + 2, line!() + 4);
    let program: Effect<(), String> = effect_block! {
        let child = sync::<(), String, _>(|| panic!("child broke")).fork()?;
        child.join().ensuring(sync(|| {
            panic!("cleanup broke");
        }))?;
    };
    let cause = run_blocking(program).unwrap_err();
    let locations: Vec<&str> = cause
        .defects()
        .iter()
        .filter_map(|d| d.location())
        .collect();
    assert_eq!(locations.len(), 2, "{cause}");
    assert!(locations[0].starts_with(&format!("{}:{fork_line}:", file!())));
    assert!(locations[1].starts_with(&format!("{}:{finalizer_line}:", file!())));
}

#[test]
fn die_records_its_caller_and_a_plain_defect_has_no_location() {
    let (program, line): (Effect<(), String>, _) = (die("invariant broken"), line!());
    let cause = run_blocking(program).unwrap_err();
    assert!(cause.defects()[0]
        .location()
        .unwrap()
        .starts_with(&format!("{}:{line}:", file!())));
    assert_eq!(
        Cause::<()>::die("no location").defects()[0].location(),
        None
    );
}

// ---- interruptions say who ----

#[tokio::test]
async fn an_interrupted_fiber_names_the_fiber_that_interrupted_it() {
    let program: Effect<(FiberId, Exit<(), String>), String> = effect_block! {
        let me = fiber_id()?;
        let child = never::<(), String>().fork()?;
        let exit = child.interrupt()?;
        (me, exit)
    };
    let (me, exit) = program.run(&Context::new()).await.unwrap();
    let cause = exit.unwrap_err();
    assert_eq!(cause, Cause::Interrupt(me));
    assert_eq!(cause.interruptors(), [me]);
    assert_eq!(cause.to_string(), format!("interrupted by fiber {me}"));
}

#[tokio::test]
async fn a_race_loser_is_interrupted_by_the_racing_fiber() {
    let (clock, rt) = test_env();
    let seen = Arc::new(std::sync::Mutex::new(None));
    let record = seen.clone();
    let loser: Effect<u32, String> = never::<u32, String>().on_exit(move |exit| {
        *record.lock().unwrap() = exit.as_ref().err().map(Cause::interruptors);
        succeed(())
    });
    let program: Effect<(FiberId, u32), String> = effect_block! {
        let me = fiber_id()?;
        let winner = race!(loser, { sleep(ms(5))?; 1 })?;
        (me, winner)
    };
    let run = tokio::spawn(rt.run(program));
    clock.advance(ms(5)).await;
    let (me, winner) = run.await.unwrap().unwrap();
    assert_eq!(winner, 1);
    assert_eq!(seen.lock().unwrap().clone(), Some(vec![me]));
    assert_eq!(rt.live_fibers(), 0);
}

#[tokio::test]
async fn an_interruption_from_outside_any_fiber_names_no_fiber() {
    let rt = Runtime::new(Context::new());
    let interruptors = Arc::new(std::sync::Mutex::new(Vec::new()));
    let record = interruptors.clone();
    let fiber = rt.fork(never::<(), String>().on_exit(move |exit| {
        let cause = exit.as_ref().unwrap_err();
        *record.lock().unwrap() = cause.interruptors();
        succeed(())
    }));
    tokio::task::yield_now().await;
    rt.shutdown().await;
    assert_eq!(*interruptors.lock().unwrap(), [FiberId::NONE]);
    drop(fiber);
    assert_eq!(Cause::<String>::interrupt().to_string(), "interrupted");
}

// ---- layers whose errors are neither Clone nor Sync ----

#[derive(Clone, Debug)]
struct Database;

#[tokio::test]
async fn a_layer_can_fail_with_an_io_error() {
    let database: Layer<io::Error> = Layer::effect(|_| {
        fail::<Database, _>(io::Error::new(io::ErrorKind::ConnectionRefused, "refused"))
    });
    let program = service::<Database>().widen::<io::Error>().provide(database);
    let cause = program.run(&Context::new()).await.unwrap_err();
    assert_eq!(
        cause.failure().map(io::Error::kind),
        Some(io::ErrorKind::ConnectionRefused)
    );
}

#[tokio::test]
async fn a_shared_layer_that_fails_fails_the_build_once_and_nothing_hangs() {
    // `database` is a dependency of both sides of `and`: built once (memoized), its failure
    // fails the whole build; the side waiting for it is interrupted, not left hanging, and
    // its error is not needed twice (anyhow::Error is not Clone).
    let builds = Arc::new(AtomicUsize::new(0));
    let counter = builds.clone();
    let database: Layer<anyhow::Error> = Layer::effect(move |_| {
        counter.fetch_add(1, Ordering::SeqCst);
        sleep(ms(1)).flat_map(|()| fail::<Database, _>(anyhow::anyhow!("no database")))
    });
    let orders = database
        .clone()
        .and_then(Layer::effect(|_| succeed::<u8, anyhow::Error>(1)));
    let users = database.and_then(Layer::effect(|_| succeed::<u16, anyhow::Error>(2)));
    let (clock, rt) = test_env();
    let program = service::<u8>()
        .widen::<anyhow::Error>()
        .provide(orders.and(users));
    let run = tokio::spawn(rt.run(program));
    clock.advance(ms(1)).await;
    let cause = run.await.unwrap().unwrap_err();
    assert_eq!(cause.failures().len(), 1, "{cause:?}");
    assert_eq!(cause.failure().unwrap().to_string(), "no database");
    assert_eq!(builds.load(Ordering::SeqCst), 1);
    assert_eq!(rt.live_fibers(), 0);
}

#[tokio::test]
async fn a_layer_of_another_error_type_converts_with_err_into() {
    #[derive(Debug, PartialEq)]
    enum AppError {
        Config(String),
    }
    impl From<String> for AppError {
        fn from(e: String) -> Self {
            AppError::Config(e)
        }
    }
    let config: Layer<String> = Layer::effect(|_| fail::<u32, _>("missing key".to_string()));
    let program: Effect<u32, AppError> = service::<u32>().widen().provide(config.err_into());
    let cause = program.run(&Context::new()).await.unwrap_err();
    assert_eq!(cause, Cause::Fail(AppError::Config("missing key".into())));
}
