//! The sleeps of a [`TestClock`](super::TestClock) not yet fired, in the order they fire.

use std::collections::{BTreeMap, VecDeque};
use std::task::Waker;
use std::time::Duration;

/// Where a sleep stands in the clock's order: deadline, then registration order.
pub(super) type SleepKey = (Duration, u64);

/// The pending sleeps in key order. Sleeps usually arrive in key order (a deadline no earlier
/// than the last one's), and those go to the back of a deque, in and out at O(1); the others
/// go to an ordered map. The first sleep is the smaller of the two fronts.
#[derive(Default)]
pub(super) struct Sleepers {
    /// In key order; a cancelled sleep's waker is `None` until it reaches the front.
    in_order: VecDeque<(SleepKey, Option<Waker>)>,
    cancelled_in_order: usize,
    others: BTreeMap<SleepKey, Waker>,
}

impl Sleepers {
    pub(super) fn len(&self) -> usize {
        self.in_order.len() - self.cancelled_in_order + self.others.len()
    }

    pub(super) fn insert(&mut self, key: SleepKey, waker: Waker) {
        match self.in_order.back() {
            Some((last, _)) if *last > key => {
                self.others.insert(key, waker);
            }
            _ => self.in_order.push_back((key, Some(waker))),
        }
    }

    fn position(&self, key: SleepKey) -> Option<usize> {
        self.in_order.binary_search_by_key(&key, |(k, _)| *k).ok()
    }

    pub(super) fn get_mut(&mut self, key: SleepKey) -> Option<&mut Waker> {
        match self.position(key) {
            Some(at) => self.in_order[at].1.as_mut(),
            None => self.others.get_mut(&key),
        }
    }

    pub(super) fn remove(&mut self, key: SleepKey) -> Option<Waker> {
        let Some(at) = self.position(key) else {
            return self.others.remove(&key);
        };
        let waker = self.in_order[at].1.take();
        if waker.is_some() {
            self.cancelled_in_order += 1;
            self.tidy();
        }
        waker
    }

    /// Drops cancelled sleeps from the front, and all of them once they are most of the deque
    /// (a test that starts and cancels many timeouts without advancing).
    fn tidy(&mut self) {
        while let Some((_, None)) = self.in_order.front() {
            self.in_order.pop_front();
            self.cancelled_in_order -= 1;
        }
        if self.cancelled_in_order > 64 && self.cancelled_in_order * 2 > self.in_order.len() {
            self.in_order.retain(|(_, waker)| waker.is_some());
            self.cancelled_in_order = 0;
        }
    }

    pub(super) fn first_key(&self) -> Option<SleepKey> {
        let in_order = self.in_order.front().map(|(key, _)| *key);
        let other = self.others.first_key_value().map(|(key, _)| *key);
        match (in_order, other) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    pub(super) fn pop_first(&mut self) -> Option<(SleepKey, Waker)> {
        let first = self.first_key()?;
        if self
            .others
            .first_key_value()
            .is_some_and(|(key, _)| *key == first)
        {
            return self.others.pop_first();
        }
        let (key, waker) = self.in_order.pop_front()?;
        // The front is never a cancelled sleep: `tidy` runs after each cancellation.
        let waker = waker.expect("a cancelled sleep at the front of the queue");
        self.tidy();
        Some((key, waker))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(ms: u64, seq: u64) -> SleepKey {
        (Duration::from_millis(ms), seq)
    }

    fn drain(sleepers: &mut Sleepers) -> Vec<SleepKey> {
        std::iter::from_fn(|| sleepers.pop_first().map(|(key, _)| key)).collect()
    }

    #[test]
    fn sleepers_pop_in_key_order_whatever_order_they_came_in() {
        let mut sleepers = Sleepers::default();
        let keys = [
            key(5, 0),
            key(7, 1),
            key(3, 2),
            key(7, 3),
            key(1, 4),
            key(9, 5),
            key(2, 6),
        ];
        for k in keys {
            sleepers.insert(k, Waker::noop().clone());
        }
        assert_eq!(sleepers.len(), keys.len());
        assert_eq!(sleepers.first_key(), Some(key(1, 4)));
        let mut sorted = keys.to_vec();
        sorted.sort();
        assert_eq!(drain(&mut sleepers), sorted);
        assert_eq!(sleepers.len(), 0);
        assert_eq!(sleepers.first_key(), None);
    }

    #[test]
    fn cancelled_sleepers_never_pop_and_do_not_count() {
        let mut sleepers = Sleepers::default();
        for seq in 0..200 {
            sleepers.insert(key(10, seq), Waker::noop().clone());
        }
        sleepers.insert(key(4, 200), Waker::noop().clone());
        // Cancel the front, some of the middle (enough to compact), and the out-of-order one.
        assert!(sleepers.remove(key(10, 0)).is_some());
        for seq in (1..150).step_by(2) {
            assert!(sleepers.remove(key(10, seq)).is_some());
        }
        assert!(sleepers.remove(key(4, 200)).is_some());
        assert!(
            sleepers.remove(key(4, 200)).is_none(),
            "removing twice finds nothing"
        );
        assert!(sleepers.remove(key(10, 1)).is_none());
        let cancelled = 1 + (1..150).step_by(2).count() + 1;
        assert_eq!(sleepers.len(), 201 - cancelled);
        let popped = drain(&mut sleepers);
        assert_eq!(popped.len(), 201 - cancelled);
        assert!(popped.windows(2).all(|pair| pair[0] < pair[1]));
        assert!(popped.iter().all(|k| k.1 % 2 == 0 || k.1 >= 150));
    }

    #[test]
    fn a_waker_can_be_replaced_in_either_queue() {
        let mut sleepers = Sleepers::default();
        sleepers.insert(key(5, 0), Waker::noop().clone());
        sleepers.insert(key(1, 1), Waker::noop().clone());
        assert!(sleepers.get_mut(key(5, 0)).is_some());
        assert!(sleepers.get_mut(key(1, 1)).is_some());
        assert!(sleepers.get_mut(key(9, 9)).is_none());
    }
}
