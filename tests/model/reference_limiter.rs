//! The reference model of `effect::RateLimiter` (`Prog::Limited`), in virtual time.
//!
//! Rules, as the limiter's documentation gives them:
//! - Caller k asks k ms after the start. A cost of zero goes through at once; a cost above
//!   the limiter's capacity dies at once. The limiter's time starts at the first ask of any
//!   other cost.
//! - Callers are served in the order they asked: only the first in line takes, or sleeps
//!   until it could; when it is served or leaves, the next one tries at that instant.
//! - A token bucket of capacity C with a token every I ms lets a cost c through at `now` if
//!   `max(tat, now) + c·I - now <= C·I`, and then `tat` is that sum; otherwise the wait is
//!   the excess. Fixed windows of W ms let at most the limit through in each window, counted
//!   from the limiter's first instant.
//! - A caller that gives up (its patience is over) or is interrupted while it waits has
//!   taken nothing, and the next one is served as if it had never asked.
//! - The callers are a fail-fast group, as `zip_par`.
//!
//! The scheduler decides, and the model says so (`ambiguous`), when a caller is let through
//! (or asks) at the instant it gives up or is interrupted.

use std::collections::VecDeque;

use crate::prog::{Ask, Limit};
use crate::reference::{failed, model, Ev, Model, Outcome, Tail};
use crate::reference_par::{fail_fast, Agenda};

pub fn limited(id: i64, limit: &Limit, asks: &[Ask], start: u64, interrupt: Option<u64>) -> Model {
    let (mut m, ambiguous) = fail_fast(start, interrupt, |cut| {
        Sim::new(id, limit, asks, start, cut).run()
    });
    m.ambiguous |= ambiguous;
    m
}

/// What happens, by caller. At one instant, the first in line waking up and the asks come
/// before what gives up, so that a caller let through at the instant it gives up is seen
/// (and called ambiguous); what an interruption causes comes after all that (`Agenda`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Step {
    /// The first in line has slept as long as it had to.
    Wake(usize),
    Ask(usize),
    GiveUp(usize),
    Cut(usize),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    Asleep,
    InLine,
    Done,
}

/// One run of the callers, each interrupted when `cut` says.
struct Sim<'a> {
    id: i64,
    limit: &'a Limit,
    asks: &'a [Ask],
    start: u64,
    agenda: Agenda<'a, Step>,
    phase: Vec<Phase>,
    line: VecDeque<usize>,
    /// The limiter's first instant, once it has one.
    origin: Option<u64>,
    /// Token bucket: when the bucket is full again (ms from the origin).
    tat: u64,
    /// Fixed window: the window `used` counts in.
    window: u64,
    used: u64,
    ambiguous: bool,
}

impl<'a> Sim<'a> {
    fn new(
        id: i64,
        limit: &'a Limit,
        asks: &'a [Ask],
        start: u64,
        cut: &'a dyn Fn(usize) -> Option<u64>,
    ) -> Sim<'a> {
        let mut sim = Sim {
            id,
            limit,
            asks,
            start,
            agenda: Agenda::new(asks.len(), cut),
            phase: vec![Phase::Asleep; asks.len()],
            line: VecDeque::new(),
            origin: None,
            tat: 0,
            window: 0,
            used: 0,
            ambiguous: false,
        };
        sim.agenda.members_ask(start, Step::Ask, Step::Cut);
        sim
    }

    fn cut(&self, k: usize) -> Option<u64> {
        self.agenda.cut(k)
    }

    fn deadline(&self, k: usize) -> Option<u64> {
        self.asks[k].patience.map(|p| self.start + k as u64 + p)
    }

    /// The callers' runs, and whether the scheduler decided anything.
    fn run(mut self) -> (Vec<Model>, bool) {
        while let Some((t, step)) = self.agenda.next() {
            match step {
                Step::Ask(k) => self.ask(k, t),
                Step::Wake(k) if self.line.front() == Some(&k) => self.serve(t),
                Step::Wake(_) => {}
                Step::GiveUp(k) => {
                    let left = self.leave(k, t, Model::new(t, Outcome::Ok(-1)));
                    self.ambiguous |= left && self.cut(k) == Some(t);
                }
                Step::Cut(k) => {
                    self.leave(k, t, Model::interrupted(t, false));
                }
            }
        }
        (self.agenda.finish(), self.ambiguous)
    }

    fn ask(&mut self, k: usize, t: u64) {
        if self.phase[k] != Phase::Asleep {
            return;
        }
        self.ambiguous |= self.cut(k) == Some(t);
        let cost = self.asks[k].cost;
        if cost == 0 {
            return self.through(k, t);
        }
        if cost > self.limit.capacity() {
            return self.done(k, Model::new(t, failed(vec![], 1)));
        }
        self.origin.get_or_insert(t);
        if let Some(deadline) = self.deadline(k) {
            self.agenda.at(deadline, Step::GiveUp(k), k);
        }
        self.phase[k] = Phase::InLine;
        self.line.push_back(k);
        if self.line.len() == 1 {
            self.serve(t);
        }
    }

    /// The first in line takes what it asks for, and the next after it, until one cannot:
    /// that one sleeps until it could.
    fn serve(&mut self, t: u64) {
        while let Some(&first) = self.line.front() {
            match self.take(t, self.asks[first].cost) {
                Ok(()) => {
                    self.line.pop_front();
                    self.through(first, t);
                }
                Err(wait) => {
                    self.agenda.at(t + wait, Step::Wake(first), first);
                    return;
                }
            }
        }
    }

    /// Takes `cost` at `t`, or says how long to wait until it could.
    fn take(&mut self, t: u64, cost: u64) -> Result<(), u64> {
        let now = t - self.origin.expect("the limiter has seen an ask");
        match *self.limit {
            Limit::Bucket {
                capacity, interval, ..
            } => {
                let tat = self.tat.max(now) + cost * interval;
                let burst = capacity * interval;
                if tat - now <= burst {
                    self.tat = tat;
                    return Ok(());
                }
                Err(tat - burst - now)
            }
            Limit::Window { limit, window } => {
                let index = now / window;
                if index != self.window {
                    (self.window, self.used) = (index, 0);
                }
                if self.used + cost <= limit {
                    self.used += cost;
                    return Ok(());
                }
                Err((index + 1) * window - now)
            }
        }
    }

    /// Caller `k` is let through at `t` and runs its program.
    fn through(&mut self, k: usize, t: u64) {
        self.ambiguous |= self.cut(k) == Some(t) || self.deadline(k) == Some(t);
        let mut run = model(&self.asks[k].prog, t, self.cut(k), Tail::Inner);
        run.log.insert(0, (t, Ev::Granted(self.id, k)));
        self.done(k, run);
    }

    /// Caller `k` gives up or is interrupted at `t`: if it has not asked yet or waits, it
    /// takes nothing, ends with `run`, and the next in line tries if it was first. Whether
    /// it did.
    fn leave(&mut self, k: usize, t: u64, run: Model) -> bool {
        match self.phase[k] {
            Phase::Asleep => self.done(k, run),
            Phase::InLine => {
                let first = self.line.front() == Some(&k);
                self.line.retain(|c| *c != k);
                self.done(k, run);
                if first {
                    self.serve(t);
                }
            }
            Phase::Done => return false,
        }
        true
    }

    fn done(&mut self, k: usize, run: Model) {
        self.agenda.runs[k] = Some(run);
        self.phase[k] = Phase::Done;
    }
}
