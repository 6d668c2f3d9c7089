//! Randomness as a service: [`Random`] (a live generator by default) and [`TestRandom`] (a
//! seeded one, for tests that must see the same numbers every run), and the effects that read
//! it: [`random_u64`], [`random_f64`], [`random_range`]. `Schedule::jittered` draws its
//! factors from it too, so a test that provides a `TestRandom` gets the same delays each run.
//!
//! The generator is [`fastrand`]'s wyrand: fast and small, and not cryptographic (do not use
//! it for keys or tokens).

use std::cell::RefCell;
use std::fmt;
use std::ops::RangeBounds;
use std::sync::{Arc, Mutex};

use crate::kernel::context::Context;
use crate::kernel::effect::Effect;

thread_local! {
    /// The live generator of this thread, seeded by fastrand from the OS.
    static LIVE: RefCell<fastrand::Rng> = RefCell::new(fastrand::Rng::new());
}

/// The source of random numbers effects read. Put one in the [`Context`] to choose it;
/// without one, effects use the live generator.
///
/// ```
/// use effect::{Context, Random, TestRandom};
///
/// let ctx = Context::new().with(Random::from(TestRandom::new(7)));
/// let first = Random::of(&ctx).next_u64();
/// // The same seed gives the same numbers.
/// assert_eq!(Random::from(TestRandom::new(7)).next_u64(), first);
/// ```
#[derive(Clone, Default)]
pub struct Random {
    kind: RandomKind,
}

#[derive(Clone, Default)]
enum RandomKind {
    /// fastrand's per-thread generator, seeded from the OS.
    #[default]
    Live,
    Test(TestRandom),
}

impl fmt::Debug for Random {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kind {
            RandomKind::Live => f.write_str("Random::Live"),
            RandomKind::Test(test) => write!(f, "Random::Test(seed {})", test.seed),
        }
    }
}

impl From<TestRandom> for Random {
    fn from(test: TestRandom) -> Self {
        Random {
            kind: RandomKind::Test(test),
        }
    }
}

impl Random {
    /// The live generator: fastrand's per-thread generator, seeded by the operating system.
    ///
    /// ```
    /// use effect::Random;
    ///
    /// let random = Random::live();
    /// assert!(random.next_f64() < 1.0);
    /// ```
    pub fn live() -> Random {
        Random::default()
    }

    /// The generator of `ctx`: its `Random` service, or the live generator.
    ///
    /// ```
    /// use effect::{Context, Random};
    ///
    /// let random = Random::of(&Context::new()); // the live generator
    /// assert!(random.range(1..7) < 7);
    /// ```
    pub fn of(ctx: &Context) -> Random {
        ctx.try_get::<Random>().cloned().unwrap_or_default()
    }

    fn with<T>(&self, f: impl FnOnce(&mut fastrand::Rng) -> T) -> T {
        match &self.kind {
            RandomKind::Live => LIVE.with(|rng| f(&mut rng.borrow_mut())),
            RandomKind::Test(test) => f(&mut test.rng.lock().unwrap_or_else(|p| p.into_inner())),
        }
    }

    /// A random `u64`, uniform over all values.
    ///
    /// ```
    /// use effect::{Random, TestRandom};
    ///
    /// let random = Random::from(TestRandom::new(1));
    /// assert_ne!(random.next_u64(), random.next_u64());
    /// ```
    pub fn next_u64(&self) -> u64 {
        self.with(|rng| rng.u64(..))
    }

    /// A random `f64` in `[0, 1)`.
    ///
    /// ```
    /// use effect::{Random, TestRandom};
    ///
    /// let x = Random::from(TestRandom::new(1)).next_f64();
    /// assert!((0.0..1.0).contains(&x));
    /// ```
    pub fn next_f64(&self) -> f64 {
        self.with(|rng| rng.f64())
    }

    /// A random `u64` in `range`, uniformly.
    ///
    /// # Panics
    /// When `range` is empty.
    ///
    /// ```
    /// use effect::{Random, TestRandom};
    ///
    /// let die = Random::from(TestRandom::new(3));
    /// let rolls: Vec<u64> = (0..100).map(|_| die.range(1..=6)).collect();
    /// assert!(rolls.iter().all(|roll| (1..=6).contains(roll)));
    /// ```
    pub fn range(&self, range: impl RangeBounds<u64>) -> u64 {
        self.with(|rng| rng.u64(range))
    }

