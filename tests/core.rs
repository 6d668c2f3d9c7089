//! The Effect core: constructors, combinators, finalizers, causes and running.
//! Every combinator is checked on its success, failure and defect paths.

use std::future::IntoFuture;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use crate::common;

use common::Log;
use effect::prelude::*;
use effect::{Context, Deferred, Runtime};

async fn run<A: Send + 'static, E: Send + 'static>(effect: Effect<A, E>) -> Exit<A, E> {
    effect.run(&Context::new()).await
}

fn boom<A: Send + 'static>() -> Effect<A, String> {
    fail("boom".to_string())
}

/// Where `defect()` dies: `die` records its caller.
const DEFECT_LINE: u32 = line!() + 3;

fn defect<A: Send + 'static>() -> Effect<A, String> {
    die("kaput")
}

/// How `defect()`'s defect renders: its message and where `die` was called.
fn kaput() -> String {
    format!("kaput (at {}:{DEFECT_LINE}:5)", file!())
}

fn panicking<A: Send + 'static>() -> Effect<A, String> {
    sync(|| panic!("panicked in sync"))
}

fn failure_of<A: std::fmt::Debug>(exit: Exit<A, String>) -> String {
    exit.unwrap_err()
        .failure()
        .cloned()
        .expect("a typed failure")
}

fn defect_message<A: std::fmt::Debug, E: std::fmt::Debug>(exit: Exit<A, E>) -> String {
    let cause = exit.unwrap_err();
    assert!(cause.is_die(), "expected a defect, got {cause:?}");
    cause.defects()[0].message().to_string()
}

/// Counts how many times a finalizer ran.
#[derive(Clone, Default)]
struct Counter(Arc<AtomicUsize>);

impl Counter {
    fn finalizer(&self) -> Effect<(), Never> {
        let count = self.0.clone();
        sync(move || {
            count.fetch_add(1, Ordering::SeqCst);
        })
    }
    fn get(&self) -> usize {
        self.0.load(Ordering::SeqCst)
    }
}

// ---- laziness and constructors ----

#[tokio::test]
async fn effects_are_lazy_until_run() {
    let counter = Counter::default();
    let effect = counter.finalizer();
    let mapped = sync(|| 1).map(|n: i32| n + 1).ensuring(counter.finalizer());
    assert_eq!(counter.get(), 0, "building effects runs nothing");
    run(effect).await.unwrap();
    assert_eq!(counter.get(), 1);
    assert_eq!(run::<i32, Never>(mapped).await, Ok(2));
    assert_eq!(counter.get(), 2);
}

#[tokio::test]
async fn constructors_produce_their_outcomes() {
    assert_eq!(run(succeed::<_, String>(1)).await, Ok(1));
    assert_eq!(failure_of(run(boom::<()>()).await), "boom");
    assert_eq!(defect_message(run(defect::<()>()).await), "kaput");
    assert_eq!(run(sync::<_, String, _>(|| 2)).await, Ok(2));
    assert_eq!(run(attempt::<i32, String, _>(|| Ok(3))).await, Ok(3));
    assert_eq!(
        failure_of(run(attempt::<i32, String, _>(|| Err("no".to_string()))).await),
        "no"
    );
    assert_eq!(
        run(from_async::<_, String, _, _>(|| async { 4 })).await,
        Ok(4)
    );
    assert_eq!(
        failure_of(
            run(attempt_async::<i32, String, _, _>(|| async {
                Err("late".to_string())
            }))
            .await
        ),
        "late"
    );
    assert_eq!(run(suspend::<_, String, _>(|| succeed(5))).await, Ok(5));
    assert_eq!(run(yield_now::<String>().as_value(6)).await, Ok(6));
    assert_eq!(
        failure_of(run(fail_cause::<(), String>(Cause::fail("cause".to_string()))).await),
        "cause"
    );
}

