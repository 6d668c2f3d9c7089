//! Running effects concurrently and keeping the first: `race` and `race_first`.
//!
//! The branches are the members of one [`Region`], in place: nested runs polled by the racing
//! fiber's own task (a race is about waiting for the first reply or the first timer, and
//! polling branches in one task costs a fraction of spawning a task each). A branch that is
//! busy rather than waiting (it spends a whole step budget without suspending) moves to a
//! task of its own on a multi-thread runtime, so CPU-bound branches run in parallel. A race
//! of a few branches polls them together at each wake-up; a wider one gives each a waker, so
//! a wake-up polls only the branches it woke. Once the race is decided, the losers are
//! interrupted and awaited (their finalizers have run) before the race yields; a loser's
//! cleanup that dies is kept in the race's cause. If the racing fiber is interrupted
//! meanwhile, the race's body is dropped and the interpreter closes the region: every branch
//! is interrupted and awaited before the fiber unwinds further.

use std::sync::Arc;

use smallvec::SmallVec;

use crate::kernel::cause::{Cause, Exit, Never};
use crate::kernel::effect::{die, Effect};
use crate::kernel::fiber::handoff::current_fiber;
use crate::kernel::fiber::region::{Placement, Region};

/// The most branches a race polls together at each wake-up, rather than through a waker each.
const SMALL_RACE: usize = 4;

/// How many branches a race keeps in its own allocations: as effects in its body before
/// they start, as runs in its region after. A race of two (`race!`, `a.race(b)`, the usual
/// timeout-or-fallback) allocates neither a vector of branches nor one of runs.
const INLINE_BRANCHES: usize = 2;

type Branches<A, E> = SmallVec<[Effect<A, E>; INLINE_BRANCHES]>;

/// The region of a race's branches.
type Racers<A, E> = Region<A, E, INLINE_BRANCHES>;

/// An effect racing `effects` in one region, decided by `decide` (given the region once every
/// branch has started). `name` is for the empty-race message.
fn with_racers<A, E, F, Fut>(name: &'static str, effects: Branches<A, E>, decide: F) -> Effect<A, E>
where
    A: Send + 'static,
    E: Send + 'static,
    F: FnOnce(Arc<Racers<A, E>>) -> Fut + Send + 'static,
    Fut: std::future::Future<Output = Exit<A, E>> + Send + 'static,
{
    if effects.is_empty() {
        return die(format!(
            "{name} of no effects: give {name} at least one effect"
        ));
    }
    let region = Arc::new(Racers::with_capacity(effects.len()));
    let racers = region.clone();
    Region::effect(region, async move {
        let (inherited, family) = current_fiber();
        // A few branches are polled together at every wake-up; more get a waker each, so a
        // wake-up polls only the branches it woke.
        let wide = effects.len() > SMALL_RACE;
        for effect in effects {
            racers.start(effect, Placement::InPlace, wide, &inherited, &family);
        }
        decide(racers).await
    })
}

/// The race's outcome once its losers are interrupted and awaited: the winner's exit, unless
/// a loser's cleanup failed with a defect as it was interrupted. A defect is never lost: as
/// with a finalizer that dies, a success becomes that defect, and a failure is kept beside it.
async fn with_losers_defects<A, E>(exit: Exit<A, E>, racers: &Racers<A, E>) -> Exit<A, E>
where
    A: Send + 'static,
    E: Send + 'static,
{
    let (defects, _interrupted) = racers.interrupt_rest_keeping_defects().await;
    #[cfg(feature = "metrics")]
    if _interrupted > 0 {
        metrics::counter!("effect_race_losers_interrupted_total").increment(_interrupted);
    }
    match (exit, defects) {
        (exit, None) => exit,
        (Ok(_), Some(defects)) => Err(defects.widen()),
        (Err(cause), Some(defects)) => Err(cause.both(defects.widen())),
    }
}

/// Runs the effects concurrently and succeeds with the first to **succeed**; the others are
/// interrupted and awaited first. Fails only when every branch fails, with all their causes
/// combined in parallel. An empty race dies with a message saying so, rather than hanging.
///
/// ```
/// use effect::{fail, race, run_blocking, succeed, Effect};
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
    with_racers("race", effects.into_iter().collect(), |racers| async move {
        let mut failures: Option<Cause<E>> = None;
        while let Some((_, exit)) = racers.next_finished().await {
            match exit {
                Ok(value) => return with_losers_defects(Ok(value), &racers).await,
                Err(cause) => {
                    failures = Some(match failures {
                        None => cause,
                        Some(earlier) => earlier.both(cause),
                    });
                }
            }
        }
        Err(failures.expect("a non-empty race in which every branch failed"))
    })
}

