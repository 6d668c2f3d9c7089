//! Scenarios that try to break "no child outlives its region", on both runtime flavours:
//! interrupt storms, runs dropped mid-flight, panicking finalizers in every kind of region,
//! shutdown in the middle of races and groups, very wide regions. After each, no fiber is
//! alive and every finalizer ran exactly once.

use crate::common;

use common::within;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use effect::prelude::*;
use effect::Context;
use effect::{Deferred, Runtime};

/// Runs the scenario `$body` (an async fn taking no argument) on a current-thread and on a
/// two-worker multi-thread runtime.
macro_rules! on_both_flavours {
    ($($name:ident => $body:expr;)+) => {
        mod current_thread {
            $(
                #[tokio::test(flavor = "current_thread")]
                async fn $name() {
                    $body.await
                }
            )+
        }
        mod multi_thread {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    $body.await
                }
            )+
        }
    };
}

on_both_flavours! {
    interrupt_storm_over_races_timeouts_and_groups => super::interrupt_storm();
    runs_dropped_mid_flight_still_run_every_finalizer_once => super::dropped_runs();
    panicking_finalizers_in_every_kind_of_region_are_kept_and_leak_nothing => super::panicking_finalizers();
    shutdown_in_the_middle_of_regions_runs_every_finalizer => super::shutdown_mid_regions();
    hundred_thousand_wide_zip_par_and_race => super::very_wide();
    deeply_nested_mixed_regions_unwind_completely => super::deep_mixed();
}

/// Counts finalizer runs.
#[derive(Clone, Default)]
struct Finalized(Arc<AtomicUsize>);

impl Finalized {
    fn guard<A: Send + 'static, E: Send + 'static>(&self, effect: Effect<A, E>) -> Effect<A, E> {
        let count = self.0.clone();
        effect.ensuring(sync(move || {
            count.fetch_add(1, Ordering::SeqCst);
        }))
    }
    fn get(&self) -> usize {
        self.0.load(Ordering::SeqCst)
    }
}

/// Yields `n` times, then succeeds with `value`: work that takes scheduler turns, no clock.
fn turns<A: Send + 'static>(n: usize, value: A) -> Effect<A, String> {
    let mut effect = yield_now::<String>();
    for _ in 1..n {
        effect = effect.flat_map(|()| yield_now());
    }
    effect.as_value(value)
}

/// Waits until every fiber of `runtime` is done (finalizers spawned by drops included).
///
/// Waits for the runtime to say so, not for a number of yields: on a multi-thread runtime a
/// yield can come straight back to this task while the other worker still runs what a drop
/// spawned (100,000 yields took 1.6 ms there, and the rest then took up to 4).
async fn settle(runtime: &Runtime) {
    within(runtime.until_idle()).await;
}

/// A program with every kind of region, each member guarded, that never finishes.
fn busy_program(finalized: &Finalized, seed: usize) -> Effect<u32, String> {
    let f = finalized;
    let racers = race([
        f.guard(never::<u32, String>()),
        f.guard(turns(1000 + seed % 7, 1).flat_map(|_| never())),
    ]);
    let timed = f.guard(racers).timeout(secs(3600)).map(|v| v.unwrap_or(0));
    let group = zip_par((
        f.guard(timed),
        f.guard(for_each_par(
            0..4u32,
            |i| turns(3, i).flat_map(|_| never::<u32, String>()),
            2,
        )),
        f.guard(never::<u32, String>().fork().flat_map(|fiber| fiber.join())),
    ));
    f.guard(group.map(|(a, _, c)| a + c))
}

/// How many finalizers `busy_program` has once all its parts started: 2 racers + race +
/// timeout + for_each_par + forked child + fork's parent + zip_par = 8.
const BUSY_FINALIZERS: usize = 8;

async fn interrupt_storm() {
    let runtime = Runtime::new(Context::new());
    let finalized = Finalized::default();
    let mut started = 0;
    for round in 0..100 {
        let fiber = runtime.fork(busy_program(&finalized, round));
        // Interrupt at a different point of the program's start each round.
        for _ in 0..round % 13 {
            tokio::task::yield_now().await;
        }
        let exit = runtime.run(fiber.interrupt::<String>()).await.unwrap();
        assert!(exit.unwrap_err().is_interrupted());
        assert_eq!(runtime.live_fibers(), 0, "round {round}");
        started += 1;
    }
    assert!(finalized.get() <= started * BUSY_FINALIZERS);
    // Interrupting many at once.
    let fibers: Vec<_> = (0..50)
        .map(|i| runtime.fork(busy_program(&finalized, i)))
        .collect();
    tokio::task::yield_now().await;
    let interrupts: Vec<_> = fibers
        .into_iter()
        .map(|fiber| fiber.interrupt::<String>())
        .collect();
    let exits = runtime.run(zip_par(interrupts)).await.unwrap();
    assert!(exits
        .iter()
        .all(|exit| exit.as_ref().unwrap_err().is_interrupted()));
    assert_eq!(runtime.live_fibers(), 0);
}

async fn dropped_runs() {
    let runtime = Runtime::new(Context::new());
    let finalized = Finalized::default();
    for polls in [1usize, 2, 5, 20, 100] {
        let before = finalized.get();
        let reached: Deferred<()> = Deferred::new();
        let signal = reached.complete::<String>(());
        let busy = {
            let finalized = finalized.clone();
            move |_| busy_program(&finalized, polls)
        };
        let program = finalized.guard(signal.flat_map(busy));
        let mut run = Box::pin(runtime.run(program));
        for _ in 0..polls {
            assert!(futures::poll!(run.as_mut()).is_pending());
            tokio::task::yield_now().await;
        }
        drop(run);
        settle(&runtime).await;
        let ran = finalized.get() - before;
        assert!(ran >= 1, "the outer finalizer ran after {polls} polls");
        assert!(ran <= BUSY_FINALIZERS + 1);
    }
}

