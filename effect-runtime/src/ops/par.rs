//! Running effects concurrently and collecting all their values: `zip_par`.
//!
//! The branches are the members of one [`Region`], each on a task of its own (so they run in
//! parallel on a multi-thread runtime), whose completions the region queues in the order
//! they happen.
//!
//! Fail-fast: the first branch to fail (or die) interrupts the others; `zip_par` waits until
//! they are done (their finalizers have run) and fails with that cause, combined (in
//! parallel) with any other failure or defect the siblings produced. Siblings that were
//! merely interrupted add nothing to the cause.

use std::sync::Arc;

use crate::kernel::cause::Cause;
use crate::kernel::effect::{succeed, Effect};
use crate::kernel::fiber::handoff::current_fiber;
use crate::kernel::fiber::id::FiberId;
use crate::kernel::fiber::region::{Placement, Region};

/// Runs every effect of a `Vec` concurrently, each on its own fiber, and succeeds with their
/// values in input order.
pub(crate) fn zip_par_vec<A: Send + 'static, E: Send + 'static>(
    effects: Vec<Effect<A, E>>,
) -> Effect<Vec<A>, E> {
    if effects.is_empty() {
        return succeed(Vec::new());
    }
    let values: Vec<Option<A>> = effects.iter().map(|_| None).collect();
    fail_fast_group(
        effects,
        values,
        |values, index, value| values[index] = Some(value),
        |values| {
            values
                .into_iter()
                .map(|v| v.expect("every branch succeeded"))
                .collect()
        },
    )
}

/// Runs `members` as the task members of one fail-fast group (each on a fiber of its own, in
/// parallel on a multi-thread runtime), handing each value, with its member's index, to
/// `gather` into `gathered` as it comes; once all succeeded, `finish` makes the group's value
/// from what was gathered. The first failure ends the group (see [`fail_fast`]).
pub(crate) fn fail_fast_group<P, E, M, T, B>(
    members: M,
    gathered: T,
    mut gather: impl FnMut(&mut T, usize, P) + Send + 'static,
    finish: impl FnOnce(T) -> B + Send + 'static,
) -> Effect<B, E>
where
    P: Send + 'static,
    E: Send + 'static,
    M: IntoIterator<Item = Effect<P, E>> + Send + 'static,
    T: Send + 'static,
    B: Send + 'static,
{
    let region: Arc<Region<P, E>> = Arc::default();
    let group = region.clone();
    Region::effect(region, async move {
        let (inherited, family) = current_fiber();
        for member in members {
            group.start(member, Placement::Task, true, &inherited, &family);
        }
        let mut gathered = gathered;
        while let Some((index, exit)) = group.next_finished().await {
            match exit {
                Ok(value) => gather(&mut gathered, index, value),
                Err(cause) => return Err(fail_fast(&group, cause).await),
            }
        }
        Ok(finish(gathered))
    })
}

/// After a member of a fail-fast group failed with `cause`: interrupts the others, waits
/// until they are done, and returns `cause` combined in parallel with every sibling's cause
/// that is more than an interruption (a sibling's own failure or defect is never lost).
async fn fail_fast<A, E>(group: &Region<A, E>, cause: Cause<E>) -> Cause<E>
where
    A: Send + 'static,
    E: Send + 'static,
{
    let mut combined = cause;
    group
        .interrupt_rest(|exit| match exit {
            Err(other) if !other.is_interrupted_only() => {
                let earlier = std::mem::replace(&mut combined, Cause::Interrupt(FiberId::NONE));
                combined = earlier.both(other);
            }
            _ => {}
        })
        .await;
    combined
}

/// Collections of effects that [`zip_par`] can run: tuples of 2 to 12 effects with one error
/// type (giving a tuple of values), and `Vec<Effect<A, E>>` (giving a `Vec<A>`).
///
/// ```
/// use effect::{run_blocking, succeed, zip_par, Effect, ZipPar};
///
/// fn all_of<T: ZipPar>(effects: T) -> Effect<T::Output, T::Error> {
///     effects.zip_par()
/// }
/// let triple: Effect<(u8, &str, bool), ()> = all_of((succeed(1), succeed("two"), succeed(true)));
/// assert_eq!(run_blocking(triple), Ok((1, "two", true)));
/// let same: Effect<Vec<u8>, ()> = zip_par(vec![succeed(1), succeed(2)]);
/// assert_eq!(run_blocking(same), Ok(vec![1, 2]));
/// ```
pub trait ZipPar {
    /// The values of all the effects.
    type Output: Send + 'static;
    /// The common error type.
    type Error: Send + 'static;
    /// The effect running them all concurrently.
    ///
    /// ```
    /// use effect::{fail, run_blocking, succeed, Effect, ZipPar};
    ///
    /// let pair: Effect<(u32, u32), &str> = (succeed(1), fail("second failed")).zip_par();
    /// assert_eq!(run_blocking(pair).unwrap_err().failure(), Some(&"second failed"));
    /// ```
    fn zip_par(self) -> Effect<Self::Output, Self::Error>;
}

impl<A: Send + 'static, E: Send + 'static> ZipPar for Vec<Effect<A, E>> {
    type Output = Vec<A>;
    type Error = E;
    fn zip_par(self) -> Effect<Vec<A>, E> {
        zip_par_vec(self)
    }
}

