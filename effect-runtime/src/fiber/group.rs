//! A group of child fibers whose completions are consumed in the order they happen: the
//! machinery under `zip_par`, `race`, `race_first` and `for_each_par`.
//!
//! Invariant: every fiber a group starts is done before the group's effect finishes, however
//! it finishes. On the normal paths the group's body interrupts and awaits the fibers it no
//! longer needs; if the body itself is interrupted (the fiber running it was interrupted),
//! the body is dropped and the group's finalizer interrupts and awaits every fiber it started.

use std::collections::VecDeque;
use std::future::{poll_fn, Future};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Poll, Waker};

use super::core::{interrupt_all, Family, FiberCore, OnDone};
use super::frame::Prim;
use super::handle::{spawn_fiber, Fiber};
use crate::cause::{Cause, Exit};
use crate::context::Context;
use crate::effect::{succeed, Effect};

type Cores = Arc<Mutex<Vec<Arc<FiberCore>>>>;

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|poison| poison.into_inner())
}

#[derive(Default)]
struct Completions {
    finished: VecDeque<usize>,
    waker: Option<Waker>,
}

/// The members' completions, in the order they happen.
#[derive(Default)]
struct Finished {
    completions: Mutex<Completions>,
    /// How many members are done, ever (consumed or not).
    count: AtomicUsize,
}

impl OnDone for Finished {
    fn done(&self, index: usize) {
        let waker = {
            let mut completions = lock(&self.completions);
            completions.finished.push_back(index);
            self.count.fetch_add(1, Ordering::AcqRel);
            completions.waker.take()
        };
        if let Some(waker) = waker {
            waker.wake();
        }
    }
}

pub(crate) struct Group<A, E> {
    ctx: Context,
    family: Option<Arc<Family>>,
    fibers: Vec<Fiber<A, E>>,
    completions: Arc<Finished>,
    cores: Cores,
}

impl<A: Send + 'static, E: Send + 'static> Group<A, E> {
    /// Starts `effect` on a child fiber; returns its index in the group.
    pub(crate) fn spawn(&mut self, effect: Effect<A, E>) -> usize {
        let index = self.fibers.len();
        // Not adopted by the parent fiber: the group itself sees every member done before the
        // group's effect ends (its body, or failing that its finalizer, awaits them all).
        let fiber = spawn_fiber(effect, self.ctx.clone(), self.family.clone(), None);
        let core = fiber.core();
        core.notify_when_done(self.completions.clone(), index);
        lock(&self.cores).push(core);
        self.fibers.push(fiber);
        index
    }

    /// The index of the next fiber to finish.
    pub(crate) async fn next_finished(&self) -> usize {
        poll_fn(|cx| {
            let mut completions = lock(&self.completions.completions);
            match completions.finished.pop_front() {
                Some(index) => Poll::Ready(index),
                None => {
                    completions.waker = Some(cx.waker().clone());
                    Poll::Pending
                }
            }
        })
        .await
    }

    /// The exit of the finished fiber `index`.
    pub(crate) fn take_exit(&self, index: usize) -> Exit<A, E> {
        self.fibers[index].take_exit()
    }

    /// Interrupts every fiber of the group still running and waits until all are done.
    pub(crate) async fn interrupt_all(&self) {
        let cores = lock(&self.cores).clone();
        interrupt_all(&cores).await;
    }

    /// After the group is done: `first`'s cause, plus in parallel every other fiber's cause
    /// that is more than an interruption (a sibling's own failure or defect is never lost).
    pub(crate) fn cause_with_siblings(&self, first: usize, cause: Cause<E>) -> Cause<E> {
        let mut combined = cause;
        for index in (0..self.len()).filter(|&i| i != first) {
            if let Err(other) = self.take_exit(index) {
                if !other.is_interrupted_only() {
                    combined = combined.both(other);
                }
            }
        }
        combined
    }

    /// How many fibers the group started.
    pub(crate) fn len(&self) -> usize {
        self.fibers.len()
    }
}

/// An effect whose body drives a [`Group`] of child fibers of the fiber running it.
pub(crate) fn with_group<A, E, B, E2, F, Fut>(body: F) -> Effect<B, E2>
where
    A: Send + 'static,
    E: Send + 'static,
    B: Send + 'static,
    E2: Send + 'static,
    F: FnOnce(Group<A, E>) -> Fut + Send + 'static,
    Fut: Future<Output = Exit<B, E2>> + Send + 'static,
{
    let cores: Cores = Arc::default();
    let finished: Arc<Finished> = Arc::default();
    let (finalizer_cores, finalizer_finished) = (cores.clone(), finished.clone());
    let driven = Effect::from_prim(Prim::WithFiber(Box::new(move |fiber| {
        let group = Group {
            ctx: fiber.ctx.clone(),
            family: fiber.core.family().clone(),
            fibers: Vec::new(),
            completions: finished,
            cores,
        };
        Effect::from_future(body(group)).into_prim()
    })));
    driven.on_exit(move |_| {
        // Every member done already (the body saw them all finish, or interrupted and awaited
        // them): nothing to do. Members are registered before they can finish, and counted
        // only once done, so equal counts mean all are done.
        let started = lock(&finalizer_cores).len();
        if finalizer_finished.count.load(Ordering::Acquire) == started {
            return succeed(());
        }
        Effect::from_future(async move {
            let cores = lock(&finalizer_cores).clone();
            interrupt_all(&cores).await;
            Ok(())
        })
    })
}
