//! The loop that runs a [`Supervisor`]: starting, watching, stopping and restarting its
//! children.
//!
//! Invariants, each kept where the code says so:
//! - S1 Each child runs on at most one fiber at a time, held in its slot from the step that
//!   forks it (forking and storing are one uninterruptible step) until it has ended: a child
//!   being stopped stays in its slot until it has stopped, so that if the stop is cut short
//!   (the supervisor interrupted meanwhile) the closing finds it, and stops and awaits it in
//!   its turn. Whoever takes the fiber out of the slot (its stop, done; or its report of its
//!   end) owns it from then on.
//! - S2 A child's fiber reports its end with the generation it was started under; a report
//!   whose generation is no longer the slot's (the child was stopped, or stopped and started
//!   again, since) is ignored: a stopped child is never restarted for its own end.
//! - S3 Children are stopped in reverse start order, one at a time, each awaited up to its
//!   shutdown timeout, whether the supervisor restarts some, gives up, or is interrupted (the
//!   last by a finalizer, which runs uninterruptibly: the timeout is a race, whose losing
//!   branch is interrupted even there).

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

use super::{Child, Restart, Strategy, Supervisor, SupervisorError};
use crate::kernel::cause::{Cause, Exit, Never};
use crate::kernel::clock::Clock;
use crate::kernel::effect::{succeed, sync, Effect};
use crate::kernel::fiber::handle::Fiber;
use crate::kernel::random::Random;
use crate::ops::race::race_first;
use crate::ops::schedule::ScheduleRun;
use crate::ops::time::sleep;
use crate::services::sync::Queue;

/// A child's place in its supervisor.
struct Slot {
    /// Its running fiber (S1).
    fiber: Option<Fiber<(), Never>>,
    /// Bumped at every start (S2).
    generation: u64,
    /// Its run of the backoff schedule, from its first restart on.
    backoff: Option<ScheduleRun<()>>,
    /// How many times it was restarted.
    restarts: u64,
}

/// How a child's fiber ended: its index, the generation it ran under, and its exit.
type Report = (usize, u64, Result<(), Cause<String>>);

type Slots = Arc<Mutex<Vec<Slot>>>;

fn lock(slots: &Slots) -> MutexGuard<'_, Vec<Slot>> {
    slots.lock().unwrap_or_else(|poison| poison.into_inner())
}

/// A cause met while supervising (an interruption, a defect), as the supervisor's.
fn propagate<E>(cause: Cause<E>) -> Cause<SupervisorError> {
    match cause.failure_or_cause() {
        Ok(_) => Cause::die("supervisor: its report queue failed"),
        Err(other) => other.widen(),
    }
}

pub(super) fn supervise(supervisor: Supervisor) -> Effect<(), SupervisorError> {
    let slots: Slots = Arc::new(Mutex::new(
        supervisor
            .children
            .iter()
            .map(|_| Slot {
                fiber: None,
                generation: 0,
                backoff: None,
                restarts: 0,
            })
            .collect(),
    ));
    let (children, name, kept) = (
        supervisor.children.clone(),
        supervisor.name.clone(),
        slots.clone(),
    );
    // Interrupted (or ended any other way), the children still running are stopped in
    // reverse start order (S3) before the effect ends.
    let stop_all = Effect::new(move |_| async move {
        stop_each(&kept, &children, &name, 0..children.len()).await;
        Ok(())
    });
    Effect::new(move |ctx| async move {
        let run = Running {
            clock: Clock::of(&ctx),
            random: Random::of(&ctx),
            queue: Queue::unbounded(),
            slots,
            supervisor,
        };
        run.supervise().await
    })
    .ensuring(stop_all)
}

/// A supervisor at work.
struct Running {
    clock: Clock,
    random: Random,
    queue: Queue<Report>,
    slots: Slots,
    supervisor: Supervisor,
}