#[tokio::test]
async fn effect_new_sees_the_context_and_binds_other_effects() {
    #[derive(Clone)]
    struct Prefix(&'static str);
    let effect: Effect<String, String> = Effect::new(|ctx| async move {
        let n = succeed::<u32, String>(40).map(|n| n + 2).await?;
        Ok(format!("{}{n}", ctx.get::<Prefix>().0))
    });
    let exit = effect.run(&Context::new().with(Prefix("answer: "))).await;
    assert_eq!(exit, Ok("answer: 42".to_string()));
}

#[tokio::test]
async fn effect_new_fails_early_with_question_mark_on_typed_errors() {
    let effect: Effect<u32, String> = Effect::new(|_| async move {
        Err("early".to_string())?;
        Ok(1)
    });
    assert_eq!(failure_of(run(effect).await), "early");
}

#[tokio::test]
async fn a_missing_service_is_a_defect_naming_the_service() {
    #[derive(Clone, Debug)]
    struct Database;
    let effect: Effect<(), String> = Effect::new(|ctx| async move {
        let _db = ctx.get::<Database>();
        Ok(())
    });
    let message = defect_message(run(effect).await);
    assert!(message.contains("Database"), "{message}");
    assert!(message.contains("not in the context"), "{message}");
}

#[tokio::test]
async fn never_does_not_finish_until_dropped() {
    let run_never = run(never::<(), String>());
    let outcome = tokio::time::timeout(std::time::Duration::ZERO, run_never).await;
    assert!(outcome.is_err(), "never() must still be pending");
}

// ---- combinators: success, failure, defect ----

#[tokio::test]
async fn map_transforms_values_and_passes_failures_and_defects() {
    assert_eq!(run(succeed::<i32, String>(1).map(|n| n + 1)).await, Ok(2));
    assert_eq!(failure_of(run(boom::<i32>().map(|n| n + 1)).await), "boom");
    assert_eq!(
        defect_message(run(defect::<i32>().map(|n| n + 1)).await),
        "kaput"
    );
}

#[tokio::test]
async fn flat_map_sequences_and_short_circuits() {
    let ran_second = Counter::default();
    let second = ran_second.clone();
    let ok = succeed::<i32, String>(2).flat_map(|n| succeed(n * 10));
    assert_eq!(run(ok).await, Ok(20));
    let failed =
        boom::<i32>().flat_map(move |n| second.finalizer().as_value(n).map_err(|n| match n {}));
    assert_eq!(failure_of(run(failed).await), "boom");
    assert_eq!(
        ran_second.get(),
        0,
        "the continuation must not run after a failure"
    );
    assert_eq!(
        failure_of(run(succeed(1).flat_map(|_: i32| boom::<i32>())).await),
        "boom"
    );
    assert_eq!(
        defect_message(run(defect::<i32>().flat_map(succeed)).await),
        "kaput"
    );
}

#[tokio::test]
async fn map_err_and_err_into_convert_typed_failures_only() {
    #[derive(Debug, PartialEq)]
    struct AppError(String);
    impl From<String> for AppError {
        fn from(s: String) -> Self {
            AppError(s)
        }
    }
    let mapped = run(boom::<()>().map_err(|e| e.len())).await;
    assert_eq!(mapped.unwrap_err().failure(), Some(&4));
    let converted: Exit<(), AppError> = run(boom::<()>().err_into()).await;
    assert_eq!(
        converted.unwrap_err().failure(),
        Some(&AppError("boom".into()))
    );
    assert_eq!(
        run(succeed::<i32, String>(1).map_err(|e| e.len())).await,
        Ok(1)
    );
    assert!(run(defect::<()>().map_err(|e| e.len()))
        .await
        .unwrap_err()
        .is_die());
}

#[tokio::test]
async fn catch_all_recovers_failures_but_not_defects() {
    let recovered = boom::<usize>().catch_all(|e| succeed::<usize, ()>(e.len()));
    assert_eq!(run(recovered).await, Ok(4));
    let untouched = succeed::<usize, String>(1).catch_all(|_| succeed::<usize, ()>(0));
    assert_eq!(run(untouched).await, Ok(1));
    let defect_passes = defect::<usize>().catch_all(|_| succeed::<usize, ()>(0));
    assert_eq!(defect_message(run(defect_passes).await), "kaput");
    let handler_fails = boom::<usize>().catch_all(|e| fail::<usize, String>(format!("{e}!")));
    assert_eq!(failure_of(run(handler_fails).await), "boom!");
}

#[tokio::test]
async fn catch_some_recovers_chosen_failures_and_leaves_others_unchanged() {
    let pick = |e: &String| (e == "boom").then(|| succeed(1));
    assert_eq!(run(boom::<i32>().catch_some(pick)).await, Ok(1));
    let other = fail::<i32, String>("other".into()).catch_some(pick);
    assert_eq!(failure_of(run(other).await), "other");
    assert_eq!(
        defect_message(run(defect::<i32>().catch_some(pick)).await),
        "kaput"
    );
    assert_eq!(run(succeed(7).catch_some(pick)).await, Ok(7));
}

#[tokio::test]
async fn catch_all_cause_sees_defects_too() {
    let seen = defect::<String>().catch_all_cause(|cause| succeed::<String, ()>(cause.to_string()));
    assert_eq!(run(seen).await, Ok(format!("defect: {}", kaput())));
}

#[tokio::test]
async fn or_else_runs_the_alternative_on_failure_only() {
    assert_eq!(
        run(boom::<i32>().or_else(succeed::<i32, ()>(2))).await,
        Ok(2)
    );
    assert_eq!(
        run(succeed::<i32, String>(1).or_else(succeed::<i32, ()>(2))).await,
        Ok(1)
    );
    assert!(run(defect::<i32>().or_else(succeed::<i32, ()>(2)))
        .await
        .unwrap_err()
        .is_die());
}

#[tokio::test]
async fn zip_runs_both_in_order_and_stops_at_the_first_failure() {
    let order = Arc::new(Mutex::new(Vec::new()));
    let log = |name: &'static str| {
        let order = order.clone();
        sync::<_, String, _>(move || order.lock().unwrap().push(name)).as_value(name)
    };
    assert_eq!(run(log("a").zip(log("b"))).await, Ok(("a", "b")));
    assert_eq!(*order.lock().unwrap(), ["a", "b"]);
    assert_eq!(failure_of(run(boom::<&str>().zip(log("c"))).await), "boom");
    assert_eq!(failure_of(run(log("d").zip(boom::<&str>())).await), "boom");
    assert_eq!(
        *order.lock().unwrap(),
        ["a", "b", "d"],
        "c must not run after a failure"
    );
    assert!(run(defect::<i32>().zip(succeed(1)))
        .await
        .unwrap_err()
        .is_die());
}

