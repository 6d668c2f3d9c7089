//! Model-based randomized tests: random effect programs run on a `TestClock` and compared
//! with a small reference interpreter of the design's semantics in virtual time.
//!
//! For every program: the outcome (value, or the kinds and values of its causes) and the
//! completion time equal the model's; every finalizer ran at the virtual time the model says,
//! exactly once; every acquired resource was released exactly once; no fiber is alive after
//! the run. Half the programs are also interrupted from outside at a random time.
//!
//! Reproduce a failure with `EFFECT_MODEL_SEED=<seed printed> cargo test --test model`;
//! `EFFECT_MODEL_CASES=N` runs more programs, `EFFECT_MODEL_RUNTIME=multi_thread` runs them on
//! two worker threads, and `EFFECT_PERTURB=<seed>` adds random yields. A failing program is
//! shrunk before it is shown.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::{Arc, Mutex};

use effect::prelude::*;

// ---- programs ----

#[derive(Clone, Debug)]
enum Prog {
    /// Succeeds with the value after the delay (ms).
    Value(u64, i64),
    /// Fails with the error after the delay.
    Fail(u64, i64),
    /// Dies after the delay.
    Die(u64),
    /// Runs the first, then (if it succeeded) the second.
    Seq(Box<Prog>, Box<Prog>),
    ZipPar(Vec<Prog>),
    Race(Vec<Prog>),
    RaceFirst(Vec<Prog>),
    /// `timeout(ms)`; `None` becomes the value -1.
    Timeout(u64, Box<Prog>),
    /// Recovers a typed failure with the handler.
    CatchAll(Box<Prog>, Box<Prog>),
    /// A resource (acquired at once, released when the scope closes) around the program.
    Resource(i64, Box<Prog>),
    /// Logs the id when the program ends, however it ends.
    Ensuring(Box<Prog>, i64),
    Uninterruptible(Box<Prog>),
    ForkJoin(Box<Prog>),
    /// Forks the program, sleeps, interrupts it; the value is 0.
    ForkInterrupt(Box<Prog>, u64),
    /// `for_each_par` over the programs with the given parallelism; the value is the sum.
    ForEachPar(Vec<Prog>, usize),
}

impl fmt::Display for Prog {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let list = |f: &mut fmt::Formatter<'_>, name: &str, items: &[Prog]| {
            write!(f, "{name}(")?;
            for (i, p) in items.iter().enumerate() {
                if i > 0 {
                    write!(f, ", ")?;
                }
                write!(f, "{p}")?;
            }
            write!(f, ")")
        };
        match self {
            Prog::Value(d, v) => write!(f, "value({d}ms, {v})"),
            Prog::Fail(d, e) => write!(f, "fail({d}ms, {e})"),
            Prog::Die(d) => write!(f, "die({d}ms)"),
            Prog::Seq(a, b) => write!(f, "seq({a}, {b})"),
            Prog::ZipPar(ps) => list(f, "zip_par", ps),
            Prog::Race(ps) => list(f, "race", ps),
            Prog::RaceFirst(ps) => list(f, "race_first", ps),
            Prog::Timeout(d, p) => write!(f, "timeout({d}ms, {p})"),
            Prog::CatchAll(p, h) => write!(f, "catch_all({p}, {h})"),
            Prog::Resource(id, p) => write!(f, "resource({id}, {p})"),
            Prog::Ensuring(p, id) => write!(f, "ensuring({p}, {id})"),
            Prog::Uninterruptible(p) => write!(f, "uninterruptible({p})"),
            Prog::ForkJoin(p) => write!(f, "fork_join({p})"),
            Prog::ForkInterrupt(p, d) => write!(f, "fork_interrupt({p}, {d}ms)"),
            Prog::ForEachPar(ps, n) => {
                write!(f, "for_each_par[{n}]")?;
                list(f, "", ps)
            }
        }
    }
}

/// A seeded xorshift generator: the same seed gives the same programs.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    /// Delays from a wide range, so that two events rarely share a virtual instant.
    fn delay(&mut self) -> u64 {
        1 + self.below(5_000)
    }
}