    /// Shuffles `items` in place, uniformly.
    ///
    /// ```
    /// use effect::{Random, TestRandom};
    ///
    /// let mut cards: Vec<u32> = (0..52).collect();
    /// Random::from(TestRandom::new(9)).shuffle(&mut cards);
    /// cards.sort();
    /// assert_eq!(cards, (0..52).collect::<Vec<_>>());
    /// ```
    pub fn shuffle<T>(&self, items: &mut [T]) {
        self.with(|rng| rng.shuffle(items))
    }
}

/// A seeded generator for tests: the same seed gives the same numbers, in the same order,
/// on every run and platform. Clones share one sequence.
///
/// ```
/// use effect::{run_blocking_with, random_range, Context, Effect, Random, TestRandom};
///
/// let ctx = Context::new().with(Random::from(TestRandom::new(42)));
/// let roll = || -> Effect<u64, String> { random_range(1..=6) };
/// let first = run_blocking_with(roll(), &ctx).unwrap();
/// let again = run_blocking_with(roll(), &Context::new().with(Random::from(TestRandom::new(42))));
/// assert_eq!(again, Ok(first));
/// ```
#[derive(Clone)]
pub struct TestRandom {
    rng: Arc<Mutex<fastrand::Rng>>,
    seed: u64,
}

impl fmt::Debug for TestRandom {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TestRandom(seed {})", self.seed)
    }
}

impl TestRandom {
    /// A generator starting from `seed`.
    ///
    /// ```
    /// use effect::{Random, TestRandom};
    ///
    /// let a = Random::from(TestRandom::new(5));
    /// let b = Random::from(TestRandom::new(5));
    /// assert_eq!((a.next_u64(), a.next_u64()), (b.next_u64(), b.next_u64()));
    /// ```
    pub fn new(seed: u64) -> Self {
        TestRandom {
            rng: Arc::new(Mutex::new(fastrand::Rng::with_seed(seed))),
            seed,
        }
    }

    /// The seed this generator started from (print it when a test fails, to replay it).
    ///
    /// ```
    /// use effect::TestRandom;
    ///
    /// assert_eq!(TestRandom::new(11).seed(), 11);
    /// ```
    pub fn seed(&self) -> u64 {
        self.seed
    }
}

/// An effect that succeeds with a random `u64` from the context's [`Random`].
///
/// ```
/// use effect::{random_u64, run_blocking_with, Context, Effect, Random, TestRandom};
///
/// let ctx = Context::new().with(Random::from(TestRandom::new(1)));
/// let pair: Effect<(u64, u64), String> = random_u64().zip(random_u64());
/// let (a, b) = run_blocking_with(pair, &ctx).unwrap();
/// assert_ne!(a, b);
/// ```
pub fn random_u64<E: Send + 'static>() -> Effect<u64, E> {
    Effect::new(|ctx| async move { Ok(Random::of(&ctx).next_u64()) })
}

/// An effect that succeeds with a random `f64` in `[0, 1)` from the context's [`Random`].
///
/// ```
/// use effect::{random_f64, run_blocking, Effect};
///
/// let x: Effect<f64, String> = random_f64();
/// assert!((0.0..1.0).contains(&run_blocking(x).unwrap()));
/// ```
pub fn random_f64<E: Send + 'static>() -> Effect<f64, E> {
    Effect::new(|ctx| async move { Ok(Random::of(&ctx).next_f64()) })
}

/// An effect that succeeds with a random `u64` in `range` from the context's [`Random`].
/// An empty range is a defect (the effect dies).
///
/// ```
/// use effect::{random_range, run_blocking, Effect};
///
/// let roll: Effect<u64, String> = random_range(1..=6);
/// assert!((1..=6).contains(&run_blocking(roll).unwrap()));
/// let empty: Effect<u64, String> = random_range(5..5);
/// assert!(run_blocking(empty).unwrap_err().is_die());
/// ```
pub fn random_range<E: Send + 'static>(
    range: impl RangeBounds<u64> + Send + 'static,
) -> Effect<u64, E> {
    Effect::new(|ctx| async move { Ok(Random::of(&ctx).range(range)) })
}
