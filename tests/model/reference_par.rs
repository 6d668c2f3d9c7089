//! The reference model of the concurrent forms: `zip_par` (and any fail-fast group: see
//! `fail_fast`, and `Agenda` for the groups whose members share a pool or a limiter),
//! `race`/`race_first`, `timeout`, `for_each_par` and semaphore pools (workers taking items
//! in order), and pipes.
//!
//! Rules: a fail-fast group interrupts the others at its first failure, waits for them, and
//! fails with that failure plus every other failure or defect they produced (an interrupted
//! sibling adds only the defects of its finalizers). A race interrupts its losers once
//! decided and waits for them; a loser's finalizer defect is kept too (no failure is ever
//! lost). Interrupted from outside, each form interrupts everything it runs and waits for it.

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use crate::prog::{Pipe, Prog};
use crate::reference::{
    failed, fiber, interrupted_while_closing, known, reap, Ev, Model, Outcome, Tail,
};

/// The end and merged logs of concurrent runs, with `outcome`.
fn combine(end: u64, outcome: Outcome, runs: Vec<Model>) -> Model {
    let mut m = Model::new(end, outcome);
    for run in runs {
        m.absorb(run);
    }
    m
}

fn latest(runs: &[Model], start: u64) -> u64 {
    runs.iter().map(|r| r.end).max().unwrap_or(start)
}

/// The outcome of a group interrupted from outside with `runs` cut short: interrupted, with
/// the defects of their finalizers.
fn interrupted_with(runs: &[&Model]) -> (Outcome, u8) {
    let defects = runs
        .iter()
        .map(|r| match r.outcome {
            Outcome::Interrupted(k) => k,
            _ => 0,
        })
        .sum();
    let flag = if defects > 0 { known::LOST_DEFECT } else { 0 };
    (Outcome::Interrupted(defects), flag)
}

fn known_of(runs: &[Model]) -> u8 {
    runs.iter().fold(0, |k, r| k | r.known)
}

/// Adds what a sibling's outcome contributes to a fail-fast group's failure.
fn add_sibling(outcome: &mut Outcome, sibling: &Outcome) {
    let Outcome::Failed(all, total) = outcome else {
        return;
    };
    match sibling {
        Outcome::Failed(values, defects) => {
            all.extend(values);
            all.sort_unstable();
            *total += defects;
        }
        Outcome::Interrupted(defects) => *total += defects,
        Outcome::Ok(_) => {}
    }
}

/// A fail-fast group once its first failure (at `first_at`) cut the others (`runs`): it fails
/// with `outcome` when they are done, unless interrupted from outside first.
fn failed_fast(
    runs: Vec<Model>,
    outcome: Outcome,
    first_at: u64,
    start: u64,
    interrupt: Option<u64>,
) -> Model {
    let (outcome, ambiguous) = match interrupt {
        Some(at) if at <= first_at => (Outcome::Interrupted(0), at == first_at),
        _ => (outcome, false),
    };
    let defects = closing_defects(runs.iter(), interrupt);
    let mut m = combine(latest(&runs, start), outcome, runs);
    m.ambiguous |= ambiguous;
    interrupted_while_closing(m, interrupt, defects)
}

/// The defects an outside interrupt at `interrupt` keeps of members a region is waiting
/// for: those of the members that finish after it (the region's close reports them; the
/// exits of those that finished before were taken by the region's body, dropped with it).
fn closing_defects<'a>(members: impl Iterator<Item = &'a Model>, interrupt: Option<u64>) -> usize {
    let Some(at) = interrupt else { return 0 };
    members
        .filter(|run| run.end > at)
        .map(|run| match run.outcome {
            Outcome::Ok(_) => 0,
            Outcome::Failed(_, defects) | Outcome::Interrupted(defects) => defects,
        })
        .sum()
}

pub fn zip_par(children: &[Prog], start: u64, interrupt: Option<u64>) -> Model {
    let run = |cut: &dyn Fn(usize) -> Option<u64>| {
        let runs = children.iter().enumerate();
        let runs = runs.map(|(i, c)| fiber(c, start, cut(i), Tail::Observed));
        (runs.collect(), ())
    };
    fail_fast(start, interrupt, run).0
}

