//! The reference model of `effect::Pool` (`Prog::ItemPool`), in virtual time.
//!
//! Rules, as the pool's documentation gives them:
//! - The pool is made with its minimum, acquired together (`acquire` ms); holder k asks for
//!   an item k ms after that.
//! - A holder takes an idle item at once; with none, it acquires a new one itself if the pool
//!   holds fewer than `max` (idle, checked out, being acquired or being released); at `max`
//!   it waits, and waiters are served in the order they asked: an item that comes back, or a
//!   slot that frees up (an item released, an acquisition that failed or stopped), goes to
//!   the first of them.
//! - A holder that gives up (its patience is over) or is interrupted while it waits or
//!   acquires takes nothing: its slot goes to the next waiter.
//! - An item its holder invalidated while holding it is released when it comes back, in that
//!   holder's scope (which waits for the release); its slot goes on after. Invalidated once
//!   given back, it is released at once by the one invalidating it if it is idle (or handed
//!   to a waiter that has not taken it yet: the waiter then acquires a new one), marked to
//!   be released as it comes back if another holder has it, left alone if it is gone.
//! - Idle items are taken most recently returned first.
//! - When the holders are done (a fail-fast group, as `zip_par`), the pool's scope closes and
//!   releases every item, one after the other.
//!
//! The scheduler decides, and the model says so (`ambiguous`), when an item or a slot is
//! handed to a holder at the instant it gives up or is interrupted (or it asks at that
//! instant), when two acquisitions start at one instant and some fail (which one fails
//! depends on their order), when a holder invalidates the item it gave back at an instant
//! another item comes back too (which is where depends on their order), and when it
//! invalidates an item it gave back to a waiter (taken back, or taken already).

use std::collections::{BTreeSet, VecDeque};

use crate::prog::{Checkout, Invalidate, PoolSpec};
use crate::reference::{closing, model, Ev, Model, Outcome, Tail};
use crate::reference_par::{fail_fast, Agenda};

pub fn item_pool(
    spec: &PoolSpec,
    holders: &[Checkout],
    start: u64,
    interrupt: Option<u64>,
) -> Model {
    let made = if spec.min > 0 {
        start + spec.acquire
    } else {
        start
    };
    if let Some(at) = interrupt.filter(|at| *at < made) {
        // Interrupted while making its minimum: nothing made, nothing to release.
        return Model::interrupted(at.max(start), at == start);
    }
    let (mut m, (items, ambiguous)) = fail_fast(start, interrupt, |cut| {
        Sim::new(spec, holders, made, cut).run()
    });
    m.ambiguous |= ambiguous || interrupt == Some(start) || interrupt == Some(made);
    // The pool's scope closes: every item released in turn.
    closing(m, items as u64 * spec.release, false, interrupt)
}

/// What happens to the pool, by holder. At one instant, what frees an item or a slot and what
/// asks come before what gives up, so that a grant at the instant its holder gives up is seen
/// (and called ambiguous); what an interruption causes comes after all that (`Agenda`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Step {
    /// The holder's region ended: its item comes back (or, invalidated, is being released).
    Back(usize),
    /// The holder's scope has released its invalidated item: the slot is free.
    Released(usize),
    /// The holder has released the idle item it invalidated once it gave it back.
    Discarded(usize),
    /// The holder's acquisition ends.
    Acquired(usize),
    Ask(usize),
    /// The holder's patience is over.
    GiveUp(usize),
    /// The holder is interrupted (from outside the group, or by a sibling's failure).
    Cut(usize),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    Asleep,
    Waiting,
    /// Acquiring, as the acquisition with this number.
    Acquiring(usize),
    /// Has this item checked out.
    Holding(usize),
    /// Its scope is releasing this item (invalidated), or it is releasing the item it
    /// invalidated once it gave it back.
    Releasing(usize),
    Done,
}

/// One run of the holders, each interrupted when `cut` says. Items are numbered as the
/// model makes them.
struct Sim<'a> {
    spec: &'a PoolSpec,
    holders: &'a [Checkout],
    made: u64,
    agenda: Agenda<'a, Step>,
    phase: Vec<Phase>,
    /// The most recently returned last.
    idle: Vec<usize>,
    /// Items to release when they come back.
    marked: BTreeSet<usize>,
    items: usize,
    /// Items alive or being released, and acquisitions under way.
    size: usize,
    waiting: VecDeque<usize>,
    acquisitions: usize,
    last_acquisition: Option<u64>,
    /// The last instant an item came back, and how many did then.
    returns: (u64, usize),
    ambiguous: bool,
}

