//! tracing: fibers and branches run in the span current where they were started; an
//! instrumented effect's span covers exactly its own work and closes when it ends, however it
//! ends; a fiber that dies or is interrupted is reported by one event. Each test collects what
//! it emits with a subscriber of its own (the thread's default, on a current-thread runtime,
//! or set on every worker of a multi-thread one). No test waits on the wall clock.
#![cfg(feature = "tracing")]

#[path = "../../tests/common/mod.rs"]
mod common;

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::{Arc, Mutex};

use common::test_env;
use effect::prelude::*;
use effect::{Context, FiberId, Runtime};
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::layer::{Context as LayerContext, Layer, SubscriberExt};
use tracing_subscriber::registry::LookupSpan;

// --- A collector: every span with its parent and fields, every event with its span scope ---

#[derive(Clone, Debug)]
struct SpanRecord {
    name: &'static str,
    level: Level,
    target: String,
    parent: Option<usize>,
    fields: BTreeMap<String, String>,
    closed: bool,
}

#[derive(Clone, Debug)]
struct EventRecord {
    level: Level,
    target: String,
    fields: BTreeMap<String, String>,
    /// Indices into `Trace::spans`, from the root span to the innermost.
    scope: Vec<usize>,
}

#[derive(Debug, Default)]
struct Trace {
    spans: Vec<SpanRecord>,
    events: Vec<EventRecord>,
}

impl Trace {
    /// The event logged with `note = note` (exactly one).
    fn note(&self, note: &str) -> &EventRecord {
        let found: Vec<&EventRecord> = self
            .events
            .iter()
            .filter(|e| e.fields.get("note").map(String::as_str) == Some(note))
            .collect();
        assert_eq!(found.len(), 1, "one event noting {note:?} in {self:#?}");
        found[0]
    }

    /// The names of the spans an event was logged in, outermost first.
    fn scope_of(&self, event: &EventRecord) -> Vec<&'static str> {
        event.scope.iter().map(|&i| self.spans[i].name).collect()
    }

    /// The spans named `name`.
    fn spans_named(&self, name: &str) -> Vec<&SpanRecord> {
        self.spans.iter().filter(|s| s.name == name).collect()
    }

    /// The runtime's own events (target `effect`) at `level`.
    fn runtime_events(&self, level: Level) -> Vec<&EventRecord> {
        self.events
            .iter()
            .filter(|e| e.target == "effect" && e.level == level)
            .collect()
    }
}

#[derive(Default)]
struct Fields(BTreeMap<String, String>);

impl Visit for Fields {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.insert(field.name().to_string(), value.to_string());
    }

    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.0
            .insert(field.name().to_string(), format!("{value:?}"));
    }
}

/// Where a span's record is, kept in the registry's extensions of the span.
struct Index(usize);

#[derive(Clone, Default)]
struct Collector(Arc<Mutex<Trace>>);

impl<S: Subscriber + for<'a> LookupSpan<'a>> Layer<S> for Collector {
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: LayerContext<'_, S>) {
        let span = ctx.span(id).expect("a new span is registered");
        let parent = span
            .parent()
            .and_then(|p| p.extensions().get::<Index>().map(|i| i.0));
        let mut fields = Fields::default();
        attrs.record(&mut fields);
        let mut trace = self.0.lock().unwrap();
        trace.spans.push(SpanRecord {
            name: attrs.metadata().name(),
            level: *attrs.metadata().level(),
            target: attrs.metadata().target().to_string(),
            parent,
            fields: fields.0,
            closed: false,
        });
        span.extensions_mut().insert(Index(trace.spans.len() - 1));
    }

    fn on_record(&self, id: &Id, values: &Record<'_>, ctx: LayerContext<'_, S>) {
        let Some(index) = ctx
            .span(id)
            .and_then(|s| s.extensions().get::<Index>().map(|i| i.0))
        else {
            return;
        };
        let mut fields = Fields::default();
        values.record(&mut fields);
        self.0.lock().unwrap().spans[index].fields.extend(fields.0);
    }

    fn on_event(&self, event: &Event<'_>, ctx: LayerContext<'_, S>) {
        let scope = ctx
            .event_scope(event)
            .map(|scope| {
                scope
                    .from_root()
                    .filter_map(|s| s.extensions().get::<Index>().map(|i| i.0))
                    .collect()
            })
            .unwrap_or_default();
        let mut fields = Fields::default();
        event.record(&mut fields);
        self.0.lock().unwrap().events.push(EventRecord {
            level: *event.metadata().level(),
            target: event.metadata().target().to_string(),
            fields: fields.0,
            scope,
        });
    }

    fn on_close(&self, id: Id, ctx: LayerContext<'_, S>) {
        if let Some(index) = ctx
            .span(&id)
            .and_then(|s| s.extensions().get::<Index>().map(|i| i.0))
        {
            self.0.lock().unwrap().spans[index].closed = true;
        }
    }
}

