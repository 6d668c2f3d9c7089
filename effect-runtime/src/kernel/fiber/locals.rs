//! The fiber-local values of one fiber ([`FiberRef`](crate::FiberRef)s' values), and what a
//! fiber hands on to the children it starts ([`Inherited`]).
//!
//! Ownership: a fiber's interpreter owns its [`FiberLocals`]; the bodies it polls reach them
//! through the poll's hand-off, and the requests it runs through their `FiberCx`. A child
//! gets a copy when it starts (copy on fork): the map itself is shared until either side
//! writes, and a write copies it first, so neither ever sees the other's writes.

use std::any::Any;
use std::sync::Arc;

#[cfg(feature = "tracing")]
use super::span::FiberSpan;
use crate::kernel::context::Context;

/// A fiber-local value, type-erased (its [`FiberRef`](crate::FiberRef) knows the type).
pub(crate) type LocalValue = Arc<dyn Any + Send + Sync>;

/// The values a fiber set for its fiber-locals. `None` until one is set: most fibers never
/// have any, and forking one of them copies a null pointer.
#[derive(Clone, Default)]
pub(crate) struct FiberLocals(Option<Arc<LocalMap>>);

/// Keys and values, in the order they were first set. A fiber has a handful of fiber-locals
/// at most: a scan of a short vector beats hashing, and copying it on a write after a fork
/// copies a few reference-counted pointers, never the values.
#[derive(Clone, Default)]
struct LocalMap(Vec<(u64, LocalValue)>);

impl FiberLocals {
    /// The value set for `key`, if any (the caller falls back on the initial value).
    pub(crate) fn get(&self, key: u64) -> Option<&LocalValue> {
        let map = self.0.as_ref()?;
        map.0
            .iter()
            .find(|(k, _)| *k == key)
            .map(|(_, value)| value)
    }

    /// Sets `key` to `value`; gives the value it replaces. Copies the map first if a child (or
    /// the parent) still shares it.
    pub(crate) fn set(&mut self, key: u64, value: LocalValue) -> Option<LocalValue> {
        let map = Arc::make_mut(self.0.get_or_insert_with(Default::default));
        match map.0.iter_mut().find(|(k, _)| *k == key) {
            Some((_, slot)) => Some(std::mem::replace(slot, value)),
            None => {
                map.0.push((key, value));
                None
            }
        }
    }

    /// Puts back what `key` held before a [`set`](Self::set): `previous`, or nothing.
    pub(crate) fn restore(&mut self, key: u64, previous: Option<LocalValue>) {
        match previous {
            Some(value) => {
                self.set(key, value);
            }
            None => self.remove(key),
        }
    }

    fn remove(&mut self, key: u64) {
        let Some(shared) = &mut self.0 else { return };
        if !shared.0.iter().any(|(k, _)| *k == key) {
            return;
        }
        let map = Arc::make_mut(shared);
        map.0.retain(|(k, _)| *k != key);
        if map.0.is_empty() {
            // Back to the state of a fiber that never set one: its forks copy nothing.
            self.0 = None;
        }
    }
}

/// What a child fiber starts with, taken from the fiber that starts it at that moment (a
/// fork, a branch of `zip_par` / `race` / `for_each_par`): its context, its fiber-locals and
/// (with the `tracing` feature) the span current there. The child owns
/// these copies: nothing it does to them reaches its parent or its siblings, and nothing the
/// parent does afterwards reaches the child. The fiber's family goes with it separately,
/// into its core.
#[derive(Clone, Default)]
pub(crate) struct Inherited {
    pub(crate) ctx: Context,
    pub(crate) locals: FiberLocals,
    /// The span current where the child was started, entered on every poll of the child.
    #[cfg(feature = "tracing")]
    pub(crate) span: FiberSpan,
}

impl Inherited {
    /// What a root fiber starts with: `ctx`, no fiber-locals, and no span of its own (a root
    /// run runs in whatever span is current where it is polled).
    pub(crate) fn root(ctx: Context) -> Self {
        Inherited {
            ctx,
            locals: FiberLocals::default(),
            #[cfg(feature = "tracing")]
            span: FiberSpan::default(),
        }
    }

    /// The same, in the span current here (for a fiber started from outside any fiber, on a
    /// task of its own: `Runtime::fork`).
    pub(crate) fn in_current_span(self) -> Self {
        Inherited {
            #[cfg(feature = "tracing")]
            span: FiberSpan::current(),
            ..self
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn value(n: u32) -> LocalValue {
        Arc::new(n)
    }

    fn read(locals: &FiberLocals, key: u64) -> Option<u32> {
        locals
            .get(key)
            .and_then(|v| v.downcast_ref::<u32>())
            .copied()
    }

    #[test]
    fn a_write_after_a_fork_is_seen_by_the_writer_only() {
        let mut parent = FiberLocals::default();
        parent.set(1, value(10));
        let mut child = parent.clone();
        child.set(1, value(11));
        child.set(2, value(20));
        assert_eq!((read(&parent, 1), read(&parent, 2)), (Some(10), None));
        assert_eq!((read(&child, 1), read(&child, 2)), (Some(11), Some(20)));
        parent.set(1, value(12));
        assert_eq!(read(&child, 1), Some(11));
    }

    #[test]
    fn restoring_puts_back_the_previous_value_or_nothing() {
        let mut locals = FiberLocals::default();
        let before = locals.set(1, value(1));
        assert!(before.is_none());
        let replaced = locals.set(1, value(2));
        locals.restore(1, replaced);
        assert_eq!(read(&locals, 1), Some(1));
        locals.restore(1, before);
        assert_eq!(read(&locals, 1), None);
        assert!(locals.0.is_none(), "an emptied map is dropped");
    }
}
