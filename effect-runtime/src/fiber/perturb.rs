//! Schedule perturbation for tests: with `EFFECT_PERTURB=<seed>` in the environment, fibers
//! yield to the scheduler at random suspension points (one in four), so test suites rerun
//! under interleavings nobody wrote by hand. Off (and free) otherwise.

use std::cell::Cell;
use std::sync::OnceLock;

static SEED: OnceLock<Option<u64>> = OnceLock::new();

thread_local! {
    static STATE: Cell<u64> = const { Cell::new(0) };
}

/// Whether perturbation is on for this process (read once).
pub(crate) fn enabled() -> bool {
    seed().is_some()
}

fn seed() -> Option<u64> {
    *SEED.get_or_init(|| {
        std::env::var("EFFECT_PERTURB")
            .ok()
            .and_then(|s| s.parse().ok())
    })
}

/// Whether to yield at this suspension point.
pub(crate) fn should_yield() -> bool {
    let Some(seed) = seed() else { return false };
    STATE.with(|state| {
        let mut x = state.get();
        if x == 0 {
            // Each thread gets its own stream from the seed.
            let thread = std::thread::current().id();
            let salt = format!("{thread:?}")
                .bytes()
                .fold(0u64, |h, b| h.wrapping_mul(31).wrapping_add(b as u64));
            x = (seed ^ salt.wrapping_mul(0x9e37_79b9_7f4a_7c15)) | 1;
        }
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        state.set(x);
        x % 4 == 0
    })
}
