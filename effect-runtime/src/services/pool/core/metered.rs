//! A named pool's metrics (the `metrics` feature): its gauges are refreshed each time its
//! state is unlocked, so they follow every change (each one happens under the lock) without
//! a call at each place that makes one. A keyed pool's pools (one per key) add what each
//! changed to the keyed pool's sums, which its gauges show.

use std::ops::{Deref, DerefMut};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::time::Duration;

use super::{CoreState, PoolCore};

/// A named pool's label, and for a key's pool the keyed pool's sums with what this pool
/// added to them.
#[cfg_attr(not(feature = "metrics"), allow(dead_code))]
pub(crate) struct PoolLabel {
    pub(crate) name: &'static str,
    keyed: Option<(Arc<KeyedSums>, Mutex<[usize; 3]>)>,
}

/// A keyed pool's size, idle and in-use counts, summed over its keys' pools.
#[derive(Default)]
#[cfg_attr(not(feature = "metrics"), allow(dead_code))]
pub(crate) struct KeyedSums(Mutex<[usize; 3]>);

impl<R, E> PoolCore<R, E> {
    /// Names the pool (once: a second name is ignored), and records its gauges at once.
    pub(crate) fn set_name(&self, name: &'static str) {
        self.set_label(PoolLabel { name, keyed: None });
    }

    /// Names a key's pool of the keyed pool `name`, whose gauges show `sums`.
    pub(crate) fn set_keyed_name(&self, name: &'static str, sums: Arc<KeyedSums>) {
        let keyed = Some((sums, Mutex::new([0; 3])));
        self.set_label(PoolLabel { name, keyed });
    }

    fn set_label(&self, label: PoolLabel) {
        let _ = self.name.set(label);
        drop(Locked {
            state: super::lock(&self.state),
            name: &self.name,
        });
    }
}

/// The pool's state, locked; on unlock, a named pool's gauges are set from it.
pub(super) struct Locked<'a, R> {
    pub(super) state: MutexGuard<'a, CoreState<R>>,
    /// The pool's label once it has one (see `Pool::named`).
    #[cfg_attr(not(feature = "metrics"), allow(dead_code))]
    pub(super) name: &'a OnceLock<PoolLabel>,
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
        if let Some(label) = self.name.get() {
            let state = &self.state;
            let now = [state.size(), state.idle.len(), state.checked_out.len()];
            match &label.keyed {
                None => set_gauges(label.name, now),
                // Under the sums' lock: the gauges are set from sums no other key's pool
                // moves meanwhile, so the last set is the latest.
                Some((sums, added)) => {
                    let mut sums = sums.0.lock().unwrap_or_else(|p| p.into_inner());
                    let mut added = added.lock().unwrap_or_else(|p| p.into_inner());
                    for at in 0..3 {
                        sums[at] = sums[at] + now[at] - added[at];
                        added[at] = now[at];
                    }
                    set_gauges(label.name, *sums);
                }
            }
        }
    }
}

#[cfg(feature = "metrics")]
fn set_gauges(pool: &'static str, [size, idle, in_use]: [usize; 3]) {
    metrics::gauge!("effect_pool_size", "pool" => pool).set(size as f64);
    metrics::gauge!("effect_pool_idle", "pool" => pool).set(idle as f64);
    metrics::gauge!("effect_pool_in_use", "pool" => pool).set(in_use as f64);
}

/// A `get` of a named pool was served after waiting `waited` (zero when it was served at once).
pub(super) fn served(name: &OnceLock<PoolLabel>, waited: Duration) {
    #[cfg(feature = "metrics")]
    if let Some(label) = name.get() {
        metrics::histogram!("effect_pool_wait_seconds", "pool" => label.name)
            .record(waited.as_secs_f64());
    }
    #[cfg(not(feature = "metrics"))]
    let _ = (name, waited);
}