impl Collector {
    fn dispatch(&self) -> tracing::Dispatch {
        tracing::Dispatch::new(tracing_subscriber::registry().with(self.clone()))
    }

    fn trace(&self) -> std::sync::MutexGuard<'_, Trace> {
        self.0.lock().unwrap()
    }
}

/// Runs `test` (given a test clock, a runtime whose context holds it, and the collector) on a
/// current-thread tokio runtime, with a fresh collector as this thread's subscriber; checks
/// that no fiber is left, and gives what `test` returned with what was collected.
fn traced<F, Fut, R>(test: F) -> (R, Collector)
where
    F: FnOnce(TestClock, Runtime, Collector) -> Fut,
    Fut: Future<Output = R>,
{
    let collector = Collector::default();
    let result = tracing::dispatcher::with_default(&collector.dispatch(), || {
        let tokio = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a tokio runtime");
        let (clock, rt) = test_env();
        let result = tokio.block_on(test(clock, rt.clone(), collector.clone()));
        assert_eq!(rt.live_fibers(), 0, "no fiber is left");
        result
    });
    (result, collector)
}

/// Logs an `INFO` event with `note = note` from inside an effect.
fn note<E: Send + 'static>(note: &'static str) -> Effect<(), E> {
    sync(move || tracing::info!(note, "noted"))
}

fn request_span() -> tracing::Span {
    tracing::info_span!("request", id = 7)
}

// --- Spans follow fibers: forks and branches run in the span they were started in ---

#[test]
fn par_branches_run_in_the_span_of_the_fiber_that_started_them() {
    let (exit, collector) = traced(|clock, rt, _| async move {
        let work: Effect<((), ()), Never> = par!(
            {
                sleep(secs(1))?;
                note("first branch")?
            },
            {
                yield_now()?;
                note("second branch")?
            }
        );
        let fiber = rt.fork(work.instrument(request_span()));
        clock.advance(secs(1)).await;
        rt.run(fiber.join()).await
    });
    assert_eq!(exit, Ok(((), ())));
    let trace = collector.trace();
    for branch in ["first branch", "second branch"] {
        assert_eq!(trace.scope_of(trace.note(branch)), ["request"], "{branch}");
    }
}

#[test]
fn a_forked_child_or_daemon_runs_in_the_span_current_where_it_was_forked() {
    let (exit, collector) = traced(|clock, rt, _| async move {
        let parent: Effect<(), Never> = effect_block! {
            let child = sleep(secs(1)).flat_map(|()| note("child")).fork()?;
            let daemon = sleep(secs(1)).flat_map(|()| note("daemon")).fork_daemon()?;
            note("parent")?;
            child.join()?;
            daemon.join()?;
        };
        let fiber = rt.fork(parent.with_span("handler").instrument(request_span()));
        clock.advance(secs(1)).await;
        rt.run(fiber.join()).await
    });
    assert_eq!(exit, Ok(()));
    let trace = collector.trace();
    assert_eq!(trace.scope_of(trace.note("parent")), ["request", "handler"]);
    assert_eq!(trace.scope_of(trace.note("child")), ["request", "handler"]);
    assert_eq!(trace.scope_of(trace.note("daemon")), ["request", "handler"]);
}

#[test]
fn a_races_winner_and_loser_run_in_the_racing_fibers_span_and_so_does_the_losers_end() {
    let (exit, collector) = traced(|clock, rt, _| async move {
        let winner = sleep(secs(1)).flat_map(|()| note("winner")).as_value("won");
        let loser = note("loser").flat_map(|()| never());
        let fiber = rt.fork(race([winner, loser]).instrument(request_span()));
        clock.advance(secs(1)).await;
        rt.run(fiber.join()).await
    });
    assert_eq!(exit, Ok::<_, Cause<Never>>("won"));
    let trace = collector.trace();
    assert_eq!(trace.scope_of(trace.note("winner")), ["request"]);
    assert_eq!(trace.scope_of(trace.note("loser")), ["request"]);
    let interrupted = trace.runtime_events(Level::DEBUG);
    assert_eq!(interrupted.len(), 1, "the loser's end: {trace:#?}");
    assert_eq!(trace.scope_of(interrupted[0]), ["request"]);
    assert_eq!(interrupted[0].fields["message"], "fiber interrupted");
}