/// A fail-fast group with `zip_par`'s rules. `run(cut)` gives the run of each member, member
/// k interrupted at `cut(k)`, and whatever else it found (`S`, as of that run): the members
/// run as they would with only the outside interrupt; if one fails, they run again with the
/// others interrupted at that first failure (the first runs as it did).
pub fn fail_fast<S>(
    start: u64,
    interrupt: Option<u64>,
    run: impl Fn(&dyn Fn(usize) -> Option<u64>) -> (Vec<Model>, S),
) -> (Model, S) {
    let (runs, natural) = run(&|_| interrupt);
    let failures: Vec<(u64, usize)> = runs
        .iter()
        .enumerate()
        .filter(|(_, r)| r.outcome.is_failed())
        .map(|(i, r)| (r.end, i))
        .collect();
    let Some(&(first_at, first)) = failures.iter().min() else {
        let end = latest(&runs, start);
        let (outcome, flag) = if runs.iter().any(|r| r.outcome.is_interrupted()) {
            interrupted_with(&runs.iter().collect::<Vec<_>>())
        } else {
            (
                Outcome::Ok(runs.iter().map(|r| value_of(&r.outcome)).sum()),
                0,
            )
        };
        let mut m = combine(end, outcome, runs);
        m.known |= flag;
        return (m, natural);
    };
    let natural_known = known_of(&runs);
    let ambiguous = failures.iter().filter(|(at, _)| *at == first_at).count() > 1;
    // The others are interrupted when the first fails.
    let cut = Some(interrupt.map_or(first_at, |at| at.min(first_at)));
    let (all, found) = run(&|i| if i == first { interrupt } else { cut });
    let mut outcome = all[first].outcome.clone();
    for (i, sibling) in all.iter().enumerate() {
        if i != first {
            add_sibling(&mut outcome, &sibling.outcome);
        }
    }
    let mut m = failed_fast(all, outcome, first_at, start, interrupt);
    m.ambiguous |= ambiguous;
    m.known |= natural_known;
    (m, found)
}

/// The steps of a fail-fast group's members in time order, for the models that simulate
/// what the members share (`reference_pool`, `reference_limiter`), with each member's run once
/// it has one. At one instant steps go in the order of their kind (`S`), except that a
/// member's steps at the instant it is interrupted, and what they cause then, come after all
/// others: a sibling's failure interrupts the others only once it has happened, after
/// everything it did at that instant.
pub struct Agenda<'a, S> {
    cut: &'a dyn Fn(usize) -> Option<u64>,
    steps: BinaryHeap<Reverse<(u64, bool, S)>>,
    /// The instant of the step being taken, and whether an interruption caused it.
    now: (u64, bool),
    /// Each member's run, once it has one (complete once the member is done).
    pub runs: Vec<Option<Model>>,
}

impl<'a, S: Ord> Agenda<'a, S> {
    /// The agenda of `members` members, member k interrupted at `cut(k)`.
    pub fn new(members: usize, cut: &'a dyn Fn(usize) -> Option<u64>) -> Self {
        Agenda {
            cut,
            steps: BinaryHeap::new(),
            now: (0, false),
            runs: (0..members).map(|_| None).collect(),
        }
    }

    /// Member k asks (`ask(k)`) `k` ms after `from`, and is interrupted (`interrupted(k)`) when
    /// the agenda's cut says.
    pub fn members_ask(&mut self, from: u64, ask: fn(usize) -> S, interrupted: fn(usize) -> S) {
        for k in 0..self.runs.len() {
            self.at(from + k as u64, ask(k), k);
            if let Some(at) = self.cut(k) {
                self.at(at, interrupted(k), k);
            }
        }
    }

    /// When member `k` is interrupted.
    pub fn cut(&self, k: usize) -> Option<u64> {
        (self.cut)(k)
    }

    /// `step` of member `k` happens at `time`.
    pub fn at(&mut self, time: u64, step: S, k: usize) {
        let late = self.cut(k) == Some(time) || self.now == (time, true);
        self.steps.push(Reverse((time, late, step)));
    }

    /// The next step, and when.
    pub fn next(&mut self) -> Option<(u64, S)> {
        let Reverse((time, late, step)) = self.steps.pop()?;
        self.now = (time, late);
        Some((time, step))
    }

    /// Whether a step that `is` says is still to come at `time`.
    pub fn pending(&self, time: u64, is: impl Fn(&S) -> bool) -> bool {
        self.steps
            .iter()
            .any(|Reverse((at, _, step))| *at == time && is(step))
    }

    /// The members' runs, each done once its orphans are reaped.
    pub fn finish(self) -> Vec<Model> {
        let runs = self.runs.into_iter().map(|run| {
            let mut run = run.expect("every member ends");
            run.end = reap(&mut run);
            run
        });
        runs.collect()
    }
}

