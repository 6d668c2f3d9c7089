//! Supervisor: each strategy and restart policy, with every start and stop logged at its
//! exact virtual instant; the intensity limit and its period; a backoff schedule that stops;
//! escalation through a nested supervisor; shutdown in reverse start order with each child's
//! timeout; restarts under an interrupt storm. Each scenario runs on both runtime flavours,
//! with `live_fibers() == 0` checked after it.

use crate::common;

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;

use common::Log;
use effect::prelude::*;
use effect::supervisor::{Child, Restart, Strategy, Supervisor, SupervisorError};

crate::effect_tests_on_both_flavours! {
    supervisors:
    one_for_one_restarts_the_child_alone_at_its_backoff_delays => one_for_one;
    one_for_all_stops_the_others_in_reverse_and_starts_all_in_order => one_for_all;
    rest_for_one_restarts_the_child_and_those_started_after_it => rest_for_one;
    permanent_transient_and_temporary_children_are_restarted_as_otp_says => policies;
    a_temporary_sibling_stopped_by_a_restart_is_not_started_again => temporary_sibling;
    more_restarts_than_the_intensity_within_its_period_give_up => intensity;
    restarts_further_apart_than_the_period_never_give_up => intensity_period;
    a_backoff_schedule_that_stops_gives_up => backoff_stops;
    a_nested_supervisor_that_gives_up_escalates_to_its_parent => escalation;
    shutdown_stops_children_in_reverse_order_each_within_its_timeout => shutdown_order;
    an_interrupt_storm_leaves_every_started_child_stopped => interrupt_storm;
    a_stop_cut_short_is_finished_in_order_by_the_closing => cut_short;
    a_supervisor_with_no_children_or_none_left_to_run_succeeds => nothing_to_run;
}

/// A child that logs `name+T` as it starts and `name-T` as it ends (however it ends), `T`
/// the virtual time in milliseconds, and otherwise does what `behaviour` (given how many
/// times it started before) says.
fn child(
    log: &Log,
    clock: &TestClock,
    name: &'static str,
    behaviour: impl Fn(u32) -> Effect<(), String> + Send + Sync + 'static,
) -> Child {
    let (log, clock) = (log.clone(), clock.clone());
    let starts = Arc::new(AtomicU32::new(0));
    Child::new(name, move || {
        let n = starts.fetch_add(1, Ordering::SeqCst);
        let (start, end) = (
            stamp(&log, &clock, name, '+'),
            stamp(&log, &clock, name, '-'),
        );
        let body = behaviour(n);
        start.flat_map(move |()| body).ensuring(end)
    })
}

/// The log's events, each run of starts at one instant sorted by name: a supervisor starts
/// its children in order, but each on a fiber of its own, and on a multi-thread runtime
/// their first steps at one instant may interleave. (Stops are awaited one at a time, so
/// their order is the supervisor's.)
fn events(log: &Log) -> Vec<String> {
    let mut events = log.events();
    let time = |event: &str| event.split(['+', '-', '!']).nth(1).map(str::to_string);
    let mut start = 0;
    while start < events.len() {
        let mut end = start;
        while end < events.len()
            && events[end].contains('+')
            && time(&events[end]) == time(&events[start])
        {
            end += 1;
        }
        events[start..end.max(start + 1)].sort();
        start = end.max(start + 1);
    }
    events
}

fn stamp<E: Send + 'static>(log: &Log, clock: &TestClock, name: &str, sign: char) -> Effect<(), E> {
    let (log, clock, name) = (log.clone(), clock.clone(), name.to_string());
    sync(move || log.push(format!("{name}{sign}{}", clock.current_time().as_millis())))
}

/// Runs forever.
fn forever(_: u32) -> Effect<(), String> {
    never()
}

/// Crashes (a defect) after `after` each time it runs.
fn crashes_after(after: std::time::Duration) -> impl Fn(u32) -> Effect<(), String> + Send + Sync {
    move |_| sleep(after).flat_map(|()| die("crashed"))
}

/// Crashes after `after` the first time it runs; runs forever after that.
fn crashes_once_after(
    after: std::time::Duration,
) -> impl Fn(u32) -> Effect<(), String> + Send + Sync {
    move |n| match n {
        0 => crashes_after(after)(n),
        _ => never(),
    }
}

/// Runs `supervisor` for `time` of the test clock, then interrupts it (it stops its
/// children), and gives what `log` recorded (see [`events`]).
fn run_then_stop(
    supervisor: Supervisor,
    clock: &TestClock,
    time: std::time::Duration,
    log: &Log,
) -> Effect<Vec<String>, String> {
    let (clock, log) = (clock.clone(), log.clone());
    effect_block! {
        let running = supervisor.run().map_err(|e| e.to_string()).fork()?;
        clock.advance(time).await;
        assert!(running.interrupt::<String>()?.unwrap_err().is_interrupted());
        events(&log)
    }
}