fn generate(rng: &mut Rng, depth: u32, ids: &mut i64) -> Prog {
    fn id(ids: &mut i64) -> i64 {
        *ids += 1;
        *ids
    }
    if depth == 0 || rng.below(10) < 3 {
        return match rng.below(6) {
            0..=2 => Prog::Value(rng.delay(), rng.below(100) as i64),
            3 | 4 => Prog::Fail(rng.delay(), rng.below(100) as i64),
            _ => Prog::Die(rng.delay()),
        };
    }
    let sub = |rng: &mut Rng, ids: &mut i64| Box::new(generate(rng, depth - 1, ids));
    let many = |rng: &mut Rng, ids: &mut i64| {
        (0..2 + rng.below(2))
            .map(|_| generate(rng, depth - 1, ids))
            .collect()
    };
    match rng.below(12) {
        0 => Prog::Seq(sub(rng, ids), sub(rng, ids)),
        1 => Prog::ZipPar(many(rng, ids)),
        2 => Prog::Race(many(rng, ids)),
        3 => Prog::RaceFirst(many(rng, ids)),
        4 => Prog::Timeout(rng.delay(), sub(rng, ids)),
        5 => Prog::CatchAll(sub(rng, ids), sub(rng, ids)),
        6 => Prog::Resource(id(ids), sub(rng, ids)),
        7 => {
            let inner = sub(rng, ids);
            Prog::Ensuring(inner, id(ids))
        }
        8 => Prog::Uninterruptible(sub(rng, ids)),
        9 => Prog::ForkJoin(sub(rng, ids)),
        10 => Prog::ForEachPar(
            (0..2 + rng.below(4))
                .map(|_| generate(rng, depth - 1, ids))
                .collect(),
            1 + rng.below(3) as usize,
        ),
        _ => Prog::ForkInterrupt(sub(rng, ids), rng.delay()),
    }
}

// ---- the reference model ----

#[derive(Clone, Debug, PartialEq)]
enum Outcome {
    Ok(i64),
    /// Typed failure values (sorted) and the number of defects.
    Failed(Vec<i64>, usize),
    Interrupted,
}

#[derive(Debug)]
struct Model {
    end: u64,
    outcome: Outcome,
    /// (virtual ms, event): +id acquire, -id release, id for an ensuring finalizer.
    log: Vec<(u64, i64)>,
    /// Two events the outcome depends on happen at the same instant: the scheduler decides.
    ambiguous: bool,
}

fn failed(values: Vec<i64>, defects: usize) -> Outcome {
    let mut values = values;
    values.sort_unstable();
    Outcome::Failed(values, defects)
}