pub fn race(children: &[Prog], first_wins: bool, start: u64, interrupt: Option<u64>) -> Model {
    let runs: Vec<Model> = children
        .iter()
        .map(|c| fiber(c, start, interrupt, Tail::Unobserved))
        .collect();
    let decides = |r: &Model| {
        if first_wins {
            !r.outcome.is_interrupted()
        } else {
            r.outcome.is_ok()
        }
    };
    let winners: Vec<(u64, usize)> = runs
        .iter()
        .enumerate()
        .filter(|(_, r)| decides(r))
        .map(|(i, r)| (r.end, i))
        .collect();
    let Some(&(won_at, winner)) = winners.iter().min() else {
        // Every branch failed (or all were interrupted from outside).
        let end = latest(&runs, start);
        let (outcome, flag) = if runs.iter().any(|r| r.outcome.is_interrupted()) {
            interrupted_with(&runs.iter().collect::<Vec<_>>())
        } else {
            let (mut values, mut defects) = (Vec::new(), 0);
            for r in &runs {
                if let Outcome::Failed(vs, ds) = &r.outcome {
                    values.extend(vs);
                    defects += ds;
                }
            }
            (failed(values, defects), 0)
        };
        let mut m = combine(end, outcome, runs);
        m.known |= flag;
        return m;
    };
    let natural_known = known_of(&runs);
    let mut ambiguous = winners.iter().filter(|(at, _)| *at == won_at).count() > 1;
    let cut = Some(interrupt.map_or(won_at, |at| at.min(won_at)));
    let (mut all, mut loser_defects) = (Vec::new(), 0);
    for (i, child) in children.iter().enumerate() {
        let run = if i == winner {
            fiber(child, start, interrupt, Tail::Unobserved)
        } else {
            fiber(child, start, cut, Tail::Unobserved)
        };
        // A loser finishing at the instant the race is decided may or may not count.
        ambiguous |= i != winner && runs[i].end == won_at;
        if let (true, Outcome::Interrupted(defects)) = (i != winner, &run.outcome) {
            loser_defects += defects;
        }
        all.push(run);
    }
    let mut m_known = natural_known;
    let outcome = if interrupt.is_some_and(|at| at <= won_at) {
        Outcome::Interrupted(0)
    } else {
        if loser_defects > 0 {
            m_known |= known::LOST_DEFECT;
        }
        all[winner].outcome.clone().with_defects(loser_defects)
    };
    ambiguous |= interrupt == Some(won_at);
    let defects = closing_defects(
        all.iter()
            .enumerate()
            .filter(|(i, _)| *i != winner)
            .map(|(_, run)| run),
        interrupt,
    );
    let mut m = combine(latest(&all, start), outcome, all);
    m.ambiguous |= ambiguous;
    m.known |= m_known;
    interrupted_while_closing(m, interrupt, defects)
}

/// `timeout(d)`: at the deadline the program is interrupted and awaited; an interrupted
/// result reads `None` (-1), plus any defects its finalizers added.
pub fn timeout(d: u64, p: &Prog, start: u64, interrupt: Option<u64>) -> Model {
    let deadline = start + d;
    let natural = fiber(p, start, interrupt, Tail::Observed);
    if natural.end < deadline
        || natural.outcome.is_interrupted() && interrupt.is_some_and(|at| at < deadline)
    {
        let mut m = natural;
        m.ambiguous |= m.end == deadline;
        if m.outcome.is_interrupted() {
            // Interrupted from outside: the body was interrupted by the timeout's fiber.
            let (outcome, flag) = interrupted_with(&[&m]);
            (m.outcome, m.known) = (outcome, m.known | flag);
        }
        return m;
    }
    let cut = Some(interrupt.map_or(deadline, |at| at.min(deadline)));
    let mut run = fiber(p, start, cut, Tail::Observed);
    run.ambiguous |= natural.end == deadline;
    run.known |= natural.known;
    if interrupt.is_some_and(|at| at <= deadline) {
        run.ambiguous |= interrupt == Some(deadline);
        run.outcome = Outcome::Interrupted(0);
        return run;
    }
    let defects = closing_defects(std::iter::once(&run), interrupt);
    run.outcome = match run.outcome {
        Outcome::Interrupted(defects) => Outcome::Ok(-1).with_defects(defects),
        other => other,
    };
    interrupted_while_closing(run, interrupt, defects)
}

