//! The shared, untyped state of a fiber: identity, interruption, completion; and the
//! [`Family`] of fibers a `Runtime` started, which shutdown interrupts.
//!
//! Ownership: a fiber's task (or the root [`Run`](super::run::Run) future) owns the fiber's
//! interpreter; everyone else (the region it is a member of, `Fiber` handles) holds an
//! `Arc<FiberCore>` and can only *signal* it (interrupt) or *observe* it (wait for done).
//! Which region a child belongs to, and so who interrupts and awaits it, is
//! [`region`](super::region)'s business.

use std::any::Any;
use std::cell::Cell;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context as TaskContext, Poll, Waker};

use crate::kernel::cause::{Cause, Exit};

use futures::task::AtomicWaker;

use super::id::next_fiber_id;
use super::live::LIVE_FIBERS;
use super::registry::{Registered, RegisteredFiber, Registry};
// Also named from here by the fiber modules that use the core.
use super::id::FiberId;
pub(crate) use super::id::FiberKind;

thread_local! {
    /// The fiber whose interpreter this thread is running right now (`FiberId::NONE` outside
    /// any), so that an interruption records who asked for it without every caller saying so.
    static DRIVING: Cell<FiberId> = const { Cell::new(FiberId::NONE) };
}

/// Marks `id` as the fiber this thread runs until the guard is dropped (nested runs nest).
pub(crate) fn driving(id: FiberId) -> impl Drop {
    struct Restore(FiberId);
    impl Drop for Restore {
        fn drop(&mut self) {
            DRIVING.set(self.0);
        }
    }
    Restore(DRIVING.replace(id))
}

/// The fiber this thread is running now, or `FiberId::NONE`.
pub(crate) fn driving_fiber() -> FiberId {
    DRIVING.get()
}

/// The value of `FiberCore::interrupted_by` while nobody has interrupted the fiber.
const NOT_INTERRUPTED: u64 = u64::MAX;

/// The value of a fiber's `registry_slot` while it holds no slot of its family's registry
/// (supervised by a parent, not registered yet, or freed).
const NO_SLOT: u32 = u32::MAX;

/// The fibers of one [`Runtime`](crate::Runtime): those it started, and everything they
/// started. Fibers of a plain `Effect::run` belong to no family: nobody can ask for their
/// count or shut them down, and not counting them spares every fork a shared atomic and a
/// shared reference count, bounced between worker threads.
#[derive(Default)]
pub(crate) struct Family {
    // One counter, not sharded: a family is made for every runtime, and shards cost 2 KiB.
    live: AtomicUsize,
    /// The family's user fibers (roots, forks, daemons, `Runtime::fork`s; not a
    /// combinator's members), for [`Runtime::dump`](crate::Runtime::dump); among them the
    /// ones no parent supervises, which shutdown interrupts (every other fiber of the family
    /// is a member of one of their regions, and is interrupted as those regions close).
    /// Weak: the family never keeps a fiber alive. In shards, by the thread registering: a
    /// runtime's forks on different workers take different locks.
    registry: Registry<FiberCore>,
    /// Whoever waits for `live` to reach zero (shutdown).
    idle: Mutex<Vec<Waker>>,
}

impl Family {
    pub(crate) fn live(&self) -> usize {
        self.live.load(Ordering::SeqCst)
    }

    /// Records a user fiber started by `parent`: for dumps, and, if no parent supervises it
    /// (`!supervised`), for shutdown to interrupt (at once if shutdown has begun). O(1): the
    /// fiber gives its slot back as it completes.
    pub(crate) fn register(&self, core: &Arc<FiberCore>, parent: FiberId, supervised: bool) {
        let entry = Registered::new(core, parent, supervised);
        let mut registry = self.registry.shard_here();
        if registry.shutting_down() && !supervised {
            core.interrupt();
        }
        // Under the fiber's state lock (taken after the registry's, never the other way
        // round: completion releases it before it takes the registry's): a fiber that has
        // completed already (on another worker, before it was registered) takes no slot,
        // and one that has not will find its slot as it completes.
        let mut state = core.state();
        if state.done {
            return;
        }
        debug_assert_eq!(
            state.registry_slot, NO_SLOT,
            "I6: a fiber is registered once"
        );
        state.registry_slot = registry.insert(entry);
    }

