//! Fibers: fork, join, await, interrupt, supervision, uninterruptible regions, fairness.

use crate::common;

use common::{test_env, Log};
use std::future::IntoFuture;

use effect::prelude::*;
use effect::{Context, Fiber, Runtime};

#[tokio::test]
async fn fork_then_join_gives_the_fibers_value() {
    let (_, rt) = test_env();
    let program = succeed::<u32, String>(20)
        .map(|n| n + 1)
        .fork()
        .flat_map(|f: Fiber<u32, String>| f.join());
    assert_eq!(rt.run(program).await, Ok(21));
    assert_eq!(rt.live_fibers(), 0);
}

#[tokio::test]
async fn join_fails_as_the_fiber_failed_and_await_exit_gives_the_exit() {
    let (_, rt) = test_env();
    let failed = fail::<u32, String>("boom".into())
        .fork()
        .flat_map(|f: Fiber<u32, String>| f.join());
    assert_eq!(
        rt.run(failed).await.unwrap_err().failure(),
        Some(&"boom".to_string())
    );
    let exit = fail::<u32, String>("boom".into())
        .fork::<()>()
        .flat_map(|f| f.await_exit());
    assert!(rt.run(exit).await.unwrap().is_err());
    let panicked = sync::<u32, String, _>(|| panic!("fiber panicked"))
        .fork()
        .flat_map(|f: Fiber<u32, String>| f.join());
    let cause = rt.run(panicked).await.unwrap_err();
    assert_eq!(cause.defects()[0].message(), "fiber panicked");
    assert_eq!(rt.live_fibers(), 0);
}

#[tokio::test]
async fn join_waits_for_a_running_fiber_and_takes_a_finished_ones_exit_at_once() {
    let (clock, rt) = test_env();
    // Joined by a body: once while the fiber still sleeps, once after it has finished.
    let program: Effect<(u32, u32), String> = effect_block! {
        let slow = sleep(secs(5)).as_value(1u32).fork()?;
        let quick = succeed::<u32, String>(2).fork()?;
        let waited = slow.join()?;
        let done_already = quick.join()?;
        (waited, done_already)
    };
    let run = rt.fork(program);
    clock.advance(secs(5)).await;
    assert_eq!(rt.run(run.join()).await, Ok((1, 2)));
    // Joined by nothing: a join run as the whole effect (the root of a run, a race branch).
    let fiber = rt.fork(sleep::<String>(secs(1)).as_value(3u32));
    let alone = rt.fork(fiber.join());
    clock.advance(secs(1)).await;
    assert_eq!(rt.run(alone.join()).await, Ok(3));
    let raced = rt.run(race([
        never::<u32, String>(),
        rt.fork(succeed::<u32, String>(4)).join(),
    ]));
    assert_eq!(raced.await, Ok(4));
    assert_eq!(rt.live_fibers(), 0);
}

#[tokio::test]
async fn interrupting_a_fiber_while_it_joins_another_stops_only_the_waiting() {
    let (clock, rt) = test_env();
    let log = Log::default();
    let worker = rt.fork(
        sleep::<String>(secs(10))
            .as_value(7u32)
            .ensuring(log.note("worker finished")),
    );
    let waiter = rt.fork(worker.join().ensuring(log.note("waiter unwound")));
    clock.advance(secs(1)).await;
    assert!(!waiter.is_done());
    let exit = rt.run(waiter.interrupt::<String>()).await.unwrap();
    assert!(exit.unwrap_err().is_interrupted());
    assert_eq!(log.events(), ["waiter unwound"]);
    // The joined fiber went on, and finishes in its own time.
    clock.advance(secs(9)).await;
    assert_eq!(log.events(), ["waiter unwound", "worker finished"]);
    assert_eq!(rt.live_fibers(), 0);
}

