//! The DSL: `#[effect]` fns, `effect_block!`, `par!`, `race!`, `catch!`, `catch_all!` and
//! `#[effect::test]`.
//! Every row of the design's table, binds in every control-flow form, and the guide's
//! patterns written in the DSL.

use crate::common;

use std::time::Duration;

use common::{test_env, Log};
use effect::prelude::*;
use effect::Context;

#[derive(Debug, Clone, PartialEq)]
struct Data {
    name: &'static str,
}

impl Data {
    fn new(name: &'static str) -> Self {
        Data { name }
    }
}

#[effect]
fn fetch_data(name: &'static str, delay: Duration) -> Effect<Data, String> {
    sleep(delay)?;
    if delay > ms(500) {
        fail(format!("{name} timeout"))?;
    }
    Data::new(name)
}

#[derive(Debug, Clone, PartialEq)]
enum AppError {
    NotFound,
    Db(String),
    Timeout,
}

impl From<String> for AppError {
    fn from(message: String) -> Self {
        AppError::Db(message)
    }
}

#[derive(Debug, PartialEq)]
struct Dashboard {
    user: String,
    orders: Vec<u32>,
    prefs: &'static str,
    ad: &'static str,
    profile: &'static str,
}

#[effect]
fn load_user(id: u64) -> Effect<String, AppError> {
    format!("user-{id}")
}

#[effect]
fn load_orders(id: u64) -> Effect<Vec<u32>, AppError> {
    sleep(ms(20))?;
    vec![id as u32, 2]
}

#[effect]
fn load_prefs(_id: u64) -> Effect<&'static str, AppError> {
    sleep(ms(10))?;
    "dark mode"
}

#[effect]
fn ads_primary() -> Effect<&'static str, AppError> {
    sleep(ms(100))?;
    "primary ad"
}

#[effect]
fn ads_backup() -> Effect<&'static str, AppError> {
    sleep(ms(30))?;
    fail(AppError::Timeout)?;
    "backup ad"
}

/// A database call with its own error type, converted by `From` when bound.
#[effect]
fn load_profile(id: u64) -> Effect<&'static str, String> {
    if id == 0 {
        fail("no such profile".to_string())?;
    }
    "full profile"
}

#[effect]
fn dashboard(id: u64) -> Effect<Dashboard, AppError> {
    let user = load_user(id)?;
    let (orders, prefs) = par!(load_orders(id), load_prefs(id))?;
    let ad = race!(ads_primary(), ads_backup(), {
        sleep(ms(50))?;
        "no ad"
    })?;
    let profile = catch!(load_profile(id).err_into::<AppError>(), {
        AppError::NotFound => "guest",
        AppError::Db(_) => "guest profile",
    })?;
    Dashboard {
        user,
        orders,
        prefs,
        ad,
        profile,
    }
}

#[tokio::test]
async fn the_design_example_runs() {
    let (clock, rt) = test_env();
    let fiber = rt.fork(dashboard(0));
    clock.advance(ms(100)).await;
    let board = rt.run(fiber.join()).await.unwrap();
    assert_eq!(
        board,
        Dashboard {
            user: "user-0".into(),
            orders: vec![0, 2],
            prefs: "dark mode",
            ad: "no ad",
            profile: "guest profile"
        }
    );
    assert_eq!(rt.live_fibers(), 0);
}

#[tokio::test]
async fn fetch_data_fails_early_with_one_statement() {
    let (clock, rt) = test_env();
    let fast = rt.fork(fetch_data("Auth", ms(100)));
    let slow = rt.fork(fetch_data("Slow", ms(600)));
    clock.advance(ms(600)).await;
    assert_eq!(rt.run(fast.join()).await, Ok(Data::new("Auth")));
    assert_eq!(
        rt.run(slow.join()).await.unwrap_err().failure(),
        Some(&"Slow timeout".to_string())
    );
}

// ---- `?` ----