/// Runs `prog` from `start`, with an interrupt arriving at `interrupt` (if any).
fn model(prog: &Prog, start: u64, interrupt: Option<u64>) -> Model {
    let leaf = |end: u64, outcome: Outcome| {
        let mut ambiguous = false;
        if let Some(at) = interrupt {
            if at == end {
                ambiguous = true;
            }
            if at < end {
                return Model {
                    end: at.max(start),
                    outcome: Outcome::Interrupted,
                    log: vec![],
                    ambiguous: at == start,
                };
            }
        }
        Model {
            end,
            outcome,
            log: vec![],
            ambiguous,
        }
    };
    // Interrupted before it starts: nothing runs.
    if let Some(at) = interrupt {
        if at < start {
            return Model {
                end: start,
                outcome: Outcome::Interrupted,
                log: vec![],
                ambiguous: false,
            };
        }
    }
    match prog {
        Prog::Value(d, v) => leaf(start + d, Outcome::Ok(*v)),
        Prog::Fail(d, e) => leaf(start + d, failed(vec![*e], 0)),
        Prog::Die(d) => leaf(start + d, failed(vec![], 1)),
        Prog::Seq(a, b) => {
            let first = model(a, start, interrupt);
            if !matches!(first.outcome, Outcome::Ok(_)) {
                return first;
            }
            let mut second = model(b, first.end, interrupt);
            second.ambiguous |= first.ambiguous || interrupt == Some(first.end);
            second.log.splice(0..0, first.log);
            second
        }
        Prog::ZipPar(children) => {
            let runs: Vec<Model> = children
                .iter()
                .map(|c| model(c, start, interrupt))
                .collect();
            let failures: Vec<(u64, usize)> = runs
                .iter()
                .enumerate()
                .filter(|(_, r)| matches!(r.outcome, Outcome::Failed(..)))
                .map(|(i, r)| (r.end, i))
                .collect();
            let Some(&(first_at, first)) = failures.iter().min() else {
                let interrupted = runs.iter().any(|r| r.outcome == Outcome::Interrupted);
                let end = runs.iter().map(|r| r.end).max().unwrap_or(start);
                let outcome = if interrupted {
                    Outcome::Interrupted
                } else {
                    Outcome::Ok(runs.iter().map(|r| value_of(&r.outcome)).sum())
                };
                return combine(end, outcome, runs);
            };
            let tie = failures.iter().filter(|(at, _)| *at == first_at).count() > 1;
            // The others are interrupted when the first fails.
            let cut = Some(interrupt.map_or(first_at, |at| at.min(first_at)));
            let mut outcome_causes = runs[first].outcome.clone();
            let mut all = Vec::new();
            let mut ambiguous = tie;
            for (i, child) in children.iter().enumerate() {
                let run = if i == first {
                    model(child, start, interrupt)
                } else {
                    model(child, start, cut)
                };
                ambiguous |= run.ambiguous;
                if i != first {
                    if let Outcome::Failed(values, defects) = &run.outcome {
                        if let Outcome::Failed(vs, ds) = &mut outcome_causes {
                            vs.extend(values);
                            vs.sort_unstable();
                            *ds += defects;
                        }
                    }
                }
                all.push(run);
            }
            if interrupt.is_some_and(|at| at <= first_at) {
                ambiguous |= interrupt == Some(first_at);
                outcome_causes = Outcome::Interrupted;
            }
            let end = all.iter().map(|r| r.end).max().unwrap_or(start);
            let mut m = combine(end, outcome_causes, all);
            m.ambiguous |= ambiguous;
            interrupted_while_waiting(m, interrupt)
        }
        Prog::Race(children) | Prog::RaceFirst(children) => {
            let first_wins = matches!(prog, Prog::RaceFirst(_));
            let runs: Vec<Model> = children
                .iter()
                .map(|c| model(c, start, interrupt))
                .collect();
            let decides = |r: &Model| first_wins || matches!(r.outcome, Outcome::Ok(_));
            let winners: Vec<(u64, usize)> = runs
                .iter()
                .enumerate()
                .filter(|(_, r)| r.outcome != Outcome::Interrupted && decides(r))
                .map(|(i, r)| (r.end, i))
                .collect();
            let Some(&(won_at, winner)) = winners.iter().min() else {
                // Every branch failed (or all were interrupted from outside).
                let end = runs.iter().map(|r| r.end).max().unwrap_or(start);
                let outcome = if runs.iter().any(|r| r.outcome == Outcome::Interrupted) {
                    Outcome::Interrupted
                } else {
                    let (mut values, mut defects) = (Vec::new(), 0);
                    for r in &runs {
                        if let Outcome::Failed(vs, ds) = &r.outcome {
                            values.extend(vs);
                            defects += ds;
                        }
                    }
                    failed(values, defects)
                };
                return combine(end, outcome, runs);
            };
            let tie = winners.iter().filter(|(at, _)| *at == won_at).count() > 1;
            let cut = Some(interrupt.map_or(won_at, |at| at.min(won_at)));
            let mut all = Vec::new();
            let mut ambiguous = tie;
            for (i, child) in children.iter().enumerate() {
                let run = if i == winner {
                    model(child, start, interrupt)
                } else {
                    model(child, start, cut)
                };
                // A loser finishing at the instant the race is decided may or may not count.
                ambiguous |= run.ambiguous || (i != winner && runs[i].end == won_at);
                all.push(run);
            }
            let outcome = if interrupt.is_some_and(|at| at <= won_at) {
                Outcome::Interrupted
            } else {
                all[winner].outcome.clone()
            };
            ambiguous |= interrupt == Some(won_at);
            let end = all.iter().map(|r| r.end).max().unwrap_or(start);
            let mut m = combine(end, outcome, all);
            m.ambiguous |= ambiguous;
            interrupted_while_waiting(m, interrupt)
        }
        Prog::Timeout(d, p) => {
            let deadline = start + d;
            let natural = model(p, start, interrupt);
            if natural.end < deadline
                || natural.outcome == Outcome::Interrupted
                    && interrupt.is_some_and(|at| at < deadline)
            {
                let mut m = natural;
                m.ambiguous |= m.end == deadline;
                return m;
            }
            let cut = Some(interrupt.map_or(deadline, |at| at.min(deadline)));
            let mut run = model(p, start, cut);
            run.ambiguous |= natural.end == deadline;
            if interrupt.is_some_and(|at| at <= deadline) {
                run.ambiguous |= interrupt == Some(deadline);
                run.outcome = Outcome::Interrupted;
                return run;
            }
            run.outcome = match run.outcome {
                Outcome::Interrupted => Outcome::Ok(-1),
                other => other,
            };
            interrupted_while_waiting(run, interrupt)
        }
        Prog::CatchAll(p, handler) => {
            let first = model(p, start, interrupt);
            match &first.outcome {
                Outcome::Failed(values, _) if !values.is_empty() => {
                    let mut second = model(handler, first.end, interrupt);
                    second.ambiguous |= first.ambiguous || interrupt == Some(first.end);
                    second.log.splice(0..0, first.log);
                    second
                }
                _ => first,
            }
        }
        Prog::Resource(id, p) => {
            if interrupt == Some(start) {
                return Model {
                    end: start,
                    outcome: Outcome::Interrupted,
                    log: vec![],
                    ambiguous: true,
                };
            }
            let mut run = model(p, start, interrupt);
            run.log.insert(0, (start, *id));
            run.log.push((run.end, -*id));
            run
        }
        Prog::Ensuring(p, id) => {
            let mut run = model(p, start, interrupt);
            run.ambiguous |= interrupt == Some(start);
            run.log.push((run.end, 1000 + *id));
            run
        }
        Prog::Uninterruptible(p) => {
            let mut run = model(p, start, None);
            run.ambiguous |= interrupt == Some(start);
            if interrupt.is_some_and(|at| at < run.end || at == start) {
                run.ambiguous |= interrupt == Some(run.end);
                run.outcome = Outcome::Interrupted;
            }
            run
        }
        Prog::ForkJoin(p) => {
            let mut run = model(p, start, interrupt);
            // Interrupted while joining, the parent exits at once and its child is reaped
            // after: the parent's exit and its child's end are different instants.
            run.ambiguous |= interrupt == Some(start)
                || (run.outcome == Outcome::Interrupted && interrupt.is_some_and(|i| run.end > i));
            run
        }
        Prog::ForEachPar(items, parallelism) => {
            model_for_each_par(items, *parallelism, start, interrupt)
        }
        Prog::ForkInterrupt(p, d) => {
            let at = start + d;
            let cut = Some(interrupt.map_or(at, |i| i.min(at)));
            let mut child = model(p, start, cut);
            child.ambiguous |= interrupt == Some(start) || interrupt == Some(at) || child.end == at;
            // Interrupted before its child is done, the parent exits at once and the child is
            // reaped after: the parent's exit and its child's end are different instants.
            child.ambiguous |= interrupt.is_some_and(|i| child.end > i);
            let end = match interrupt {
                Some(i) if i < at => child.end.max(i),
                _ => child.end.max(at),
            };
            child.outcome = if interrupt.is_some_and(|i| i < at) {
                Outcome::Interrupted
            } else {
                Outcome::Ok(0)
            };
            child.end = end;
            interrupted_while_waiting(child, interrupt)
        }
    }
}

