//! Running effects concurrently and keeping the first: `race` and `race_first`.
//!
//! The branches run in place, as nested runs polled by the racing fiber's own task: a race
//! is about waiting (the first reply, the first timer), and polling its branches in one task
//! costs a fraction of spawning a task per branch. Once the race is decided the losers are
//! interrupted and polled until they are done (their finalizers have run) before the race
//! yields: no loser outlives the race. If the racing fiber is itself interrupted, the race
//! interrupts every branch and waits for them before the fiber unwinds.

use std::future::{poll_fn, Future};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use crate::cause::{Cause, Exit};
use crate::effect::{die, Effect};
use crate::fiber::bind::{current_fiber, interrupted_behind_own_mask, self_winding};
use crate::fiber::core::{interrupt_all, FiberCore};
use crate::fiber::run::Run;

/// The branches of one race, each a nested run.
pub(crate) struct Racers<A, E> {
    runs: Vec<Option<Run<A, E>>>,
}

impl<A: Send + 'static, E: Send + 'static> Racers<A, E> {
    /// Polls the branches still running; the first one found finished, with its exit, or
    /// `None` when none is left.
    pub(crate) fn poll_next(&mut self, cx: &mut Context<'_>) -> Poll<Option<(usize, Exit<A, E>)>> {
        let mut any = false;
        for (index, slot) in self.runs.iter_mut().enumerate() {
            let Some(run) = slot else { continue };
            any = true;
            if let Poll::Ready(exit) = Pin::new(run).poll(cx) {
                *slot = None;
                return Poll::Ready(Some((index, exit)));
            }
        }
        if any {
            Poll::Pending
        } else {
            Poll::Ready(None)
        }
    }

    /// The next branch to finish, with its exit.
    pub(crate) async fn next_finished(&mut self) -> Option<(usize, Exit<A, E>)> {
        poll_fn(|cx| self.poll_next(cx)).await
    }

    /// Interrupts every branch still running and polls them until they are done; their exits.
    pub(crate) async fn interrupt_rest(&mut self) -> Vec<(usize, Exit<A, E>)> {
        for run in self.runs.iter().flatten() {
            run.interrupt();
        }
        let mut exits = Vec::new();
        while let Some(finished) = self.next_finished().await {
            exits.push(finished);
        }
        exits
    }
}

/// An effect whose body races `effects` in place. `name` is for the empty-race message.
///
/// The body masks interruption for itself and winds down on its own terms: when the racing
/// fiber is interrupted (where it was interruptible), the race's own body is dropped, every
/// branch is interrupted, and the fiber unwinds only once each branch has run its
/// finalizers. This costs one body and no finalizer.
pub(crate) fn with_racers<A, E, B, E2, F, Fut>(
    name: &'static str,
    effects: Vec<Effect<A, E>>,
    body: F,
) -> Effect<B, E2>
where
    A: Send + 'static,
    E: Send + 'static,
    B: Send + 'static,
    E2: Send + 'static,
    F: FnOnce(Racers<A, E>, crate::context::Context) -> Fut + Send + 'static,
    Fut: Future<Output = Exit<B, E2>> + Send + 'static,
{
    if effects.is_empty() {
        return die(format!(
            "{name} of no effects: give {name} at least one effect"
        ));
    }
    let raced = async move {
        let (ctx, family) = current_fiber();
        let runs: Vec<Option<Run<A, E>>> = effects
            .into_iter()
            .map(|effect| Some(Run::new(effect, &ctx, family.clone())))
            .collect();
        let cores: Vec<Arc<FiberCore>> = runs
            .iter()
            .flatten()
            .filter_map(|r| r.core().cloned())
            .collect();
        let mut decided = std::pin::pin!(Some(body(Racers { runs }, ctx)));
        let exit = poll_fn(|cx| {
            if interrupted_behind_own_mask() {
                return Poll::Ready(None);
            }
            match decided.as_mut().as_pin_mut() {
                Some(decided) => decided.poll(cx).map(Some),
                None => Poll::Ready(None),
            }
        })
        .await;
        if let Some(exit) = exit {
            return exit;
        }
        // Interrupted while racing: drop the race (and the runs in it), then wait here until
        // every branch has finished its finalizers.
        decided.set(None);
        if cores.iter().any(|core| !core.is_done()) {
            interrupt_all(&cores).await;
        }
        Err(Cause::Interrupt)
    };
    self_winding(raced)
}

/// Runs the effects concurrently and succeeds with the first to **succeed**; the others are
/// interrupted and awaited first. Fails only when every branch fails, with all their causes
/// combined in parallel. An empty race dies with a message saying so, rather than hanging.
///
/// ```
/// use effect_runtime::{fail, race, run_blocking, succeed, Effect};
///
/// let winner: Effect<&str, &str> = race([fail("primary down"), succeed("backup")]);
/// assert_eq!(run_blocking(winner), Ok("backup"));
/// ```
pub fn race<A, E, I>(effects: I) -> Effect<A, E>
where
    A: Send + 'static,
    E: Send + 'static,
    I: IntoIterator<Item = Effect<A, E>>,
{
    with_racers(
        "race",
        effects.into_iter().collect(),
        |mut racers, _| async move {
            let mut failures: Option<Cause<E>> = None;
            while let Some((_, exit)) = racers.next_finished().await {
                match exit {
                    Ok(value) => {
                        racers.interrupt_rest().await;
                        return Ok(value);
                    }
                    Err(cause) => {
                        failures = Some(match failures {
                            None => cause,
                            Some(earlier) => earlier.both(cause),
                        });
                    }
                }
            }
            Err(failures.expect("a non-empty race in which every branch failed"))
        },
    )
}

/// Runs the effects concurrently and finishes as the first to **finish** does, success or
/// failure; the others are interrupted and awaited first. An empty race dies.
pub fn race_first<A, E, I>(effects: I) -> Effect<A, E>
where
    A: Send + 'static,
    E: Send + 'static,
    I: IntoIterator<Item = Effect<A, E>>,
{
    with_racers(
        "race_first",
        effects.into_iter().collect(),
        |mut racers, _| async move {
            let (_, exit) = racers
                .next_finished()
                .await
                .expect("a non-empty race has a first branch to finish");
            racers.interrupt_rest().await;
            exit
        },
    )
}

impl<A: Send + 'static, E: Send + 'static> Effect<A, E> {
    /// Races `self` against `other`; see [`race`].
    pub fn race(self, other: Effect<A, E>) -> Effect<A, E> {
        race([self, other])
    }
}
