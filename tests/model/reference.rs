//! The reference model: what the design (DESIGN.md §4) says a program does, in virtual time.
//!
//! `model(prog, start, interrupt, tail)` runs `prog` from `start` with an interrupt reaching
//! it at `interrupt` (from outside, or from a parent that cuts it short) and gives its end,
//! its outcome, the events it logs and when. Rules beyond the leaves:
//! - A finalizer starts when what it guards ends (however it ends), runs for its delay with
//!   interruption disabled, and a finalizer that dies adds its defect: a success becomes that
//!   defect, a failure or interruption keeps its cause and gains the defect.
//! - Uninterruptible regions, finalizers included, defer an interrupt to their end; the fiber
//!   then unwinds as interrupted, discarding the region's result (a finalizer's own defect is
//!   kept).
//! - A forked child is interrupted when its parent's fiber ends (after the parent's
//!   finalizers), and the fiber is done once its children are (`reap`).
//! - Concurrency (`zip_par`, races, `for_each_par`, pools, pipes) is in `reference_par`;
//!   `effect::Pool` is in `reference_pool`, `effect::RateLimiter` in `reference_limiter`.
//!
//! When two events the outcome depends on fall on the same instant the scheduler decides,
//! and the model says so (`ambiguous`): such programs are checked for invariants only.

use crate::prog::{Fin, Prog, Sched};
use crate::{reference_limiter, reference_par, reference_pool};

/// What a program logs, with the virtual time it happened at.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Ev {
    Acquire(i64),
    /// A finalizer (or a resource's release) started.
    Fin(i64),
    /// A finalizer finished its delay.
    FinEnd(i64),
    /// Attempt k of a retry/repeat started.
    Attempt(i64, usize),
    /// A pipe's producer offered the item (the offer returned).
    Offer(i64, u32),
    /// A pipe's consumer took the item.
    Take(i64, u32),
    /// Holder k of the item pool with the id got its item.
    Got(i64, usize),
    /// Caller k of the rate limiter with the id was let through.
    Granted(i64, usize),
}

#[derive(Clone, Debug, PartialEq)]
pub enum Outcome {
    Ok(i64),
    /// Typed failure values (sorted) and the number of defects.
    Failed(Vec<i64>, usize),
    /// Interrupted, with the defects of finalizers that died while it unwound.
    Interrupted(usize),
}

impl Outcome {
    pub fn is_ok(&self) -> bool {
        matches!(self, Outcome::Ok(_))
    }
    pub fn is_failed(&self) -> bool {
        matches!(self, Outcome::Failed(..))
    }
    pub fn is_interrupted(&self) -> bool {
        matches!(self, Outcome::Interrupted(_))
    }
    /// Whether a typed handler (`catch_all`, `retry`) sees a failure in it.
    pub fn has_typed_failure(&self) -> bool {
        matches!(self, Outcome::Failed(values, _) if !values.is_empty())
    }

    /// The outcome with `defects` more defects: a success becomes them.
    pub fn with_defects(self, defects: usize) -> Outcome {
        match (self, defects) {
            (outcome, 0) => outcome,
            (Outcome::Ok(_), k) => Outcome::Failed(vec![], k),
            (Outcome::Failed(values, d), k) => Outcome::Failed(values, d + k),
            (Outcome::Interrupted(d), k) => Outcome::Interrupted(d + k),
        }
    }

    /// What the exit shows: an interruption with defects reads as those defects (the cause
    /// is more than an interruption).
    pub fn observed(&self) -> Outcome {
        match self {
            Outcome::Interrupted(k) if *k > 0 => Outcome::Failed(vec![], *k),
            other => other.clone(),
        }
    }
}

pub fn failed(mut values: Vec<i64>, defects: usize) -> Outcome {
    values.sort_unstable();
    Outcome::Failed(values, defects)
}

