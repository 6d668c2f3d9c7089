//! [`Kept`]: the fibers an owner starts and awaits when it closes (a cache's lookups, a
//! keyed pool's reapers).

use super::handle::Fiber;
use crate::kernel::cause::Never;
use crate::kernel::effect::Effect;

/// Fibers started by an owner (as daemons: no fiber supervises them) and kept for it to
/// interrupt and await when it closes. Those that ended are forgotten as more are kept, so
/// a long-lived owner keeps only about as many as are running.
pub(crate) struct Kept {
    fibers: Vec<Fiber<(), Never>>,
    /// Look for ended fibers when there are this many.
    sweep_at: usize,
}

/// Fibers kept before the first look for ended ones.
const FIRST_SWEEP: usize = 64;

impl Kept {
    pub(crate) fn new() -> Self {
        Kept {
            fibers: Vec::new(),
            sweep_at: FIRST_SWEEP,
        }
    }

    /// Keeps `fiber` until [`stop_all`](Kept::stop_all).
    pub(crate) fn keep(&mut self, fiber: Fiber<(), Never>) {
        if self.fibers.len() >= self.sweep_at {
            let fibers = std::mem::take(&mut self.fibers);
            self.fibers = fibers.into_iter().filter_map(|f| f.poll().err()).collect();
            self.sweep_at = (self.fibers.len() * 2).max(FIRST_SWEEP);
        }
        self.fibers.push(fiber);
    }

    /// An effect interrupting and awaiting every fiber kept so far (taken now, under the
    /// owner's lock, as it closes).
    pub(crate) fn stop_all(&mut self) -> Effect<(), Never> {
        let fibers = std::mem::take(&mut self.fibers);
        Effect::from_future(async move {
            for fiber in fibers {
                let _ = fiber.interrupt::<Never>().await;
            }
            Ok(())
        })
    }
}
