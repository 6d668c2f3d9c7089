//! The machinery of one pool of items (a [`Pool`](super::Pool), or one key of a
//! [`KeyedPool`](super::KeyedPool)): checkout, return, acquisition, invalidation, the
//! waiters, shrinking and closing.
//!
//! Invariants, each kept where the code says so:
//! - I1 Every item is in exactly one place: idle, checked out (its return registered in the
//!   scope of the one who took it), handed to a waiter (in the waiter's cell), or being
//!   released. An item leaves the pool only by having its scope closed, once.
//! - I2 `size = idle + checked out + granted + acquiring + releasing <= max`: an item handed
//!   to a waiter is counted in `granted` until it takes it; a slot is counted in `acquiring`
//!   from the moment it is granted until its acquisition ends, and in `releasing` until its
//!   item's release has finished, and only then handed on (or given up), however it ends.
//! - I3 Waiters are served in arrival order: an item or a slot freed while anyone waits goes
//!   to the first waiter, never to idle or to a newcomer. So while anyone waits, nothing is
//!   idle and the pool is at `max`.
//! - I4 A waiter's grant is in its cell until it takes it; a waiter that leaves (served,
//!   interrupted, unwound) passes on a grant it had not taken: an interrupted waiter takes
//!   nothing and loses nothing.
//! - I5 Once closed, the pool hands out nothing more: waiters are interrupted, returned and
//!   newly acquired items are released, and closing waits until nothing is checked out,
//!   granted, being acquired or being released (releasing whatever comes back idle).

use std::collections::{HashSet, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::time::{Duration, Instant};

use tokio::sync::Notify;

use crate::kernel::cause::{Cause, Never};
use crate::kernel::clock::Clock;
use crate::kernel::effect::{succeed, Effect};
use crate::ops::scope::{scope_exit, Scope};

mod guards;
mod lifecycle;
mod metered;
pub(crate) use metered::KeyedSums;

use guards::{SlotGuard, WaitGuard};

/// How a pool makes an item: an effect run with a scope of the item's own in its context
/// (what it acquires with `acquire_release` is released when that scope closes).
pub(crate) type Acquire<R, E> = Arc<dyn Fn() -> Effect<R, E> + Send + Sync>;

/// An item with what releases it.
pub(crate) struct Item<R> {
    id: u64,
    value: R,
    /// Closing it releases the item.
    scope: Scope,
    /// When it went idle (meaningful while idle).
    idle_since: Instant,
}

/// What a waiter is given.
enum Grant<R> {
    /// An item to check out.
    Item(Item<R>),
    /// A slot: the waiter acquires a new item itself (counted in `acquiring` already).
    Slot,
    /// The pool closed.
    Closed,
}

/// A waiter's cell: its grant, and its wake-up.
struct Waiter<R> {
    grant: Mutex<Option<Grant<R>>>,
    wake: Notify,
}

impl<R> Waiter<R> {
    fn give(&self, grant: Grant<R>) {
        *lock(&self.grant) = Some(grant);
        // A stored permit if it is not waiting yet: the grant is not missed.
        self.wake.notify_one();
    }

    fn take(&self) -> Option<Grant<R>> {
        lock(&self.grant).take()
    }
}

struct CoreState<R> {
    /// The most recently returned last: checkouts take from the end, shrinking from the
    /// front (the longest idle).
    idle: Vec<Item<R>>,
    /// Items checked out: their id and a clone, for `invalidate`.
    checked_out: Vec<(u64, R)>,
    /// Checked-out items to release when they come back.
    invalidated: HashSet<u64>,
    /// Items handed to waiters that have not taken them yet (I2).
    granted: usize,
    /// Slots whose acquisition is under way, or granted to a waiter (I2).
    acquiring: usize,
    /// Items being released (I2).
    releasing: usize,
    waiters: VecDeque<Arc<Waiter<R>>>,
    /// The waiters holding an item in their cell, not taken yet (counted in `granted`): an
    /// invalidation can find the item there and take it back.
    handed: Vec<Arc<Waiter<R>>>,
    next_id: u64,
    closed: bool,
}

impl<R> CoreState<R> {
    fn size(&self) -> usize {
        self.idle.len() + self.checked_out.len() + self.granted + self.acquiring + self.releasing
    }

    /// Whether nothing is held, granted, acquired or released: what closing waits for.
    fn settled(&self) -> bool {
        self.idle.is_empty()
            && self.checked_out.is_empty()
            && self.granted == 0
            && self.acquiring == 0
            && self.releasing == 0
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|p| p.into_inner())
}

/// One pool of items.
pub(crate) struct PoolCore<R, E> {
    acquire: Acquire<R, E>,
    pub(crate) min: usize,
    pub(crate) max: usize,
    /// How long an idle item beyond `min` is kept.
    pub(crate) ttl: Option<Duration>,
    state: Mutex<CoreState<R>>,
    /// Told whenever an item goes idle or leaves, and when the pool closes: for the reaper
    /// and for closing, and only while one of them may listen (`anyone_listens`).
    changed: Notify,
    /// Its name, the label of its metrics (see `Pool::named`).
    pub(crate) name: OnceLock<metered::PoolLabel>,
}

/// The counts a pool reports.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Counts {
    pub(crate) size: usize,
    pub(crate) idle: usize,
    pub(crate) in_use: usize,
    pub(crate) waiting: usize,
}