/// Behaviours the runtime once got wrong (both found by this test, both fixed): a failing
/// program that exercises one says so, as a hint.
pub mod known {
    /// An interrupt arriving while a finalizer runs takes effect only at the fiber's next
    /// body, not when the finalizer ends: at the end of a fiber (nothing left to run) it is
    /// never acted on (the fiber, a `timeout`'s body, a `zip_par` branch, ... completes as if
    /// not interrupted), and in between the exit is a completed one, so the defect of a
    /// finalizer that dies there is dropped with it.
    pub const INTERRUPT_IN_FINALIZER: u8 = 1;
    /// The defect of a finalizer in a branch its parent interrupted (a race's loser once the
    /// race is decided, or any branch of a `zip_par`, race, `for_each_par`, pool or timeout
    /// that is itself interrupted): the parent drops the branch's exit, and the defect is
    /// lost, where a fail-fast `zip_par` keeps a sibling's and an effect interrupted on its
    /// own fiber keeps its own.
    pub const LOST_DEFECT: u8 = 2;

    pub fn describe(flags: u8) -> String {
        let mut names = Vec::new();
        if flags & INTERRUPT_IN_FINALIZER != 0 {
            names.push("an interrupt arriving while a finalizer runs");
        }
        if flags & LOST_DEFECT != 0 {
            names.push("the finalizer defect of a branch its parent interrupted");
        }
        names.join(", ")
    }
}

/// A supervised child left running when its parent stopped waiting for it (the parent was
/// interrupted while joining it, or while interrupting it): it is interrupted (if it was not
/// already, at `cut`) when its parent's fiber ends, and awaited then.
#[derive(Clone, Debug)]
pub struct Orphan {
    pub prog: Prog,
    pub start: u64,
    pub cut: Option<u64>,
}

#[derive(Debug)]
pub struct Model {
    pub end: u64,
    pub outcome: Outcome,
    pub log: Vec<(u64, Ev)>,
    /// Two events the outcome depends on happen at the same instant: the scheduler decides.
    pub ambiguous: bool,
    /// The `known` behaviours this program depends on.
    pub known: u8,
    /// The run ended because an interrupt arrived during a finalizer, and the runtime has not
    /// yet reached a point where it acts on it (see `known::INTERRUPT_IN_FINALIZER`).
    pub unnoticed: bool,
    /// Children to reap when the fiber ends.
    pub orphans: Vec<Orphan>,
}

impl Model {
    pub fn new(end: u64, outcome: Outcome) -> Model {
        Model {
            end,
            outcome,
            log: vec![],
            ambiguous: false,
            known: 0,
            unnoticed: false,
            orphans: vec![],
        }
    }

    /// Interrupted at `end`, nothing logged.
    pub fn interrupted(end: u64, ambiguous: bool) -> Model {
        let mut m = Model::new(end, Outcome::Interrupted(0));
        m.ambiguous = ambiguous;
        m
    }

    /// Takes on what `other` logged and was unsure of.
    pub fn absorb(&mut self, other: Model) {
        self.log.extend(other.log);
        self.orphans.extend(other.orphans);
        self.ambiguous |= other.ambiguous;
        self.known |= other.known;
    }
}

/// Where a program sits in its fiber: what its fiber does once it ends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Tail {
    /// A body of the same fiber goes on with its result.
    Inner,
    /// It is the last thing its fiber (or nested run) does, and the fiber's exit is looked at.
    Observed,
    /// It is the last thing its fiber does, and nobody looks at the exit.
    Unobserved,
}

/// The whole program, as the root fiber of a run: its `end` is when its body and finalizers
/// are done (its children are reaped after).
pub fn program(prog: &Prog, interrupt: Option<u64>, tail: Tail) -> Model {
    let mut m = model(prog, 0, interrupt, tail);
    reap(&mut m);
    m
}

/// `prog` as a fiber of its own (a forked child, a branch, a timeout's body): done once its
/// children are reaped.
pub fn fiber(prog: &Prog, start: u64, interrupt: Option<u64>, tail: Tail) -> Model {
    let mut m = model(prog, start, interrupt, tail);
    m.end = reap(&mut m);
    m
}

/// Supervision: when a fiber's body and finalizers are done, the children still running are
/// interrupted, and the fiber is done when they are. When that is.
pub fn reap(m: &mut Model) -> u64 {
    let mut done = m.end;
    for orphan in std::mem::take(&mut m.orphans) {
        let cut = orphan.cut.map_or(m.end, |cut| cut.min(m.end));
        let run = fiber(&orphan.prog, orphan.start, Some(cut), Tail::Unobserved);
        done = done.max(run.end);
        m.absorb(run);
    }
    done
}