/// `for_each_par`: workers take the items in order as they free up; the first failure stops
/// new starts and interrupts the items in flight.
fn model_for_each_par(
    items: &[Prog],
    parallelism: usize,
    start: u64,
    interrupt: Option<u64>,
) -> Model {
    // When each item would start and end if nothing failed.
    let mut free = vec![start; parallelism.min(items.len()).max(1)];
    let mut natural = Vec::new();
    for item in items {
        free.sort_unstable();
        let begins = free[0];
        let run = model(item, begins, interrupt);
        free[0] = run.end;
        natural.push((begins, run));
    }
    let failures: Vec<u64> = natural
        .iter()
        .filter(|(_, r)| matches!(r.outcome, Outcome::Failed(..)))
        .map(|(_, r)| r.end)
        .collect();
    let Some(&first_at) = failures.iter().min() else {
        let interrupted = natural
            .iter()
            .any(|(_, r)| r.outcome == Outcome::Interrupted);
        let end = natural.iter().map(|(_, r)| r.end).max().unwrap_or(start);
        let outcome = if interrupted {
            Outcome::Interrupted
        } else {
            Outcome::Ok(natural.iter().map(|(_, r)| value_of(&r.outcome)).sum())
        };
        let ambiguous = natural.iter().any(|(b, _)| interrupt == Some(*b));
        let mut m = combine(end, outcome, natural.into_iter().map(|(_, r)| r).collect());
        m.ambiguous |= ambiguous;
        return m;
    };
    let mut ambiguous = failures.iter().filter(|at| **at == first_at).count() > 1;
    let cut = Some(interrupt.map_or(first_at, |at| at.min(first_at)));
    let mut outcome = Outcome::Failed(vec![], 0);
    let mut runs = Vec::new();
    for (item, (begins, run)) in items.iter().zip(natural) {
        if begins > first_at {
            continue; // never started
        }
        // An item starting at the instant of the failure may or may not start.
        ambiguous |= begins == first_at && run.end != first_at;
        let run = if run.end == first_at && matches!(run.outcome, Outcome::Failed(..)) {
            run
        } else {
            model(item, begins, cut)
        };
        if let (Outcome::Failed(values, defects), Outcome::Failed(all, total)) =
            (&run.outcome, &mut outcome)
        {
            all.extend(values);
            all.sort_unstable();
            *total += defects;
        }
        ambiguous |= run.ambiguous;
        runs.push(run);
    }
    if interrupt.is_some_and(|at| at <= first_at) {
        ambiguous |= interrupt == Some(first_at);
        outcome = Outcome::Interrupted;
    }
    let end = runs.iter().map(|r| r.end).max().unwrap_or(start);
    let mut m = combine(end, outcome, runs);
    m.ambiguous |= ambiguous;
    interrupted_while_waiting(m, interrupt)
}

