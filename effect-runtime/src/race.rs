//! Running effects concurrently and keeping the first: `race` and `race_first`.
//!
//! Every branch runs on its own child fiber. Once the race is decided the losers are
//! interrupted, and the race waits until they are done (their finalizers have run) before it
//! yields: no loser outlives the race.

use crate::cause::Cause;
use crate::effect::{die, Effect};
use crate::fiber::group::{with_group, Group};

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
    let effects: Vec<Effect<A, E>> = effects.into_iter().collect();
    if effects.is_empty() {
        return die("race of no effects: give race at least one effect");
    }
    with_group(move |mut group: Group<A, E>| async move {
        for effect in effects {
            group.spawn(effect);
        }
        let mut failures: Option<Cause<E>> = None;
        for _ in 0..group.len() {
            let index = group.next_finished().await;
            match group.take_exit(index) {
                Ok(value) => {
                    group.interrupt_all().await;
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
    })
}

/// Runs the effects concurrently and finishes as the first to **finish** does, success or
/// failure; the others are interrupted and awaited first. An empty race dies.
pub fn race_first<A, E, I>(effects: I) -> Effect<A, E>
where
    A: Send + 'static,
    E: Send + 'static,
    I: IntoIterator<Item = Effect<A, E>>,
{
    let effects: Vec<Effect<A, E>> = effects.into_iter().collect();
    if effects.is_empty() {
        return die("race_first of no effects: give race_first at least one effect");
    }
    with_group(move |mut group: Group<A, E>| async move {
        for effect in effects {
            group.spawn(effect);
        }
        let index = group.next_finished().await;
        let exit = group.take_exit(index);
        group.interrupt_all().await;
        exit
    })
}

impl<A: Send + 'static, E: Send + 'static> Effect<A, E> {
    /// Races `self` against `other`; see [`race`].
    pub fn race(self, other: Effect<A, E>) -> Effect<A, E> {
        race([self, other])
    }
}