#[effect]
fn binds_results_and_effects(n: u32) -> Effect<u32, String> {
    let parsed: u32 = "7".parse::<u32>().map_err(|e| e.to_string())?;
    let doubled = succeed(n * 2)?;
    let ok: Result<u32, String> = Ok(1);
    parsed + doubled + ok?
}

#[tokio::test]
async fn question_mark_binds_effects_and_results() {
    assert_eq!(
        binds_results_and_effects(5).run(&Context::new()).await,
        Ok(18)
    );
}

#[effect]
fn converts_errors_with_from() -> Effect<u32, AppError> {
    let profile = load_profile(0)?; // `String` becomes `AppError::Db` through `From`
    profile.len() as u32
}

#[tokio::test]
async fn a_bound_error_is_converted_with_from() {
    let cause = converts_errors_with_from()
        .run(&Context::new())
        .await
        .unwrap_err();
    assert_eq!(
        cause.failure(),
        Some(&AppError::Db("no such profile".into()))
    );
}

#[effect]
fn a_failing_result_fails_the_body() -> Effect<u32, String> {
    let failed: Result<u32, String> = Err("bad input".into());
    failed?
}

#[tokio::test]
async fn a_failing_result_fails_with_its_error() {
    let cause = a_failing_result_fails_the_body()
        .run(&Context::new())
        .await
        .unwrap_err();
    assert_eq!(cause.failure(), Some(&"bad input".to_string()));
}

#[tokio::test]
async fn plain_futures_still_await() {
    let block: Effect<u32, String> = effect_block! {
        let n = async { 40 }.await;
        n + succeed(2)?
    };
    assert_eq!(block.run(&Context::new()).await, Ok(42));
}

#[tokio::test]
async fn question_mark_in_closures_async_blocks_and_nested_fns_keeps_its_meaning() {
    let block: Effect<u32, String> = effect_block! {
        let parse = |s: &str| -> Result<u32, std::num::ParseIntError> { Ok(s.parse::<u32>()? + 1) };
        fn nested(s: &str) -> Option<u32> {
            Some(s.len() as u32 + s.chars().next()?.len_utf8() as u32)
        }
        let from_async = async { Ok::<u32, String>("3".parse::<u32>().map_err(|e| e.to_string())? * 2) }.await;
        parse("1").map_err(|e| e.to_string())? + nested("ab").unwrap_or(0) + from_async?
    };
    assert_eq!(block.run(&Context::new()).await, Ok(2 + 3 + 6));
}

#[tokio::test]
async fn a_nested_effect_block_is_its_own_effect() {
    let outer: Effect<u32, String> = effect_block! {
        let inner: Effect<u32, String> = effect_block! { succeed(1)? + 1 };
        inner? + 10
    };
    assert_eq!(outer.run(&Context::new()).await, Ok(12));
}

// ---- control flow ----

#[effect]
fn binds_in_every_control_flow_form(n: u32) -> Effect<u32, String> {
    let mut total = 0;
    if succeed(n > 2)? {
        total += succeed(1)?;
    } else {
        total += succeed(100)?;
    }
    total += match succeed(n)? {
        0 => succeed(0)?,
        k => succeed(k * 10)?,
    };
    for i in 0..n {
        total += succeed(i)?;
    }
    let mut countdown = n;
    while succeed(countdown > 0)? {
        countdown -= succeed(1)?;
        total += 1;
    }
    let mut spins = 0;
    let from_loop = loop {
        spins += succeed(1)?;
        if spins == 5 {
            break succeed(spins)?;
        }
    };
    total + from_loop
}

#[tokio::test]
async fn binds_work_in_if_match_for_while_and_loop() {
    // n = 3: 1 + 30 + (0 + 1 + 2) + 3 + 5
    assert_eq!(
        binds_in_every_control_flow_form(3)
            .run(&Context::new())
            .await,
        Ok(42)
    );
}