/// A race, a fail-fast `zip_par` or an expired timeout waits, interruptibly, for the branches
/// it interrupted: an interrupt arriving before they are done interrupts it.
fn interrupted_while_waiting(mut m: Model, interrupt: Option<u64>) -> Model {
    if let Some(at) = interrupt {
        m.ambiguous |= at == m.end;
        if at < m.end {
            m.outcome = Outcome::Interrupted;
        }
    }
    m
}

fn value_of(outcome: &Outcome) -> i64 {
    match outcome {
        Outcome::Ok(v) => *v,
        _ => 0,
    }
}

fn combine(end: u64, outcome: Outcome, runs: Vec<Model>) -> Model {
    let ambiguous = runs.iter().any(|r| r.ambiguous);
    let log = runs.into_iter().flat_map(|r| r.log).collect();
    Model {
        end,
        outcome,
        log,
        ambiguous,
    }
}

// ---- running a program for real ----

type Log = Arc<Mutex<Vec<(u64, i64)>>>;

fn note(log: &Log, clock: &TestClock, event: i64) -> Effect<(), Never> {
    let (log, clock) = (log.clone(), clock.clone());
    sync(move || {
        log.lock()
            .unwrap()
            .push((clock.current_time().as_millis() as u64, event))
    })
}

fn build(prog: &Prog, log: &Log, clock: &TestClock) -> Effect<i64, i64> {
    match prog {
        Prog::Value(d, v) => sleep(ms(*d)).as_value(*v),
        Prog::Fail(d, e) => {
            let e = *e;
            sleep(ms(*d)).flat_map(move |()| fail(e))
        }
        Prog::Die(d) => sleep(ms(*d)).flat_map(|()| die("model defect")),
        Prog::Seq(a, b) => {
            let b = build(b, log, clock);
            build(a, log, clock).flat_map(move |_| b)
        }
        Prog::ZipPar(ps) => zip_par(ps.iter().map(|p| build(p, log, clock)).collect::<Vec<_>>())
            .map(|vs| vs.iter().sum()),
        Prog::Race(ps) => race(ps.iter().map(|p| build(p, log, clock))),
        Prog::RaceFirst(ps) => race_first(ps.iter().map(|p| build(p, log, clock))),
        Prog::Timeout(d, p) => build(p, log, clock)
            .timeout(ms(*d))
            .map(|v| v.unwrap_or(-1)),
        Prog::CatchAll(p, h) => {
            let h = build(h, log, clock);
            build(p, log, clock).catch_all(move |_| h)
        }
        Prog::Resource(id, p) => {
            let id = *id;
            let (acquired, release_log, release_clock) =
                (note(log, clock, id), log.clone(), clock.clone());
            let inner = build(p, log, clock);
            scoped(
                acquire_release(
                    acquired.map_err(|n| match n {}).as_value(id),
                    move |id, _| note(&release_log, &release_clock, -id),
                )
                .flat_map(move |_| inner),
            )
        }
        Prog::Ensuring(p, id) => build(p, log, clock).ensuring(note(log, clock, 1000 + id)),
        Prog::Uninterruptible(p) => build(p, log, clock).uninterruptible(),
        Prog::ForkJoin(p) => build(p, log, clock).fork::<i64>().flat_map(|f| f.join()),
        Prog::ForEachPar(items, parallelism) => {
            let (items, log, clock) = (Arc::new(items.clone()), log.clone(), clock.clone());
            let count = items.len();
            for_each_par(
                0..count,
                move |i| build(&items[i], &log, &clock),
                *parallelism,
            )
            .map(|vs| vs.iter().sum())
        }
        Prog::ForkInterrupt(p, d) => {
            let d = *d;
            build(p, log, clock).fork::<i64>().flat_map(move |fiber| {
                sleep(ms(d))
                    .flat_map(move |()| fiber.interrupt::<i64>())
                    .as_value(0)
            })
        }
    }
}

