//! Running a concat: its parts one after another.
//!
//! Invariants: each part but the last runs in a child scope of the stream's, closed (and so
//! taken out of the stream's scope) as soon as the part ends, before the next part opens;
//! the last part runs in the stream's scope itself and its pulls are returned as they are,
//! not wrapped, so a part that is itself a recursive definition (`suspend`) adds no layer.
//! A failure, an early stop or an interruption closes the stream's scope, which closes the
//! open part's child scope first.

use std::collections::VecDeque;

use super::sources::emit;
use super::{Pull, Step, Stream};
use crate::scope::Scope;

/// The first pull of the parts run in order, in `scope`.
pub(super) fn run<A: Send + 'static, E: Send + 'static>(
    mut parts: VecDeque<Stream<A, E>>,
    scope: Scope,
) -> Pull<A, E> {
    let Some(first) = parts.pop_front() else {
        return super::sources::end();
    };
    if parts.is_empty() {
        return first.open(scope);
    }
    let own = scope.child();
    drain(first.open(own.clone()), own, parts, scope)
}

/// The pulls of one part (not the last), then the rest of the parts.
fn drain<A: Send + 'static, E: Send + 'static>(
    pull: Pull<A, E>,
    own: Scope,
    parts: VecDeque<Stream<A, E>>,
    scope: Scope,
) -> Pull<A, E> {
    pull.flat_map(move |step| match step {
        Step::Emit(chunk, rest) => emit(chunk, drain(*rest, own, parts, scope)),
        Step::End => own
            .close_effect(Ok(()))
            .widen()
            .flat_map(move |()| run(parts, scope)),
    })
}