#[test]
fn a_timeouts_effect_and_for_each_par_items_run_in_the_span_they_were_started_in() {
    let (exit, collector) = traced(|_clock, rt, _| async move {
        let work: Effect<(), Never> = effect_block! {
            note("guarded").timeout(secs(1))?;
            for_each_par(["item 1", "item 2", "item 3"], note::<Never>, 2)?;
        };
        rt.run(work.instrument(request_span())).await
    });
    assert_eq!(exit, Ok(()));
    let trace = collector.trace();
    for note in ["guarded", "item 1", "item 2", "item 3"] {
        assert_eq!(trace.scope_of(trace.note(note)), ["request"], "{note}");
    }
}

#[test]
fn a_named_fibers_work_runs_in_a_span_with_its_name() {
    let (exit, collector) = traced(|clock, rt, _| async move {
        let work: Effect<(FiberId, FiberId), Never> = effect_block! {
            let forked = sleep(secs(1))
                .flat_map(|()| note("forked work"))
                .fork_named("worker")?;
            let renamed = note::<Never>("renamed work").named("renamed").fork()?;
            let ids = (forked.id(), renamed.id());
            forked.join()?;
            renamed.join()?;
            ids
        };
        let fiber = rt.fork(work.instrument(request_span()));
        clock.advance(secs(1)).await;
        rt.run(fiber.join()).await
    });
    let ids = exit.expect("the fibers ran");
    let trace = collector.trace();
    for note in ["forked work", "renamed work"] {
        assert_eq!(trace.scope_of(trace.note(note)), ["request", "fiber"]);
    }
    let spans = trace.spans_named("fiber");
    assert_eq!(spans.len(), 2);
    for (span, (name, id)) in spans.iter().zip([("worker", ids.0), ("renamed", ids.1)]) {
        assert_eq!(span.fields["name"], name);
        assert_eq!(span.fields["fiber"], id.to_string());
        assert_eq!(span.target, "effect");
        assert_eq!(span.level, Level::INFO);
        assert!(span.closed, "closed as the fiber's work ends");
    }
}

#[test]
fn a_dump_names_the_span_each_fiber_started_in() {
    let (spans, _) = traced(|clock, rt, _| async move {
        let parent: Effect<(), Never> = effect_block! {
            never::<(), Never>().fork_named("child")?;
            never::<(), Never>()?;
        };
        rt.fork_named("outside", parent.with_span("handler"));
        {
            let span = request_span();
            let _entered = span.enter();
            rt.fork_named("inside", never::<(), Never>());
        }
        clock.advance(secs(0)).await;
        let dump = rt.dump();
        let span = |name: &str| dump.named(name).map(|fiber| fiber.span);
        let spans = (span("outside"), span("child"), span("inside"));
        assert!(dump.to_string().contains("in span `handler`"), "{dump}");
        rt.shutdown().await;
        spans
    });
    // Started from outside any span; forked in its parent's `handler`; started in `request`.
    assert_eq!(
        spans,
        (Some(None), Some(Some("handler")), Some(Some("request")))
    );
}

#[test]
fn a_fiber_started_with_runtime_fork_runs_in_the_span_current_at_the_call() {
    let (exit, collector) = traced(|clock, rt, _| async move {
        let fiber = {
            let span = request_span();
            let _entered = span.enter();
            rt.fork(sleep(secs(1)).flat_map(|()| note::<Never>("forked")))
        };
        clock.advance(secs(1)).await;
        rt.run(fiber.join()).await
    });
    assert_eq!(exit, Ok(()));
    let trace = collector.trace();
    assert_eq!(trace.scope_of(trace.note("forked")), ["request"]);
}

#[test]
fn a_root_run_runs_in_the_span_its_future_is_polled_in() {
    use tracing::Instrument;
    let (exit, collector) = traced(|_clock, rt, _| async move {
        let work: Effect<((), ()), Never> = par!(note("root branch"), note("root"));
        rt.run(work).instrument(request_span()).await
    });
    assert_eq!(exit, Ok(((), ())));
    let trace = collector.trace();
    assert_eq!(trace.scope_of(trace.note("root")), ["request"]);
    assert_eq!(trace.scope_of(trace.note("root branch")), ["request"]);
}

// --- Instrumented effects: their span covers their work, and closes when they end ---

#[test]
fn with_span_is_a_child_of_the_fibers_span_and_records_the_fibers_id() {
    let ((exit, id), collector) = traced(|_clock, rt, _| async move {
        let fiber = rt.fork(
            note::<Never>("inside")
                .with_span("step")
                .instrument(request_span()),
        );
        let id = fiber.id();
        (rt.run(fiber.join()).await, id)
    });
    assert_eq!(exit, Ok(()));
    let trace = collector.trace();
    assert_eq!(trace.scope_of(trace.note("inside")), ["request", "step"]);
    let step = trace.spans_named("step");
    assert_eq!(step.len(), 1);
    let parent = step[0].parent.expect("created inside the request span");
    assert_eq!(trace.spans[parent].name, "request");
    assert_eq!(step[0].fields["fiber"], id.to_string());
    assert!(step[0].closed);
}