impl<R, E> PoolCore<R, E>
where
    R: Clone + PartialEq + Send + 'static,
    E: Send + 'static,
{
    pub(crate) fn new(
        acquire: Acquire<R, E>,
        min: usize,
        max: usize,
        ttl: Option<Duration>,
    ) -> Self {
        PoolCore {
            acquire,
            min,
            max,
            ttl,
            state: Mutex::new(CoreState {
                idle: Vec::new(),
                checked_out: Vec::new(),
                invalidated: HashSet::new(),
                granted: 0,
                acquiring: 0,
                releasing: 0,
                waiters: VecDeque::new(),
                handed: Vec::new(),
                next_id: 0,
                closed: false,
            }),
            changed: Notify::new(),
            name: OnceLock::new(),
        }
    }

    fn lock(&self) -> metered::Locked<'_, R> {
        metered::Locked {
            state: lock(&self.state),
            name: &self.name,
        }
    }

    pub(crate) fn counts(&self) -> Counts {
        let state = self.lock();
        Counts {
            size: state.size(),
            idle: state.idle.len(),
            in_use: state.checked_out.len(),
            waiting: state.waiters.len(),
        }
    }

    /// Closes the pool if it holds nothing and nobody uses or waits for it (a key a keyed
    /// pool forgets): nothing is left to release or wait for, and its reaper ends.
    pub(crate) fn close_if_empty(&self) -> bool {
        let mut state = self.lock();
        if state.size() != 0 || !state.waiters.is_empty() {
            return false;
        }
        state.closed = true;
        drop(state);
        self.changed.notify_waiters();
        true
    }

    /// Whether a change just made to `state` (locked) must be told on `changed`. Only the
    /// reaper and closing listen (`lifecycle.rs`): the reaper runs only with a time to live,
    /// and closing marks the pool closed under the lock before it first looks, so what
    /// changed under the lock while the pool was open is in what it sees then. Telling
    /// nobody costs a lock of `changed` on every return, which a busy pool feels.
    fn anyone_listens(&self, state: &CoreState<R>) -> bool {
        self.ttl.is_some() || state.closed
    }

    /// Hands `grant` on to the first waiter; with nobody waiting an item goes idle and a
    /// slot is given up (I3). Called with the state locked. Once closed, a slot is given up
    /// and an item goes idle, where closing finds and releases it. The clock is read only
    /// for an item going idle (when it went idle is what the reaper needs).
    fn pass_on(&self, state: &mut CoreState<R>, grant: Grant<R>, clock: &Clock) {
        let waiter = if state.closed {
            None
        } else {
            state.waiters.pop_front()
        };
        match (waiter, grant) {
            (_, Grant::Closed) => {}
            (Some(waiter), Grant::Slot) => {
                state.acquiring += 1;
                waiter.give(Grant::Slot);
            }
            (Some(waiter), Grant::Item(item)) => {
                state.granted += 1;
                state.handed.push(waiter.clone());
                waiter.give(Grant::Item(item));
            }
            (None, Grant::Item(mut item)) => {
                item.idle_since = clock.instant();
                state.idle.push(item);
                if self.anyone_listens(state) {
                    self.changed.notify_waiters();
                }
            }
            (None, Grant::Slot) => {}
        }
    }

    /// An effect that checks an item out for the scope of its context: an idle one, a new
    /// one if the pool may grow, or the first to come back or be made once it is its turn.
    pub(crate) fn checkout(self: Arc<Self>) -> Effect<R, E> {
        // The common case, an idle item (nobody waits then, I3), is taken in place as the
        // effect starts; anything else (growing, waiting, the errors) goes the long way.
        Effect::suspend_with(move |ctx| {
            if let Some(scope) = ctx.try_get::<Scope>() {
                let mut state = self.lock();
                if !state.closed {
                    if let Some(item) = state.idle.pop() {
                        metered::served(&self.name, Duration::ZERO);
                        return match self.hand_out(&mut state, item, scope) {
                            Ok(value) => succeed(value),
                            Err(returning) => {
                                drop(state);
                                Effect::from_future(Self::settle(Err(returning)))
                            }
                        };
                    }
                }
            }
            self.checkout_waiting()
        })
    }

    /// A checkout that may have to grow the pool or wait; see [`checkout`](Self::checkout).
    fn checkout_waiting(self: Arc<Self>) -> Effect<R, E> {
        Effect::new(move |ctx| async move {
            let Some(scope) = ctx.try_get::<Scope>().cloned() else {
                return Err(Cause::die(
                    "Pool::get outside a scope: wrap the region that uses the item in `scoped(..)`",
                ));
            };
            let clock = Clock::of(&ctx);
            // What the lock decides; the waiting and acquiring happen after it is released.
            let next = {
                let mut state = self.lock();
                if state.closed {
                    return Err(Cause::interrupt());
                }
                if let Some(item) = state.idle.pop() {
                    metered::served(&self.name, Duration::ZERO);
                    Next::Settle(self.hand_out(&mut state, item, &scope))
                } else if state.size() < self.max {
                    metered::served(&self.name, Duration::ZERO);
                    state.acquiring += 1;
                    Next::Acquire
                } else {
                    let waiter = Arc::new(Waiter {
                        grant: Mutex::new(None),
                        wake: Notify::new(),
                    });
                    state.waiters.push_back(waiter.clone());
                    Next::Wait(WaitGuard {
                        core: self.clone(),
                        waiter,
                        clock: clock.clone(),
                        served: false,
                    })
                }
            };
            let mut guard = match next {
                Next::Settle(checked_out) => return Self::settle(checked_out).await,
                Next::Acquire => return self.acquire_for(scope, clock).await,
                Next::Wait(guard) => guard,
            };
            let waiting_since = clock.instant();
            loop {
                guard.ready().await;
                // The grant is taken under the lock, and an item checked out in the same step
                // (an invalidation looks for it in the waiters' cells under that lock).
                let next = {
                    let mut state = self.lock();
                    match guard.take(&mut state) {
                        Some(Grant::Item(item)) => {
                            state.granted -= 1;
                            metered::served(&self.name, clock.instant() - waiting_since);
                            Next::<R, E>::Settle(self.hand_out(&mut state, item, &scope))
                        }
                        Some(Grant::Slot) => {
                            metered::served(&self.name, clock.instant() - waiting_since);
                            Next::Acquire
                        }
                        Some(Grant::Closed) => return Err(Cause::interrupt()),
                        // Taken back (its item was invalidated): first in line again.
                        None => continue,
                    }
                };
                return match next {
                    Next::Settle(checked_out) => Self::settle(checked_out).await,
                    _ => self.acquire_for(scope, clock).await,
                };
            }
        })
    }

    /// Checks `item` out to `scope`: registered as checked out, its return registered in the
    /// scope, in one step under the lock (I1). Called with the state locked. If the scope
    /// has closed already, the return comes back instead, to be run at once
    /// ([`settle`](Self::settle)): the item goes back, not away.
    fn hand_out(
        self: &Arc<Self>,
        state: &mut CoreState<R>,
        item: Item<R>,
        scope: &Scope,
    ) -> Result<R, Effect<(), Never>> {
        let value = item.value.clone();
        state.checked_out.push((item.id, value.clone()));
        let returning = self.clone().give_back(item);
        scope.add_finalizer_or_back(returning).map(|()| value)
    }

    /// The end of a checkout: its value, or, when the scope closed before the item could be
    /// checked out to it, the item's return run at once and a defect saying so.
    async fn settle(checked_out: Result<R, Effect<(), Never>>) -> Result<R, Cause<E>> {
        match checked_out {
            Ok(value) => Ok(value),
            Err(returning) => {
                returning.uninterruptible().await.map_err(Cause::widen)?;
                Err(Cause::die(
                    "Pool::get: the scope closed before the item could be checked out to it",
                ))
            }
        }
    }

    /// An effect acquiring a new item in a slot already counted (I2) and checking it out to
    /// `scope`. Made at once after the slot is counted: dropped unrun, it gives the slot up.
    fn acquire_for(self: &Arc<Self>, scope: Scope, clock: Clock) -> Effect<R, E> {
        self.acquire_then(clock, move |core, item, clock| {
            let mut state = core.lock();
            state.acquiring -= 1;
            if state.closed {
                // I5: made while the pool closed: released, and the getter interrupted.
                state.releasing += 1;
                drop(state);
                let release = core.finish_release(item.scope, &clock);
                return release
                    .map_err(|never| match never {})
                    .flat_map(|()| crate::kernel::effect::fail_cause(Cause::interrupt()));
            }
            let checked_out = core.hand_out(&mut state, item, &scope);
            drop(state);
            Effect::from_future(Self::settle(checked_out))
        })
    }

    /// An effect acquiring an idle item in a slot it counts (filling a pool to `min`).
    pub(crate) fn add_idle(self: &Arc<Self>, clock: Clock) -> Effect<(), E> {
        let core = self.clone();
        Effect::suspend_with(move |_| {
            core.lock().acquiring += 1;
            core.acquire_then(clock, |core, item, clock| {
                let mut state = core.lock();
                state.acquiring -= 1;
                // Once closed, it goes idle, where closing finds and releases it.
                core.pass_on(&mut state, Grant::Item(item), &clock);
                succeed(())
            })
        })
    }

    /// An effect acquiring an item in a slot counted in `acquiring`, then giving it to
    /// `place` (which moves the slot under the lock). The acquisition runs in a scope of the
    /// item's own and may be interrupted: if it fails, or is interrupted, or the effect is
    /// dropped before it runs, what it acquired is released and the slot given up (I2). Once
    /// it has succeeded, the rest is uninterruptible: the item reaches `place`, it is never
    /// dropped on its way.
    fn acquire_then<X, F>(self: &Arc<Self>, clock: Clock, place: F) -> Effect<X, E>
    where
        X: Send + 'static,
        F: FnOnce(&Arc<Self>, Item<R>, Clock) -> Effect<X, E> + Send + 'static,
    {
        let mut slot = SlotGuard {
            core: self.clone(),
            clock,
            armed: true,
        };
        let item_scope = Scope::new();
        let closing = item_scope.clone();
        let acquire = self.acquire.clone();
        crate::kernel::effect::suspend(move || acquire())
            .provide_service(item_scope.clone())
            .on_exit(move |exit| match exit {
                Ok(_) => succeed(()),
                Err(_) => closing.close_effect(scope_exit(exit)),
            })
            .interruptible()
            .flat_map(move |value| {
                slot.armed = false;
                let core = slot.core.clone();
                let clock = slot.clock.clone();
                let id = {
                    let mut state = core.lock();
                    state.next_id += 1;
                    state.next_id - 1
                };
                let item = Item {
                    id,
                    value,
                    scope: item_scope,
                    idle_since: clock.instant(),
                };
                place(&core, item, clock)
            })
            .uninterruptible()
    }

    /// The return of a checked-out item, run when the scope it was checked out to closes:
    /// to the first waiter, or idle; released instead if it was invalidated or the pool
    /// closed.
    fn give_back(self: Arc<Self>, item: Item<R>) -> Effect<(), Never> {
        // Handing back is done in place, as the effect starts; only a release waits.
        Effect::suspend_with(move |ctx| {
            let clock = Clock::of(ctx);
            let (release, tell) = {
                let mut state = self.lock();
                state.checked_out.retain(|(held, _)| *held != item.id);
                // Most pools never invalidate anything: no hashing then.
                let invalid = !state.invalidated.is_empty() && state.invalidated.remove(&item.id);
                let release = if state.closed || invalid {
                    state.releasing += 1;
                    Some(item.scope)
                } else {
                    self.pass_on(&mut state, Grant::Item(item), &clock);
                    None
                };
                (release, self.anyone_listens(&state))
            };
            let Some(scope) = release else {
                if tell {
                    self.changed.notify_waiters();
                }
                return succeed(());
            };
            self.finish_release(scope, &clock)
        })
    }

    /// An effect releasing an item counted in `releasing` (closing its scope), then handing
    /// its slot on (I2, I3). Uninterruptible: once started, the count is always settled.
    /// Callers make it in the same step that counts the item in `releasing`, inside an
    /// uninterruptible region, so that it is never dropped unrun.
    fn finish_release(self: &Arc<Self>, item_scope: Scope, clock: &Clock) -> Effect<(), Never> {
        let (core, clock) = (self.clone(), clock.clone());
        // However the release ends (a defect of it is the effect's), the count is settled.
        let settle = crate::kernel::effect::sync(move || {
            let mut state = core.lock();
            state.releasing -= 1;
            core.pass_on(&mut state, Grant::Slot, &clock);
            let tell = core.anyone_listens(&state);
            drop(state);
            if tell {
                core.changed.notify_waiters();
            }
        });
        item_scope
            .close_effect(Ok(()))
            .ensuring(settle)
            .uninterruptible()
    }

    /// An effect that invalidates `value`: released now if idle or handed to a waiter that
    /// has not taken it yet (the waiter is first in line again, and is given the slot the
    /// release frees); when it comes back if checked out; not at all if the pool does not
    /// hold it. Deciding and releasing are one uninterruptible step.
    pub(crate) fn invalidate<E2: Send + 'static>(self: Arc<Self>, value: R) -> Effect<(), E2> {
        Effect::suspend_with(move |ctx| {
            let clock = Clock::of(ctx);
            let mut state = self.lock();
            let released = if let Some(at) = state.idle.iter().position(|i| i.value == value) {
                Some(state.idle.remove(at))
            } else if let Some(&(id, _)) = state.checked_out.iter().find(|(_, v)| *v == value) {
                state.invalidated.insert(id);
                None
            } else {
                self.take_back(&mut state, &value)
            };
            let Some(item) = released else {
                return succeed(());
            };
            state.releasing += 1;
            drop(state);
            self.finish_release(item.scope, &clock)
                .map_err(|never| match never {})
        })
        .uninterruptible()
    }

    /// Takes an item equal to `value` back from the cell of a waiter it was handed to, and
    /// puts that waiter first in line again. Called with the state locked.
    fn take_back(&self, state: &mut CoreState<R>, value: &R) -> Option<Item<R>> {
        let holds = |waiter: &Arc<Waiter<R>>| matches!(&*lock(&waiter.grant), Some(Grant::Item(item)) if item.value == *value);
        let at = state.handed.iter().position(holds)?;
        let waiter = state.handed.remove(at);
        let Some(Grant::Item(item)) = waiter.take() else {
            unreachable!("a handed waiter's cell holds its item until taken under the lock");
        };
        state.granted -= 1;
        state.waiters.push_front(waiter);
        Some(item)
    }
}

/// What a checkout does once the lock is released.
enum Next<R: Clone + PartialEq + Send + 'static, E: Send + 'static> {
    /// Checked out an idle item (or must give it back).
    Settle(Result<R, Effect<(), Never>>),
    /// Acquire a new item in the slot counted for it.
    Acquire,
    /// Wait for an item or a slot.
    Wait(WaitGuard<R, E>),
}