#[tokio::test]
async fn a_timeout_around_a_join_gives_up_on_the_waiting_not_on_the_fiber() {
    let (clock, rt) = test_env();
    let log = Log::default();
    let finished = log.note::<String>("worker finished");
    let program: Effect<Option<u32>, String> = effect_block! {
        let worker = sleep(secs(10)).flat_map(move |()| finished).as_value(5u32).fork()?;
        let gave_up = worker.join().timeout(secs(1))?;
        // Still the worker's parent: it keeps running until this body ends.
        sleep(secs(10))?;
        gave_up
    };
    let run = rt.fork(program);
    clock.advance(secs(1)).await;
    assert!(log.events().is_empty());
    clock.advance(secs(10)).await;
    assert_eq!(
        log.events(),
        ["worker finished"],
        "the timeout left the worker alone"
    );
    assert_eq!(rt.run(run.join()).await, Ok(None));
    assert_eq!(rt.live_fibers(), 0);
}

#[tokio::test]
async fn interrupt_returns_only_after_the_fibers_finalizers_ran() {
    let (clock, rt) = test_env();
    let log = Log::default();
    let fiber = rt.fork(
        never::<(), String>()
            .ensuring(log.note("finalized"))
            .on_interrupt(log.note("interrupted")),
    );
    clock.advance(ms(1)).await; // the fiber is blocked in `never`
    assert!(log.events().is_empty());
    let exit = rt.run(fiber.interrupt::<()>()).await.unwrap();
    assert!(exit.unwrap_err().is_interrupted_only());
    assert_eq!(log.events(), ["finalized", "interrupted"]);
    assert_eq!(rt.live_fibers(), 0);
}

#[tokio::test]
async fn async_finalizers_of_an_interrupted_fiber_run_in_reverse_order_exactly_once() {
    let (clock, rt) = test_env();
    let log = Log::default();
    let slow_cleanup = |name: &str| {
        sleep::<Never>(secs(1)).flat_map({
            let note = log.note(name);
            move |()| note
        })
    };
    let body = never::<(), String>()
        .ensuring(slow_cleanup("inner"))
        .ensuring(slow_cleanup("outer"));
    let fiber = rt.fork(body);
    clock.advance(ms(1)).await;
    let interrupter = rt.fork(fiber.interrupt::<()>());
    clock.advance(secs(1)).await;
    assert_eq!(
        log.events(),
        ["inner"],
        "finalizers are async and run one after the other"
    );
    clock.advance(secs(1)).await;
    assert!(interrupter.is_done());
    assert_eq!(log.events(), ["inner", "outer"]);
    assert_eq!(rt.live_fibers(), 0);
}

#[tokio::test]
async fn interrupting_a_parent_interrupts_its_children() {
    let (clock, rt) = test_env();
    let log = Log::default();
    let child = never::<(), String>().ensuring(log.note("child finalized"));
    let parent = child
        .fork::<String>()
        .flat_map(|_child| never::<(), String>())
        .ensuring(log.note("parent finalized"));
    let fiber = rt.fork(parent);
    clock.advance(ms(1)).await;
    rt.run(fiber.interrupt::<()>()).await.unwrap().unwrap_err();
    assert_eq!(log.count("child finalized"), 1);
    assert_eq!(log.count("parent finalized"), 1);
    assert_eq!(rt.live_fibers(), 0);
}

#[tokio::test]
async fn a_parent_that_finishes_interrupts_and_awaits_its_children() {
    let (clock, rt) = test_env();
    let log = Log::default();
    let child = never::<(), String>().ensuring(log.note("child finalized"));
    let parent = child
        .fork::<String>()
        .flat_map(|_| sleep(secs(1)))
        .as_value("parent done");
    let fiber = rt.fork(parent);
    clock.advance(secs(1)).await;
    assert!(fiber.is_done(), "the parent finished, and reaped the child");
    assert_eq!(log.events(), ["child finalized"]);
    assert_eq!(rt.run(fiber.join()).await, Ok("parent done"));
    assert_eq!(rt.live_fibers(), 0);
}

#[tokio::test]
async fn a_child_interrupted_before_it_starts_never_runs() {
    let (_, rt) = test_env();
    let log = Log::default();
    let child = log
        .note::<String>("child ran")
        .ensuring(log.note("child finalized"));
    let parent = child.fork::<String>().as_value("parent done");
    assert_eq!(rt.run(parent).await, Ok("parent done"));
    // Whether the child got to run before its parent ended is up to the scheduler, but it
    // ran completely or not at all, and it is done before the parent's run returns.
    let events = log.events();
    assert!(
        events.is_empty() || events == ["child ran", "child finalized"],
        "{events:?}"
    );
    assert_eq!(rt.live_fibers(), 0);
}