#[test]
fn in_span_makes_its_span_at_its_level_with_its_fields_as_the_effect_starts() {
    let ((exit, id), collector) = traced(|_clock, rt, _| async move {
        // Built outside every span; made as it starts, under the span current in the fiber.
        let load = |note_text: &'static str| {
            let table = "users";
            note::<Never>(note_text).in_span(move || {
                tracing::debug_span!("load", table, rows = 3, fiber = tracing::field::Empty)
            })
        };
        let (first, second) = (load("first load"), load("second load"));
        let twice: Effect<(), Never> = effect_block! {
            first?;
            second?;
        };
        let fiber = rt.fork(twice.instrument(request_span()));
        let id = fiber.id();
        (rt.run(fiber.join()).await, id)
    });
    assert_eq!(exit, Ok(()));
    let trace = collector.trace();
    for note in ["first load", "second load"] {
        assert_eq!(trace.scope_of(trace.note(note)), ["request", "load"]);
    }
    let loads = trace.spans_named("load");
    assert_eq!(loads.len(), 2, "one span per effect run");
    for load in loads {
        assert_eq!(load.level, Level::DEBUG);
        assert_eq!(load.fields["table"], "users");
        assert_eq!(load.fields["rows"], "3");
        assert_eq!(load.fields["fiber"], id.to_string());
        assert_eq!(trace.spans[load.parent.expect("a parent")].name, "request");
        assert!(load.closed);
    }
}

#[test]
fn instrument_records_the_fiber_in_a_span_that_declares_the_field() {
    let ((exit, id), collector) = traced(|_clock, rt, _| async move {
        let span = tracing::info_span!("job", fiber = tracing::field::Empty);
        let fiber = rt.fork(note::<Never>("job work").instrument(span));
        let id = fiber.id();
        (rt.run(fiber.join()).await, id)
    });
    assert_eq!(exit, Ok(()));
    let trace = collector.trace();
    assert_eq!(trace.spans_named("job")[0].fields["fiber"], id.to_string());
}

#[test]
fn an_instrumented_span_does_not_leak_into_what_runs_after_the_effect() {
    let (exit, collector) = traced(|_clock, rt, _| async move {
        let work: Effect<(), String> = effect_block! {
            note("first").with_span("inner")?;
            note("after success")?;
            let failed = fail::<(), String>("boom".into()).with_span("failing").result()?;
            assert!(failed.is_err());
            note("after failure")?;
        };
        rt.run(work.instrument(request_span())).await
    });
    assert_eq!(exit, Ok(()));
    let trace = collector.trace();
    assert_eq!(trace.scope_of(trace.note("first")), ["request", "inner"]);
    assert_eq!(trace.scope_of(trace.note("after success")), ["request"]);
    assert_eq!(trace.scope_of(trace.note("after failure")), ["request"]);
}

#[test]
fn an_instrumented_span_closes_when_its_effect_ends_not_when_its_fiber_does() {
    let (exit, _) = traced(|clock, rt, collector| async move {
        let work: Effect<(), Never> = effect_block! {
            note("step").with_span("step")?;
            sleep(secs(10))?;
        };
        let fiber = rt.fork(work);
        clock.advance(secs(1)).await;
        assert!(!fiber.is_done(), "the fiber is still sleeping");
        assert!(collector.trace().spans_named("step")[0].closed);
        clock.advance(secs(9)).await;
        rt.run(fiber.join()).await
    });
    assert_eq!(exit, Ok(()));
}

#[test]
fn with_span_closes_when_its_effect_fails_dies_or_is_interrupted() {
    let (exits, collector) = traced(|clock, rt, _| async move {
        let failed = rt.run(fail::<(), &str>("boom").with_span("failing")).await;
        let died = rt.run(die::<(), &str>("bug").with_span("dying")).await;
        let slow = rt.fork(sleep::<&str>(secs(10)).with_span("interrupted"));
        clock.advance(secs(1)).await;
        let interrupted = rt.run(slow.interrupt::<Never>()).await;
        (failed, died, interrupted)
    });
    let (failed, died, interrupted) = exits;
    assert!(failed.unwrap_err().is_failure());
    assert!(died.unwrap_err().is_die());
    assert!(interrupted.unwrap().unwrap_err().is_interrupted());
    let trace = collector.trace();
    for name in ["failing", "dying", "interrupted"] {
        let spans = trace.spans_named(name);
        assert_eq!(spans.len(), 1, "{name}");
        assert!(spans[0].closed, "{name} is closed");
    }
}