impl<'a> Sim<'a> {
    fn new(
        spec: &'a PoolSpec,
        holders: &'a [Checkout],
        made: u64,
        cut: &'a dyn Fn(usize) -> Option<u64>,
    ) -> Sim<'a> {
        let mut sim = Sim {
            spec,
            holders,
            made,
            agenda: Agenda::new(holders.len(), cut),
            phase: vec![Phase::Asleep; holders.len()],
            idle: (0..spec.min).collect(),
            marked: BTreeSet::new(),
            items: spec.min,
            size: spec.min,
            waiting: VecDeque::new(),
            acquisitions: spec.min,
            last_acquisition: None,
            returns: (0, 0),
            ambiguous: false,
        };
        sim.agenda.members_ask(made, Step::Ask, Step::Cut);
        sim
    }

    fn at(&mut self, time: u64, step: Step, k: usize) {
        self.agenda.at(time, step, k);
    }

    fn cut(&self, k: usize) -> Option<u64> {
        self.agenda.cut(k)
    }

    fn asks(&self, k: usize) -> u64 {
        self.made + k as u64
    }

    fn deadline(&self, k: usize) -> Option<u64> {
        self.holders[k].patience.map(|p| self.asks(k) + p)
    }

    /// The holders' runs, how many items the pool holds at the end, and whether the
    /// scheduler decided anything.
    fn run(mut self) -> (Vec<Model>, (usize, bool)) {
        while let Some((t, step)) = self.agenda.next() {
            match step {
                Step::Ask(k) => self.ask(k, t),
                Step::Acquired(k) => self.acquired(k, t),
                Step::Back(k) => self.back(k, t),
                Step::Released(k) => {
                    self.free_slot(t);
                    // Invalidating it once given back finds it gone.
                    self.phase[k] = Phase::Done;
                }
                Step::Discarded(k) => {
                    self.free_slot(t);
                    self.phase[k] = Phase::Done;
                }
                Step::GiveUp(k) => {
                    // Interrupted at the instant it gives up: the scheduler decides.
                    let left = self.leave(k, t, Model::new(t, Outcome::Ok(-1)));
                    self.ambiguous |= left && self.cut(k) == Some(t);
                }
                Step::Cut(k) => {
                    self.leave(k, t, Model::interrupted(t, false));
                }
            }
        }
        debug_assert!(self.waiting.is_empty() && self.idle.len() == self.size);
        (self.agenda.finish(), (self.size, self.ambiguous))
    }

    fn ask(&mut self, k: usize, t: u64) {
        if self.phase[k] != Phase::Asleep {
            return;
        }
        self.ambiguous |= self.cut(k) == Some(t);
        if let Some(deadline) = self.deadline(k) {
            self.at(deadline, Step::GiveUp(k), k);
        }
        if let Some(item) = self.idle.pop() {
            self.hold(k, t, item);
        } else if self.size < self.spec.max {
            self.size += 1;
            self.acquire(k, t);
        } else {
            self.waiting.push_back(k);
            self.phase[k] = Phase::Waiting;
        }
    }

    /// Holder `k` is handed something at `t`: the scheduler decides if it gives up or is
    /// interrupted at that instant.
    fn granted(&mut self, k: usize, t: u64) {
        self.ambiguous |= self.cut(k) == Some(t) || self.deadline(k) == Some(t);
    }

    fn acquire(&mut self, k: usize, t: u64) {
        self.granted(k, t);
        let j = self.acquisitions;
        self.acquisitions += 1;
        self.ambiguous |= self.spec.fails != 0 && self.last_acquisition == Some(t);
        self.last_acquisition = Some(t);
        self.phase[k] = Phase::Acquiring(j);
        self.at(t + self.spec.acquire, Step::Acquired(k), k);
    }

    fn acquired(&mut self, k: usize, t: u64) {
        let Phase::Acquiring(j) = self.phase[k] else {
            return; // it gave up, or was interrupted
        };
        self.granted(k, t);
        if self.spec.fails(j) {
            self.done(k, Model::new(t, Outcome::Ok(-2)));
            self.free_slot(t);
        } else {
            let item = self.items;
            self.items += 1;
            self.hold(k, t, item);
        }
    }

    /// Holder `k` has `item` from `t`: it runs its program, and invalidates the item after
    /// if it should (and the program succeeded).
    fn hold(&mut self, k: usize, t: u64, item: usize) {
        self.granted(k, t);
        let holder = &self.holders[k];
        let mut run = model(&holder.prog, t, self.cut(k), Tail::Inner);
        run.log.insert(0, (t, Ev::Got(self.spec.id, k)));
        if holder.invalidate == Invalidate::Holding && run.outcome.is_ok() {
            self.marked.insert(item);
        }
        self.at(run.end, Step::Back(k), k);
        self.agenda.runs[k] = Some(run);
        self.phase[k] = Phase::Holding(item);
    }

    /// Holder `k`'s scope closes at `t`: its item comes back, or, marked, is released (then
    /// its slot is freed); then the holder invalidates it if it should once given back.
    fn back(&mut self, k: usize, t: u64) {
        let Phase::Holding(item) = self.phase[k] else {
            unreachable!("only a holder gives an item back");
        };
        self.returns = match self.returns {
            (at, count) if at == t => (t, count + 1),
            _ => (t, 1),
        };
        if self.marked.remove(&item) {
            self.release(k, t);
            self.at(t + self.spec.release, Step::Released(k), k);
            self.phase[k] = Phase::Releasing(item);
            return;
        }
        let handed = self.waiting.pop_front();
        match handed {
            Some(next) => self.hold(next, t, item),
            None => self.idle.push(item),
        }
        self.phase[k] = Phase::Done;
        let run = self.agenda.runs[k].as_ref().expect("a holder has a run");
        if self.holders[k].invalidate == Invalidate::Returned && run.outcome.is_ok() {
            // Handed to a waiter at this instant, the item is in its cell until it runs:
            // invalidated before then, it is taken back and released, and the waiter acquires
            // a new one; after, it is marked. Which comes first is the scheduler's.
            self.ambiguous |= handed.is_some();
            self.invalidate_returned(k, t, item);
        }
    }

    /// Holder `k` invalidates at `t` the item it gave back: where that item is now depends on
    /// the order of the items that came back at `t`, if more than one did.
    fn invalidate_returned(&mut self, k: usize, t: u64, item: usize) {
        let pending_back = self.agenda.pending(t, |step| matches!(step, Step::Back(_)));
        self.ambiguous |= self.cut(k) == Some(t) || self.returns.1 > 1 || pending_back;
        if let Some(at) = self.idle.iter().position(|i| *i == item) {
            self.idle.remove(at);
            self.release(k, t);
            self.at(t + self.spec.release, Step::Discarded(k), k);
            self.phase[k] = Phase::Releasing(item);
        } else if self.phase.contains(&Phase::Holding(item)) {
            self.marked.insert(item);
        }
    }

    /// Holder `k` waits from `t` while an item is released.
    fn release(&mut self, k: usize, t: u64) {
        let run = self.agenda.runs[k].take().expect("a holder has a run");
        let mut released = closing(run, self.spec.release, false, self.cut(k));
        released.ambiguous |= self.cut(k) == Some(t);
        self.agenda.runs[k] = Some(released);
    }

    fn free_slot(&mut self, t: u64) {
        match self.waiting.pop_front() {
            Some(next) => self.acquire(next, t),
            None => self.size -= 1,
        }
    }

    /// Holder `k` gives up or is interrupted at `t`: if it has not asked yet, or waits or
    /// acquires, it takes nothing, its slot goes on, and it ends with `run`. Whether it did.
    fn leave(&mut self, k: usize, t: u64, run: Model) -> bool {
        match self.phase[k] {
            Phase::Asleep => self.done(k, run),
            Phase::Waiting => {
                self.waiting.retain(|w| *w != k);
                self.done(k, run);
            }
            Phase::Acquiring(_) => {
                self.done(k, run);
                self.free_slot(t);
            }
            Phase::Holding(_) | Phase::Releasing(_) | Phase::Done => return false,
        }
        true
    }

    fn done(&mut self, k: usize, run: Model) {
        self.agenda.runs[k] = Some(run);
        self.phase[k] = Phase::Done;
    }
}
