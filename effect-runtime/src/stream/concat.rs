//! Running a concat: its parts one after another.
//!
//! Invariants: each part but the last runs in a child scope of the stream's, closed (and so
//! taken out of the stream's scope) as soon as the part ends, before the next part opens;
//! the last part runs in the stream's scope itself and its pulls are returned as they are,
//! not wrapped, so a part that is itself a recursive definition (`suspend`) adds no layer.
//! A failure, an early stop or an interruption closes the stream's scope, which closes the
//! open part's child scope first.
//!
//! Consecutive parts that are plain iterators (`from_iter`) run as one iterator: they hold
//! no resource, so they need no scope of their own, and their values go out in chunks that
//! keep growing across the parts' boundaries (a concat of ten thousand small `from_iter`s
//! is pulled in full chunks, not in a ramp of small ones per part).

use std::collections::VecDeque;

use super::sources::{emit, fill_pull};
use super::{Pull, Repr, Step, Stream};
use crate::ops::scope::Scope;

/// The first pull of the parts run in order, in `scope`.
pub(super) fn run<A: Send + 'static, E: Send + 'static>(
    mut parts: VecDeque<Stream<A, E>>,
    scope: Scope,
) -> Pull<A, E> {
    let Some(mut first) = parts.pop_front() else {
        return super::sources::end();
    };
    if matches!(first.repr, Repr::Iter(_)) {
        if matches!(
            parts.front(),
            Some(Stream {
                repr: Repr::Iter(_)
            })
        ) {
            first = chain_iterators(first, &mut parts);
        }
        let pull = first.open(scope.clone());
        return match parts.is_empty() {
            true => pull,
            false => drain(pull, None, parts, scope),
        };
    }
    if parts.is_empty() {
        return first.open(scope);
    }
    let own = scope.child();
    drain(first.open(own.clone()), Some(own), parts, scope)
}

/// `first` (an iterator) and the iterators right after it in `parts`, as one stream.
fn chain_iterators<A: Send + 'static, E: Send + 'static>(
    first: Stream<A, E>,
    parts: &mut VecDeque<Stream<A, E>>,
) -> Stream<A, E> {
    let mut fills = VecDeque::new();
    let mut next = Some(first);
    while let Some(Stream {
        repr: Repr::Iter(source),
    }) = next
    {
        fills.push_back(source.into_fill());
        next = match parts.front() {
            Some(Stream {
                repr: Repr::Iter(_),
            }) => parts.pop_front(),
            _ => None,
        };
    }
    Stream::from_open(move |_| fill_pull(fills, 1))
}

/// The pulls of one part (not the last), then the rest of the parts. `own` is the part's
/// scope, closed as it ends (none for iterators, which hold nothing).
fn drain<A: Send + 'static, E: Send + 'static>(
    pull: Pull<A, E>,
    own: Option<Scope>,
    parts: VecDeque<Stream<A, E>>,
    scope: Scope,
) -> Pull<A, E> {
    pull.flat_map(move |step| match step {
        Step::Emit(chunk, rest) => emit(chunk, drain(*rest, own, parts, scope)),
        Step::End => match own {
            Some(own) => own
                .close_effect(Ok(()))
                .widen()
                .flat_map(move |()| run(parts, scope)),
            None => run(parts, scope),
        },
    })
}