/// Runs `prog` from `start`, with an interrupt arriving at `interrupt` (if any).
pub fn model(prog: &Prog, start: u64, interrupt: Option<u64>, tail: Tail) -> Model {
    let mut m = node(prog, start, interrupt, tail);
    if !matches!(prog, Prog::Ensuring(..)) {
        // Every other form hands its child's result to a body, which acts on the interrupt.
        m.unnoticed = false;
    }
    if m.unnoticed && tail == Tail::Observed {
        m.known |= known::INTERRUPT_IN_FINALIZER;
    }
    m
}

fn node(prog: &Prog, start: u64, interrupt: Option<u64>, tail: Tail) -> Model {
    // Interrupted before it starts: nothing runs.
    if interrupt.is_some_and(|at| at < start) {
        return Model::interrupted(start, false);
    }
    match prog {
        Prog::Value(d, v) => leaf(start, start + d, Outcome::Ok(*v), interrupt),
        Prog::Fail(d, e) => leaf(start, start + d, failed(vec![*e], 0), interrupt),
        Prog::Die(d) | Prog::Panic(d) => leaf(start, start + d, failed(vec![], 1), interrupt),
        Prog::Seq(a, b) => {
            let first = model(a, start, interrupt, Tail::Inner);
            if !first.outcome.is_ok() {
                return first;
            }
            then(first, b, interrupt)
        }
        Prog::CatchAll(p, handler) => {
            let first = model(p, start, interrupt, Tail::Inner);
            if !first.outcome.has_typed_failure() {
                return first;
            }
            then(first, handler, interrupt)
        }
        Prog::ZipPar(children) => reference_par::zip_par(children, start, interrupt),
        Prog::Race(children) => reference_par::race(children, false, start, interrupt),
        Prog::RaceFirst(children) => reference_par::race(children, true, start, interrupt),
        Prog::Timeout(d, p) => reference_par::timeout(*d, p, start, interrupt),
        Prog::ForEachPar(items, parallelism) => {
            reference_par::workers(items, *parallelism, |_| start, start, interrupt)
        }
        Prog::Pool(permits, items) => {
            reference_par::workers(items, *permits, |k| start + k as u64, start, interrupt)
        }
        Prog::Pipe(pipe) => reference_par::pipe(pipe, start, interrupt),
        Prog::ItemPool(spec, holders) => reference_pool::item_pool(spec, holders, start, interrupt),
        Prog::Limited(id, limit, asks) => {
            reference_limiter::limited(*id, limit, asks, start, interrupt)
        }
        Prog::Resource(id, fin, p) => {
            if interrupt == Some(start) {
                return Model::interrupted(start, true);
            }
            let mut run = model(p, start, interrupt, Tail::Inner);
            // The release runs from `scoped`'s body, after the body that used the resource
            // noticed any interrupt.
            run.unnoticed = false;
            run.log.insert(0, (start, Ev::Acquire(*id)));
            finalize(run, *id, *fin, interrupt, start)
        }
        Prog::Ensuring(p, id, fin) => {
            let run = model(p, start, interrupt, tail);
            finalize(run, *id, *fin, interrupt, start)
        }
        Prog::Uninterruptible(p) => {
            let mut run = model(p, start, None, Tail::Inner);
            run.ambiguous |= interrupt == Some(start);
            // A fiber forked here inherits the region's uninterruptibility (as in ZIO and
            // Effect-TS), which this model does not follow into the child: such programs are
            // checked for invariants only; tests/fibers.rs states the rule exactly.
            run.ambiguous |= forks_inside(p);
            if interrupt.is_some_and(|at| at < run.end || at == start) {
                run.ambiguous |= interrupt == Some(run.end);
                run.outcome = Outcome::Interrupted(0);
            }
            run
        }
        Prog::ForkJoin(p) => fork_join(p, start, interrupt),
        Prog::ForkInterrupt(p, d) => fork_interrupt(p, start + d, start, interrupt),
        Prog::Daemon(p, join) => daemon(p, *join, start, interrupt),
        Prog::Retry(id, sched, attempts) => recur(*id, false, sched, attempts, start, interrupt),
        Prog::Repeat(id, sched, attempts) => recur(*id, true, sched, attempts, start, interrupt),
    }
}