async fn panicking_finalizers() {
    let runtime = Runtime::new(Context::new());
    let panicking = || sync::<(), Never, _>(|| panic!("finalizer panicked"));
    // A race loser whose cleanup panics as it is interrupted: the defect is kept, and (as
    // with a finalizer that dies) the success becomes it.
    let raced = race([turns(3, 1u32), never::<u32, String>().ensuring(panicking())]);
    let cause = runtime.run(raced).await.unwrap_err();
    assert!(cause.is_die(), "{cause:?}");
    // A timed-out effect whose finalizer panics: the defect is kept.
    let timed = never::<u32, String>().ensuring(panicking()).timeout(ms(0));
    let cause = runtime.run(timed).await.unwrap_err();
    assert!(cause.is_die(), "the defect is kept: {cause:?}");
    // A group sibling whose finalizer panics while the group fails fast: both kept. The
    // failing member waits until its sibling is inside its `ensuring`: a member interrupted
    // before its task first ran never entered it, and owes no finalizer (on a multi-thread
    // runtime a few yields of one member do not promise that the other has started).
    let inside: Deferred<()> = Deferred::new();
    let group = zip_par((
        inside
            .wait::<String>()
            .flat_map(|()| fail::<u32, String>("first".into())),
        inside
            .complete::<String>(())
            .flat_map(|_| never::<u32, String>())
            .ensuring(panicking()),
    ));
    let cause = runtime.run(group).await.unwrap_err();
    assert_eq!(cause.failure(), Some(&"first".to_string()));
    assert!(cause.is_die(), "the sibling's defect is kept: {cause:?}");
    // A fork whose finalizer panics when its parent ends: the defect is in the fork's own
    // exit, for its handle; the parent's value stands.
    let parent = never::<(), String>()
        .ensuring(panicking())
        .fork::<String>()
        .flat_map(|_| turns(2, 7u32));
    assert_eq!(runtime.run(parent).await, Ok(7));
    assert_eq!(runtime.live_fibers(), 0);
}

async fn shutdown_mid_regions() {
    let runtime = Runtime::new(Context::new());
    let finalized = Finalized::default();
    let started: Vec<Deferred<()>> = (0..10).map(|_| Deferred::new()).collect();
    for (i, started) in started.iter().enumerate() {
        let signal = started.complete::<String>(());
        let program = signal.flat_map({
            let finalized = finalized.clone();
            move |_| busy_program(&finalized, i)
        });
        let _ = runtime.fork(finalized.guard(program));
    }
    for started in &started {
        started.wait::<()>().run(&Context::new()).await.unwrap();
    }
    // Let the programs get into their regions.
    for _ in 0..50 {
        tokio::task::yield_now().await;
    }
    runtime.shutdown().await;
    assert_eq!(runtime.live_fibers(), 0);
    assert!(finalized.get() >= 10, "every outer finalizer ran");
}

async fn very_wide() {
    const WIDTH: usize = 100_000;
    let runtime = Runtime::new(Context::new());
    let finalized = Finalized::default();
    let branches: Vec<Effect<usize, String>> = (0..WIDTH)
        .map(|i| finalized.guard(turns(1 + i % 3, i)))
        .collect();
    let values = runtime.run(zip_par(branches)).await.unwrap();
    assert_eq!(values.len(), WIDTH);
    assert_eq!(values[WIDTH - 1], WIDTH - 1);
    assert_eq!(finalized.get(), WIDTH);

    // A race of 100,000: one wins; every loser is interrupted and finalized once.
    let finalized = Finalized::default();
    let mut branches: Vec<Effect<usize, String>> =
        (0..WIDTH - 1).map(|_| finalized.guard(never())).collect();
    branches.push(finalized.guard(turns(5, 42)));
    assert_eq!(runtime.run(race(branches)).await, Ok(42));
    assert_eq!(finalized.get(), WIDTH);
    assert_eq!(runtime.live_fibers(), 0);
}

/// A tree of regions, `depth` deep, alternating race, zip_par, timeout and fork; its leaves
/// never finish.
fn tree(depth: usize, finalized: &Finalized) -> Effect<u32, String> {
    if depth == 0 {
        return finalized.guard(turns(2, 0).flat_map(|_| never()));
    }
    let below = || tree(depth - 1, finalized);
    let level = match depth % 4 {
        0 => race([below(), below()]),
        1 => zip_par((below(), below())).map(|(a, b)| a + b),
        2 => below().timeout(secs(3600)).map(|v| v.unwrap_or(0)),
        _ => below().fork().flat_map(|fiber| fiber.join()),
    };
    finalized.guard(level)
}

async fn run_interrupted<A: Send + 'static>(
    runtime: &Runtime,
    effect: Effect<A, String>,
    yields: usize,
) {
    let fiber = runtime.fork(effect);
    for _ in 0..yields {
        tokio::task::yield_now().await;
    }
    let exit = runtime.run(fiber.interrupt::<String>()).await.unwrap();
    assert!(exit.is_err());
    assert_eq!(runtime.live_fibers(), 0);
}

async fn deep_mixed() {
    let runtime = Runtime::new(Context::new());
    for yields in [0, 3, 50, 500] {
        let finalized = Finalized::default();
        run_interrupted(&runtime, tree(9, &finalized), yields).await;
    }
}
