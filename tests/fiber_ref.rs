//! FiberRef: one value per fiber, copied into every fiber a fiber starts (forks and branches)
//! at that moment, never merged back; `locally` puts the previous value back however its
//! effect ends. No test here waits on the wall clock.

use crate::common;

use std::sync::LazyLock;
use std::time::{Duration, Instant};

use common::{test_env, Log};
use effect::prelude::*;
use effect::Context;

static REQUEST_ID: LazyLock<FiberRef<u64>> = LazyLock::new(|| FiberRef::new(0));

fn request_id() -> Effect<u64, Never> {
    REQUEST_ID.get()
}

/// Sets the request id, then reads it back.
fn set_then_read(id: u64) -> Effect<u64, Never> {
    REQUEST_ID.set(id).flat_map(|()| request_id())
}

#[effect::test]
fn get_gives_the_initial_value_until_the_fiber_sets_another() -> Effect<(), String> {
    let tenant = FiberRef::new("none");
    assert_eq!(tenant.get()?, "none");
    tenant.set("acme")?;
    assert_eq!(tenant.get()?, "acme");
    tenant.update(|t| *t = "globex")?;
    assert_eq!(tenant.get()?, "globex");
}

#[effect::test]
fn a_panicking_update_is_a_defect_and_leaves_the_value_as_it_was() -> Effect<(), String> {
    let count = FiberRef::new(1u32);
    let exit = count.update(|_| panic!("update bug")).await;
    assert_eq!(exit.unwrap_err().defects()[0].message(), "update bug");
    assert_eq!(count.get()?, 1);
}

#[effect::test]
fn locally_puts_the_previous_value_back_after_success_failure_and_defect() -> Effect<(), String> {
    let level = FiberRef::new(1u32);
    assert_eq!(level.locally(2, level.get())?, 2);
    assert_eq!(level.get()?, 1);

    let failed = level
        .locally(2, fail::<(), String>("boom".to_string()))
        .await;
    assert_eq!(failed.unwrap_err().failure(), Some(&"boom".to_string()));
    assert_eq!(level.get()?, 1);

    let died = level.locally(2, die::<(), String>("bug")).await;
    assert!(died.unwrap_err().is_die());
    assert_eq!(level.get()?, 1);
}

#[effect::test]
fn locally_puts_the_previous_value_back_when_interrupted(clock: TestClock) -> Effect<(), String> {
    let user = FiberRef::new("outer");
    let log = Log::default();
    let note = |tag: &'static str| {
        let log = log.clone();
        user.get()
            .map(move |seen| log.push(format!("{tag}: {seen}")))
    };
    let guarded = sleep::<String>(secs(10)).ensuring(note("finalizer inside"));
    let fiber = user
        .locally("inner", guarded)
        .ensuring(note("finalizer around"))
        .fork()?;
    clock.advance(secs(1)).await;
    assert!(fiber.interrupt::<String>()?.unwrap_err().is_interrupted());
    assert_eq!(
        log.events(),
        ["finalizer inside: inner", "finalizer around: outer"]
    );
}

#[effect::test]
fn a_set_inside_locally_lasts_until_it_ends_and_other_fiber_refs_keep_theirs() -> Effect<(), String>
{
    let scoped = FiberRef::new(0u32);
    let other = FiberRef::new(0u32);
    let inside = scoped.set(5).flat_map({
        let other = other.clone();
        move |()| other.set(7)
    });
    scoped.locally(1, inside)?;
    assert_eq!(scoped.get()?, 0, "the locally scoped value is put back");
    assert_eq!(other.get()?, 7, "another fiber-local set inside stays set");
}

/// A timeout's effect runs on the fiber itself: what it sets stays set after it, as after
/// any other effect the fiber runs.
#[effect::test]
fn a_timeouts_effect_sets_the_fibers_own_values() -> Effect<(), String> {
    REQUEST_ID.set(1)?;
    assert_eq!(set_then_read(2).timeout(secs(1))?, Some(2));
    assert_eq!(
        request_id()?,
        2,
        "set inside a timeout that finished in time"
    );
}

#[effect::test]
fn forks_and_branches_start_with_the_values_of_the_fiber_that_started_them(
    clock: TestClock,
) -> Effect<(), String> {
    REQUEST_ID.set(42)?;
    assert_eq!(request_id().fork()?.join()?, 42, "fork");
    assert_eq!(request_id().fork_daemon()?.join()?, 42, "daemon fork");
    assert_eq!(par!(request_id(), request_id())?, (42, 42), "par! branches");
    let all = for_each_par(0..8, |_| request_id(), 3)?;
    assert_eq!(all, vec![42; 8], "for_each_par items");
    assert_eq!(request_id().timeout(secs(1))?, Some(42), "timeout's effect");

    let loser_saw = Log::default();
    let seen = loser_saw.clone();
    let loser = request_id().flat_map(move |id| {
        seen.push(id.to_string());
        never()
    });
    let winner = sleep(secs(1)).flat_map(|()| request_id());
    let race = race([winner, loser]).fork()?;
    clock.advance(secs(1)).await;
    assert_eq!(race.join()?, 42, "race winner");
    assert_eq!(loser_saw.events(), ["42"], "race loser");
}

#[effect::test]
fn siblings_and_parents_never_see_what_a_child_sets() -> Effect<(), String> {
    REQUEST_ID.set(1)?;
    let (a, b, untouched) = par!(set_then_read(2), set_then_read(3), request_id())?;
    assert_eq!((a, b, untouched), (2, 3, 1));
    assert_eq!(request_id()?, 1);
    let raced = race([set_then_read(4), set_then_read(5)])?;
    assert!(raced == 4 || raced == 5);
    assert_eq!(request_id()?, 1);
}

