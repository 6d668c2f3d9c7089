//! Restore entries: what an effect changed for as long as it runs (the fiber's
//! interruptibility; the context of `provide`, a fiber-local of `FiberRef::locally`, the span
//! of `instrument`), put back as it ends, however it ends.

use crate::kernel::context::Context;
use crate::kernel::fiber::frame::FrameBox;
use crate::kernel::fiber::interpreter::{Interpreter, Next};
use crate::kernel::fiber::locals::LocalValue;
use crate::kernel::fiber::prim::Prim;
#[cfg(feature = "tracing")]
use crate::kernel::fiber::span::FiberSpan;

use super::Entry;

/// A piece of the fiber's state an effect changed for as long as it runs.
pub(in crate::kernel::fiber::interpreter) enum Restore {
    /// The context before `provide`.
    Context(Context),
    /// A fiber-local before `FiberRef::locally` (boxed: rare, and every entry of a deep stack
    /// pays for the largest variant).
    Local(Box<SavedLocal>),
    /// The fiber's span before `instrument` / `with_span`.
    #[cfg(feature = "tracing")]
    Span(FiberSpan),
}

/// The value a fiber-local had before `FiberRef::locally` set it (`None`: not set).
pub(in crate::kernel::fiber::interpreter) struct SavedLocal {
    pub(in crate::kernel::fiber::interpreter) key: u64,
    pub(in crate::kernel::fiber::interpreter) previous: Option<LocalValue>,
}

impl Entry {
    /// The entry putting back `interruptible` as the effect above it ends.
    pub(in crate::kernel::fiber::interpreter) fn restore_interruptible(
        interruptible: bool,
    ) -> Entry {
        if interruptible {
            Entry::RestoreInterruptible
        } else {
            Entry::RestoreUninterruptible
        }
    }
}

impl Interpreter {
    /// Runs `inner` with interruption `enabled`, and puts the fiber's back as it ends.
    pub(in crate::kernel::fiber::interpreter) fn set_interruptible(
        &mut self,
        enabled: bool,
        inner: Prim,
    ) -> Next {
        self.stack
            .push(Entry::restore_interruptible(self.interruptible));
        self.interruptible = enabled;
        Next::Start(inner)
    }

    /// The effect an interruptibility was set for finished with `done`: the fiber's is put
    /// back; leaving an uninterruptible region with an interrupt pending, the region's result
    /// is discarded and the fiber unwinds.
    pub(in crate::kernel::fiber::interpreter) fn interruptibility_delivered(
        &mut self,
        interruptible: bool,
        done: FrameBox,
    ) -> Next {
        self.interruptible = interruptible;
        match self.pending_interruption() {
            Some(interruption) => Next::Unwind(interruption),
            None => Next::Deliver(done),
        }
    }

    pub(in crate::kernel::fiber::interpreter) fn restore(&mut self, saved: Restore) {
        match saved {
            Restore::Context(ctx) => self.ctx = ctx,
            Restore::Local(local) => {
                let SavedLocal { key, previous } = *local;
                self.locals.get_mut().restore(key, previous);
            }
            #[cfg(feature = "tracing")]
            Restore::Span(span) => self.span = span,
        }
    }
}