impl Running {
    async fn supervise(self) -> Exit<(), SupervisorError> {
        for index in 0..self.supervisor.children.len() {
            self.start(index).await?;
        }
        // The ends that called for restarts within the period, oldest first.
        let mut window: VecDeque<(Instant, String, Result<(), Cause<String>>)> = VecDeque::new();
        loop {
            if lock(&self.slots).iter().all(|slot| slot.fiber.is_none()) {
                return Ok(());
            }
            let (index, generation, end) = self
                .queue
                .take::<crate::services::sync::QueueShutdown>()
                .await
                .map_err(propagate)?;
            {
                let mut slots = lock(&self.slots);
                let slot = &mut slots[index];
                // S2: the end of a fiber already stopped, or of an earlier start.
                if slot.generation != generation || slot.fiber.is_none() {
                    continue;
                }
                // S1: it ended; its fiber finishes by itself.
                slot.fiber = None;
            }
            let child = &self.supervisor.children[index];
            let restart = match child.restart {
                Restart::Permanent => true,
                Restart::Transient => end.is_err(),
                Restart::Temporary => false,
            };
            if !restart {
                continue;
            }
            let now = self.clock.instant();
            window.push_back((now, child.name.to_string(), end.clone()));
            while window
                .front()
                .is_some_and(|(at, ..)| now.duration_since(*at) >= self.supervisor.period)
            {
                window.pop_front();
            }
            let delay = self.next_delay(index);
            if window.len() > self.supervisor.max_restarts || delay.is_none() {
                return self.give_up(window).await;
            }
            let mut restarting = vec![index];
            restarting.extend(self.stop_siblings(index).await);
            restarting.sort_unstable();
            if let Some(delay) = delay.filter(|delay| !delay.is_zero()) {
                self.clock.sleep(delay).await;
            }
            for restarted in restarting {
                self.restarted(
                    restarted,
                    if restarted == index { Some(&end) } else { None },
                );
                self.start(restarted).await?;
            }
        }
    }

    /// The delay before child `index`'s next restart: zero without a backoff; `None` once its
    /// backoff schedule has stopped.
    fn next_delay(&self, index: usize) -> Option<std::time::Duration> {
        let Some(schedule) = &self.supervisor.backoff else {
            return Some(std::time::Duration::ZERO);
        };
        let mut slots = lock(&self.slots);
        let run = slots[index]
            .backoff
            .get_or_insert_with(|| schedule.start_run(&self.random));
        run.next(&())
    }

    /// Stops the siblings the strategy restarts with child `index` (S3), and gives those to
    /// start again: the ones that were running and are not temporary.
    async fn stop_siblings(&self, index: usize) -> Vec<usize> {
        let count = self.supervisor.children.len();
        let siblings: Vec<usize> = match self.supervisor.strategy {
            Strategy::OneForOne => Vec::new(),
            Strategy::OneForAll => (0..count).filter(|&j| j != index).collect(),
            Strategy::RestForOne => (index + 1..count).collect(),
        };
        let children = &self.supervisor.children;
        stop_each(&self.slots, children, &self.supervisor.name, siblings)
            .await
            .into_iter()
            .filter(|&sibling| children[sibling].restart != Restart::Temporary)
            .collect()
    }

    /// Starts child `index` on a fiber of its own, under a new generation (S2), reporting its
    /// end to the queue.
    async fn start(&self, index: usize) -> Exit<(), SupervisorError> {
        let generation = {
            let mut slots = lock(&self.slots);
            slots[index].generation += 1;
            slots[index].generation
        };
        let queue = self.queue.clone();
        let child = (self.supervisor.children[index].make)()
            .map(|()| Ok(()))
            .catch_all_cause(|cause| succeed(Err(cause)))
            .flat_map(move |end: Result<(), Cause<String>>| {
                sync(move || {
                    // Unbounded, and never shut down: the report is always taken.
                    let _ = queue.try_offer((index, generation, end));
                })
            });
        // Named after the child: its end is reported under the child's name.
        let name = self.supervisor.children[index].name.clone();
        let slots = self.slots.clone();
        // S1: forked and stored in one uninterruptible step, so that no interruption falls
        // between them (the child, forked from there, is made interruptible again).
        child
            .interruptible()
            .fork_named::<Never>(name)
            .map(move |fiber| lock(&slots)[index].fiber = Some(fiber))
            .uninterruptible()
            .await
            .map_err(propagate)
    }

