//! A named pool's metrics (the `metrics` feature): its gauges are refreshed each time its
//! state is unlocked, so they follow every change (each one happens under the lock) without
//! a call at each place that makes one.

use std::ops::{Deref, DerefMut};
use std::sync::{MutexGuard, OnceLock};
use std::time::Duration;

use super::{CoreState, PoolCore};

impl<R, E> PoolCore<R, E> {
    /// Names the pool (once: a second name is ignored), and records its gauges at once.
    pub(crate) fn set_name(&self, name: &'static str) {
        let _ = self.name.set(name);
        drop(Locked {
            state: super::lock(&self.state),
            name: &self.name,
        });
    }
}

/// The pool's state, locked; on unlock, a named pool's gauges are set from it.
pub(super) struct Locked<'a, R> {
    pub(super) state: MutexGuard<'a, CoreState<R>>,
    /// The pool's name once it has one (see `Pool::named`).
    #[cfg_attr(not(feature = "metrics"), allow(dead_code))]
    pub(super) name: &'a OnceLock<&'static str>,
}

impl<R> Deref for Locked<'_, R> {
    type Target = CoreState<R>;
    fn deref(&self) -> &CoreState<R> {
        &self.state
    }
}

impl<R> DerefMut for Locked<'_, R> {
    fn deref_mut(&mut self) -> &mut CoreState<R> {
        &mut self.state
    }
}

impl<R> Drop for Locked<'_, R> {
    fn drop(&mut self) {
        #[cfg(feature = "metrics")]
        if let Some(&pool) = self.name.get() {
            let state = &self.state;
            metrics::gauge!("effect_pool_size", "pool" => pool).set(state.size() as f64);
            metrics::gauge!("effect_pool_idle", "pool" => pool).set(state.idle.len() as f64);
            metrics::gauge!("effect_pool_in_use", "pool" => pool)
                .set(state.checked_out.len() as f64);
        }
    }
}

/// A `get` of a named pool was served after waiting `waited` (zero when it was served at once).
pub(super) fn served(name: &OnceLock<&'static str>, waited: Duration) {
    #[cfg(feature = "metrics")]
    if let Some(&pool) = name.get() {
        metrics::histogram!("effect_pool_wait_seconds", "pool" => pool)
            .record(waited.as_secs_f64());
    }
    #[cfg(not(feature = "metrics"))]
    let _ = (name, waited);
}