#[tokio::test]
async fn a_daemon_fiber_outlives_its_parent() {
    let (clock, rt) = test_env();
    let log = Log::default();
    let daemon = sleep::<String>(secs(5)).flat_map({
        let note = log.note("daemon finished");
        move |()| note
    });
    let fiber = rt.run(daemon.fork_daemon::<String>()).await.unwrap();
    assert!(!fiber.is_done());
    clock.advance(secs(5)).await;
    assert!(fiber.is_done());
    assert_eq!(log.events(), ["daemon finished"]);
    assert_eq!(rt.live_fibers(), 0);
}

#[tokio::test]
async fn an_uninterruptible_region_finishes_before_the_fiber_stops() {
    let (clock, rt) = test_env();
    let log = Log::default();
    let region = sleep::<String>(secs(1)).flat_map({
        let note = log.note("region finished");
        move |()| note
    });
    let after = log.note::<String>("after the region");
    let fiber = rt.fork(region.uninterruptible().flat_map(move |()| after));
    clock.advance(ms(1)).await;
    let interrupter = rt.fork(fiber.interrupt::<()>());
    clock.advance(ms(500)).await;
    assert!(!interrupter.is_done(), "interrupt waits for the region");
    clock.advance(ms(500)).await;
    let exit = rt.run(interrupter.join()).await.unwrap();
    assert!(exit.unwrap_err().is_interrupted_only());
    assert_eq!(
        log.events(),
        ["region finished"],
        "the fiber stops right after the region"
    );
    assert_eq!(rt.live_fibers(), 0);
}

#[tokio::test(flavor = "current_thread")]
async fn a_fiber_looping_on_ready_binds_neither_starves_others_nor_resists_interruption() {
    let (_, rt) = test_env();
    let spinner: Effect<(), String> = Effect::from_future(async {
        loop {
            succeed::<u32, String>(1).map(|n| n + 1).await?;
        }
    });
    let spinning = rt.fork(spinner);
    // On a single thread the spinner must yield for this other fiber to run at all.
    let other = rt.run(yield_now::<String>().as_value("other ran")).await;
    assert_eq!(other, Ok("other ran"));
    let exit = rt.run(spinning.interrupt::<()>()).await.unwrap();
    assert!(exit.unwrap_err().is_interrupted_only());
    assert_eq!(rt.live_fibers(), 0);
}

#[tokio::test]
async fn fibers_have_distinct_ids() {
    let (_, rt) = test_env();
    let a = rt.fork(succeed::<(), String>(()));
    let b = rt.fork(succeed::<(), String>(()));
    assert_ne!(a.id(), b.id());
    rt.run(a.join().zip(b.join())).await.unwrap();
    assert_eq!(rt.live_fibers(), 0);
}

#[tokio::test]
async fn dropping_a_run_still_runs_its_finalizers_and_reaps_its_children() {
    let (clock, rt) = test_env();
    let log = Log::default();
    let child = never::<(), String>().ensuring(log.note("child finalized"));
    let program = child
        .fork::<String>()
        .flat_map(|_| never::<(), String>())
        .ensuring(log.note("finalized"));
    let mut run = Box::pin(rt.run(program));
    // Drive the run by hand for a while (it never finishes), letting the child start too. A
    // run nobody polls counts as busy for the test clock, so no `advance` while it is held.
    for _ in 0..100 {
        assert!(futures::poll!(run.as_mut()).is_pending());
        tokio::task::yield_now().await;
    }
    drop(run);
    clock.advance(ms(1)).await; // lets the cleanup task run
    for _ in 0..100 {
        if rt.live_fibers() == 0 {
            break;
        }
        tokio::task::yield_now().await;
    }
    assert_eq!(log.count("finalized"), 1);
    assert_eq!(log.count("child finalized"), 1);
    assert_eq!(rt.live_fibers(), 0);
}