    /// The family's user fibers alive now, each with its registration.
    pub(crate) fn registered(&self) -> Vec<RegisteredFiber<FiberCore>> {
        self.registry.alive()
    }

    /// Frees the registry slot of a fiber that completed (see `register`).
    fn unregister(&self, slot: u32, core: *const ()) {
        self.registry.remove(slot, core);
    }

    /// Begins shutdown: interrupts every fiber no parent supervises, now and from now on.
    /// The fibers stay registered: each frees its slot as it completes.
    pub(crate) fn begin_shutdown(&self) {
        for core in self.registry.shut_down() {
            core.interrupt();
        }
    }

    /// `Ready` once no fiber of the family is alive.
    pub(crate) fn poll_idle(&self, cx: &mut TaskContext<'_>) -> Poll<()> {
        if self.live() == 0 {
            return Poll::Ready(());
        }
        let mut idle = lock(&self.idle);
        // Checked again under the lock: the last fiber's end takes it before waking.
        if self.live() == 0 {
            return Poll::Ready(());
        }
        if !idle.iter().any(|waker| waker.will_wake(cx.waker())) {
            idle.push(cx.waker().clone());
        }
        Poll::Pending
    }

    fn fiber_ended(&self) {
        if self.live.fetch_sub(1, Ordering::SeqCst) == 1 {
            let waiting = std::mem::take(&mut *lock(&self.idle));
            waiting.into_iter().for_each(Waker::wake);
        }
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // Only pushes and takes happen under these locks.
    mutex.lock().unwrap_or_else(|poison| poison.into_inner())
}

/// The shared state of a fiber. `X` is what its owner keeps next to it in the same
/// allocation (a [`Fiber`](super::handle::Fiber) keeps the typed exit there); everyone else
/// sees the erased `FiberCore`, `Arc<FiberCore<X>>` coercing to `Arc<FiberCore>`.
pub(crate) struct FiberCore<X: ?Sized = dyn Any + Send + Sync> {
    id: FiberId,
    family: Option<Arc<Family>>,
    /// Who interrupted the fiber first (a `FiberId`'s number), or `NOT_INTERRUPTED`.
    interrupted_by: AtomicU64,
    /// Wakes the fiber's task when it is interrupted.
    task: AtomicWaker,
    /// What it is doing (see `waiting`): written by its interpreter as it runs, read by dumps.
    status: AtomicU64,
    state: Mutex<CoreState>,
    /// Its kind and start, for the runtime's metrics.
    #[cfg(feature = "metrics")]
    metered: super::metered::Metered,
    pub(crate) extra: X,
}

struct CoreState {
    done: bool,
    /// Its slot in its family's registry of user fibers, or `NO_SLOT` (beside `done`,
    /// in what would be padding: a fiber's size counts).
    registry_slot: u32,
    /// Who to tell when the fiber is done. The first watcher is kept inline: most fibers have
    /// exactly one (whoever joins them, or their group), and a fiber's allocations count.
    first_watcher: Option<Watcher>,
    more_watchers: Vec<Watcher>,
    /// Whether it was given a name (`fork_named`, `Effect::named`), kept in [`NAMES`] (in
    /// what would be padding: a fiber pays nothing for a name it has not got).
    named: bool,
}

/// The names of the fibers that have one, by fiber id: names are rare (services, workers),
/// and every fiber's size counts. A name is added under its fiber's state lock while the
/// fiber is not done, and removed as it completes.
static NAMES: std::sync::LazyLock<Mutex<std::collections::HashMap<u64, Arc<str>>>> =
    std::sync::LazyLock::new(Mutex::default);

impl Default for CoreState {
    fn default() -> Self {
        CoreState {
            done: false,
            registry_slot: NO_SLOT,
            first_watcher: None,
            more_watchers: Vec::new(),
            named: false,
        }
    }
}

impl CoreState {
    fn watch(&mut self, watcher: Watcher) {
        match self.first_watcher {
            None => self.first_watcher = Some(watcher),
            Some(_) => self.more_watchers.push(watcher),
        }
    }

