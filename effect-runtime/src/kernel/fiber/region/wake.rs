//! How a region's members report to it: a queue of the members that may have something to
//! report (woken in-place members, finished tasks), and the waker of an in-place member.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::task::Wake;

use futures::task::AtomicWaker;

use super::lock;
use crate::kernel::fiber::core::OnDone;

/// The members that may have something to report: woken in-place members, finished tasks.
#[derive(Default)]
pub(super) struct ReadyQueue {
    pub(super) indices: Mutex<VecDeque<usize>>,
    /// The task polling the region.
    pub(super) parent: AtomicWaker,
}

impl ReadyQueue {
    pub(super) fn push(&self, index: usize) {
        lock(&self.indices).push_back(index);
        self.parent.wake();
    }

    /// Everything queued, taken out in one step.
    pub(super) fn take_all(&self) -> VecDeque<usize> {
        std::mem::take(&mut *lock(&self.indices))
    }

    /// Puts back what a poll did not get to, ahead of what was queued since.
    pub(super) fn put_back(&self, mut rest: VecDeque<usize>) {
        if rest.is_empty() {
            return;
        }
        let mut indices = lock(&self.indices);
        rest.append(&mut indices);
        *indices = rest;
    }

    pub(super) fn len(&self) -> usize {
        lock(&self.indices).len()
    }
}

/// A region's ready queue, made for the first member that reports through it (an in-place
/// member with a waker of its own, a task member, a member moved to a task): a small race
/// never needs one.
#[derive(Default)]
pub(super) struct Ready(Option<Arc<ReadyQueue>>);

impl Ready {
    /// The queue, made now if no member needed it before.
    pub(super) fn queue(&mut self) -> Arc<ReadyQueue> {
        self.0.get_or_insert_with(Arc::default).clone()
    }

    /// The queue, if a member needed one.
    pub(super) fn get(&self) -> Option<&Arc<ReadyQueue>> {
        self.0.as_ref()
    }
}

impl OnDone for ReadyQueue {
    fn done(&self, index: usize) {
        self.push(index);
    }
}

/// The waker of one in-place member: queues the member (once until it is polled) and wakes
/// the region's task.
pub(super) struct MemberWake {
    pub(super) index: usize,
    pub(super) queued: AtomicBool,
    pub(super) ready: Arc<ReadyQueue>,
}

impl MemberWake {
    /// Queues the member (once until it is polled) without waking the region's task: for the
    /// region's own task, which polls the queue next.
    pub(super) fn queue_quietly(&self) {
        if !self.queued.swap(true, Ordering::AcqRel) {
            lock(&self.ready.indices).push_back(self.index);
        }
    }
}

impl Wake for MemberWake {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        if !self.queued.swap(true, Ordering::AcqRel) {
            self.ready.push(self.index);
        }
    }
}
