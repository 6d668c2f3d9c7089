//! `Runtime::dump`: each waiting kind shows up as what the fiber waits on (a virtual sleep
//! at its exact deadline, a join of the right fiber, the same id for fibers waiting on the
//! same object), a closing fiber and its interrupted child, a live sleep and a future of
//! its own, parents and names in the tree; and nothing is listed once the fibers are gone.
//! On a `TestClock`, `advance(ZERO)` returns once every fiber on the clock waits, so each
//! dump is taken at a deterministic point. Each scenario runs on both runtime flavours.

use std::time::Duration;

use effect::dump::{FiberDump, FiberSnapshot, FiberStatus, WaitingOn};
use effect::prelude::*;
use effect::{
    from_async, Clock, Context, Deferred, Pool, Queue, QueueShutdown, Runtime, Semaphore,
};

crate::tokio_tests_on_both_flavours!(
    every_waiting_kind_is_named_in_the_dump,
    a_closing_fiber_waits_for_its_interrupted_child,
    live_sleeps_and_futures_of_their_own,
    an_empty_runtime_dumps_nothing,
);

fn on_test_clock() -> (TestClock, Runtime) {
    let clock = TestClock::new();
    let runtime = Runtime::new(Context::new().with(Clock::from(clock.clone())));
    (clock, runtime)
}

fn status<'a>(dump: &'a FiberDump, name: &str) -> &'a FiberSnapshot {
    dump.named(name)
        .unwrap_or_else(|| panic!("no fiber named {name:?} in\n{dump}"))
}

fn waiting_on(dump: &FiberDump, name: &str) -> WaitingOn {
    match &status(dump, name).status {
        FiberStatus::Waiting(on) => on.clone(),
        other => panic!("{name:?} is {other}, not waiting, in\n{dump}"),
    }
}

/// Fibers each suspended on another kind of thing, all started by one service fiber.
async fn every_waiting_kind_is_named_in_the_dump() {
    let (clock, runtime) = on_test_clock();
    let gate: Deferred<()> = Deferred::new();
    let empty: Queue<u32> = Queue::bounded(4);
    let full: Queue<u32> = Queue::bounded(1);
    let semaphore = Semaphore::new(1);
    let service = {
        let (gate, empty, full, semaphore) =
            (gate.clone(), empty.clone(), full.clone(), semaphore.clone());
        scoped(effect_block! {
            // What the service holds, for the others to wait on.
            let pool = Pool::make(|| succeed::<u32, String>(1), 1..=1)?;
            let _item = pool.get()?;
            semaphore.permits::<String>(1)?;
            full.offer::<QueueShutdown>(1).map_err(|_| "shut".to_string())?;

            let sleeper = sleep::<String>(secs(30)).fork_named("sleeper")?;
            sleeper.join().fork_named("joiner")?;
            gate.wait::<String>().fork_named("gate-1")?;
            gate.wait::<String>().fork_named("gate-2")?;
            empty.take::<QueueShutdown>().fork_named("taker")?;
            full.offer::<QueueShutdown>(2).fork_named("offerer")?;
            semaphore.with_permits(1, succeed::<(), String>(())).fork_named("permits")?;
            scoped(pool.get()).fork_named("pool-waiter")?;
            race(vec![never::<(), String>(), never()]).fork_named("racer")?;
            zip_par((never::<(), String>(), never::<(), String>())).fork_named("group")?;
            never::<(), String>().fork_named("idle")?;
            gate.wait()?;
        })
    };
    let service = runtime.fork_named("service", service);
    clock.advance(Duration::ZERO).await;

    let dump = runtime.dump();
    assert_eq!(dump.len(), 12, "the service and its 11 forks:\n{dump}");
    assert_eq!(
        waiting_on(&dump, "sleeper"),
        WaitingOn::VirtualSleep { until: secs(30) }
    );
    let sleeper = status(&dump, "sleeper").id;
    assert_eq!(waiting_on(&dump, "joiner"), WaitingOn::Join(sleeper));
    let gate_1 = waiting_on(&dump, "gate-1");
    assert!(matches!(gate_1, WaitingOn::Deferred { .. }), "{dump}");
    assert_eq!(waiting_on(&dump, "gate-2"), gate_1, "one Deferred, one id");
    assert_eq!(waiting_on(&dump, "service"), gate_1);
    let taker = waiting_on(&dump, "taker");
    let offerer = waiting_on(&dump, "offerer");
    assert!(matches!(taker, WaitingOn::QueueTake { .. }), "{dump}");
    assert!(matches!(offerer, WaitingOn::QueueOffer { .. }), "{dump}");
    let (WaitingOn::QueueTake { id: a }, WaitingOn::QueueOffer { id: b }) = (taker, offerer) else {
        unreachable!()
    };
    assert_ne!(a, b, "two queues, two ids");
    assert!(matches!(
        waiting_on(&dump, "permits"),
        WaitingOn::Semaphore { .. }
    ));
    assert!(matches!(
        waiting_on(&dump, "pool-waiter"),
        WaitingOn::Pool { .. }
    ));
    assert_eq!(
        waiting_on(&dump, "racer"),
        WaitingOn::Members { running: 2 }
    );
    assert_eq!(
        waiting_on(&dump, "group"),
        WaitingOn::Members { running: 2 }
    );
    assert_eq!(waiting_on(&dump, "idle"), WaitingOn::Never);

    // The tree: the service at the root, every other fiber under it.
    for fiber in dump.fibers() {
        let expected = (fiber.id != service.id()).then_some(service.id());
        assert_eq!(fiber.parent, expected, "{dump}");
        assert!(!fiber.interrupted);
    }
    let printed = dump.to_string();
    assert!(printed.starts_with("12 live fiber(s)\n"), "{printed}");
    let service_line = format!("{} \"service\" ", service.id());
    assert!(
        printed.lines().nth(1).unwrap().starts_with(&service_line),
        "{printed}"
    );
    assert_eq!(
        printed
            .lines()
            .filter(|line| line.starts_with("├─ ") || line.starts_with("└─ "))
            .count(),
        11,
        "{printed}"
    );
    assert!(printed.contains("\"sleeper\""), "{printed}");
    assert!(
        printed.contains("waiting: sleep until virtual time 30s"),
        "{printed}"
    );

    // Time moves: the sleeper and its joiner finish and leave the dump.
    clock.advance(secs(30)).await;
    let dump = runtime.dump();
    assert!(dump.named("sleeper").is_none() && dump.named("joiner").is_none());
    assert_eq!(dump.len(), 10, "{dump}");
    runtime.shutdown().await;
    assert!(runtime.dump().is_empty());
    assert_eq!(runtime.live_fibers(), 0);
}