#[tokio::test]
async fn a_fiber_forked_by_a_nested_bind_counts_for_its_runtime() {
    let rt = Runtime::new(Context::new());
    // Two binds polled in one step: the second cannot be handed to the interpreter and runs
    // nested, in place; what it forks still belongs to the runtime.
    let effect: Effect<Fiber<(), String>, String> = Effect::new(|_| async move {
        let first = yield_now::<String>().into_future();
        let second = never::<(), String>().fork_daemon::<String>().into_future();
        let (first, second) = futures::join!(first, second);
        first?;
        second
    });
    let daemon = rt.run(effect).await.expect("the fork succeeds");
    assert_eq!(rt.live_fibers(), 1, "the daemon is counted");
    let _ = rt.run(daemon.interrupt::<()>()).await;
    assert_eq!(rt.live_fibers(), 0);
}

#[tokio::test]
async fn a_fork_inside_an_uninterruptible_region_is_uninterruptible_unless_it_opts_out() {
    let (clock, rt) = test_env();
    let log = Log::default();
    // Interruption status is inherited (as in ZIO and Effect-TS): the child finishes its work
    // before the interrupt takes effect. (Daemons here, so that the forking run can end
    // without reaping them.)
    let inherited = sleep::<()>(ms(100))
        .flat_map({
            let log = log.clone();
            move |()| log.note("inherited finished")
        })
        .fork_daemon::<()>()
        .uninterruptible();
    let fiber = rt.run(inherited).await.unwrap();
    let interrupting = rt.fork(fiber.interrupt::<()>());
    clock.advance(ms(50)).await;
    assert!(!interrupting.is_done(), "the child cannot be interrupted");
    clock.advance(ms(50)).await;
    let exit = rt.run(interrupting.join()).await.unwrap();
    assert_eq!(exit, Ok(()), "it finished its work");
    assert_eq!(log.events(), ["inherited finished"]);

    // `interruptible` opts the child's effect out.
    let opted_out = sleep::<()>(ms(100))
        .flat_map({
            let log = log.clone();
            move |()| log.note("opted out finished")
        })
        .interruptible()
        .fork_daemon::<()>()
        .uninterruptible();
    let fiber = rt.run(opted_out).await.unwrap();
    let exit = rt.run(fiber.interrupt::<()>()).await.unwrap();
    assert!(exit.unwrap_err().is_interrupted());
    assert_eq!(log.count("opted out finished"), 0);
    assert_eq!(rt.live_fibers(), 0);
}

#[tokio::test]
async fn an_interrupt_during_the_last_finalizer_of_a_fiber_takes_effect_when_it_ends() {
    let (clock, rt) = test_env();
    let log = Log::default();
    let guarded = sleep::<()>(ms(10))
        .as_value(18u32)
        .ensuring(sleep(ms(100)).flat_map({
            let log = log.clone();
            move |()| log.note("finalizer finished")
        }));
    let fiber = rt.fork(guarded);
    clock.advance(ms(20)).await;
    let interrupting = rt.fork(fiber.interrupt::<()>());
    clock.advance(ms(100)).await;
    let exit = rt.run(interrupting.join()).await.unwrap();
    // The finalizer ran to its end, and the value it guarded is discarded.
    assert!(exit.unwrap_err().is_interrupted());
    assert_eq!(log.events(), ["finalizer finished"]);
    assert_eq!(rt.live_fibers(), 0);
}

#[tokio::test]
async fn poll_gives_the_exit_of_a_finished_fiber_and_the_handle_of_a_running_one() {
    let (clock, rt) = test_env();
    let slow = rt.fork(sleep::<String>(secs(1)).as_value(5));
    let slow = match slow.poll() {
        Ok(exit) => panic!("finished before its time: {exit:?}"),
        Err(handle) => handle,
    };
    clock.advance(secs(1)).await;
    assert_eq!(slow.poll().ok(), Some(Ok(5)));
    let failed = rt.fork(fail::<u32, String>("no".into()));
    clock.advance(ms(1)).await;
    let exit = failed.poll().expect("finished");
    assert_eq!(exit.unwrap_err().failure(), Some(&"no".to_string()));
    assert_eq!(rt.live_fibers(), 0);
}