#[test]
fn an_instrumented_effects_own_finalizers_run_in_its_span() {
    let (exit, collector) = traced(|clock, rt, _| async move {
        let guarded = sleep::<Never>(secs(10))
            .ensuring(note("own finalizer"))
            .with_span("guarded")
            .ensuring(note("outer finalizer"));
        let fiber = rt.fork(guarded.instrument(request_span()));
        clock.advance(secs(1)).await;
        rt.run(fiber.interrupt::<Never>()).await
    });
    assert!(exit.unwrap().unwrap_err().is_interrupted());
    let trace = collector.trace();
    assert_eq!(
        trace.scope_of(trace.note("own finalizer")),
        ["request", "guarded"]
    );
    assert_eq!(trace.scope_of(trace.note("outer finalizer")), ["request"]);
}

// --- Fiber ends: defects once, interruption at DEBUG, typed failures not at all ---

#[test]
fn a_defect_is_reported_once_by_the_fiber_it_killed_with_its_finalizers_defect() {
    let ((exit, child_id), collector) = traced(|_clock, rt, _| async move {
        let dying =
            sync::<(), String, _>(|| panic!("boom")).ensuring(sync(|| panic!("cleanup failed")));
        let forked: Arc<Mutex<Option<FiberId>>> = Arc::default();
        let slot = forked.clone();
        let parent: Effect<(), String> = effect_block! {
            let child = dying.fork()?;
            *slot.lock().unwrap() = Some(child.id());
            child.join()?;
        };
        let exit = rt.run(parent.instrument(request_span())).await;
        let child_id = forked.lock().unwrap().expect("the child was forked");
        (exit, child_id)
    });
    let cause = exit.unwrap_err();
    assert_eq!(cause.defects().len(), 2, "both defects reach the parent");
    let trace = collector.trace();
    let died = trace.runtime_events(Level::ERROR);
    assert_eq!(died.len(), 1, "one report for one dying fiber: {trace:#?}");
    let report = died[0];
    assert_eq!(report.fields["message"], "fiber died");
    assert_eq!(report.fields["fiber"], child_id.to_string());
    assert!(report.fields["cause"].contains("defect: boom"));
    assert!(report.fields["cause"].contains("defect: cleanup failed"));
    assert_eq!(trace.scope_of(report), ["request"]);
}

#[test]
fn a_par_branch_that_dies_is_reported_once_and_its_interrupted_sibling_at_debug() {
    let (exit, collector) = traced(|_clock, rt, _| async move {
        let work: Effect<((), ()), String> = par!({ die::<(), String>("branch bug")? }, {
            never::<(), String>()?
        });
        rt.run(work).await
    });
    assert!(exit.unwrap_err().is_die());
    let trace = collector.trace();
    let died = trace.runtime_events(Level::ERROR);
    assert_eq!(died.len(), 1, "{trace:#?}");
    assert!(died[0].fields["cause"].starts_with("defect: branch bug"));
    let interrupted = trace.runtime_events(Level::DEBUG);
    assert_eq!(interrupted.len(), 1, "the sibling: {trace:#?}");
    // Interrupted by the fiber running the `par!`, as its failing branch asked.
    assert!(interrupted[0].fields["cause"].starts_with("interrupted by fiber #"));
}

#[test]
fn an_interrupted_fiber_is_reported_at_debug_with_its_id() {
    let ((exit, id), collector) = traced(|clock, rt, _| async move {
        let fiber = rt.fork(sleep::<String>(secs(10)));
        let id = fiber.id();
        clock.advance(secs(1)).await;
        (rt.run(fiber.interrupt::<Never>()).await, id)
    });
    assert!(exit.unwrap().unwrap_err().is_interrupted());
    let trace = collector.trace();
    let interrupted = trace.runtime_events(Level::DEBUG);
    assert_eq!(interrupted.len(), 1, "{trace:#?}");
    assert_eq!(interrupted[0].fields["fiber"], id.to_string());
    assert_eq!(interrupted[0].fields["message"], "fiber interrupted");
    assert!(trace.runtime_events(Level::ERROR).is_empty());
}

#[test]
fn an_interrupted_fiber_whose_finalizer_dies_is_reported_once_as_dying() {
    let (exit, collector) = traced(|clock, rt, _| async move {
        let fiber = rt.fork(sleep::<String>(secs(10)).ensuring(die("finalizer bug")));
        clock.advance(secs(1)).await;
        rt.run(fiber.interrupt::<Never>()).await
    });
    assert!(exit.unwrap().unwrap_err().is_die());
    let trace = collector.trace();
    let died = trace.runtime_events(Level::ERROR);
    assert_eq!(died.len(), 1, "{trace:#?}");
    assert!(died[0].fields["cause"].contains("interrupted"));
    assert!(died[0].fields["cause"].contains("defect: finalizer bug"));
    assert!(trace.runtime_events(Level::DEBUG).is_empty());
}