fn one_for_one(clock: TestClock) -> Effect<(), String> {
    let log = Log::default();
    let supervisor = Supervisor::new("app")
        .intensity(10, secs(60))
        .backoff(Schedule::exponential(ms(100)))
        .child(child(&log, &clock, "a", crashes_after(secs(1))))
        .child(child(&log, &clock, "b", forever));
    effect_block! {
        let events = run_then_stop(supervisor, &clock, ms(2300), &log)?;
        assert_eq!(
            events,
            // a crashes at 1 s and restarts 100 ms later; again at 2.1 s, 200 ms later; on
            // shutdown b (started last) stops first.
            ["a+0", "b+0", "a-1000", "a+1100", "a-2100", "a+2300", "b-2300", "a-2300"]
        );
    }
}

fn one_for_all(clock: TestClock) -> Effect<(), String> {
    let log = Log::default();
    let supervisor = Supervisor::new("app")
        .strategy(Strategy::OneForAll)
        .child(child(&log, &clock, "a", forever))
        .child(child(&log, &clock, "b", crashes_once_after(secs(1))))
        .child(child(&log, &clock, "c", forever));
    effect_block! {
        let events = run_then_stop(supervisor, &clock, secs(2), &log)?;
        assert_eq!(
            events,
            [
                "a+0", "b+0", "c+0",
                "b-1000", "c-1000", "a-1000", // b crashed; c, then a, stopped
                "a+1000", "b+1000", "c+1000", // all started again, in order
                "c-2000", "b-2000", "a-2000", // shutdown
            ]
        );
    }
}

fn rest_for_one(clock: TestClock) -> Effect<(), String> {
    let log = Log::default();
    let supervisor = Supervisor::new("app")
        .strategy(Strategy::RestForOne)
        .backoff(Schedule::spaced(ms(50)))
        .child(child(&log, &clock, "a", forever))
        .child(child(&log, &clock, "b", crashes_once_after(secs(1))))
        .child(child(&log, &clock, "c", forever))
        .child(child(&log, &clock, "d", forever));
    effect_block! {
        let events = run_then_stop(supervisor, &clock, secs(2), &log)?;
        assert_eq!(
            events,
            [
                "a+0", "b+0", "c+0", "d+0",
                "b-1000", "d-1000", "c-1000", // b crashed; those after it stopped, last first
                "b+1050", "c+1050", "d+1050", // after the backoff, in order; a untouched
                "d-2000", "c-2000", "b-2000", "a-2000",
            ]
        );
    }
}

fn policies(clock: TestClock) -> Effect<(), String> {
    let log = Log::default();
    let finishing = |after| move |_| sleep(after);
    let failing = |after| {
        move |n: u32| match n {
            0 => sleep(after).flat_map(|()| fail("failed".to_string())),
            _ => sleep(after),
        }
    };
    let supervisor = Supervisor::new("app")
        .intensity(10, secs(60))
        // Finishes each time: restarted each time (at 1 s, 2 s, 3 s ...).
        .child(child(&log, &clock, "permanent", finishing(secs(1))))
        // Finishes: not restarted.
        .child(child(&log, &clock, "transient_ok", finishing(ms(500))).restart(Restart::Transient))
        // Fails once, then finishes: restarted once.
        .child(child(&log, &clock, "transient_err", failing(ms(700))).restart(Restart::Transient))
        // Fails: never restarted.
        .child(child(&log, &clock, "temporary", failing(ms(300))).restart(Restart::Temporary));
    effect_block! {
        let events = run_then_stop(supervisor, &clock, ms(2500), &log)?;
        assert_eq!(
            events,
            [
                "permanent+0", "temporary+0", "transient_err+0", "transient_ok+0",
                "temporary-300",
                "transient_ok-500",
                "transient_err-700", "transient_err+700",
                "permanent-1000", "permanent+1000",
                "transient_err-1400",
                "permanent-2000", "permanent+2000",
                "permanent-2500",
            ]
        );
    }
}

fn temporary_sibling(clock: TestClock) -> Effect<(), String> {
    let log = Log::default();
    let supervisor = Supervisor::new("app")
        .strategy(Strategy::OneForAll)
        .child(child(&log, &clock, "helper", forever).restart(Restart::Temporary))
        .child(child(&log, &clock, "worker", crashes_once_after(secs(1))));
    effect_block! {
        let events = run_then_stop(supervisor, &clock, secs(2), &log)?;
        assert_eq!(
            events,
            ["helper+0", "worker+0", "worker-1000", "helper-1000", "worker+1000", "worker-2000"]
        );
    }
}