fn outcome_of(exit: &Exit<i64, i64>) -> Outcome {
    match exit {
        Ok(v) => Outcome::Ok(*v),
        Err(cause)
            if cause.is_interrupted()
                && cause.failures().is_empty()
                && cause.defects().is_empty() =>
        {
            Outcome::Interrupted
        }
        Err(cause) => failed(
            cause.failures().into_iter().copied().collect(),
            cause.defects().len(),
        ),
    }
}

/// Runs `prog` (interrupted from outside at `interrupt` ms, if given) and checks it against
/// the model. `Err` says what differed.
fn check(prog: &Prog, interrupt: Option<u64>) -> Result<bool, String> {
    let expected = model(prog, 0, interrupt);
    // EFFECT_MODEL_RUNTIME=multi_thread runs every program on two worker threads.
    let tokio = match std::env::var("EFFECT_MODEL_RUNTIME").as_deref() {
        Ok("multi_thread") => tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap(),
        _ => tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap(),
    };
    let clock = TestClock::new();
    let rt = Runtime::new(Context::new().with(Clock::from(clock.clone())));
    let log: Log = Arc::default();
    let finished_at: Arc<Mutex<Option<u64>>> = Arc::default();
    let (record, time) = (finished_at.clone(), clock.clone());
    let program = build(prog, &log, &clock).on_exit(move |_| {
        sync(move || *record.lock().unwrap() = Some(time.current_time().as_millis() as u64))
    });
    let exit = tokio.block_on(async {
        let fiber = rt.fork(program);
        if let Some(at) = interrupt {
            clock.advance(ms(at)).await;
            let interrupter = rt.fork(fiber.interrupt::<Never>());
            clock.advance(ms(1_000_000)).await;
            rt.run(interrupter.join()).await.unwrap()
        } else {
            clock.advance(ms(1_000_000)).await;
            rt.run(fiber.await_exit::<Never>()).await.unwrap()
        }
    });
    let live = rt.live_fibers();
    if live != 0 {
        return Err(format!("{live} fiber(s) alive after the run"));
    }
    let events = log.lock().unwrap().clone();
    // Invariants that hold whatever the scheduler decided.
    let mut counts: BTreeMap<i64, i32> = BTreeMap::new();
    for (_, event) in &events {
        *counts.entry(*event).or_default() += 1;
    }
    for (event, count) in &counts {
        if *count != 1 {
            return Err(format!("event {event} happened {count} times: {events:?}"));
        }
        if *event > 0 && *event < 1000 && counts.get(&-event) != Some(&1) {
            return Err(format!(
                "resource {event} acquired but not released exactly once: {events:?}"
            ));
        }
    }
    if expected.ambiguous {
        return Ok(false);
    }
    let actual = outcome_of(&exit);
    if actual != expected.outcome {
        return Err(format!(
            "outcome {actual:?}, model says {:?} (exit {exit:?})",
            expected.outcome
        ));
    }
    let ended = finished_at.lock().unwrap().unwrap_or(u64::MAX);
    if ended != expected.end {
        return Err(format!(
            "finished at {ended} ms, model says {} ms",
            expected.end
        ));
    }
    let mut got = events.clone();
    let mut want = expected.log.clone();
    got.sort_unstable();
    want.sort_unstable();
    if got != want {
        return Err(format!(
            "finalizer log {events:?}, model says {:?}",
            expected.log
        ));
    }
    Ok(true)
}