#[tokio::test]
async fn fold_option_and_result_turn_failures_into_values() {
    assert_eq!(
        run(boom::<i32>().fold::<_, (), _, _>(|e| e.len(), |_| 0)).await,
        Ok(4)
    );
    assert_eq!(
        run(succeed::<i32, String>(3).fold::<_, (), _, _>(|_| 0, |n| n as usize)).await,
        Ok(3)
    );
    assert_eq!(run(boom::<i32>().option::<()>()).await, Ok(None));
    assert_eq!(
        run(succeed::<i32, String>(5).option::<()>()).await,
        Ok(Some(5))
    );
    assert_eq!(
        run(boom::<i32>().result::<()>()).await,
        Ok(Err("boom".to_string()))
    );
    assert_eq!(
        run(succeed::<i32, String>(5).result::<()>()).await,
        Ok(Ok(5))
    );
    assert!(run(defect::<i32>().option::<()>())
        .await
        .unwrap_err()
        .is_die());
    assert!(run(defect::<i32>().result::<()>())
        .await
        .unwrap_err()
        .is_die());
    assert!(run(defect::<i32>().fold::<i32, (), _, _>(|_| 0, |n| n))
        .await
        .unwrap_err()
        .is_die());
}

#[tokio::test]
async fn tap_sees_the_value_and_keeps_it() {
    let seen = Arc::new(Mutex::new(None));
    let record = seen.clone();
    let tapped = succeed::<i32, String>(9).tap(move |n| {
        let n = *n;
        sync(move || *record.lock().unwrap() = Some(n))
    });
    assert_eq!(run(tapped).await, Ok(9));
    assert_eq!(*seen.lock().unwrap(), Some(9));
    let failing_tap = succeed::<i32, String>(9).tap(|_| boom::<()>());
    assert_eq!(failure_of(run(failing_tap).await), "boom");
    assert_eq!(
        failure_of(run(boom::<i32>().tap(|_| succeed(()))).await),
        "boom"
    );
}

#[tokio::test]
async fn or_die_and_ignore() {
    assert_eq!(
        defect_message(run(boom::<i32>().or_die::<()>()).await),
        "boom"
    );
    assert_eq!(run(boom::<i32>().ignore::<()>()).await, Ok(()));
    assert!(run(defect::<i32>().ignore::<()>())
        .await
        .unwrap_err()
        .is_die());
}