#[test]
fn a_root_run_of_a_plain_defect_is_reported_like_a_fibers_and_once() {
    let (exits, collector) = traced(|_clock, rt, _| async move {
        let died = rt.run(die::<(), String>("bug at the root")).await;
        // A typed failure at the root is the caller's to handle: not reported.
        let failed = rt.run(fail::<(), &str>("not found")).await;
        (died, failed)
    });
    let cause = exits.0.unwrap_err();
    assert!(cause.is_die());
    assert_eq!(exits.1.unwrap_err().failure(), Some(&"not found"));
    let trace = collector.trace();
    let died = trace.runtime_events(Level::ERROR);
    assert_eq!(died.len(), 1, "{trace:#?}");
    assert_eq!(died[0].fields["message"], "fiber died");
    assert_eq!(died[0].fields["fiber"], FiberId::NONE.to_string());
    assert!(died[0].fields["cause"].contains("defect: bug at the root"));
    // Reported once: the same defect ending another run is not reported again.
    drop(trace);
    let again = tracing::dispatcher::with_default(&collector.dispatch(), || {
        effect::run_blocking(fail_cause::<(), String>(cause))
    });
    assert!(again.unwrap_err().is_die());
    assert_eq!(collector.trace().runtime_events(Level::ERROR).len(), 1);
}

#[test]
fn every_supervisor_restart_and_give_up_is_an_event() {
    let (exit, collector) = traced(|clock, rt, _| async move {
        let crashing = || {
            sleep::<String>(secs(1)).flat_map(|()| fail::<(), String>("lost the connection".into()))
        };
        let supervisor = effect::supervisor::Supervisor::new("app")
            .intensity(2, secs(60))
            .child(effect::supervisor::Child::new("consumer", crashing));
        let running = rt.fork(supervisor.run());
        clock.advance(secs(3)).await;
        rt.run(running.join()).await
    });
    assert_eq!(exit.unwrap_err().failure().unwrap().ends.len(), 3);
    let trace = collector.trace();
    let restarts: Vec<_> = trace
        .events
        .iter()
        .filter(|e| e.target == "effect" && e.fields["message"] == "child restarted")
        .collect();
    assert_eq!(restarts.len(), 2, "{trace:#?}");
    for (n, event) in restarts.iter().enumerate() {
        assert_eq!(event.level, Level::INFO);
        assert_eq!(event.fields["supervisor"], "app");
        assert_eq!(event.fields["child"], "consumer");
        assert_eq!(event.fields["restarts"], (n + 1).to_string());
        assert_eq!(event.fields["ended"], "lost the connection");
    }
    let gave_up = trace.runtime_events(Level::WARN);
    assert_eq!(gave_up.len(), 1, "{trace:#?}");
    assert_eq!(gave_up[0].fields["message"], "supervisor gave up");
    assert!(gave_up[0].fields["error"].starts_with("supervisor app gave up after 2 restarts"));
}

#[test]
fn the_levels_of_the_runtimes_events_come_from_the_context() {
    let (exits, collector) = traced(|clock, rt, _| async move {
        let events = effect::FiberEvents {
            defect: Some(Level::WARN),
            interruption: None,
            failure: Some(Level::INFO),
        };
        let rt = Runtime::new(rt.context().clone().with(events));
        let failing = rt.fork(fail::<(), &str>("quota exceeded"));
        let dying = rt.fork(die::<(), &str>("bug"));
        let sleeping = rt.fork(sleep::<&str>(secs(10)));
        clock.advance(secs(1)).await;
        (
            rt.run(failing.join()).await.is_err(),
            rt.run(dying.join()).await.is_err(),
            rt.run(sleeping.interrupt::<Never>()).await.is_ok(),
            // A root run's plain failure, with the runtime's levels too.
            rt.run(fail::<(), &str>("at the root")).await.is_err(),
        )
    });
    assert_eq!(exits, (true, true, true, true));
    let trace = collector.trace();
    let died = trace.runtime_events(Level::WARN);
    assert_eq!(died.len(), 1, "{trace:#?}");
    assert_eq!(died[0].fields["message"], "fiber died");
    // The forked fiber, the root run that joined it (it failed with the same failure: a typed
    // failure has no identity to be reported once by), and the root run of a plain failure.
    let failed = trace.runtime_events(Level::INFO);
    assert_eq!(failed.len(), 3, "{trace:#?}");
    assert!(failed.iter().all(|e| e.fields["message"] == "fiber failed"));
    assert!(
        failed[0].fields["cause"].contains("typed failure (&str)"),
        "{failed:?}"
    );
    assert!(trace.runtime_events(Level::ERROR).is_empty());
    assert!(
        trace.runtime_events(Level::DEBUG).is_empty(),
        "interruptions are off"
    );
}

