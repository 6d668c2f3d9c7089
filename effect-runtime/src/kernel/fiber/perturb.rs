//! Schedule perturbation for tests: with `EFFECT_PERTURB=<seed>` in the environment, fibers
//! yield to the scheduler at random suspension points (one in four), so test suites rerun
//! under interleavings nobody wrote by hand. Off (and free) otherwise.

use std::cell::RefCell;
use std::sync::OnceLock;

static SEED: OnceLock<Option<u64>> = OnceLock::new();

thread_local! {
    /// This thread's generator, made from the seed at its first use.
    static RNG: RefCell<Option<fastrand::Rng>> = const { RefCell::new(None) };
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
    RNG.with(|rng| {
        let mut rng = rng.borrow_mut();
        let rng = rng.get_or_insert_with(|| {
            // Each thread gets its own stream from the seed.
            let thread = std::thread::current().id();
            let salt = format!("{thread:?}")
                .bytes()
                .fold(0u64, |h, b| h.wrapping_mul(31).wrapping_add(b as u64));
            fastrand::Rng::with_seed(seed ^ salt.wrapping_mul(0x9e37_79b9_7f4a_7c15))
        });
        rng.u8(..4) == 0
    })
}
