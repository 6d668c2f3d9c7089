//! Deadlines (`timeout`) on a fiber's stack: starting one, which of them has expired, polling
//! their sleeps while the fiber waits, and the interruption an expired one asks for. The
//! interpreter keeps how many are on its stack, and whether one has expired, in one word
//! ([`Interpreter::deadlines`]): zero for almost every fiber, so waiting costs nothing more.

use std::future::Future;
use std::task::Context as TaskContext;

use super::entry::Entry;
use super::{Interpreter, Next, Saved};
use crate::kernel::cause::{Cause, Never};
use crate::kernel::clock::{Clock, ClockSleep};
use crate::kernel::fiber::frame::FrameBox;
use crate::kernel::fiber::prim::{Deadline, Timed};

pub(super) const DEADLINE_EXPIRED: u32 = 1 << 31;
pub(super) const DEADLINE_COUNT: u32 = DEADLINE_EXPIRED - 1;

impl Deadline {
    /// Polls the sleep (arming its timer); marks the deadline expired once it has ended.
    fn poll_sleep(&mut self, cx: &mut TaskContext<'_>) -> bool {
        let sleep = self
            .sleep
            .as_mut()
            .expect("a deadline on the stack has started");
        self.expired = std::pin::Pin::new(sleep).poll(cx).is_ready();
        self.expired
    }

    /// Whether dropping the run with this deadline on its stack would skip work it owes: it
    /// began in an uninterruptible region (the rest of which is owed), or has forks to close.
    pub(super) fn owes_work(&self) -> bool {
        !self.interruptible || self.forks.as_ref().is_some_and(|forks| !forks.is_closed())
    }
}

impl Interpreter {
    /// The guarded effect finished with `done`: in time, or after its deadline but before the
    /// deadline could interrupt it (it was uninterruptible to its end). Either way its outcome
    /// stands, as a fiber of its own that finished would. Its forks are closed first, like a
    /// finalizer, with the deadline kept on the stack meanwhile; the result then comes back.
    pub(super) fn deadline_delivered(
        &mut self,
        mut deadline: Box<dyn Timed>,
        done: FrameBox,
    ) -> Next {
        match deadline.forks.take() {
            Some(forks) => {
                self.stack.push(Entry::Deadline(deadline));
                self.close_region(forks.close(), Saved::Completed(done))
            }
            None => {
                self.leave_deadline(&deadline);
                Next::Deliver(deadline.in_time(done))
            }
        }
    }

    /// The fiber unwinds to a deadline: past it, unless the deadline's own expiry is what it
    /// unwinds for, which ends the timeout here.
    pub(super) fn deadline_unwound(
        &mut self,
        mut deadline: Box<dyn Timed>,
        cause: Cause<Never>,
    ) -> Next {
        if let Some(forks) = deadline.forks.take() {
            // As on completion: its forks are closed first, then the unwinding comes back.
            self.stack.push(Entry::Deadline(deadline));
            return self.close_region(forks.close(), Saved::Unwinding(cause));
        }
        self.leave_deadline(&deadline);
        if !deadline.expired {
            return Next::Unwind(cause);
        }
        if let Some(interruption) = self.pending_interruption() {
            // Another interruption applies here too (the fiber's own, an enclosing timeout's):
            // the fiber unwinds on past this timeout with it, keeping the defects the guarded
            // effect's cleanup raised (ending the timeout first would hand them to a body that
            // interruption then drops).
            return Next::Unwind(match cause.into_defects() {
                Some(defects) => interruption.then(defects),
                None => interruption,
            });
        }
        // The unwinding its expiry began (or any other that reaches an expired deadline) ends
        // here: the timeout ends with `None`, or with the defects the guarded effect's cleanup
        // raised.
        self.stack.push(Entry::Frame(deadline.timed_out(cause)));
        Next::Resume(None)
    }