#[effect]
fn early_return(n: u32) -> Effect<&'static str, String> {
    if n == 0 {
        return "zero";
    }
    let checked = succeed(n)?;
    if checked > 10 {
        return "big";
    }
    "small"
}

#[tokio::test]
async fn return_gives_the_bodys_value_early() {
    let ctx = Context::new();
    assert_eq!(early_return(0).run(&ctx).await, Ok("zero"));
    assert_eq!(early_return(11).run(&ctx).await, Ok("big"));
    assert_eq!(early_return(1).run(&ctx).await, Ok("small"));
}

#[effect]
fn no_tail(log: Log) -> Effect<(), String> {
    log.note::<String>("ran")?;
}

#[tokio::test]
async fn a_body_without_a_tail_gives_unit() {
    let log = Log::default();
    assert_eq!(no_tail(log.clone()).run(&Context::new()).await, Ok(()));
    assert_eq!(log.events(), ["ran"]);
}

#[tokio::test]
async fn binds_inside_macro_arguments() {
    let block: Effect<Vec<u32>, String> = effect_block! {
        let label = format!("{}-{}", succeed::<u32, String>(1)?, succeed::<u32, String>(2)?);
        assert_eq!(label, "1-2");
        vec![succeed(3)?, succeed(4)?]
    };
    assert_eq!(block.run(&Context::new()).await, Ok(vec![3, 4]));
}

// ---- names that could clash with the expansion ----

#[tokio::test]
async fn user_names_do_not_clash_with_the_expansion() {
    #[allow(dead_code)]
    struct Result;
    #[allow(dead_code)]
    struct Ok;
    let ctx = 1u32;
    let __effect_exit = 2u32;
    let block: Effect<u32, String> = effect_block! {
        let __effect_value = succeed(ctx)?;
        __effect_value + __effect_exit
    };
    assert_eq!(
        block.run(&Context::new()).await,
        ::core::result::Result::Ok(3)
    );
}

// ---- generics, methods, attributes ----

/// Doubles anything that can be added to itself.
#[effect]
pub(crate) fn double<T>(value: T) -> Effect<T, String>
where
    T: std::ops::Add<Output = T> + Clone + Send + 'static,
{
    let bound = succeed(value)?;
    bound.clone() + bound
}

#[derive(Clone)]
struct Repo {
    prefix: &'static str,
}

impl Repo {
    /// Methods take `self` by value.
    #[effect]
    fn find(self, id: u32) -> Effect<String, String> {
        let id = succeed(id)?;
        format!("{}{id}", self.prefix)
    }
}

#[tokio::test]
async fn generic_fns_and_methods_work() {
    let ctx = Context::new();
    assert_eq!(double(21).run(&ctx).await, Ok(42));
    assert_eq!(double(1.5).run(&ctx).await, Ok(3.0));
    let repo = Repo { prefix: "row-" };
    assert_eq!(
        repo.clone().find(7).run(&ctx).await,
        Ok("row-7".to_string())
    );
}

