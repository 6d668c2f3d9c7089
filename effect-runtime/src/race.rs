//! Running effects concurrently and keeping the first: `race` and `race_first`.
//!
//! Every branch runs on its own child fiber. Once the race is decided the losers are
//! interrupted, and the race waits until they are done (their finalizers have run) before it
//! yields: no loser outlives the race.

use std::future::Future;

use crate::cause::{Cause, Exit};
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
    racing("race", effects, |group| async move {
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
    racing("race_first", effects, |group| async move {
        let index = group.next_finished().await;
        let exit = group.take_exit(index);
        group.interrupt_all().await;
        exit
    })
}

/// Starts every effect on a child fiber of one group and lets `decide` consume their
/// completions. An empty collection dies with a message naming `name`, instead of hanging.
fn racing<A, E, I, F, Fut>(name: &'static str, effects: I, decide: F) -> Effect<A, E>
where
    A: Send + 'static,
    E: Send + 'static,
    I: IntoIterator<Item = Effect<A, E>>,
    F: FnOnce(Group<A, E>) -> Fut + Send + 'static,
    Fut: Future<Output = Exit<A, E>> + Send + 'static,
{
    let effects: Vec<Effect<A, E>> = effects.into_iter().collect();
    if effects.is_empty() {
        return die(format!(
            "{name} of no effects: give {name} at least one effect"
        ));
    }
    with_group(move |mut group: Group<A, E>| {
        for effect in effects {
            group.spawn(effect);
        }
        decide(group)
    })
}

impl<A: Send + 'static, E: Send + 'static> Effect<A, E> {
    /// Races `self` against `other`; see [`race`].
    pub fn race(self, other: Effect<A, E>) -> Effect<A, E> {
        race([self, other])
    }
}