#[test]
fn a_named_fiber_is_reported_with_its_name() {
    let (exits, collector) = traced(|clock, rt, _| async move {
        let program: Effect<(), String> = effect_block! {
            let worker = die::<(), String>("bug").fork_named("worker")?;
            let _ = worker.await_exit::<String>()?;
            let sleeper = sleep::<String>(secs(60)).named("sleeper").fork()?;
            yield_now::<String>()?;
            let _ = sleeper.interrupt::<String>()?;
        };
        let running = rt.fork(program);
        clock.advance(secs(1)).await;
        let named = rt.fork_named("runtime-level", never::<(), String>());
        let name = named.name();
        (
            rt.run(running.join()).await,
            rt.run(named.interrupt::<Never>()).await.is_ok(),
            name,
        )
    });
    assert_eq!(exits.0, Ok(()));
    assert_eq!(exits.2.as_deref(), Some("runtime-level"));
    let trace = collector.trace();
    let died = trace.runtime_events(Level::ERROR);
    assert_eq!(died.len(), 1, "{trace:#?}");
    assert_eq!(died[0].fields["name"], "worker");
    let interrupted = trace.runtime_events(Level::DEBUG);
    let names: Vec<&str> = interrupted
        .iter()
        .map(|e| e.fields.get("name").map_or("", String::as_str))
        .collect();
    assert_eq!(names, ["sleeper", "runtime-level"], "{trace:#?}");
}

#[test]
fn typed_failures_and_successes_are_not_reported() {
    let (exits, collector) = traced(|_clock, rt, _| async move {
        let failing = rt.fork(fail::<(), &str>("not found"));
        let failed = rt.run(failing.join()).await;
        let fine = rt.run(succeed::<u32, &str>(1).map(|n| n + 1)).await;
        (failed, fine)
    });
    assert_eq!(exits.0.unwrap_err().failure(), Some(&"not found"));
    assert_eq!(exits.1, Ok(2));
    let trace = collector.trace();
    assert!(
        trace.events.iter().all(|e| e.target != "effect"),
        "{trace:#?}"
    );
}

// --- #[effect(instrument)] ---

#[derive(Debug)]
struct Order {
    id: u32,
}

#[effect(instrument)]
fn checkout(order: Order, note_text: &'static str) -> Effect<u32, String> {
    note::<String>(note_text)?;
    sleep(ms(10))?;
    order.id
}

#[effect(instrument(name = "load_user", level = "debug", skip(password), fields(user = %name, attempt = 1)))]
fn login(name: String, password: String, tries: u32) -> Effect<usize, String> {
    note::<String>("logging in")?;
    name.len() + password.len() + tries as usize
}

#[effect(instrument(skip_all, err))]
fn failing(secret: u32, fail_with: Option<&'static str>) -> Effect<u32, String> {
    note::<String>("trying")?;
    if let Some(error) = fail_with {
        fail(error.to_string())?;
    }
    secret
}

#[effect(instrument(err(Debug), target = "payments"))]
fn charge(cents: u64) -> Effect<u64, Vec<u8>> {
    fail(vec![1, 2])?;
    cents
}

#[test]
fn instrument_makes_a_span_named_after_the_fn_at_info_recording_each_argument_with_debug() {
    let (exit, collector) = traced(|clock, rt, _| async move {
        let fiber = rt.fork(checkout(Order { id: 7 }, "in checkout"));
        clock.advance(ms(10)).await;
        rt.run(fiber.join()).await
    });
    assert_eq!(exit, Ok(7));
    let trace = collector.trace();
    let spans = trace.spans_named("checkout");
    assert_eq!(spans.len(), 1, "{trace:#?}");
    let span = spans[0];
    assert_eq!(span.level, Level::INFO);
    assert_eq!(span.target, "tracing"); // the module the fn is in, as tracing's
    assert_eq!(span.fields["order"], "Order { id: 7 }");
    assert_eq!(span.fields["note_text"], "\"in checkout\"");
    assert!(span.closed, "closed when the effect ended");
    assert_eq!(trace.scope_of(trace.note("in checkout")), ["checkout"]);
}