/// Whether `prog` forks a fiber anywhere inside it.
fn forks_inside(prog: &Prog) -> bool {
    matches!(
        prog,
        Prog::ForkJoin(..) | Prog::ForkInterrupt(..) | Prog::Daemon(..)
    ) || prog.children().into_iter().any(forks_inside)
}

/// A leaf running from `start` to `end`.
fn leaf(start: u64, end: u64, outcome: Outcome, interrupt: Option<u64>) -> Model {
    match interrupt {
        Some(at) if at < end => Model::interrupted(at.max(start), at == start),
        Some(at) => {
            let mut m = Model::new(end, outcome);
            m.ambiguous = at == end;
            m
        }
        None => Model::new(end, outcome),
    }
}

/// `first` succeeded (or failed into a handler): `next` runs from its end.
fn then(first: Model, next: &Prog, interrupt: Option<u64>) -> Model {
    let mut second = model(next, first.end, interrupt, Tail::Inner);
    second.ambiguous |= first.ambiguous || interrupt == Some(first.end);
    second.known |= first.known;
    second.orphans.extend(first.orphans);
    second.log.splice(0..0, first.log);
    second
}

/// Runs finalizer `id` after `run` (begun at `start`): from `run.end`, for its delay.
fn finalize(mut run: Model, id: i64, fin: Fin, interrupt: Option<u64>, start: u64) -> Model {
    let (begins, ends) = (run.end, run.end + fin.delay);
    run.ambiguous |= interrupt == Some(start);
    run.log.push((begins, Ev::Fin(id)));
    if fin.logs_end() {
        run.log.push((ends, Ev::FinEnd(id)));
    }
    if run.unnoticed && fin.dies() {
        // The runtime runs this finalizer as if the region had completed, then drops its
        // defect with the region's result.
        run.known |= known::INTERRUPT_IN_FINALIZER;
    }
    closing(run, fin.delay, fin.dies(), interrupt)
}

/// A finalizer (or a scope's closing) running from `run.end` for `delay`, with interruption
/// disabled, adding a defect if it `dies`.
pub fn closing(mut run: Model, delay: u64, dies: bool, interrupt: Option<u64>) -> Model {
    let (begins, ends) = (run.end, run.end + delay);
    let defects = usize::from(dies);
    let during = interrupt.filter(|at| begins < *at && *at < ends);
    run.outcome = if run.outcome.is_interrupted() || during.is_none() {
        run.outcome.with_defects(defects)
    } else {
        // The interrupt arrived while the finalizer ran: it takes effect when the finalizer
        // ends, and the result of what it guarded is discarded (not its own defect).
        run.unnoticed = true;
        if dies {
            // The runtime drops this defect with the guarded result when it acts on the
            // interrupt in the next body (and keeps both when no body follows).
            run.known |= known::INTERRUPT_IN_FINALIZER;
        }
        Outcome::Interrupted(defects)
    };
    run.ambiguous |= ends > begins && interrupt == Some(ends);
    run.end = ends;
    run
}

/// A race, a fail-fast `zip_par` or an expired timeout waits, interruptibly, for the branches
/// it interrupted: an interrupt arriving before they are done interrupts it, and keeps the
/// `defects` of their cleanup, which the region's close reports.
pub fn interrupted_while_closing(mut m: Model, interrupt: Option<u64>, defects: usize) -> Model {
    if let Some(at) = interrupt {
        m.ambiguous |= at == m.end;
        if at < m.end {
            m.outcome = Outcome::Interrupted(defects);
        }
    }
    m
}

/// The parent, interrupted at `at`, stops waiting for its child `p` (begun at `start`, and
/// already interrupted at `cut` if given), which is reaped when the parent's fiber ends.
fn left_behind(at: u64, p: &Prog, start: u64, cut: Option<u64>) -> Model {
    let mut m = Model::interrupted(at, false);
    m.orphans.push(Orphan {
        prog: p.clone(),
        start,
        cut,
    });
    m
}

