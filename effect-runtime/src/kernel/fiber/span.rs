//! The `tracing` span a fiber's work runs in (the `tracing` feature).
//!
//! Invariants kept here and in the interpreter:
//! - A fiber starts in the span that was current where it was started: when its parent
//!   forked it, or the body of a `zip_par` / `race` / `for_each_par` started it as a branch,
//!   or `Runtime::fork` was called ([`Inherited`](super::locals::Inherited) carries
//!   it). A root run starts in none of its own: it runs in whatever span its poller entered.
//! - The interpreter enters the fiber's current span for the whole of each poll ([`Entered`]),
//!   and the span changes only where an instrumented effect starts (a `Restore` entry is
//!   pushed under it) or ends (that entry is popped, on every way out): so an instrumented
//!   effect's span is entered exactly while its own work is polled, and never outlives it.
//! - Only enabled spans are kept: a disabled span (no subscriber, or one not interested) is
//!   `FiberSpan(None)`, and a fiber in none pays one null check per step.

use std::sync::Arc;

use tracing::Span;

/// A fiber's current span, shared (by reference count) with the children started in it.
#[derive(Clone, Default)]
pub(crate) struct FiberSpan(Option<Arc<Span>>);

impl FiberSpan {
    /// The span current on this thread now (the fiber's own, inside a fiber's poll).
    pub(crate) fn current() -> Self {
        FiberSpan::of(Span::current())
    }

    /// `span`, if it is enabled.
    pub(crate) fn of(span: Span) -> Self {
        if span.is_disabled() {
            FiberSpan(None)
        } else {
            FiberSpan(Some(Arc::new(span)))
        }
    }

    /// Whether there is nothing to enter.
    pub(crate) fn is_none(&self) -> bool {
        self.0.is_none()
    }

    /// Whether `self` and `other` are the same span (or both none): one pointer comparison.
    #[inline]
    fn is(&self, other: &FiberSpan) -> bool {
        let address = |span: &FiberSpan| span.0.as_ref().map_or(std::ptr::null(), Arc::as_ptr);
        address(self) == address(other)
    }

    #[inline]
    fn enter(&self) {
        if let Some(span) = &self.0 {
            span.with_subscriber(|(id, dispatch)| dispatch.enter(id));
        }
    }

    #[inline]
    fn exit(&self) {
        if let Some(span) = &self.0 {
            span.with_subscriber(|(id, dispatch)| dispatch.exit(id));
        }
    }
}

/// The fiber's span, entered for one poll of its interpreter; exited when dropped, however
/// the poll ends. Keeps a reference to the span it entered, so that the span is closed (its
/// last handle dropped) only after it was exited.
pub(crate) struct Entered(FiberSpan);

impl Entered {
    #[inline]
    pub(crate) fn enter(span: &FiberSpan) -> Self {
        span.enter();
        Entered(span.clone())
    }

    /// Enters `span` instead, if the fiber's span changed: the old one is exited (and closed,
    /// if that was its last handle) before the new one is entered.
    #[inline]
    pub(crate) fn follow(&mut self, span: &FiberSpan) {
        if !self.0.is(span) {
            self.switch(span);
        }
    }

    #[cold]
    #[inline(never)]
    fn switch(&mut self, span: &FiberSpan) {
        self.0.exit();
        self.0 = span.clone();
        self.0.enter();
    }
}

impl Drop for Entered {
    #[inline]
    fn drop(&mut self) {
        self.0.exit();
    }
}
