//! How many fibers are alive in this process: a count every fiber's start and end updates,
//! sharded so that fibers starting on different workers do not contend on one cache line;
//! and the epoch fibers' start times are counted from.

use std::sync::atomic::{AtomicIsize, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// Fibers alive in this process (started and not yet completed, children reaped).
pub(super) static LIVE_FIBERS: Counter = Counter::new();

/// A count updated from many threads: each thread adds to its own cache-padded shard, and
/// reading sums the shards. A fiber may start on one thread and end on another, so a shard
/// can go negative; the sum cannot.
pub(super) struct Counter {
    shards: [Shard; SHARDS],
}

const SHARDS: usize = 16;

#[repr(align(128))]
struct Shard(AtomicIsize);

thread_local! {
    static SHARD: usize = {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        NEXT.fetch_add(1, Ordering::Relaxed) % SHARDS
    };
}

/// Where fibers' start times are counted from, in the process.
static EPOCH: std::sync::LazyLock<Instant> = std::sync::LazyLock::new(Instant::now);

/// Now, in nanoseconds after the process's fiber epoch: a fiber's start in one word (584
/// years of them).
pub(super) fn now_nanos() -> u64 {
    let since = Instant::now().saturating_duration_since(*EPOCH);
    u64::try_from(since.as_nanos()).unwrap_or(u64::MAX)
}

/// The instant `nanos` (from [`now_nanos`]) stands for.
pub(super) fn instant_at(nanos: u64) -> Instant {
    *EPOCH + Duration::from_nanos(nanos)
}

/// This thread's shard number (below 16): spreads what threads update over shards.
pub(super) fn this_threads_shard() -> usize {
    SHARD.try_with(|s| *s).unwrap_or(0)
}

impl Counter {
    const fn new() -> Self {
        Counter {
            shards: [const { Shard(AtomicIsize::new(0)) }; SHARDS],
        }
    }

    pub(super) fn add(&self, delta: isize) {
        self.shards[this_threads_shard()]
            .0
            .fetch_add(delta, Ordering::SeqCst);
    }

    fn get(&self) -> usize {
        let total: isize = self.shards.iter().map(|s| s.0.load(Ordering::SeqCst)).sum();
        total.max(0) as usize
    }
}

/// The number of fibers alive in this process: started, and not yet finished with their
/// finalizers run and their children reaped. Root runs count as fibers while they run.
///
/// Tests that run in parallel share this number; to check one program for leaks use
/// [`Runtime::live_fibers`](crate::Runtime::live_fibers), which counts only its fibers.
///
/// ```
/// use effect::prelude::*;
///
/// let before = effect::live_fibers();
/// let program: Effect<u32, String> = zip_par((succeed(1), succeed(2))).map(|(a, b)| a + b);
/// assert_eq!(effect::run_blocking(program), Ok(3));
/// // Every fiber the run started is done (other threads' tests may still have theirs).
/// assert!(effect::live_fibers() <= before);
/// ```
pub fn live_fibers() -> usize {
    LIVE_FIBERS.get()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sharded_count_sums_increments_and_decrements_made_on_different_threads() {
        static COUNT: Counter = Counter::new();
        let adders: Vec<_> = (0..8)
            .map(|_| std::thread::spawn(|| (0..1000).for_each(|_| COUNT.add(1))))
            .collect();
        adders.into_iter().for_each(|t| t.join().unwrap());
        assert_eq!(COUNT.get(), 8000);
        // Decrements on other threads than the increments (a fiber ending elsewhere).
        let removers: Vec<_> = (0..4)
            .map(|_| std::thread::spawn(|| (0..1500).for_each(|_| COUNT.add(-1))))
            .collect();
        removers.into_iter().for_each(|t| t.join().unwrap());
        assert_eq!(COUNT.get(), 2000);
    }
}