#[test]
fn instrument_takes_a_name_a_level_skipped_arguments_and_fields_as_tracings_does() {
    let (exit, collector) = traced(|_clock, rt, _| async move {
        rt.run(login("ada".to_string(), "secret".to_string(), 2))
            .await
    });
    assert_eq!(exit, Ok(11));
    let trace = collector.trace();
    let span = trace.spans_named("load_user")[0];
    assert_eq!(span.level, Level::DEBUG);
    assert!(!span.fields.contains_key("password"), "skipped: {span:?}");
    // `fields` names `user`, and `name` is still an argument recorded with Debug.
    assert_eq!(span.fields["user"], "ada");
    assert_eq!(span.fields["name"], "\"ada\"");
    assert_eq!(span.fields["attempt"], "1");
    assert_eq!(span.fields["tries"], "2");
    assert_eq!(trace.scope_of(trace.note("logging in")), ["load_user"]);
}

#[test]
fn instrument_err_records_a_typed_failure_inside_the_span_and_nothing_on_success() {
    let (exits, collector) = traced(|_clock, rt, _| async move {
        (
            rt.run(failing(1, None)).await,
            rt.run(failing(2, Some("card declined"))).await,
            rt.run(charge(100)).await,
        )
    });
    assert_eq!(exits.0, Ok(1));
    assert_eq!(
        exits.1.unwrap_err().failure(),
        Some(&"card declined".to_string())
    );
    assert!(exits.2.is_err());
    let trace = collector.trace();
    let spans = trace.spans_named("failing");
    assert_eq!(spans.len(), 2);
    assert!(
        spans.iter().all(|span| span.fields.is_empty()),
        "skip_all: {spans:?}"
    );
    assert!(spans.iter().all(|span| span.closed));
    let errors: Vec<&EventRecord> = trace
        .events
        .iter()
        .filter(|e| e.level == Level::ERROR)
        .collect();
    assert_eq!(
        errors.len(),
        2,
        "one per failure, none for the success: {trace:#?}"
    );
    assert_eq!(errors[0].fields["error"], "card declined");
    assert_eq!(trace.scope_of(errors[0]), ["failing"]);
    assert_eq!(errors[1].target, "payments");
    assert_eq!(errors[1].fields["error"], "[1, 2]"); // err(Debug)
    assert_eq!(trace.scope_of(errors[1]), ["charge"]);
}

#[test]
fn an_instrumented_fns_span_closes_however_its_effect_ends() {
    #[effect(instrument)]
    fn dies() -> Effect<(), String> {
        die::<(), String>("bug")?;
    }
    #[effect(instrument)]
    fn waits() -> Effect<(), String> {
        never::<(), String>()?;
    }
    let (exits, collector) = traced(|clock, rt, _| async move {
        let died = rt.run(dies()).await;
        let waiting = rt.fork(waits());
        clock.advance(secs(1)).await;
        let interrupted = rt.run(waiting.interrupt::<Never>()).await;
        (died, interrupted)
    });
    assert!(exits.0.unwrap_err().is_die());
    assert!(exits.1.unwrap().unwrap_err().is_interrupted());
    let trace = collector.trace();
    assert!(trace.spans_named("dies")[0].closed);
    assert!(trace.spans_named("waits")[0].closed);
}

// --- On worker threads ---

#[test]
fn branches_on_worker_threads_run_in_the_span_they_were_started_in() {
    let collector = Collector::default();
    let dispatch = collector.dispatch();
    let on_workers = dispatch.clone();
    let tokio = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .on_thread_start(move || {
            // The worker keeps the collector as its default for as long as it lives.
            std::mem::forget(tracing::dispatcher::set_default(&on_workers));
        })
        .enable_all()
        .build()
        .expect("a tokio runtime");
    let exit = tracing::dispatcher::with_default(&dispatch, || {
        let rt = Runtime::new(Context::new());
        let branches: Vec<Effect<(), Never>> = (0..32)
            .map(|i| {
                let note = ["w0", "w1", "w2", "w3"][i % 4];
                yield_now().flat_map(move |()| sync(move || tracing::info!(note, i, "branch")))
            })
            .collect();
        let work = zip_par(branches)
            .with_span("fan_out")
            .instrument(request_span());
        let exit = tokio.block_on(async { tokio::spawn(rt.run(work)).await.unwrap() });
        assert_eq!(rt.live_fibers(), 0);
        exit
    });
    assert_eq!(exit.map(|all| all.len()), Ok(32));
    let trace = collector.trace();
    let branches: Vec<&EventRecord> = trace
        .events
        .iter()
        .filter(|e| e.fields.contains_key("i"))
        .collect();
    assert_eq!(branches.len(), 32);
    for event in branches {
        assert_eq!(trace.scope_of(event), ["request", "fan_out"], "{event:?}");
    }
}