/// Smaller variants of a program: each child in place of its parent, and leaves in place of
/// nodes.
fn shrink(prog: &Prog) -> Vec<Prog> {
    let mut out = Vec::new();
    let boxed = |p: &Prog| Box::new(p.clone());
    match prog {
        Prog::Value(..) => {}
        Prog::Fail(d, _) | Prog::Die(d) => out.push(Prog::Value(*d, 0)),
        Prog::Seq(a, b) | Prog::CatchAll(a, b) => {
            out.extend([(**a).clone(), (**b).clone()]);
            out.extend(
                shrink(a)
                    .into_iter()
                    .map(|a| rebuild2(prog, a, (**b).clone())),
            );
            out.extend(
                shrink(b)
                    .into_iter()
                    .map(|b| rebuild2(prog, (**a).clone(), b)),
            );
        }
        Prog::ZipPar(ps) | Prog::Race(ps) | Prog::RaceFirst(ps) => {
            out.extend(ps.iter().cloned());
            for i in 0..ps.len() {
                if ps.len() > 1 {
                    let mut fewer = ps.clone();
                    fewer.remove(i);
                    out.push(rebuild_list(prog, fewer));
                }
                for smaller in shrink(&ps[i]) {
                    let mut changed = ps.clone();
                    changed[i] = smaller;
                    out.push(rebuild_list(prog, changed));
                }
            }
        }
        Prog::Timeout(d, p) => {
            out.push((**p).clone());
            out.extend(
                shrink(p)
                    .into_iter()
                    .map(|p| Prog::Timeout(*d, Box::new(p))),
            );
        }
        Prog::Resource(id, p) => {
            out.push((**p).clone());
            out.extend(
                shrink(p)
                    .into_iter()
                    .map(|p| Prog::Resource(*id, Box::new(p))),
            );
        }
        Prog::Ensuring(p, id) => {
            out.push((**p).clone());
            out.extend(
                shrink(p)
                    .into_iter()
                    .map(|p| Prog::Ensuring(Box::new(p), *id)),
            );
        }
        Prog::Uninterruptible(p) | Prog::ForkJoin(p) => {
            out.push((**p).clone());
            out.extend(shrink(p).into_iter().map(|p| rebuild1(prog, p)));
        }
        Prog::ForEachPar(ps, n) => {
            out.extend(ps.iter().cloned());
            for i in 0..ps.len() {
                if ps.len() > 1 {
                    let mut fewer = ps.clone();
                    fewer.remove(i);
                    out.push(Prog::ForEachPar(fewer, *n));
                }
                for smaller in shrink(&ps[i]) {
                    let mut changed = ps.clone();
                    changed[i] = smaller;
                    out.push(Prog::ForEachPar(changed, *n));
                }
            }
        }
        Prog::ForkInterrupt(p, d) => {
            out.push((**p).clone());
            out.extend(
                shrink(p)
                    .into_iter()
                    .map(|p| Prog::ForkInterrupt(Box::new(p), *d)),
            );
        }
    }
    let _ = boxed;
    out
}