    fn watchers(&self) -> impl Iterator<Item = &Watcher> {
        self.first_watcher.iter().chain(&self.more_watchers)
    }
}

/// Told, with a tag of its choosing, when a fiber it watches is done (a group learns which of
/// its members finished without a boxed closure per member).
pub(crate) trait OnDone: Send + Sync {
    fn done(&self, tag: usize);
}

enum Watcher {
    Wake(Waker),
    Notify(Arc<dyn OnDone>, usize),
}

impl Watcher {
    fn fire(self) {
        match self {
            Watcher::Wake(waker) => waker.wake(),
            Watcher::Notify(target, tag) => target.done(tag),
        }
    }
}

impl<X> FiberCore<X> {
    /// A new live fiber of `family`, with `extra` kept alongside its state.
    pub(crate) fn new(family: Option<Arc<Family>>, kind: FiberKind, extra: X) -> Arc<FiberCore<X>> {
        #[cfg(not(feature = "metrics"))]
        let _ = kind;
        LIVE_FIBERS.add(1);
        if let Some(family) = &family {
            family.live.fetch_add(1, Ordering::SeqCst);
        }
        Arc::new(FiberCore {
            id: next_fiber_id(),
            family,
            interrupted_by: AtomicU64::new(NOT_INTERRUPTED),
            task: AtomicWaker::new(),
            status: AtomicU64::new(super::waiting::READY_WORD),
            state: Mutex::new(CoreState::default()),
            #[cfg(feature = "metrics")]
            metered: super::metered::Metered::started(kind),
            extra,
        })
    }
}

impl<X: ?Sized> FiberCore<X> {
    pub(crate) fn id(&self) -> FiberId {
        self.id
    }

    pub(crate) fn family(&self) -> &Option<Arc<Family>> {
        &self.family
    }

    #[cfg(feature = "metrics")]
    pub(crate) fn metered(&self) -> super::metered::Metered {
        self.metered
    }

    fn state(&self) -> MutexGuard<'_, CoreState> {
        // A panic never happens while the lock is held (only pushes and takes), but a
        // poisoned lock must not turn into a second panic.
        self.state
            .lock()
            .unwrap_or_else(|poison| poison.into_inner())
    }

    /// Asks the fiber to stop at its next interruptible suspension point, on behalf of the
    /// fiber this thread is running (the first interrupter is the one remembered).
    pub(crate) fn interrupt(&self) {
        self.mark_interrupted();
        self.task.wake();
    }

    /// Interrupts the fiber without waking its task, for a fiber its interrupter polls next
    /// itself (an in-place member of a region, whose task is the interrupter's own): waking
    /// the running task would have tokio poll it again, and on a multi-thread runtime wake an
    /// idle worker to steal it, for nothing. The waker registered is dropped, so that a later
    /// interrupt does not wake a task that no longer waits for it.
    pub(crate) fn interrupt_quietly(&self) {
        self.mark_interrupted();
        drop(self.task.take());
    }

    fn mark_interrupted(&self) {
        let by = driving_fiber().0;
        let _ = self.interrupted_by.compare_exchange(
            NOT_INTERRUPTED,
            by,
            Ordering::AcqRel,
            Ordering::Acquire,
        );
    }

    #[inline]
    pub(crate) fn is_interrupted(&self) -> bool {
        self.interrupted_by.load(Ordering::Acquire) != NOT_INTERRUPTED
    }

    /// The cause of this fiber's interruption: who interrupted it (`NONE` if nobody did, for
    /// a fiber that counts as interrupted because it was abandoned).
    pub(crate) fn interruption<E>(&self) -> Cause<E> {
        match self.interrupted_by.load(Ordering::Acquire) {
            NOT_INTERRUPTED => Cause::Interrupt(FiberId::NONE),
            by => Cause::Interrupt(FiberId(by)),
        }
    }

    /// Records what the fiber is doing (a word of [`waiting`](super::waiting)); only its
    /// interpreter writes it.
    #[inline]
    pub(crate) fn set_status(&self, word: u64) {
        self.status.store(word, Ordering::Relaxed);
    }

    /// What the fiber is doing, as its interpreter last recorded it.
    pub(crate) fn status(&self) -> super::waiting::FiberStatus {
        super::waiting::FiberStatus::from_word(self.status.load(Ordering::Relaxed))
    }

    pub(crate) fn register_task(&self, waker: &Waker) {
        self.task.register(waker);
    }

