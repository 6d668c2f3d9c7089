//! The guards of a pool's waiters and acquisitions: what a waiter or an acquisition leaves
//! behind when it ends however it ends (I2, I4 of [`core`](super)).

use std::sync::Arc;

use super::{lock, CoreState, Grant, PoolCore, Waiter};
use crate::kernel::clock::Clock;
use crate::kernel::fiber::waiting::{self, Wait};

/// A waiter's place in the queue. Dropping it (served, interrupted, unwound) takes it out
/// and passes on a grant it had not taken (I4).
pub(super) struct WaitGuard<R: Clone + PartialEq + Send + 'static, E: Send + 'static> {
    pub(super) core: Arc<PoolCore<R, E>>,
    pub(super) waiter: Arc<Waiter<R>>,
    pub(super) clock: Clock,
    /// It took its grant: it has left the queue and holds nothing to pass on.
    pub(super) served: bool,
}

impl<R: Clone + PartialEq + Send + 'static, E: Send + 'static> WaitGuard<R, E> {
    /// Resolves once the waiter's cell holds a grant (`give` stores a wake-up permit, so none
    /// is missed; a stale one only means looking again).
    pub(super) async fn ready(&self) {
        let pool = Wait::Pool(waiting::address(&self.core));
        while lock(&self.waiter.grant).is_none() {
            waiting::marked(pool, self.waiter.wake.notified()).await;
        }
    }

    /// Takes the grant, under the state lock (`None`: it was taken back meanwhile).
    pub(super) fn take(&mut self, state: &mut CoreState<R>) -> Option<Grant<R>> {
        let grant = self.waiter.take()?;
        if let Grant::Item(_) = grant {
            state.handed.retain(|w| !Arc::ptr_eq(w, &self.waiter));
        }
        self.served = true;
        Some(grant)
    }
}

impl<R: Clone + PartialEq + Send + 'static, E: Send + 'static> Drop for WaitGuard<R, E> {
    fn drop(&mut self) {
        // A grant is given only to a waiter already taken out of the queue (`pass_on`,
        // closing), and only once: a served waiter has nothing left to undo (I4).
        if self.served {
            return;
        }
        let mut state = self.core.lock();
        state
            .waiters
            .retain(|waiter| !Arc::ptr_eq(waiter, &self.waiter));
        // Granted and never taken: counted for this waiter, now counted for the next (or
        // given up).
        match self.waiter.take() {
            Some(Grant::Item(item)) => {
                state.handed.retain(|w| !Arc::ptr_eq(w, &self.waiter));
                state.granted -= 1;
                self.core
                    .pass_on(&mut state, Grant::Item(item), &self.clock);
            }
            Some(Grant::Slot) => {
                state.acquiring -= 1;
                self.core.pass_on(&mut state, Grant::Slot, &self.clock);
            }
            Some(Grant::Closed) | None => {}
        }
        let tell = self.core.anyone_listens(&state);
        drop(state);
        if tell {
            self.core.changed.notify_waiters();
        }
    }
}

/// A slot counted in `acquiring` while its acquisition runs. Dropped armed (the acquisition
/// failed, or was interrupted or unwound), it gives the slot up: to the first waiter, who
/// then tries to acquire, or back to the pool (I2).
pub(super) struct SlotGuard<R: Clone + PartialEq + Send + 'static, E: Send + 'static> {
    pub(super) core: Arc<PoolCore<R, E>>,
    pub(super) clock: Clock,
    pub(super) armed: bool,
}

impl<R: Clone + PartialEq + Send + 'static, E: Send + 'static> Drop for SlotGuard<R, E> {
    fn drop(&mut self) {
        if !self.armed {
            return;
        }
        let mut state = self.core.lock();
        state.acquiring -= 1;
        self.core.pass_on(&mut state, Grant::Slot, &self.clock);
        let tell = self.core.anyone_listens(&state);
        drop(state);
        if tell {
            self.core.changed.notify_waiters();
        }
    }
}