#[effect]
fn recurse(n: u64) -> Effect<u64, String> {
    if n == 0 {
        return 0;
    }
    recurse(n - 1)? + 1
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_effect_fn_recursing_a_million_deep_is_stack_safe() {
    let depth = tokio::spawn(recurse(1_000_000).run(&Context::new()))
        .await
        .unwrap();
    assert_eq!(depth, Ok(1_000_000));
}

// ---- par! race! catch! ----

#[tokio::test]
async fn par_yields_a_tuple_and_takes_inline_blocks() {
    let (clock, rt) = test_env();
    let effect: Effect<(u32, &str, u32), String> = par!(
        sleep(ms(10)).as_value(1),
        {
            sleep(ms(20))?;
            "two"
        },
        { succeed(3)? }
    );
    let fiber = rt.fork(effect);
    clock.advance(ms(20)).await;
    assert_eq!(rt.run(fiber.join()).await, Ok((1, "two", 3)));
}

#[tokio::test]
async fn par_is_fail_fast() {
    let (clock, rt) = test_env();
    let log = Log::default();
    let slow = sleep::<String>(secs(10)).on_interrupt(log.note("slow interrupted"));
    let fiber = rt.fork(par!(slow, {
        sleep(ms(5))?;
        fail::<(), String>("broken".into())?
    }));
    clock.advance(ms(5)).await;
    assert_eq!(
        rt.run(fiber.join()).await.unwrap_err().failure(),
        Some(&"broken".to_string())
    );
    assert_eq!(log.events(), ["slow interrupted"]);
}

#[tokio::test]
async fn race_yields_the_first_success() {
    let (clock, rt) = test_env();
    let fiber = rt.fork(race!(
        {
            sleep(ms(30))?;
            "slow"
        },
        {
            sleep(ms(10))?;
            fail::<&str, String>("fast failure".into())?
        },
        {
            sleep(ms(20))?;
            "medium"
        }
    ));
    clock.advance(ms(30)).await;
    assert_eq!(rt.run(fiber.join()).await, Ok("medium"));
}

#[tokio::test]
async fn catch_recovers_matching_failures_with_guards_and_binds() {
    let ctx = Context::new();
    let recovered: Effect<u32, AppError> = catch!(fail(AppError::Db("down".into())), {
        AppError::NotFound => 0,
        AppError::Db(message) if message == "down" => succeed(message.len() as u32)? + 100,
        AppError::Db(_) => 1,
    });
    assert_eq!(recovered.run(&ctx).await, Ok(104));
}

#[tokio::test]
async fn catch_leaves_unmatched_failures_and_defects_unchanged() {
    let ctx = Context::new();
    let unmatched: Effect<u32, AppError> =
        catch!(fail(AppError::Timeout), { AppError::NotFound => 0 });
    assert_eq!(
        unmatched.run(&ctx).await.unwrap_err(),
        Cause::Fail(AppError::Timeout)
    );
    let composed = fail::<u32, AppError>(AppError::Timeout)
        .ensuring(effect::fail_cause(Cause::die("cleanup broke")));
    let still_composed: Effect<u32, AppError> = catch!(composed, { AppError::NotFound => 0 });
    let cause = still_composed.run(&ctx).await.unwrap_err();
    assert_eq!(
        cause,
        Cause::fail(AppError::Timeout).then(Cause::die("cleanup broke"))
    );
    let defect: Effect<u32, AppError> = catch!(die("bug"), { _ => 0 });
    assert!(defect.run(&ctx).await.unwrap_err().is_die());
}

// `catch!(..)?` inside a body is compiled into that body (no effect of its own): it must do
// exactly what binding the `catch!` effect does.

/// The failure of `outcome`, or its value, after a suspension (so the bind really waits).
#[effect]
fn lookup(outcome: Result<u32, AppError>) -> Effect<u32, AppError> {
    yield_now()?;
    outcome?
}

#[effect]
fn recover_in_body(outcome: Result<u32, AppError>, log: Log) -> Effect<u32, AppError> {
    let value = catch!(lookup(outcome), {
        AppError::NotFound => {
            log.push("not found");
            yield_now()?; // an arm's binds bind in this body
            0
        }
        AppError::Db(message) if message.len() > 3 => lookup(Ok(message.len() as u32))? + 100,
    })?;
    log.push(format!("value {value}"));
    value + 1
}

#[effect::test]
fn catch_bound_in_a_body_recovers_with_binds_and_guards_in_its_arms() -> Effect<(), String> {
    let log = Log::default();
    assert_eq!(recover_in_body(Ok(5), log.clone()).result()?, Ok(6));
    assert_eq!(
        recover_in_body(Err(AppError::NotFound), log.clone()).result()?,
        Ok(1)
    );
    assert_eq!(
        recover_in_body(Err(AppError::Db("down".into())), log.clone()).result()?,
        Ok(105)
    );
    assert_eq!(
        log.events(),
        ["value 5", "not found", "value 0", "value 104"]
    );
}

#[derive(Debug, PartialEq)]
enum ServiceError {
    App(AppError),
}

impl From<AppError> for ServiceError {
    fn from(error: AppError) -> Self {
        ServiceError::App(error)
    }
}

/// The exit of `effect`, as a value.
fn exit_of<A: Send + 'static, E: Send + 'static>(
    effect: Effect<A, E>,
) -> Effect<Exit<A, E>, String> {
    effect.map(Ok).catch_all_cause(|cause| succeed(Err(cause)))
}

/// Binds a `catch!` whose unmatched failures convert into another error type.
#[effect]
fn recover_or_convert(guarded: Effect<u32, AppError>, log: Log) -> Effect<u32, ServiceError> {
    let value = catch!(guarded, { AppError::NotFound => 0 })?;
    log.push("after the catch");
    value
}

#[effect::test]
fn catch_bound_in_a_body_passes_the_rest_on_unchanged_and_converted() -> Effect<(), String> {
    let log = Log::default();
    // Unmatched: the body fails with it, converted by `From`, and stops there.
    let unmatched = exit_of(recover_or_convert(fail(AppError::Timeout), log.clone()))?;
    assert_eq!(
        unmatched.unwrap_err(),
        Cause::Fail(ServiceError::App(AppError::Timeout))
    );
    // The rest of a composed cause is kept: the cleanup's defect after the failure.
    let composed = fail::<u32, AppError>(AppError::Timeout)
        .ensuring(effect::fail_cause(Cause::die("cleanup broke")));
    let cause = exit_of(recover_or_convert(composed, log.clone()))?.unwrap_err();
    assert_eq!(
        cause,
        Cause::fail(ServiceError::App(AppError::Timeout)).then(Cause::die("cleanup broke"))
    );
    // A recovered failure's cleanup defect is not recovered: the arms see typed failures only,
    // and the first of them is what a matching arm replaces (as with the `catch!` effect).
    let defect = exit_of(recover_or_convert(die("bug"), log.clone()))?.unwrap_err();
    assert!(defect.is_die(), "{defect:?}");
    assert!(log.events().is_empty(), "{:?}", log.events());
    assert_eq!(
        recover_or_convert(fail(AppError::NotFound), log.clone()).result()?,
        Ok(0)
    );
    assert_eq!(log.events(), ["after the catch"]);
}

#[effect]
fn return_in_an_arm(outcome: Result<u32, AppError>) -> Effect<u32, AppError> {
    let value = catch!(lookup(outcome), {
        AppError::NotFound => return 7,
    })?;
    value + 100
}

#[effect::test]
fn a_return_in_a_catch_arm_gives_the_catchs_value_not_the_bodys() -> Effect<(), String> {
    assert_eq!(return_in_an_arm(Err(AppError::NotFound)).result()?, Ok(107));
    assert_eq!(return_in_an_arm(Ok(1)).result()?, Ok(101));
}

#[effect::test]
fn catch_bound_in_an_effect_block_infers_its_error_type() -> Effect<(), String> {
    let recovered: Effect<u32, AppError> = effect_block! {
        let value = catch!(lookup(Err(AppError::NotFound)), { AppError::NotFound => 3 })?;
        value * 2
    };
    assert_eq!(recovered.result()?, Ok(6));
    let unmatched: Effect<u32, AppError> = effect_block! {
        catch!(lookup(Err(AppError::Timeout)), { AppError::NotFound => 3 })?
    };
    assert_eq!(unmatched.result()?, Err(AppError::Timeout));
}

// ---- catch_all! ----

/// Every failure of `lookup(outcome)` recovered: the effect cannot fail.
fn recover_all(outcome: Result<u32, AppError>) -> Effect<u32, Never> {
    catch_all!(lookup(outcome), {
        AppError::NotFound => 0,
        AppError::Db(message) if message.len() > 3 => succeed(message.len() as u32)? + 100,
        AppError::Db(_) => 1,
        AppError::Timeout => {
            yield_now()?; // an arm's binds bind in the catch's body
            2
        }
    })
}

#[effect::test]
fn catch_all_recovers_every_failure_into_an_effect_that_cannot_fail() -> Effect<(), String> {
    // Each is an `Effect<u32, Never>`, bound here in a body failing with `String`.
    assert_eq!(recover_all(Ok(5))?, 5);
    assert_eq!(recover_all(Err(AppError::NotFound))?, 0);
    assert_eq!(recover_all(Err(AppError::Db("down".into())))?, 104);
    assert_eq!(recover_all(Err(AppError::Db("x".into())))?, 1);
    assert_eq!(recover_all(Err(AppError::Timeout))?, 2);
}

#[effect::test]
fn catch_all_passes_defects_and_interruptions_through_unchanged() -> Effect<(), String> {
    let defect: Effect<u32, Never> = catch_all!(die("bug"), { AppError::NotFound => 0, _ => 1 });
    let cause = exit_of(defect)?.unwrap_err();
    assert!(cause.is_die(), "{cause:?}");
    let interrupted: Effect<u32, Never> =
        catch_all!(effect::fail_cause(Cause::interrupt()), { AppError::NotFound => 0, _ => 1 });
    let cause = exit_of(interrupted)?.unwrap_err();
    assert!(cause.is_interrupted_only(), "{cause:?}");
    // An interruption from outside: the guarded effect's finalizer runs, nothing recovers.
    let log = Log::default();
    let guarded = never::<u32, AppError>().ensuring(log.note("released"));
    let fiber = catch_all!(guarded, { _ => 0 }).fork::<String>()?;
    yield_now()?;
    let exit: Exit<u32, Never> = fiber.interrupt()?;
    assert!(exit.unwrap_err().is_interrupted_only());
    assert_eq!(log.events(), ["released"]);
    // A recovered failure's cleanup defect is dropped with the rest of its cause, as
    // `catch!` and `Effect::catch_all` drop it: the handler owns the outcome.
    let composed = fail::<u32, AppError>(AppError::Timeout)
        .ensuring(effect::fail_cause(Cause::die("cleanup broke")));
    let recovered: Effect<u32, Never> = catch_all!(composed, { _ => 9 });
    assert_eq!(exit_of(recovered)?, Ok(9));
}

/// `catch_all!(..)?` compiled into a declared body: an arm's failure converts with `From`.
#[effect]
fn recover_all_in_body(outcome: Result<u32, AppError>, log: Log) -> Effect<u32, ServiceError> {
    let value = catch_all!(lookup(outcome), {
        AppError::NotFound => 0,
        AppError::Db(message) => {
            log.push(format!("db: {message}"));
            lookup(Ok(message.len() as u32))?
        }
        AppError::Timeout => fail(AppError::Timeout)?,
    })?;
    log.push(format!("value {value}"));
    value + 1
}

#[effect::test]
fn catch_all_bound_in_a_body_recovers_in_place_and_its_arms_fail_the_body() -> Effect<(), String> {
    let log = Log::default();
    assert_eq!(recover_all_in_body(Ok(5), log.clone()).result()?, Ok(6));
    assert_eq!(
        recover_all_in_body(Err(AppError::NotFound), log.clone()).result()?,
        Ok(1)
    );
    assert_eq!(
        recover_all_in_body(Err(AppError::Db("down".into())), log.clone()).result()?,
        Ok(5)
    );
    assert_eq!(
        recover_all_in_body(Err(AppError::Timeout), log.clone()).result()?,
        Err(ServiceError::App(AppError::Timeout))
    );
    assert_eq!(log.events(), ["value 5", "value 0", "db: down", "value 4"]);
}

#[effect::test]
fn catch_all_in_an_effect_block_takes_its_error_type_from_the_arms() -> Effect<(), String> {
    // No arm fails: the block's error type is the one written for it.
    let total: Effect<u32, Never> = effect_block! {
        catch_all!(lookup(Err(AppError::Timeout)), { AppError::Timeout => 3, _ => 4 })? * 2
    };
    assert_eq!(total.result()?, Ok(6));
    // An arm binds a failing effect: the block fails with its error.
    let failing = effect_block! {
        catch_all!(lookup(Err(AppError::Timeout)), {
            AppError::Timeout => fail("gave up".to_string())?,
            _ => 4,
        })?
    };
    assert_eq!(failing.result()?, Err("gave up".to_string()));
}

#[tokio::test]
async fn par_inside_race_inside_catch() {
    let (clock, rt) = test_env();
    let nested: Effect<(u32, u32), AppError> = catch!(
        race!(
            par!({ sleep(ms(10))?; 1 }, { sleep(ms(20))?; fail::<u32, AppError>(AppError::Timeout)? }),
            { sleep(ms(30))?; fail::<(u32, u32), AppError>(AppError::NotFound)? }
        ),
        { AppError::Timeout => (0, 0), AppError::NotFound => (9, 9) }
    );
    let fiber = rt.fork(nested);
    clock.advance(ms(30)).await;
    // Both race branches fail; the first failure in the combined cause is recovered.
    let value = rt.run(fiber.join()).await.unwrap();
    assert!(value == (0, 0) || value == (9, 9), "{value:?}");
    assert_eq!(rt.live_fibers(), 0);
}

#[tokio::test]
async fn clauses_work_outside_effect_bodies_as_plain_expressions() {
    let pair: Effect<(u32, u32), String> = par!(succeed(1), succeed(2));
    let first: Effect<u32, String> = race!(succeed(1), never());
    let ctx = Context::new();
    assert_eq!(pair.run(&ctx).await, Ok((1, 2)));
    assert_eq!(first.run(&ctx).await, Ok(1));
}

// ---- the guide in the DSL ----

#[effect]
fn with_timeout_and_fallback(
    primary: Effect<String, String>,
    timeout: Duration,
    fallback: Effect<String, String>,
) -> Effect<String, String> {
    // `race!` waits for the first success; a failing timer needs `race_first`.
    let timed = race_first([
        primary,
        effect_block! { sleep(timeout)?; fail::<String, String>("timeout".into())? },
    ]);
    catch!(timed, { _ => fallback? })?
}

#[tokio::test]
async fn guide_timeout_and_fallback_in_the_dsl() {
    let (clock, rt) = test_env();
    let slow = effect_block! { sleep(secs(2))?; "slow".to_string() };
    let fiber = rt.fork(with_timeout_and_fallback(
        slow,
        ms(500),
        succeed("Cached data".to_string()),
    ));
    clock.advance(ms(500)).await;
    assert_eq!(rt.run(fiber.join()).await, Ok("Cached data".to_string()));
}

#[effect]
fn fail_fast() -> Effect<Vec<&'static str>, &'static str> {
    zip_par(vec![succeed("ok1"), fail("error!"), succeed("ok3")])?
}

#[effect]
fn fail_safe() -> Effect<(Vec<&'static str>, usize), Never> {
    let effects: Vec<Effect<&'static str, &'static str>> =
        vec![succeed("ok1"), fail("error!"), succeed("ok3")];
    let results = zip_par(effects.into_iter().map(|e| e.option()).collect::<Vec<_>>())?;
    let failures = results.iter().filter(|r| r.is_none()).count();
    (results.into_iter().flatten().collect(), failures)
}

#[tokio::test]
async fn guide_fail_fast_and_fail_safe_in_the_dsl() {
    let ctx = Context::new();
    assert_eq!(
        fail_fast().run(&ctx).await.unwrap_err().failure(),
        Some(&"error!")
    );
    assert_eq!(fail_safe().run(&ctx).await, Ok((vec!["ok1", "ok3"], 1)));
}

// ---- #[effect::test] ----

#[effect::test]
fn an_effect_test_gets_a_test_clock(clock: TestClock) -> Effect<(), String> {
    let sleeper = sleep::<String>(secs(60)).fork()?;
    clock.advance(secs(60)).await;
    sleeper.join()?;
    assert_eq!(clock.current_time(), secs(60));
}

#[effect::test]
fn an_effect_test_without_arguments() -> Effect<(), String> {
    let n = succeed(2)?;
    assert_eq!(n, 2);
}

#[test]
#[should_panic(expected = "effect test `failing` failed")]
fn a_failing_effect_test_fails_with_its_cause() {
    effect::__private::run_test(
        "failing",
        effect::__private::EntryRuntime::CurrentThread,
        <String as std::fmt::Debug>::fmt,
        |_| fail::<(), String>("nope".into()),
    );
}

#[test]
#[should_panic(expected = "leaked 1 fiber")]
fn an_effect_test_that_leaks_a_fiber_fails() {
    effect::__private::run_test(
        "leaky",
        effect::__private::EntryRuntime::CurrentThread,
        <String as std::fmt::Debug>::fmt,
        |_| never::<(), String>().fork_daemon::<String>().as_value(()),
    );
}

// --- Bodies that plain Rust accepts: aliases, effects that cannot fail, diverging endings ---

type AppEffect<A> = Effect<A, AppError>;

fn counts_as_infallible(log: Log) -> Effect<u32, Never> {
    sync(move || {
        log.push("infallible ran");
        5
    })
}

#[effect]
fn through_alias(log: Log, broken: bool) -> AppEffect<u32> {
    let n = counts_as_infallible(log)?;
    if broken {
        die::<(), Never>("infallible effects still die")?;
    }
    n + 1
}

#[effect::test]
fn an_effect_that_cannot_fail_binds_in_any_body_and_keeps_its_defects() -> Effect<(), String> {
    let log = Log::default();
    assert_eq!(through_alias(log.clone(), false).result()?, Ok(6));
    let exit = through_alias(log.clone(), true).await;
    let cause = exit.expect_err("the body died");
    assert!(
        cause.is_die(),
        "the defect passed through unchanged: {cause:?}"
    );
    assert_eq!(log.events(), vec!["infallible ran", "infallible ran"]);
}

#[effect]
fn last_statement_returns(n: u32) -> Effect<&'static str, String> {
    let n = succeed(n)?;
    match n {
        0 => return "zero",
        _ if n < 10 => return "small",
        _ => return "large",
    };
}