// ---- finalizers ----

#[tokio::test]
async fn ensuring_runs_exactly_once_on_every_path() {
    let paths: Vec<(&str, Effect<i32, String>)> = vec![
        ("success", succeed(1)),
        ("failure", boom()),
        ("die", defect()),
        ("panic", panicking()),
    ];
    for (path, effect) in paths {
        let counter = Counter::default();
        let exit = run(effect.ensuring(counter.finalizer())).await;
        assert_eq!(counter.get(), 1, "ensuring on the {path} path");
        assert_eq!(exit.is_ok(), path == "success");
    }
}

#[tokio::test]
async fn finalizers_run_in_reverse_order_of_registration() {
    let order = Arc::new(Mutex::new(Vec::new()));
    let note = |name: &'static str| {
        let order = order.clone();
        sync(move || order.lock().unwrap().push(name))
    };
    let effect = succeed::<i32, String>(1)
        .ensuring(note("inner"))
        .ensuring(note("middle"))
        .ensuring(note("outer"));
    assert_eq!(run(effect).await, Ok(1));
    assert_eq!(*order.lock().unwrap(), ["inner", "middle", "outer"]);
}

#[tokio::test]
async fn a_dying_finalizer_is_kept_after_the_original_failure() {
    let effect = boom::<i32>().ensuring(die("finalizer broke"));
    let cause = run(effect).await.unwrap_err();
    assert_eq!(cause.failure(), Some(&"boom".to_string()));
    assert_eq!(cause.defects()[0].message(), "finalizer broke");
    assert!(matches!(cause, Cause::Then(..)));
    let after_success =
        run(succeed::<i32, String>(1).ensuring(sync(|| panic!("cleanup panicked")))).await;
    assert_eq!(defect_message(after_success), "cleanup panicked");
}

#[tokio::test]
async fn on_exit_sees_the_exit() {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let record = |seen: &Arc<Mutex<Vec<String>>>| {
        let seen = seen.clone();
        move |exit: &Exit<i32, String>| {
            let text = match exit {
                Ok(n) => format!("ok {n}"),
                Err(cause) => format!("err {cause}"),
            };
            sync(move || seen.lock().unwrap().push(text))
        }
    };
    run(succeed(1).on_exit(record(&seen))).await.unwrap();
    run(boom::<i32>().on_exit(record(&seen))).await.unwrap_err();
    run(defect::<i32>().on_exit(record(&seen)))
        .await
        .unwrap_err();
    assert_eq!(
        *seen.lock().unwrap(),
        [
            "ok 1".to_string(),
            "err boom".into(),
            format!("err defect: {}", kaput())
        ]
    );
}

#[tokio::test]
async fn on_error_runs_on_failure_and_defect_only() {
    let counter = Counter::default();
    let fin = |c: &Counter| {
        let c = c.clone();
        move |_: &Cause<String>| c.finalizer()
    };
    run(succeed(1).on_error(fin(&counter))).await.unwrap();
    assert_eq!(counter.get(), 0);
    run(boom::<i32>().on_error(fin(&counter)))
        .await
        .unwrap_err();
    run(defect::<i32>().on_error(fin(&counter)))
        .await
        .unwrap_err();
    assert_eq!(counter.get(), 2);
}

#[tokio::test]
async fn on_interrupt_does_not_run_when_not_interrupted() {
    let counter = Counter::default();
    run(succeed::<i32, String>(1).on_interrupt(counter.finalizer()))
        .await
        .unwrap();
    run(boom::<i32>().on_interrupt(counter.finalizer()))
        .await
        .unwrap_err();
    assert_eq!(counter.get(), 0);
}

#[tokio::test]
async fn a_panic_while_building_a_finalizer_is_a_defect() {
    let effect = succeed::<i32, String>(1).on_exit(|_| panic!("no finalizer for you"));
    assert_eq!(defect_message(run(effect).await), "no finalizer for you");
}

// ---- panics are defects ----