/// `fork` then `join`: interrupted while joining, the parent stops waiting at once, and the
/// child is reaped when the parent's fiber ends.
fn fork_join(p: &Prog, start: u64, interrupt: Option<u64>) -> Model {
    let child = fiber(p, start, None, Tail::Observed);
    let mut m = match interrupt {
        Some(at) if at < child.end => left_behind(at, p, start, None),
        _ => {
            let ambiguous = interrupt == Some(child.end);
            let mut m = child;
            m.ambiguous |= ambiguous;
            m
        }
    };
    // Interrupted as it forks: the child may or may not start.
    m.ambiguous |= interrupt == Some(start);
    m
}

/// `fork`, sleep until `at`, `interrupt` (which waits for the child): interrupted before, the
/// parent leaves the child to be reaped when its fiber ends; interrupted while waiting, it
/// stops waiting (the child goes on unwinding, and is awaited when the fiber ends).
fn fork_interrupt(p: &Prog, at: u64, start: u64, interrupt: Option<u64>) -> Model {
    let natural = fiber(p, start, None, Tail::Unobserved);
    let mut m = match interrupt {
        Some(i) if i < at => left_behind(i, p, start, None),
        _ => {
            let child = fiber(p, start, Some(at), Tail::Unobserved);
            match interrupt {
                Some(i) if i < child.end => left_behind(i, p, start, Some(at)),
                _ => {
                    let mut m = Model::new(child.end.max(at), Outcome::Ok(0));
                    m.ambiguous |= interrupt == Some(m.end);
                    m.absorb(child);
                    m
                }
            }
        }
    };
    m.ambiguous |= interrupt == Some(start) || interrupt == Some(at) || natural.end == at;
    m
}

/// `fork_daemon`: the daemon runs on its own, whatever happens to the program; joined, the
/// program waits for it (interruptibly: the daemon goes on if the program is interrupted).
fn daemon(p: &Prog, join: bool, start: u64, interrupt: Option<u64>) -> Model {
    let tail = if join {
        Tail::Observed
    } else {
        Tail::Unobserved
    };
    let daemon = fiber(p, start, None, tail);
    let mut m = if !join {
        Model::new(start, Outcome::Ok(0))
    } else if interrupt.is_some_and(|at| at < daemon.end) {
        let at = interrupt.unwrap_or_default();
        Model::interrupted(at, at == daemon.end)
    } else {
        let mut joined = Model::new(daemon.end, daemon.outcome.clone());
        joined.ambiguous = interrupt == Some(daemon.end);
        joined
    };
    m.ambiguous |= interrupt == Some(start);
    m.absorb(daemon);
    m
}

/// `retry`/`repeat`: attempt k runs from when the schedule's k-th delay is over; a typed
/// failure (retry) or a success (repeat) goes on while the schedule does, anything else ends
/// it. The sleeps between attempts are interruptible.
fn recur(
    id: i64,
    repeat: bool,
    sched: &Sched,
    attempts: &[Prog],
    start: u64,
    interrupt: Option<u64>,
) -> Model {
    let delays = sched.delays();
    let mut m = Model::new(start, Outcome::Ok(0));
    let mut at = start;
    for (k, attempt) in attempts.iter().enumerate() {
        m.ambiguous |= interrupt == Some(at);
        m.log.push((at, Ev::Attempt(id, k)));
        let run = model(attempt, at, interrupt, Tail::Inner);
        let goes_on = if repeat {
            run.outcome.is_ok()
        } else {
            run.outcome.has_typed_failure()
        };
        (m.end, m.outcome) = (run.end, run.outcome.clone());
        m.absorb(run);
        let Some(delay) = delays.get(k).filter(|_| goes_on) else {
            return m;
        };
        let next = m.end + delay;
        if let Some(i) = interrupt.filter(|i| *i < next) {
            m.ambiguous |= i == m.end;
            m.outcome = Outcome::Interrupted(0);
            m.end = i.max(m.end);
            return m;
        }
        m.ambiguous |= interrupt == Some(next);
        at = next;
    }
    m
}