#[effect]
fn loops_until_it_fails(limit: u32) -> Effect<u32, String> {
    let mut n = 0;
    loop {
        n += succeed(1)?;
        if n == limit {
            fail(format!("gave up at {n}"))?;
        }
    }
}

#[effect::test]
fn bodies_ending_in_return_or_an_endless_loop_run() -> Effect<(), String> {
    assert_eq!(last_statement_returns(0)?, "zero");
    assert_eq!(last_statement_returns(3)?, "small");
    assert_eq!(last_statement_returns(30)?, "large");
    let failed = loops_until_it_fails(4).result()?;
    assert_eq!(failed, Err("gave up at 4".to_string()));
}

#[effect::test]
fn binds_inside_vec_repeat_and_matches_run_in_order() -> Effect<(), String> {
    let log = Log::default();
    let step = |name: &'static str, value: u32| {
        let log = log.clone();
        sync(move || {
            log.push(name);
            value
        })
    };
    let repeated = vec![step("repeat", 2)?; 3];
    let small = matches!(step("matches", 4)?, 0..=9);
    assert_eq!(repeated, vec![2, 2, 2]);
    assert!(small);
    assert_eq!(log.events(), vec!["repeat", "matches"]);
}

#[effect::test]
fn awaiting_an_effect_without_question_mark_gives_its_exit() -> Effect<(), String> {
    let exit = fail::<u32, String>("no".into()).await;
    assert_eq!(
        exit.map_err(|cause| cause.failure().cloned()),
        Err(Some("no".to_string()))
    );
}