#[tokio::test]
async fn panics_in_user_code_become_defects_with_their_message() {
    let in_map = succeed::<i32, String>(1).map(|_| -> i32 { panic!("in map") });
    assert_eq!(defect_message(run(in_map).await), "in map");
    let in_flat_map =
        succeed::<i32, String>(1).flat_map(|_| -> Effect<i32, String> { panic!("in flat_map") });
    assert_eq!(defect_message(run(in_flat_map).await), "in flat_map");
    let in_new: Effect<i32, String> = Effect::new(|_| async { panic!("in an Effect::new future") });
    assert_eq!(
        defect_message(run(in_new).await),
        "in an Effect::new future"
    );
    let in_new_closure: Effect<i32, String> =
        Effect::new(|_| -> std::future::Ready<Exit<i32, String>> {
            panic!("in the Effect::new closure")
        });
    assert_eq!(
        defect_message(run(in_new_closure).await),
        "in the Effect::new closure"
    );
    let formatted = sync::<i32, String, _>(|| panic!("code {}", 7));
    assert_eq!(defect_message(run(formatted).await), "code 7");
    let in_catch = boom::<i32>().catch_all(|_| -> Effect<i32, String> { panic!("in a handler") });
    assert_eq!(defect_message(run(in_catch).await), "in a handler");
    // `sync` and `attempt` bound in a body are run in place, not as frames: a panic there is
    // still the bind's defect, with the panic's location, and the body's finalizers run.
    let cleaned = Arc::new(AtomicBool::new(false));
    let flag = cleaned.clone();
    let in_body: Effect<i32, String> = effect_block! {
        let one: i32 = sync(|| 1)?;
        let two: i32 = attempt(|| Ok::<i32, String>(2))?;
        let never: i32 = sync(|| -> i32 { panic!("in a sync bound in a body") })?;
        one + two + never
    }
    .ensuring(sync(move || flag.store(true, Ordering::SeqCst)));
    let cause = run(in_body).await.unwrap_err();
    let defect = cause.defects()[0];
    assert_eq!(defect.message(), "in a sync bound in a body");
    assert!(
        defect.location().unwrap().starts_with(file!()),
        "{:?}",
        defect.location()
    );
    assert!(cleaned.load(Ordering::SeqCst));
    let failed: Effect<i32, String> = effect_block! {
        let n: i32 = attempt(|| Err::<i32, String>("attempt failed".into()))?;
        n
    };
    assert_eq!(
        run(failed).await,
        Err(Cause::Fail("attempt failed".to_string()))
    );
}

/// A future that gives `exit` when polled (or panics with "in poll" when `exit` is `None`),
/// and whose destructor panics with "in drop".
struct PanicsOnDrop(Option<Exit<i32, String>>);