/// A fiber interrupted while its child's finalizer waits: the parent is closing, the child
/// is interrupted and waits in its finalizer, the interrupter joins the parent.
async fn a_closing_fiber_waits_for_its_interrupted_child() {
    let (clock, runtime) = on_test_clock();
    let release: Deferred<()> = Deferred::new();
    let child = never::<(), String>().ensuring(release.wait::<Never>());
    let parent = runtime.fork_named(
        "parent",
        effect_block! {
            child.fork_named("child")?;
            never::<(), String>()?;
        },
    );
    clock.advance(Duration::ZERO).await;
    let parent_id = parent.id();
    let interrupter = runtime.fork_named("interrupter", parent.interrupt::<String>());
    clock.advance(Duration::ZERO).await;

    let dump = runtime.dump();
    assert_eq!(dump.len(), 3, "{dump}");
    let closing = status(&dump, "parent");
    assert_eq!(
        closing.status,
        FiberStatus::Waiting(WaitingOn::Closing { children: 1 }),
        "{dump}"
    );
    assert!(closing.interrupted);
    let finalizing = status(&dump, "child");
    assert!(
        matches!(
            finalizing.status,
            FiberStatus::Waiting(WaitingOn::Deferred { .. })
        ),
        "{dump}"
    );
    assert!(finalizing.interrupted);
    assert_eq!(finalizing.parent, Some(parent_id));
    assert_eq!(waiting_on(&dump, "interrupter"), WaitingOn::Join(parent_id));
    assert!(dump.to_string().contains("(interrupted)"));

    runtime.run(release.complete::<Never>(())).await.unwrap();
    clock.advance(Duration::ZERO).await;
    let exit = runtime.run(interrupter.join()).await.unwrap();
    assert!(
        exit.is_err_and(|cause| cause.is_interrupted()),
        "the parent was interrupted"
    );
    assert!(runtime.dump().is_empty(), "{}", runtime.dump());
    assert_eq!(runtime.live_fibers(), 0);
}

/// On the live clock a sleep shows the time it has left; a `from_async` future its own.
async fn live_sleeps_and_futures_of_their_own() {
    let runtime = Runtime::new(Context::new());
    runtime.fork_named("napper", sleep::<Never>(secs(3600)));
    runtime.fork_named(
        "outside",
        from_async::<(), Never, _, _>(std::future::pending),
    );
    // Both start on the tokio runtime and suspend; no timing involved, only turns.
    let mut turns = 0;
    let dump = loop {
        let dump = runtime.dump();
        let waiting = dump
            .fibers()
            .iter()
            .all(|fiber| matches!(fiber.status, FiberStatus::Waiting(_)));
        if dump.len() == 2 && waiting {
            break dump;
        }
        turns += 1;
        assert!(turns < 100_000, "never suspended:\n{dump}");
        tokio::task::yield_now().await;
    };
    let WaitingOn::Sleep { remaining } = waiting_on(&dump, "napper") else {
        panic!("a live sleep:\n{dump}")
    };
    assert!(remaining <= secs(3600) && remaining > secs(3000), "{dump}");
    assert_eq!(waiting_on(&dump, "outside"), WaitingOn::External);
    assert!(
        status(&dump, "napper").parent.is_none(),
        "started from outside"
    );
    runtime.shutdown().await;
    assert!(runtime.dump().is_empty());
}

async fn an_empty_runtime_dumps_nothing() {
    let (_clock, runtime) = on_test_clock();
    let dump = runtime.dump();
    assert!(dump.is_empty());
    assert_eq!(dump.to_string(), "0 live fiber(s)\n");
    // A root run in progress is listed, running; after it, nothing.
    let seen = runtime
        .run(effect::sync::<_, Never, _>({
            let runtime = runtime.clone();
            move || runtime.dump()
        }))
        .await
        .unwrap();
    assert_eq!(seen.len(), 1, "{seen}");
    assert_eq!(seen.fibers()[0].status, FiberStatus::Running);
    assert!(runtime.dump().is_empty());
}