#[effect::test]
fn a_joined_childs_values_are_not_merged_into_the_joining_fiber() -> Effect<(), String> {
    REQUEST_ID.set(1)?;
    let child = set_then_read(9).fork()?;
    assert_eq!(child.join()?, 9);
    assert_eq!(request_id()?, 1);
}

#[effect::test]
fn a_child_keeps_the_values_it_started_with_when_its_parent_sets_later(
    clock: TestClock,
) -> Effect<(), String> {
    REQUEST_ID.set(1)?;
    let child = sleep::<Never>(secs(1)).flat_map(|()| request_id()).fork()?;
    REQUEST_ID.set(2)?;
    clock.advance(secs(1)).await;
    assert_eq!(child.join()?, 1);
    assert_eq!(request_id()?, 2);
}

#[tokio::test]
async fn fibers_started_from_outside_any_fiber_start_with_initial_values() {
    let (_clock, rt) = test_env();
    assert_eq!(rt.run(set_then_read(3)).await, Ok(3));
    assert_eq!(
        rt.run(request_id()).await,
        Ok(0),
        "a root run starts afresh"
    );
    let forked = rt.fork(request_id());
    assert_eq!(rt.run(forked.join()).await, Ok(0), "so does Runtime::fork");
    assert_eq!(rt.live_fibers(), 0);
}

// --- The use cases: what every nested call reads without it being passed down ---

static DEADLINE: LazyLock<FiberRef<Option<Instant>>> = LazyLock::new(|| FiberRef::new(None));

#[derive(Debug, PartialEq)]
enum CallError {
    DeadlineExceeded(u64),
}

/// A call deep in a request: it reads the request id and the deadline, and gives up when the
/// deadline passes. Its error type is its own: fiber-locals bind in any body.
#[effect]
fn backend_call(name: &'static str, takes: Duration) -> Effect<String, CallError> {
    let id = REQUEST_ID.get()?;
    let left = match DEADLINE.get()? {
        Some(deadline) => deadline.saturating_duration_since(instant()?),
        None => Duration::MAX,
    };
    match sleep(takes).timeout(left)? {
        Some(()) => format!("{name} for request {id}"),
        None => fail(CallError::DeadlineExceeded(id))?,
    }
}

#[effect]
fn handle(id: u64, budget: Duration) -> Effect<(String, String), CallError> {
    let deadline = instant()? + budget;
    let calls = par!(
        backend_call("users", secs(1)),
        backend_call("orders", secs(3))
    );
    REQUEST_ID.locally(id, DEADLINE.locally(Some(deadline), calls))?
}

#[effect::test]
fn a_request_id_and_a_deadline_reach_every_nested_call(clock: TestClock) -> Effect<(), String> {
    let fast = handle(7, secs(5)).fork()?;
    let slow = handle(8, secs(2)).fork()?;
    clock.advance(secs(3)).await;
    assert_eq!(
        fast.join().result()?,
        Ok((
            "users for request 7".to_string(),
            "orders for request 7".to_string()
        ))
    );
    assert_eq!(slow.join().result()?, Err(CallError::DeadlineExceeded(8)));
    assert_eq!(REQUEST_ID.get()?, 0, "the test's own fiber never had one");
}

// --- Scale: wide, deep, and on worker threads ---

#[effect::test]
fn ten_thousand_sibling_fibers_each_keep_their_own_value() -> Effect<(), String> {
    let width = 10_000u64;
    let branches: Vec<Effect<u64, Never>> = (0..width)
        .map(|i| REQUEST_ID.locally(i, yield_now().flat_map(|()| request_id())))
        .collect();
    let seen = zip_par(branches)?;
    assert!(seen.iter().copied().eq(0..width));
    assert_eq!(request_id()?, 0);
}

/// Each level runs the next inside `locally` with its own depth, and checks it is back after.
#[effect]
fn nest(level: u64) -> Effect<u64, Never> {
    if level == 0 {
        return REQUEST_ID.get()?;
    }
    let bottom = REQUEST_ID.locally(level, nest(level - 1))?;
    let mine = REQUEST_ID.get()?;
    if mine != level + 1 {
        panic!("level {level} sees {mine} after its nested locally");
    }
    bottom
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn locally_nested_a_million_deep_runs_on_a_worker_thread() {
    const DEPTH: u64 = 1_000_000;
    let outermost = REQUEST_ID.locally(DEPTH + 1, nest(DEPTH));
    let exit = tokio::spawn(async move { outermost.run(&Context::new()).await })
        .await
        .expect("the worker task must not panic");
    assert_eq!(exit, Ok(1));
}

#[effect::test(flavor = "multi_thread", worker_threads = 2)]
fn values_are_inherited_across_worker_threads(clock: TestClock) -> Effect<(), String> {
    REQUEST_ID.set(11)?;
    let branches: Vec<Effect<(u64, u64), Never>> = (0..64)
        .map(|i| {
            sleep(ms(i % 4))
                .flat_map(|()| request_id())
                .zip(set_then_read(100 + i))
        })
        .collect();
    let seen = zip_par(branches).fork()?;
    clock.advance(ms(4)).await;
    let expected: Vec<(u64, u64)> = (0..64).map(|i| (11, 100 + i)).collect();
    assert_eq!(seen.join()?, expected);
    assert_eq!(request_id()?, 11);
}