/// Runs the effects concurrently and finishes as the first to **finish** does, success or
/// failure; the others are interrupted and awaited first. An empty race dies.
///
/// ```
/// use effect::prelude::*;
///
/// #[derive(Debug, PartialEq)]
/// enum Error { Timeout }
///
/// let slow = sleep(secs(10)).as_value("response");
/// let timer = sleep(ms(5)).flat_map(|()| fail(Error::Timeout));
/// // Unlike `race`, a failure that finishes first wins.
/// let first: Effect<&str, Error> = race_first([slow, timer]);
/// assert_eq!(effect::run_blocking(first).unwrap_err().failure(), Some(&Error::Timeout));
/// ```
pub fn race_first<A, E, I>(effects: I) -> Effect<A, E>
where
    A: Send + 'static,
    E: Send + 'static,
    I: IntoIterator<Item = Effect<A, E>>,
{
    with_racers(
        "race_first",
        effects.into_iter().collect(),
        |racers| async move {
            let (_, exit) = racers
                .next_finished()
                .await
                .expect("a non-empty race has a first branch to finish");
            with_losers_defects(exit, &racers).await
        },
    )
}

impl<A: Send + 'static, E: Send + 'static> Effect<A, E> {
    /// This effect, interrupted when `signal` completes first: a race of the two (see
    /// [`race_first`]), where the signal's completion is an interruption. If the effect
    /// finishes first, the signal is interrupted; if the signal does, the effect is
    /// interrupted and its finalizers have run before this fails with `Cause::Interrupt`.
    ///
    /// The signal is any effect that cannot fail: a [`Deferred`](crate::Deferred)'s
    /// `wait()`, a `sleep`, or [`shutdown_signal`](crate::shutdown_signal) (Ctrl-C or
    /// SIGTERM), for a program that stops its work on a signal and still cleans up.
    ///
    /// ```
    /// use effect::prelude::*;
    /// use effect::Deferred;
    ///
    /// #[effect]
    /// fn stopped_early() -> Effect<bool, Never> {
    ///     let stop = Deferred::<()>::new();
    ///     let work = never::<u32, Never>().interrupt_when(stop.wait()).fork()?;
    ///     stop.complete::<Never>(())?;
    ///     work.await_exit()?.unwrap_err().is_interrupted()
    /// }
    /// assert_eq!(effect::run_blocking(stopped_early()), Ok(true));
    ///
    /// // Finished first: the signal is the one interrupted.
    /// let quick: Effect<u32, Never> = succeed(1).interrupt_when(never::<(), Never>());
    /// assert_eq!(effect::run_blocking(quick), Ok(1));
    /// ```
    pub fn interrupt_when<S: Send + 'static>(self, signal: Effect<S, Never>) -> Effect<A, E> {
        let stop = Effect::from_future(async move {
            match signal.await {
                Ok(_) => Err(Cause::interrupt()),
                Err(cause) => Err(cause.widen()),
            }
        });
        race_first([self, stop])
    }

    /// Races `self` against `other`; see [`race`].
    ///
    /// ```
    /// use effect::prelude::*;
    ///
    /// let primary = fail::<&str, String>("primary down".into());
    /// let backup = sleep(ms(5)).as_value("from backup");
    /// assert_eq!(effect::run_blocking(primary.race(backup)), Ok("from backup"));
    /// ```
    pub fn race(self, other: Effect<A, E>) -> Effect<A, E> {
        race([self, other])
    }
}