/// What the members of a tuple's group give: see `zip_par_tuple`.
trait Parts {
    type Values: Default + Send + 'static;
}

/// A tuple of effects runs as one group whose members all give the same type: the tuple of
/// every position's `Option`, with only the member's own position filled. So the values keep
/// their types (nothing is boxed or downcast) and the body gathers them in place, with no
/// vector of effects or of values.
macro_rules! zip_par_tuple {
    ($($index:tt $effect:ident: $value:ident),+) => {
        impl<E: Send + 'static, $($value: Send + 'static),+> Parts for ($(Effect<$value, E>,)+) {
            type Values = ($(Option<$value>,)+);
        }

        impl<E: Send + 'static, $($value: Send + 'static),+> ZipPar for ($(Effect<$value, E>,)+) {
            type Output = ($($value,)+);
            type Error = E;
            #[allow(non_snake_case)]
            fn zip_par(self) -> Effect<Self::Output, E> {
                let ($($effect,)+) = self;
                let members = [$(
                    $effect.map(|value| {
                        let mut part = <Self as Parts>::Values::default();
                        part.$index = Some(value);
                        part
                    }),
                )+];
                fail_fast_group(
                    members,
                    <Self as Parts>::Values::default(),
                    |values, _, part| {
                        $(
                            if part.$index.is_some() {
                                values.$index = part.$index;
                            }
                        )+
                    },
                    |values| ($(values.$index.expect("every branch succeeded"),)+),
                )
            }
        }
    };
}

zip_par_tuple!(0 e1: A1, 1 e2: A2);
zip_par_tuple!(0 e1: A1, 1 e2: A2, 2 e3: A3);
zip_par_tuple!(0 e1: A1, 1 e2: A2, 2 e3: A3, 3 e4: A4);
zip_par_tuple!(0 e1: A1, 1 e2: A2, 2 e3: A3, 3 e4: A4, 4 e5: A5);
zip_par_tuple!(0 e1: A1, 1 e2: A2, 2 e3: A3, 3 e4: A4, 4 e5: A5, 5 e6: A6);
zip_par_tuple!(0 e1: A1, 1 e2: A2, 2 e3: A3, 3 e4: A4, 4 e5: A5, 5 e6: A6, 6 e7: A7);
zip_par_tuple!(0 e1: A1, 1 e2: A2, 2 e3: A3, 3 e4: A4, 4 e5: A5, 5 e6: A6, 6 e7: A7, 7 e8: A8);
zip_par_tuple!(0 e1: A1, 1 e2: A2, 2 e3: A3, 3 e4: A4, 4 e5: A5, 5 e6: A6, 6 e7: A7, 7 e8: A8, 8 e9: A9);
zip_par_tuple!(0 e1: A1, 1 e2: A2, 2 e3: A3, 3 e4: A4, 4 e5: A5, 5 e6: A6, 6 e7: A7, 7 e8: A8, 8 e9: A9, 9 e10: A10);
zip_par_tuple!(0 e1: A1, 1 e2: A2, 2 e3: A3, 3 e4: A4, 4 e5: A5, 5 e6: A6, 6 e7: A7, 7 e8: A8, 8 e9: A9, 9 e10: A10, 10 e11: A11);
zip_par_tuple!(0 e1: A1, 1 e2: A2, 2 e3: A3, 3 e4: A4, 4 e5: A5, 5 e6: A6, 6 e7: A7, 7 e8: A8, 8 e9: A9, 9 e10: A10, 10 e11: A11, 11 e12: A12);

/// Runs the effects concurrently, each on its own child fiber (in parallel on a multi-thread
/// runtime), and succeeds with all their values: a tuple for a tuple of effects, a `Vec` in
/// input order for a `Vec`. Fail-fast: the first failure interrupts the other branches and
/// waits for their finalizers before `zip_par` fails.
///
/// ```
/// use effect::{run_blocking, succeed, zip_par, Effect};
///
/// let pair: Effect<(u32, &str), ()> = zip_par((succeed(1), succeed("two")));
/// assert_eq!(run_blocking(pair), Ok((1, "two")));
///
/// let all: Effect<Vec<u32>, ()> = zip_par((1..=3).map(succeed).collect::<Vec<_>>());
/// assert_eq!(run_blocking(all), Ok(vec![1, 2, 3]));
/// ```
pub fn zip_par<T: ZipPar>(effects: T) -> Effect<T::Output, T::Error> {
    effects.zip_par()
}

impl<A: Send + 'static, E: Send + 'static> Effect<A, E> {
    /// Runs `self` and `other` concurrently; see [`zip_par`].
    ///
    /// ```
    /// use effect::prelude::*;
    ///
    /// let user = sleep(ms(5)).as_value("ada");
    /// let orders = sleep(ms(5)).as_value(3);
    /// let both: Effect<(&str, u32), String> = user.zip_par(orders); // about 5 ms, not 10
    /// assert_eq!(effect::run_blocking(both), Ok(("ada", 3)));
    /// ```
    pub fn zip_par<B: Send + 'static>(self, other: Effect<B, E>) -> Effect<(A, B), E> {
        zip_par((self, other))
    }
}
