//! What `#[effect(instrument)]` expands into: the span is made by `tracing`'s own `span!`
//! (re-exported here, so the user's crate needs no `tracing` dependency of its own), and the
//! effect is run in it with [`Effect::instrument`].
//!
//! Without the `tracing` feature, `tracing::span!` here is a macro that stops the build with
//! a message saying which feature to turn on.

use crate::kernel::effect::Effect;

#[cfg(feature = "tracing")]
pub use tracing;

/// `#[effect(instrument)]`'s effect: `effect`, run in `span`.
#[cfg(feature = "tracing")]
pub fn instrumented<A: Send + 'static, E: Send + 'static>(
    effect: Effect<A, E>,
    span: tracing::Span,
) -> Effect<A, E> {
    effect.instrument(span)
}

/// `#[effect(instrument(err))]`'s effect: `effect`, run in `span`, with `report` called with
/// its typed failure inside the span (an `ERROR` event, as `#[tracing::instrument(err)]`).
#[cfg(feature = "tracing")]
pub fn instrumented_err<A: Send + 'static, E: Send + 'static>(
    effect: Effect<A, E>,
    span: tracing::Span,
    report: fn(&E),
) -> Effect<A, E> {
    effect
        .on_error(move |cause| {
            if let Some(error) = cause.failure() {
                report(error);
            }
            crate::kernel::effect::succeed(())
        })
        .instrument(span)
}

/// Without the `tracing` feature: the span is a compile error (see `tracing::span!` below),
/// and these keep the rest of the expansion from adding errors of its own.
#[cfg(not(feature = "tracing"))]
pub fn instrumented<A, E, S>(effect: Effect<A, E>, _span: S) -> Effect<A, E> {
    effect
}

#[cfg(not(feature = "tracing"))]
pub fn instrumented_err<A, E, S, R>(effect: Effect<A, E>, _span: S, _report: R) -> Effect<A, E> {
    effect
}

#[cfg(not(feature = "tracing"))]
#[doc(hidden)]
#[macro_export]
macro_rules! __effect_instrument_needs_tracing {
    ($($anything:tt)*) => {
        ::core::compile_error!(
            "#[effect(instrument)] needs effectkit's `tracing` feature (on by default): remove `default-features = false` from the dependency, or add `features = [\"tracing\"]`"
        )
    };
}

#[cfg(not(feature = "tracing"))]
#[doc(hidden)]
#[macro_export]
macro_rules! __effect_instrument_no_event {
    ($($anything:tt)*) => {
        ()
    };
}

/// Without the `tracing` feature: `span!` says which feature to turn on (`event!`, in the
/// same expansion, adds nothing to that one error).
#[cfg(not(feature = "tracing"))]
pub mod tracing {
    pub use crate::__effect_instrument_needs_tracing as span;
    pub use crate::__effect_instrument_no_event as event;
}