    /// Child `index` is about to start again after ending with `end` (`None`: stopped for a
    /// sibling's restart): counted, and reported.
    fn restarted(&self, index: usize, end: Option<&Result<(), Cause<String>>>) {
        let restarts = {
            let mut slots = lock(&self.slots);
            slots[index].restarts += 1;
            slots[index].restarts
        };
        let _ = (restarts, end);
        #[cfg(feature = "tracing")]
        {
            let child = &*self.supervisor.children[index].name;
            let supervisor = &*self.supervisor.name;
            let ended = match end {
                None => "stopped with a sibling".to_string(),
                Some(Ok(())) => "finished".to_string(),
                Some(Err(cause)) => super::one_line(cause),
            };
            tracing::info!(target: "effect", supervisor, child, restarts, ended, "child restarted");
        }
        #[cfg(feature = "metrics")]
        metrics::counter!(
            "effect_supervisor_restarts_total",
            "supervisor" => self.supervisor.name.to_string(),
            "child" => self.supervisor.children[index].name.to_string()
        )
        .increment(1);
    }

    /// Too many restarts: every child still running is stopped (S3), and the supervisor
    /// fails with the ends that called for them.
    async fn give_up(
        &self,
        window: VecDeque<(Instant, String, Result<(), Cause<String>>)>,
    ) -> Exit<(), SupervisorError> {
        let children = &self.supervisor.children;
        stop_each(
            &self.slots,
            children,
            &self.supervisor.name,
            0..children.len(),
        )
        .await;
        let error = SupervisorError {
            supervisor: self.supervisor.name.to_string(),
            ends: window
                .into_iter()
                .map(|(_, child, end)| (child, end))
                .collect(),
        };
        #[cfg(feature = "tracing")]
        tracing::warn!(target: "effect", supervisor = &*self.supervisor.name, %error, "supervisor gave up");
        Err(Cause::fail(error))
    }
}

/// The effect that stops child `index`'s fiber, if it is running, leaving it in its slot
/// (S1); bumps its generation, so that a report it made meanwhile is ignored (S2).
fn begin_stop(slots: &Slots, index: usize) -> Option<Effect<(), Never>> {
    let mut slots = lock(slots);
    let stop = slots[index].fiber.as_ref()?.stop();
    slots[index].generation += 1;
    Some(stop)
}

/// Stops the children of `indices` (in start order) that are still running, the last
/// started first (S3); gives those it stopped, in start order.
async fn stop_each(
    slots: &Slots,
    children: &[Child],
    supervisor: &str,
    indices: impl IntoIterator<Item = usize, IntoIter: DoubleEndedIterator>,
) -> Vec<usize> {
    let mut stopped = Vec::new();
    for index in indices.into_iter().rev() {
        if let Some(stopping) = begin_stop(slots, index) {
            stop(stopping, &children[index], supervisor).await;
            // S1: stopped (or given up on, past its timeout): out of its slot now.
            lock(slots)[index].fiber = None;
            stopped.push(index);
        }
    }
    stopped.reverse();
    stopped
}

/// Runs `stopping` (child `child`'s stop), up to the child's shutdown timeout.
async fn stop(stopping: Effect<(), Never>, child: &Child, supervisor: &str) {
    let stopped = race_first([
        stopping.as_value(true),
        sleep::<Never>(child.shutdown).as_value(false),
    ])
    .await;
    if let Ok(false) = stopped {
        #[cfg(feature = "tracing")]
        tracing::warn!(
            target: "effect",
            supervisor,
            child = &*child.name,
            timeout = ?child.shutdown,
            "child did not stop within its shutdown timeout; going on with the next"
        );
    }
    let _ = supervisor;
}