fn rebuild1(prog: &Prog, child: Prog) -> Prog {
    match prog {
        Prog::Uninterruptible(_) => Prog::Uninterruptible(Box::new(child)),
        _ => Prog::ForkJoin(Box::new(child)),
    }
}

fn rebuild2(prog: &Prog, a: Prog, b: Prog) -> Prog {
    match prog {
        Prog::Seq(..) => Prog::Seq(Box::new(a), Box::new(b)),
        _ => Prog::CatchAll(Box::new(a), Box::new(b)),
    }
}

fn rebuild_list(prog: &Prog, ps: Vec<Prog>) -> Prog {
    match prog {
        Prog::ZipPar(_) => Prog::ZipPar(ps),
        Prog::Race(_) => Prog::Race(ps),
        _ => Prog::RaceFirst(ps),
    }
}

fn minimize(mut prog: Prog, interrupt: Option<u64>) -> (Prog, String) {
    let mut why = check(&prog, interrupt).err().unwrap_or_default();
    'outer: loop {
        for smaller in shrink(&prog) {
            if let Err(reason) = check(&smaller, interrupt) {
                prog = smaller;
                why = reason;
                continue 'outer;
            }
        }
        return (prog, why);
    }
}

#[test]
fn random_programs_behave_as_the_model_says() {
    let seed: u64 = std::env::var("EFFECT_MODEL_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0x00c0_ffee_1234_5678);
    let cases: u64 = std::env::var("EFFECT_MODEL_CASES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(5_000);
    println!("model test: seed {seed}, {cases} programs (EFFECT_MODEL_SEED / EFFECT_MODEL_CASES to change)");
    let mut rng = Rng(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1);
    let (mut compared, mut ambiguous) = (0, 0);
    for case in 0..cases {
        let mut ids = 0;
        let prog = generate(&mut rng, 4, &mut ids);
        let interrupt = (rng.below(2) == 0).then(|| rng.below(8_000));
        match check(&prog, interrupt) {
            Ok(true) => compared += 1,
            Ok(false) => ambiguous += 1,
            Err(_) => {
                let (small, why) = minimize(prog.clone(), interrupt);
                panic!(
                    "program {case} of seed {seed} (interrupted at {interrupt:?} ms) disagrees with the model: {why}\n  \
                     shrunk: {small}\n  original: {prog}"
                );
            }
        }
    }
    println!("model test: {compared} programs matched the model, {ambiguous} with simultaneous events checked for invariants only");
    assert!(
        compared * 2 > cases,
        "too few unambiguous programs: {compared} of {cases}"
    );
}