/// Workers taking the items in order as they free up (`for_each_par`'s workers, or a
/// semaphore's permits handed out first come, first served): item k asks at `ready(k)` and
/// starts when it has asked and a worker is free. The first failure stops new starts and
/// interrupts the items in flight.
pub fn workers(
    items: &[Prog],
    slots: usize,
    ready: impl Fn(usize) -> u64,
    start: u64,
    interrupt: Option<u64>,
) -> Model {
    // When each item would start and end if nothing failed.
    let mut free = vec![start; slots.min(items.len()).max(1)];
    let mut natural = Vec::new();
    for (k, item) in items.iter().enumerate() {
        free.sort_unstable();
        let begins = free[0].max(ready(k));
        let run = fiber(item, begins, interrupt, Tail::Inner);
        free[0] = run.end;
        natural.push((begins, run));
    }
    let failures: Vec<u64> = natural
        .iter()
        .filter(|(_, r)| r.outcome.is_failed())
        .map(|(_, r)| r.end)
        .collect();
    let Some(&first_at) = failures.iter().min() else {
        let interrupted = natural.iter().any(|(_, r)| r.outcome.is_interrupted());
        let end = natural.iter().map(|(_, r)| r.end).max().unwrap_or(start);
        let (outcome, flag) = if interrupted {
            interrupted_with(&natural.iter().map(|(_, r)| r).collect::<Vec<_>>())
        } else {
            (
                Outcome::Ok(natural.iter().map(|(_, r)| value_of(&r.outcome)).sum()),
                0,
            )
        };
        let ambiguous = natural.iter().any(|(b, _)| interrupt == Some(*b));
        let mut m = combine(end, outcome, natural.into_iter().map(|(_, r)| r).collect());
        m.ambiguous |= ambiguous;
        m.known |= flag;
        return m;
    };
    let mut ambiguous = failures.iter().filter(|at| **at == first_at).count() > 1;
    let natural_known = natural.iter().fold(0, |k, (_, r)| k | r.known);
    let cut = Some(interrupt.map_or(first_at, |at| at.min(first_at)));
    let mut outcome = Outcome::Failed(vec![], 0);
    let mut runs = Vec::new();
    for (item, (begins, run)) in items.iter().zip(natural) {
        if begins > first_at {
            continue; // never started
        }
        // An item starting at the instant of the failure may or may not start.
        ambiguous |= begins == first_at && run.end != first_at;
        let run = if run.end == first_at && run.outcome.is_failed() {
            run
        } else {
            fiber(item, begins, cut, Tail::Inner)
        };
        add_sibling(&mut outcome, &run.outcome);
        runs.push(run);
    }
    let mut m = failed_fast(runs, outcome, first_at, start, interrupt);
    m.ambiguous |= ambiguous;
    m.known |= natural_known;
    m
}

/// A producer and a consumer on a bounded queue: offer k returns once its pause is over and
/// there is room (take k - capacity has returned); take k returns once item k is there and
/// the consumer's previous pause is over.
pub fn pipe(p: &Pipe, start: u64, interrupt: Option<u64>) -> Model {
    let n = p.items as usize;
    let (mut offered, mut taken) = (Vec::<u64>::new(), Vec::<u64>::new());
    for k in 0..n {
        let paused = offered.last().copied().unwrap_or(start) + p.produce;
        let room = if k >= p.capacity {
            taken[k - p.capacity]
        } else {
            start
        };
        offered.push(paused.max(room));
        let ready = taken.last().map_or(start, |t| t + p.consume);
        taken.push(offered[k].max(ready));
    }
    let end = offered[n - 1].max(taken[n - 1] + p.consume);
    let happened = |at: u64| interrupt.is_none_or(|i| at < i);
    let mut m = match interrupt {
        Some(i) if i < end => Model::interrupted(i.max(start), i == start),
        _ => Model::new(end, Outcome::Ok((1..=n as i64).sum())),
    };
    for (k, (&o, &t)) in offered.iter().zip(&taken).enumerate() {
        let item = k as u32 + 1;
        if happened(o) {
            m.log.push((o, Ev::Offer(p.id, item)));
        }
        if happened(t) {
            m.log.push((t, Ev::Take(p.id, item)));
        }
        m.ambiguous |= interrupt == Some(o) || interrupt == Some(t);
    }
    m.ambiguous |= interrupt == Some(end);
    m
}

fn value_of(outcome: &Outcome) -> i64 {
    match outcome {
        Outcome::Ok(v) => *v,
        _ => 0,
    }
}