fn intensity(clock: TestClock) -> Effect<(), String> {
    let log = Log::default();
    let supervisor = Supervisor::new("app")
        .intensity(2, secs(10))
        .child(child(&log, &clock, "steady", forever))
        .child(child(&log, &clock, "crashing", crashes_after(secs(1))));
    effect_block! {
        let running = supervisor.run().fork()?;
        clock.advance(secs(3)).await;
        let error: SupervisorError = running.join().result()?.unwrap_err();
        // Two restarts (at 1 s and 2 s) are allowed; the end at 3 s is one too many.
        assert_eq!(error.supervisor, "app");
        assert_eq!(error.ends.len(), 3);
        assert!(error.ends.iter().all(|(child, end)| child == "crashing"
            && end.as_ref().unwrap_err().is_die()));
        assert!(error.to_string().starts_with("supervisor app gave up after 2 restarts; crashing: "));
        assert_eq!(
            events(&log),
            [
                "crashing+0", "steady+0",
                "crashing-1000", "crashing+1000",
                "crashing-2000", "crashing+2000",
                "crashing-3000", "steady-3000", // gave up: every child stopped
            ]
        );
    }
}

fn intensity_period(clock: TestClock) -> Effect<(), String> {
    let log = Log::default();
    let supervisor = Supervisor::new("app").intensity(1, secs(10)).child(child(
        &log,
        &clock,
        "crashing",
        crashes_after(secs(10)),
    ));
    effect_block! {
        let running = supervisor.run().fork()?;
        // An end every 10 s: the one before has always left the period.
        clock.advance(secs(60)).await;
        assert!(!running.is_done());
        assert!(running.interrupt::<String>()?.is_err());
        assert_eq!(log.count("crashing+50000"), 1);
        let early = Supervisor::new("early")
            .intensity(1, secs(10))
            .child(child(&log, &clock, "fast", crashes_after(secs(6))));
        let running = early.run().fork()?;
        clock.advance(secs(12)).await; // ends at 6 s and 12 s: both within 10 s
        assert_eq!(running.join().result()?.unwrap_err().ends.len(), 2);
    }
}

fn backoff_stops(clock: TestClock) -> Effect<(), String> {
    let log = Log::default();
    let supervisor = Supervisor::new("app")
        .intensity(100, secs(60))
        .backoff(Schedule::spaced(ms(100)) & Schedule::recurs(2))
        .child(child(&log, &clock, "a", crashes_after(secs(1))));
    effect_block! {
        let running = supervisor.run().fork()?;
        clock.advance(secs(4)).await;
        let error = running.join().result()?.unwrap_err();
        assert_eq!(error.ends.len(), 3);
        assert_eq!(
            events(&log),
            ["a+0", "a-1000", "a+1100", "a-2100", "a+2200", "a-3200"]
        );
    }
}

fn escalation(clock: TestClock) -> Effect<(), String> {
    let log = Log::default();
    let inner = Supervisor::new("inner").intensity(1, secs(60)).child(child(
        &log,
        &clock,
        "worker",
        crashes_after(secs(1)),
    ));
    let outer = Supervisor::new("outer")
        .intensity(1, secs(60))
        .child(child(&log, &clock, "sibling", forever))
        .child(inner.into_child());
    effect_block! {
        let running = outer.run().fork()?;
        clock.advance(secs(4)).await;
        let error = running.join().result()?.unwrap_err();
        // inner gives up at its worker's second crash (2 s), outer restarts it once, inner
        // gives up again (4 s): outer gives up with inner's two failures.
        assert_eq!(error.supervisor, "outer");
        assert_eq!(error.ends.len(), 2);
        for (child, end) in &error.ends {
            assert_eq!(child, "inner");
            let failure = end.as_ref().unwrap_err().failure().unwrap();
            assert!(failure.starts_with("supervisor inner gave up after 1 restarts"), "{failure}");
        }
        assert_eq!(
            events(&log),
            [
                "sibling+0", "worker+0",
                "worker-1000", "worker+1000",
                "worker-2000", // inner gives up
                "worker+2000", // outer restarts inner
                "worker-3000", "worker+3000",
                "worker-4000", // inner gives up again; outer gives up
                "sibling-4000",
            ]
        );
    }
}

