//! What a [`Prim::WithFiber`](crate::kernel::fiber::prim::Prim::WithFiber) request may do to
//! the fiber's stack (see [`FiberStack`]).

use std::sync::Arc;

use crate::kernel::fiber::locals::LocalValue;
use crate::kernel::fiber::prim::{FiberStack, ForkOwner};
#[cfg(feature = "tracing")]
use crate::kernel::fiber::span::FiberSpan;
use crate::kernel::fiber::stack::Stack;

use super::{Entry, Restore, SavedLocal};

/// The fiber's stack as a [`Prim::WithFiber`](crate::kernel::fiber::prim::Prim::WithFiber) request sees it.
pub(in crate::kernel::fiber::interpreter) struct RequestStack<'a> {
    pub(in crate::kernel::fiber::interpreter) stack: &'a mut Stack<Entry>,
    /// Whether a deadline is on the stack (see `Interpreter::deadlines`).
    pub(in crate::kernel::fiber::interpreter) in_deadline: bool,
}

impl FiberStack for RequestStack<'_> {
    fn restore_local_after(&mut self, key: u64, previous: Option<LocalValue>) {
        self.stack
            .push(Entry::Restore(Restore::Local(Box::new(SavedLocal {
                key,
                previous,
            }))));
    }

    #[cfg(feature = "tracing")]
    fn restore_span_after(&mut self, outer: FiberSpan) {
        self.stack.push(Entry::Restore(Restore::Span(outer)));
    }

    /// Inside a `timeout`, the innermost deadline's forks; else the fiber's own, which sit at
    /// the bottom of its stack (put there at the first fork), so that they are closed when
    /// the fiber ends, however it ends.
    fn forks(&mut self, make: fn() -> Arc<dyn ForkOwner>) -> &Arc<dyn ForkOwner> {
        let is_deadline = |entry: &Entry| matches!(entry, Entry::Deadline(_));
        if self.in_deadline && self.stack.iter().any(is_deadline) {
            let innermost = self.stack.iter_mut().rev().find_map(|entry| match entry {
                Entry::Deadline(deadline) => Some(deadline),
                _ => None,
            });
            let deadline = innermost.expect("a deadline was just seen on the stack");
            return deadline.forks.get_or_insert_with(make);
        }
        if !matches!(self.stack.bottom(), Some(Entry::Forks(_))) {
            self.stack.insert_bottom(Entry::Forks(make()));
        }
        match self.stack.bottom() {
            Some(Entry::Forks(forks)) => forks,
            _ => unreachable!("the fiber's forks were put at the bottom just now"),
        }
    }
}