    pub(crate) fn is_done(&self) -> bool {
        self.state().done
    }

    /// Names the fiber (a later name replaces an earlier one); a fiber done already keeps
    /// none (nothing would remove it).
    pub(crate) fn set_name(&self, name: Arc<str>) {
        let mut state = self.state();
        if !state.done {
            state.named = true;
            lock(&NAMES).insert(self.id.0, name);
        }
    }

    /// The fiber's name, if it was given one (and, once it is done, none).
    pub(crate) fn name(&self) -> Option<Arc<str>> {
        let named = self.state().named;
        named
            .then(|| lock(&NAMES).get(&self.id.0).cloned())
            .flatten()
    }

    /// Tells `target` (with `tag`) once the fiber is done, at once if it already is.
    pub(crate) fn notify_when_done(&self, target: Arc<dyn OnDone>, tag: usize) {
        let mut state = self.state();
        if state.done {
            drop(state);
            target.done(tag);
        } else {
            state.watch(Watcher::Notify(target, tag));
        }
    }

    /// Marks the fiber done: its exit is stored, finalizers ran, children are reaped.
    /// Happens exactly once; wakes everyone waiting.
    pub(crate) fn complete(&self) {
        let (first, more, slot) = {
            let mut state = self.state();
            if state.done {
                return;
            }
            state.done = true;
            // No longer live before anyone can see it done (under this lock): whoever awaited
            // it and then counts the live fibers does not count it. (The family's lock, taken
            // here when the last fiber ends, never waits for a fiber's.)
            LIVE_FIBERS.add(-1);
            #[cfg(feature = "metrics")]
            self.metered.completed();
            if let Some(family) = &self.family {
                family.fiber_ended();
            }
            if std::mem::take(&mut state.named) {
                lock(&NAMES).remove(&self.id.0);
            }
            (
                state.first_watcher.take(),
                std::mem::take(&mut state.more_watchers),
                std::mem::replace(&mut state.registry_slot, NO_SLOT),
            )
        };
        // With the fiber's state lock released (see `Family::register`).
        if let Some(family) = self.family.as_ref().filter(|_| slot != NO_SLOT) {
            family.unregister(slot, self as *const Self as *const ());
        }
        first.into_iter().chain(more).for_each(Watcher::fire);
    }

    /// `Ready` once the fiber is done; otherwise registers `cx`'s waker to be woken then.
    pub(crate) fn poll_done(&self, cx: &mut TaskContext<'_>) -> Poll<()> {
        let mut state = self.state();
        if state.done {
            return Poll::Ready(());
        }
        let known = state
            .watchers()
            .any(|w| matches!(w, Watcher::Wake(waker) if waker.will_wake(cx.waker())));
        if !known {
            state.watch(Watcher::Wake(cx.waker().clone()));
        }
        Poll::Pending
    }
}

impl FiberCore {
    /// The exit of a finished fiber whose owner keeps an `Exit<A, E>` beside its core (as
    /// [`Fiber`](super::handle::Fiber) does), taken out. A fiber abandoned by its runtime
    /// (shut down under it) counts as interrupted.
    ///
    /// # Panics
    /// If the fiber keeps something else beside its core: a runtime bug.
    pub(crate) fn take_exit<A: 'static, E: 'static>(&self) -> Exit<A, E> {
        self.exit_slot::<A, E>()
            .take()
            .unwrap_or_else(|| Err(self.interruption()))
    }

    /// Stores the exit of a fiber whose owner keeps an `Exit<A, E>` beside its core, for
    /// [`take_exit`](Self::take_exit); before the core completes, so that whoever completion
    /// wakes finds it.
    ///
    /// # Panics
    /// As `take_exit`.
    pub(crate) fn store_exit<A: 'static, E: 'static>(&self, exit: Exit<A, E>) {
        *self.exit_slot::<A, E>() = Some(exit);
    }

    fn exit_slot<A: 'static, E: 'static>(&self) -> MutexGuard<'_, Option<Exit<A, E>>> {
        let any: &dyn Any = &self.extra;
        lock(
            any.downcast_ref::<Mutex<Option<Exit<A, E>>>>()
                .expect("effect runtime: a fiber's exit has another type than its owner expects"),
        )
    }
}

#[cfg(test)]
mod tests;
