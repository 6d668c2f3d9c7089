//! A named queue's metrics (the `metrics` feature): its depth, and the items it refused or
//! dropped.

#[cfg(feature = "metrics")]
use super::lock;
use super::Queue;

impl<T> Queue<T> {
    /// Counts an item a full queue refused, or (`dropped`) a sliding one dropped, in a named
    /// queue's metrics.
    pub(super) fn count_lost(&self, _dropped: bool) {
        #[cfg(feature = "metrics")]
        if let Some(&queue) = self.inner.name.get() {
            let metric = match _dropped {
                true => "effect_queue_dropped_total",
                false => "effect_queue_offers_refused_total",
            };
            metrics::counter!(metric, "queue" => queue).increment(1);
        }
    }

    /// Sets a named queue's depth gauge, after items were added or taken.
    pub(super) fn depth_changed(&self) {
        #[cfg(feature = "metrics")]
        if let Some(&queue) = self.inner.name.get() {
            let depth = lock(&self.inner.state).items.len();
            metrics::gauge!("effect_queue_depth", "queue" => queue).set(depth as f64);
        }
    }
}

impl<T: Send + 'static> Queue<T> {
    /// This queue, named `name`: with the `metrics` feature, its depth is the gauge
    /// `effect_queue_depth` (set as items are added and taken), and the items it refuses (a
    /// full dropping queue, a full queue's `try_offer`) and drops (a full sliding queue's
    /// oldest) count in `effect_queue_offers_refused_total` and `effect_queue_dropped_total`,
    /// all labelled `queue = name`. A queue is named once (clones share the name); a second
    /// name is ignored.
    ///
    /// ```
    /// use effect::Queue;
    ///
    /// let jobs = Queue::<u32>::dropping(1).named("jobs");
    /// assert_eq!(jobs.try_offer(1), Ok(()));
    /// assert_eq!(jobs.try_offer(2), Err(2)); // refused, and counted
    /// ```
    pub fn named(self, name: &'static str) -> Self {
        let _ = self.inner.name.set(name);
        self
    }
}