    /// Starts a `timeout`'s guarded effect above its deadline's entry.
    pub(super) fn enter_deadline(&mut self, mut deadline: Box<dyn Timed>) -> Next {
        let guarded = deadline
            .guarded
            .take()
            .expect("effect runtime: a deadline was started twice");
        deadline.sleep = Some(Clock::of(&self.ctx).sleep(deadline.duration));
        deadline.interruptible = self.interruptible;
        deadline.fiber_masked = self.fiber_masked;
        self.stack.push(Entry::Deadline(deadline));
        // The deadline interrupts the guarded effect wherever it is interruptible, even
        // in an uninterruptible region (as a fiber of its own would be); the fiber's
        // own interrupts stay held back there.
        self.fiber_masked |= !self.interruptible;
        self.interruptible = true;
        self.deadlines += 1;
        Next::Start(guarded)
    }

    /// The interruption to act on now, if any: the fiber's own interrupt (unless held back
    /// inside a timeout begun in an uninterruptible region), else an expired deadline's.
    /// Neither acts where the fiber is uninterruptible.
    #[inline]
    pub(super) fn pending_interruption(&self) -> Option<Cause<Never>> {
        // I7: nothing interrupts where the fiber is uninterruptible.
        if !self.interruptible {
            return None;
        }
        if !self.fiber_masked && self.core.is_interrupted() {
            return Some(self.core.interruption());
        }
        if self.deadlines & DEADLINE_EXPIRED != 0 && (!self.fiber_masked || self.expired_in_scope())
        {
            return Some(Cause::Interrupt(self.core.id()));
        }
        None
    }

    /// Whether an expired deadline is within reach of interruption where the fiber's own
    /// interrupts are held back: one at or above the innermost deadline begun in an
    /// uninterruptible region. Deadlines below it are held back with the fiber's interrupts,
    /// as the region promised; they act once it has ended.
    #[cold]
    fn expired_in_scope(&self) -> bool {
        for entry in self.stack.iter().rev() {
            if let Entry::Deadline(deadline) = entry {
                if deadline.expired {
                    return true;
                }
                if !deadline.interruptible {
                    return false;
                }
            }
        }
        false
    }

    /// Polls the sleeps of the deadlines on the stack that have not expired, marking those
    /// that have ended. A live sleep is polled only if it ends first among the live ones (a
    /// later one cannot end before it: a hundred thousand nested timeouts arm one timer); a
    /// test clock's sleeps are all polled (each counts from its first poll).
    pub(super) fn poll_deadlines(&mut self, cx: &mut TaskContext<'_>) {
        let mut earliest: Option<(tokio::time::Instant, &mut Deadline)> = None;
        let mut expired = false;
        for entry in self.stack.iter_mut() {
            let Entry::Deadline(timed) = entry else {
                continue;
            };
            let deadline = timed.deadline_mut();
            if deadline.expired {
                continue;
            }
            match deadline.sleep.as_ref().and_then(ClockSleep::live_deadline) {
                Some(at) => match &earliest {
                    Some((first, _)) if *first <= at => {}
                    _ => earliest = Some((at, deadline)),
                },
                None => expired |= deadline.poll_sleep(cx),
            }
        }
        if let Some((_, deadline)) = earliest {
            expired |= deadline.poll_sleep(cx);
        }
        if expired {
            self.deadlines |= DEADLINE_EXPIRED;
        }
    }

    /// Pops the bookkeeping of a deadline leaving the stack: the interruptibility from before
    /// it, the count, and whether another on the stack has expired.
    pub(super) fn leave_deadline(&mut self, deadline: &Deadline) {
        debug_assert!(
            self.deadlines & DEADLINE_COUNT > 0,
            "I9: a deadline leaving the stack was counted"
        );
        self.interruptible = deadline.interruptible;
        self.fiber_masked = deadline.fiber_masked;
        let count = (self.deadlines & DEADLINE_COUNT) - 1;
        // Another expired one remains only if one had, and it was not this one alone.
        let still_expired = self.deadlines & DEADLINE_EXPIRED != 0
            && (!deadline.expired
                || self.stack.iter().any(|entry| match entry {
                    Entry::Deadline(other) => other.expired,
                    _ => false,
                }));
        self.deadlines = count | if still_expired { DEADLINE_EXPIRED } else { 0 };
    }
}