fn shutdown_order(clock: TestClock) -> Effect<(), String> {
    let log = Log::default();
    let slow_to_stop = |log: &Log, clock: &TestClock, name: &'static str| {
        let (log, clock) = (log.clone(), clock.clone());
        move |_: u32| {
            let cleanup = sleep::<Never>(secs(10)).flat_map({
                let (log, clock) = (log.clone(), clock.clone());
                move |()| stamp(&log, &clock, name, '!')
            });
            never::<(), String>().ensuring(cleanup)
        }
    };
    let supervisor = Supervisor::new("app")
        .child(child(&log, &clock, "a", forever).shutdown_timeout(secs(1)))
        .child(child(&log, &clock, "b", slow_to_stop(&log, &clock, "b")).shutdown_timeout(secs(2)))
        .child(child(&log, &clock, "c", forever).shutdown_timeout(secs(1)));
    effect_block! {
        let running = supervisor.run().map_err(|e| e.to_string()).fork()?;
        clock.advance(secs(1)).await;
        let stopping = running.interrupt::<String>().fork()?;
        clock.advance(secs(2)).await;
        // c stopped at once; b did not within its 2 s, so a was stopped at 3 s, b still
        // cleaning up.
        assert_eq!(events(&log), ["a+0", "b+0", "c+0", "c-1000", "a-3000"]);
        assert!(!stopping.is_done(), "the supervisor's fiber waits for b all the same");
        clock.advance(secs(8)).await;
        assert!(stopping.join()?.is_err());
        assert_eq!(events(&log)[5..], ["b!11000", "b-11000"]);
    }
}

/// The supervisor is interrupted while it stops a crashed child's siblings for a restart:
/// the sibling being stopped is not forgotten (S1): the closing waits for it to finish
/// stopping before it stops the next (S3), rather than stop the next beside it.
fn cut_short(clock: TestClock) -> Effect<(), String> {
    let log = Log::default();
    let slow_to_stop = |_: u32| never::<(), String>().ensuring(sleep::<Never>(secs(5)));
    let supervisor = Supervisor::new("app")
        .strategy(Strategy::OneForAll)
        .child(child(&log, &clock, "a", slow_to_stop).shutdown_timeout(secs(60)))
        .child(child(&log, &clock, "b", crashes_once_after(secs(10))))
        .child(child(&log, &clock, "c", slow_to_stop).shutdown_timeout(secs(60)));
    effect_block! {
        let running = supervisor.run().map_err(|e| e.to_string()).fork()?;
        // b crashes at 10 s; c is being stopped (its cleanup takes until 15 s) at 12 s.
        clock.advance(secs(12)).await;
        assert_eq!(events(&log), ["a+0", "b+0", "c+0", "b-10000"]);
        let stopping = running.interrupt::<String>().fork()?;
        clock.advance(secs(20)).await;
        assert!(stopping.join()?.is_err());
        // c finished stopping at 15 s, and only then was a stopped: a-20000, not a-17000.
        assert_eq!(
            events(&log),
            ["a+0", "b+0", "c+0", "b-10000", "c-15000", "a-20000"]
        );
    }
}

fn interrupt_storm(clock: TestClock) -> Effect<(), String> {
    let log = Log::default();
    let mut running = Vec::new();
    for k in 0..40u64 {
        let supervisor = Supervisor::new(format!("s{k}"))
            .strategy(
                [
                    Strategy::OneForOne,
                    Strategy::OneForAll,
                    Strategy::RestForOne,
                ][k as usize % 3],
            )
            .intensity(1000, secs(60))
            .child(child(&log, &clock, "a", crashes_after(ms(1 + k % 3))))
            .child(child(&log, &clock, "b", forever))
            .child(child(&log, &clock, "c", crashes_after(ms(2 + k % 5))));
        running.push(supervisor.run().map_err(|e| e.to_string()));
    }
    effect_block! {
        let mut fibers = Vec::new();
        for supervisor in running {
            fibers.push(supervisor.fork()?);
        }
        for (k, fiber) in fibers.into_iter().enumerate() {
            clock.advance(ms(k as u64 % 4)).await;
            // Interrupted wherever it is: starting, stopping siblings, waiting to restart.
            assert!(fiber.interrupt::<String>()?.is_err());
        }
        let events = log.events();
        let starts = events.iter().filter(|e| e.contains('+')).count();
        let stops = events.iter().filter(|e| e.contains('-')).count();
        assert!(starts > 120, "every supervisor started its children: {starts}");
        assert_eq!(starts, stops, "every child started was stopped, once");
    }
}

fn nothing_to_run(clock: TestClock) -> Effect<(), String> {
    let log = Log::default();
    let done = Supervisor::new("done")
        .child(child(&log, &clock, "job", |_| sleep(secs(1))).restart(Restart::Transient))
        .child(child(&log, &clock, "once", |_| sleep(ms(500))).restart(Restart::Temporary));
    effect_block! {
        Supervisor::new("empty").run().map_err(|e| e.to_string())?;
        let running = done.run().map_err(|e| e.to_string()).fork()?;
        clock.advance(secs(1)).await;
        running.join()?;
        assert_eq!(events(&log), ["job+0", "once+0", "once-500", "job-1000"]);
    }
}

#[test]
#[should_panic(expected = "two children named a")]
fn two_children_of_one_name_are_refused() {
    let _ = Supervisor::new("app")
        .child(Child::new("a", never::<(), String>))
        .child(Child::new("a", never::<(), String>));
}