impl std::future::Future for PanicsOnDrop {
    type Output = Exit<i32, String>;
    fn poll(
        mut self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Exit<i32, String>> {
        match self.0.take() {
            Some(exit) => std::task::Poll::Ready(exit),
            None => panic!("in poll"),
        }
    }
}

impl Drop for PanicsOnDrop {
    fn drop(&mut self) {
        panic!("in drop");
    }
}

/// The defects of a cause, in order, by message.
fn defect_messages(cause: &Cause<String>) -> Vec<&str> {
    cause
        .defects()
        .into_iter()
        .map(|defect| defect.message())
        .collect()
}

#[tokio::test]
async fn a_body_whose_destructor_panics_keeps_its_failure_and_adds_the_defect() {
    // A body is dropped as soon as it finishes; a destructor that panics then is a defect
    // added to the body's exit, after it: a failure is kept, nothing is lost.
    let failed = Effect::from_future(PanicsOnDrop(Some(Err(Cause::fail("boom".to_string())))));
    let cause = run(failed).await.unwrap_err();
    assert_eq!(cause.failures(), [&"boom".to_string()]);
    assert_eq!(defect_messages(&cause), ["in drop"]);
    assert!(
        matches!(&cause, Cause::Then(first, then)
            if **first == Cause::Fail("boom".to_string()) && then.is_die()),
        "{cause:?}"
    );
    // A success has nothing to keep beside the defect.
    let succeeded = Effect::from_future(PanicsOnDrop(Some(Ok(1))));
    assert_eq!(defect_message(run(succeeded).await), "in drop");
}

#[tokio::test]
async fn a_body_that_panics_and_whose_destructor_panics_keeps_both_defects_in_order() {
    let cause = run(Effect::from_future(PanicsOnDrop(None)))
        .await
        .unwrap_err();
    assert_eq!(defect_messages(&cause), ["in poll", "in drop"]);
    assert!(cause.failures().is_empty());
    // The fiber carries on after both: the next effect runs.
    let next =
        Effect::from_future(PanicsOnDrop(None)).catch_all_cause(|_| succeed::<i32, String>(7));
    assert_eq!(run(next).await, Ok(7));
}

#[tokio::test]
async fn a_panic_is_recoverable_only_as_a_cause() {
    let survived = panicking::<i32>().catch_all(|_| succeed::<i32, String>(0));
    assert!(run(survived).await.unwrap_err().is_die());
    let inspected =
        panicking::<bool>().catch_all_cause(|cause| succeed::<bool, String>(cause.is_die()));
    assert_eq!(run(inspected).await, Ok(true));
}

// ---- running ----

#[test]
fn run_blocking_runs_from_plain_main() {
    let effect = succeed::<i32, String>(20)
        .flat_map(|n| sync(move || n + 1))
        .map(|n| n * 2);
    assert_eq!(effect::run_blocking(effect), Ok(42));
    assert_eq!(failure_of(effect::run_blocking(boom::<i32>())), "boom");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn runs_on_a_multi_thread_runtime() {
    let effect = succeed::<i32, String>(1)
        .flat_map(|n| yield_now().as_value(n + 1))
        .ensuring(yield_now());
    assert_eq!(run(effect).await, Ok(2));
}

#[tokio::test(flavor = "current_thread")]
async fn runs_on_a_current_thread_runtime() {
    let effect = succeed::<i32, String>(1).flat_map(|n| yield_now().as_value(n + 1));
    assert_eq!(run(effect).await, Ok(2));
}

#[tokio::test]
#[should_panic(expected = "an `Effect` was awaited outside any effect run")]
async fn an_effect_awaited_outside_any_run_is_refused() {
    // Outside an effect body there is no context to run the effect with (no TestClock, no
    // services): awaiting it there is a bug, reported at once rather than run wrongly.
    let _ = succeed::<i32, String>(1).map(|n| n + 1).await;
}

#[tokio::test]
#[should_panic(expected = "`effect.run(&ctx).await`")]
async fn even_a_ready_effect_awaited_outside_any_run_is_refused() {
    let _ = succeed::<i32, String>(1).await;
}

#[tokio::test]
async fn effects_bound_side_by_side_in_one_body_both_run() {
    // `join!` polls two binds in the same step; the second runs in place.
    let effect: Effect<(i32, i32), String> = Effect::from_future(async {
        let (a, b) = futures::join!(
            succeed::<i32, String>(1).map(|n| n + 1).into_future(),
            sync::<i32, String, _>(|| 3).into_future()
        );
        Ok((a?, b?))
    });
    assert_eq!(run(effect).await, Ok((2, 3)));
}

// ---- causes ----

#[test]
fn a_composed_cause_renders_as_a_tree() {
    let cause: Cause<String> = Cause::fail("timeout".to_string())
        .both(Cause::die("worker panicked"))
        .then(Cause::interrupt());
    assert_eq!(
        cause.to_string(),
        "sequential causes:\n\
         ├─ parallel causes:\n\
         │  ├─ timeout\n\
         │  └─ defect: worker panicked\n\
         └─ interrupted"
    );
    assert_eq!(Cause::<String>::interrupt().to_string(), "interrupted");
}

#[test]
fn cause_queries_find_every_leaf() {
    let cause: Cause<&str> = Cause::fail("a").then(Cause::fail("b").both(Cause::die("c")));
    assert_eq!(cause.failure(), Some(&"a"));
    assert_eq!(cause.failures(), [&"a", &"b"]);
    assert_eq!(cause.defects()[0].message(), "c");
    assert!(cause.is_failure() && cause.is_die() && !cause.is_interrupted());
    assert!(Cause::<&str>::interrupt()
        .then(Cause::interrupt())
        .is_interrupted_only());
    assert!(!Cause::<&str>::interrupt()
        .then(Cause::die("x"))
        .is_interrupted_only());
    assert_eq!(cause.clone().map(str::len).failures(), [&1, &1]);
    assert_eq!(cause.failure_or_cause(), Ok("a"));
    let no_failure: Cause<&str> = Cause::die("x").both(Cause::interrupt());
    assert_eq!(
        no_failure.failure_or_cause(),
        Err(Cause::die("x").both(Cause::interrupt()))
    );
}

#[test]
fn a_cause_of_one_failure_is_a_transparent_error() {
    use std::error::Error;
    // Display shows this level, `source()` the next: the failure's own source, not the
    // failure a second time.
    let cause: Cause<std::io::Error> = Cause::fail(std::io::Error::other("disk full"));
    let as_error: &dyn Error = &cause;
    assert_eq!(as_error.to_string(), "disk full");
    assert!(as_error.source().is_none());
}

#[tokio::test]
async fn an_effect_run_in_place_beside_another_bind_sees_the_services() {
    // The second bind of a `join!` runs nested; it must still see the run's context.
    #[derive(Clone)]
    struct Name(&'static str);
    fn read() -> Effect<String, String> {
        Effect::new(|ctx| async move { Ok(ctx.get::<Name>().0.to_string()) })
    }
    let effect: Effect<(String, String), String> = Effect::from_future(async move {
        let (a, b) = futures::join!(read().into_future(), read().into_future());
        Ok((a?, b?))
    });
    let exit = effect.run(&Context::new().with(Name("svc"))).await;
    assert_eq!(exit, Ok(("svc".to_string(), "svc".to_string())));
}

#[tokio::test(flavor = "current_thread")]
async fn yield_now_lets_other_tasks_run_between_two_steps() {
    let log = Log::default();
    let (a1, a2) = (log.note::<String>("a1"), log.note::<String>("a2"));
    let steps: Effect<(), String> = effect_block! {
        a1?;
        yield_now()?;
        a2?;
    };
    let other = {
        let log = log.clone();
        tokio::spawn(async move { log.push("b".to_string()) })
    };
    assert_eq!(steps.run(&Context::new()).await, Ok(()));
    other.await.unwrap();
    if std::env::var_os("EFFECT_PERTURB").is_none() {
        assert_eq!(log.events(), ["a1", "b", "a2"]);
    } else {
        // Random yields may let the other task run even before the first step.
        let events = log.events();
        let at = |e: &str| events.iter().position(|x| x == e).unwrap();
        assert!(at("a1") < at("a2") && at("b") < at("a2"), "{events:?}");
    }
}

#[tokio::test(flavor = "current_thread")]
async fn yield_now_as_a_whole_run_and_as_a_finalizer_succeeds() {
    assert_eq!(yield_now::<String>().run(&Context::new()).await, Ok(()));
    let guarded = succeed::<u8, String>(1).ensuring(yield_now());
    assert_eq!(guarded.run(&Context::new()).await, Ok(1));
}

#[tokio::test(flavor = "current_thread")]
async fn a_fiber_interrupted_while_yielding_runs_its_finalizers() {
    let log = Log::default();
    let rt = Runtime::new(Context::new());
    let spinning: Effect<(), String> = effect_block! {
        for _ in 0u64.. {
            yield_now()?;
        }
    };
    let fiber = rt.fork(spinning.ensuring(log.note("finalized")));
    tokio::task::yield_now().await;
    let exit = rt.run(fiber.interrupt::<()>()).await;
    assert!(matches!(exit, Ok(Err(cause)) if cause.is_interrupted_only()));
    assert_eq!(log.events(), ["finalized"]);
    assert_eq!(rt.live_fibers(), 0);
}

// ---- continuations: map, flat_map and the handlers run on the fiber's stack ----

/// Panics with "in drop" when dropped: held by a continuation that never runs.
struct PanicsWhenDropped;

impl Drop for PanicsWhenDropped {
    fn drop(&mut self) {
        panic!("in drop");
    }
}

async fn interrupted_before_a_continuation_runs_it_never_runs_and_cleanup_does() {
    let runtime = Runtime::new(Context::new());
    let cleanups = Counter::default();
    let called = Arc::new(AtomicBool::new(false));
    let seen = called.clone();
    let started = Deferred::<()>::new();
    let waiting = started
        .complete::<String>(())
        .flat_map(|_| never::<u32, String>())
        .ensuring(cleanups.finalizer());
    let continued = waiting
        .map(move |n| {
            seen.store(true, Ordering::SeqCst);
            n + 1
        })
        .catch_all(|_| succeed::<u32, String>(0))
        .flat_map(|n| succeed(n * 2));
    let fiber = runtime.fork(continued);
    runtime.run(started.wait::<Never>()).await.unwrap();
    let exit = runtime.run(fiber.interrupt::<Never>()).await.unwrap();
    assert!(exit.unwrap_err().is_interrupted_only());
    assert_eq!(cleanups.get(), 1, "the first effect's finalizer ran once");
    assert!(!called.load(Ordering::SeqCst), "the map never ran");
    assert_eq!(runtime.live_fibers(), 0);
}

async fn a_continuation_whose_captures_panic_as_they_drop_while_unwinding_adds_a_defect() {
    let runtime = Runtime::new(Context::new());
    let started = Deferred::<()>::new();
    let held = PanicsWhenDropped;
    let waiting = started
        .complete::<String>(())
        .flat_map(|_| never::<u32, String>());
    let continued = waiting.map(move |n| {
        let _held = &held;
        n
    });
    let fiber = runtime.fork(continued);
    runtime.run(started.wait::<Never>()).await.unwrap();
    let cause = runtime
        .run(fiber.interrupt::<Never>())
        .await
        .unwrap()
        .unwrap_err();
    assert!(cause.is_interrupted(), "still an interruption: {cause:?}");
    assert_eq!(
        defect_messages(&cause),
        ["in drop"],
        "and the defect is kept"
    );
    assert_eq!(runtime.live_fibers(), 0);
}

crate::tokio_tests_on_both_flavours!(
    interrupted_before_a_continuation_runs_it_never_runs_and_cleanup_does,
    a_continuation_whose_captures_panic_as_they_drop_while_unwinding_adds_a_defect
);

#[tokio::test]
async fn continuations_over_yields_and_plain_values_give_what_the_bodies_gave() {
    // A yield as a continuation's first effect is delivered with no frame; a plain value
    // goes on at once; a flat_map's next effect takes its place. All three, mixed, deep.
    let mut chained: Effect<u64, String> = succeed(0);
    for turn in 0..1_000u64 {
        chained = match turn % 3 {
            0 => chained.flat_map(|n| yield_now().as_value(n + 1)),
            1 => chained.map(|n| n + 1),
            _ => chained
                .flat_map(|n| fail::<u64, String>(n.to_string()))
                .catch_all(|n| succeed(n.parse::<u64>().unwrap() + 1)),
        };
    }
    assert_eq!(run(chained).await, Ok(1_000));
    let mapped_yield = yield_now::<String>().map(|()| 7).map_err(|e| e.len());
    assert_eq!(run(mapped_yield).await, Ok(7));
}

#[tokio::test(flavor = "current_thread")]
async fn yields_under_continuations_keep_a_test_clock_waiting_for_the_fiber() {
    // `advance` returns once every fiber on the clock is blocked: a fiber yielding inside a
    // `map` is not blocked, so a run of yields finishes within no time at all.
    let (clock, runtime) = common::test_env();
    let mut yields: Effect<u32, String> = succeed(0);
    for _ in 0..200 {
        yields = yields.flat_map(|n| yield_now().map(move |()| n + 1));
    }
    assert_eq!(
        common::run_for(&runtime, &clock, ms(0), yields).await,
        Ok(200)
    );
}

async fn an_interrupt_arriving_while_a_maps_first_effect_yields_skips_the_map() {
    // A race's first branch yields inside a `map`; the second wins at once, and the first is
    // interrupted before it runs again. Where a body would not go on past the yield, neither
    // does the continuation.
    let runtime = Runtime::new(Context::new());
    let called = Arc::new(AtomicBool::new(false));
    let seen = called.clone();
    let mapped = yield_now::<String>().map(move |()| {
        seen.store(true, Ordering::SeqCst);
        1
    });
    let raced = race_first([mapped, succeed(2)]);
    assert_eq!(runtime.run(raced).await, Ok(2));
    assert!(!called.load(Ordering::SeqCst), "the map never ran");
    assert_eq!(runtime.live_fibers(), 0);
}

crate::tokio_tests_on_both_flavours!(
    an_interrupt_arriving_while_a_maps_first_effect_yields_skips_the_map
);
