//! [`Schedule`]: when, and how often, to retry a failure or repeat a success; the loops that
//! follow one, [`retry`](crate::retry) and [`repeat`](crate::repeat), are in `recur.rs`.
//!
//! A schedule is a description; every `retry`/`repeat` starts it afresh. After each attempt
//! it is asked for a decision: continue after a delay, or stop. Delays are slept on the
//! context's [`Clock`](crate::Clock), so under a `TestClock` they take no real time.

use std::fmt;
use std::ops::{BitAnd, BitOr};
use std::sync::Arc;
use std::time::Duration;

use crate::kernel::random::Random;

/// What a schedule knows after an attempt: how many recurrences it has allowed so far and
/// the delay it chose, for [`Schedule::while_output`].
///
/// ```
/// use effect::{ms, Schedule, ScheduleOutput};
///
/// // Stop before the third recurrence, whatever the delays.
/// let policy: Schedule<()> =
///     Schedule::spaced(ms(5)).while_output(|out: &ScheduleOutput| out.recurrence <= 2);
/// assert_eq!(policy.delays(&(), 10), [ms(5), ms(5)]);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ScheduleOutput {
    /// Recurrences allowed so far, counting this one (1 for the first retry or repeat).
    pub recurrence: u64,
    /// The delay before the next attempt.
    pub delay: Duration,
    /// Total delay scheduled so far, including this one.
    pub elapsed: Duration,
}

/// One running instance of a schedule.
trait Step<I>: Send {
    /// After attempt number `attempt` (1-based) produced `input`: the delay before the next
    /// one, or `None` to stop.
    fn next(&mut self, input: &I) -> Option<Duration>;
}

/// Starts a run of a schedule, drawing any randomness from the run's generator.
type Start<I> = dyn Fn(&Random) -> Box<dyn Step<I>> + Send + Sync;

/// When to retry or repeat, and after what delay. `I` is what the schedule is shown after
/// each attempt: the error for [`retry`](crate::retry), the value for [`repeat`](crate::repeat).
///
/// ```
/// use effect::{ms, Schedule};
///
/// // Exponential backoff from 10 ms, at most 5 retries, never waiting more than 1 s at once.
/// let policy: Schedule<String> = (Schedule::exponential(ms(10)) & Schedule::recurs(5)).max_delay(ms(1000));
/// assert_eq!(policy.delays(&"error".to_string(), 10), [10, 20, 40, 80, 160].map(ms));
/// ```
pub struct Schedule<I = ()> {
    start: Arc<Start<I>>,
    /// Its name in the metrics of the retries and repeats it drives (see [`named`](Schedule::named)).
    name: &'static str,
}

impl<I> Clone for Schedule<I> {
    fn clone(&self) -> Self {
        Schedule {
            start: self.start.clone(),
            name: self.name,
        }
    }
}

impl<I> fmt::Debug for Schedule<I> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Schedule({})", self.name)
    }
}

struct FnStep<F>(F);

impl<I, F: FnMut(&I) -> Option<Duration> + Send> Step<I> for FnStep<F> {
    fn next(&mut self, input: &I) -> Option<Duration> {
        (self.0)(input)
    }
}

impl<I: 'static> Schedule<I> {
    fn from_step<S, F>(name: &'static str, start: F) -> Self
    where
        S: FnMut(&I) -> Option<Duration> + Send + 'static,
        F: Fn() -> S + Send + Sync + 'static,
    {
        Schedule {
            start: Arc::new(move |_: &Random| Box::new(FnStep(start())) as Box<dyn Step<I>>),
            name,
        }
    }

    /// Delays from the `n`-th recurrence (0-based), forever.
    fn from_delays(
        name: &'static str,
        delay: impl Fn(u64) -> Duration + Send + Sync + Clone + 'static,
    ) -> Self {
        Schedule::from_step(name, move || {
            let delay = delay.clone();
            let mut n = 0;
            move |_: &I| {
                let d = delay(n);
                n += 1;
                Some(d)
            }
        })
    }

    /// Recurs forever without delay.
    ///
    /// ```
    /// use std::time::Duration;
    /// use effect::Schedule;
    ///
    /// let policy: Schedule<()> = Schedule::forever();
    /// assert_eq!(policy.delays(&(), 3), [Duration::ZERO; 3]); // never stops on its own
    /// ```
    pub fn forever() -> Self {
        Schedule::from_delays("forever", |_| Duration::ZERO)
    }

    /// Recurs `n` times without delay (`n` retries: `n + 1` attempts in all).
    ///
    /// ```
    /// use std::time::Duration;
    /// use effect::Schedule;
    ///
    /// let policy: Schedule<()> = Schedule::recurs(2);
    /// assert_eq!(policy.delays(&(), 10), [Duration::ZERO, Duration::ZERO]);
    /// ```
    pub fn recurs(n: u64) -> Self {
        Schedule::from_step("recurs", move || {
            let mut left = n;
            move |_: &I| {
                if left == 0 {
                    return None;
                }
                left -= 1;
                Some(Duration::ZERO)
            }
        })
    }

    /// Recurs forever, waiting `delay` each time.
    ///
    /// ```
    /// use effect::{ms, Schedule};
    ///
    /// let policy: Schedule<()> = Schedule::spaced(ms(250)) & Schedule::recurs(3);
    /// assert_eq!(policy.delays(&(), 10), [ms(250); 3]);
    /// ```
    pub fn spaced(delay: Duration) -> Self {
        Schedule::from_delays("spaced", move |_| delay)
    }

    /// Recurs forever with delays `base`, `2·base`, `4·base`, ...
    ///
    /// ```
    /// use effect::{ms, Schedule};
    ///
    /// let policy: Schedule<()> = Schedule::exponential(ms(100)) & Schedule::recurs(4);
    /// assert_eq!(policy.delays(&(), 10), [100, 200, 400, 800].map(ms));
    /// ```
    pub fn exponential(base: Duration) -> Self {
        Schedule::exponential_with(base, 2.0)
    }

    /// Recurs forever with delays `base`, `base·factor`, `base·factor²`, ...
    ///
    /// ```
    /// use effect::{ms, Schedule};
    ///
    /// let policy: Schedule<()> = Schedule::exponential_with(ms(100), 1.5) & Schedule::recurs(3);
    /// assert_eq!(policy.delays(&(), 10), [100, 150, 225].map(ms));
    /// ```
    pub fn exponential_with(base: Duration, factor: f64) -> Self {
        Schedule::from_delays("exponential", move |n| {
            scale(base, factor.powi(n.min(i32::MAX as u64) as i32))
        })
    }

    /// Recurs forever with delays `base`, `base`, `2·base`, `3·base`, `5·base`, ...
    ///
    /// ```
    /// use effect::{ms, Schedule};
    ///
    /// let policy: Schedule<()> = Schedule::fibonacci(ms(1)) & Schedule::recurs(6);
    /// assert_eq!(policy.delays(&(), 10), [1, 1, 2, 3, 5, 8].map(ms));
    /// ```
    pub fn fibonacci(base: Duration) -> Self {
        Schedule::from_step("fibonacci", move || {
            let (mut current, mut next) = (base, base);
            move |_: &I| {
                let delay = current;
                (current, next) = (next, current.saturating_add(next));
                Some(delay)
            }
        })
    }

    /// Multiplies every delay by a random factor in `[0.8, 1.2)`, drawn from the [`Random`]
    /// service of the context the schedule runs in (the live generator without one). A test
    /// that provides a seeded [`TestRandom`](crate::TestRandom) sees the same delays on every
    /// run.
    ///
    /// ```
    /// use effect::{ms, Random, Schedule, TestRandom};
    ///
    /// let policy: Schedule<()> = Schedule::spaced(ms(100)).jittered();
    /// let delays = policy.delays_with(&Random::from(TestRandom::new(1)), &(), 3);
    /// assert!(delays.iter().all(|d| *d >= ms(80) && *d < ms(120)));
    /// assert_eq!(delays, policy.delays_with(&Random::from(TestRandom::new(1)), &(), 3));
    /// ```
    pub fn jittered(self) -> Self {
        let name = self.name;
        let schedule = self;
        Schedule {
            start: Arc::new(move |random: &Random| jitter_step(&schedule, random.clone())),
            name,
        }
    }

    /// Like [`jittered`](Schedule::jittered), with the random factors drawn from a generator
    /// seeded with `seed` (a fresh [`TestRandom`](crate::TestRandom) per run of the
    /// schedule), whatever the context: the same seed gives the same delays.
    ///
    /// ```
    /// use effect::{ms, Schedule};
    ///
    /// let policy: Schedule<()> = Schedule::exponential(ms(10)).jittered_seeded(3);
    /// assert_eq!(policy.delays(&(), 4), policy.delays(&(), 4));
    /// ```
    pub fn jittered_seeded(self, seed: u64) -> Self {
        let name = self.name;
        let schedule = self;
        Schedule {
            start: Arc::new(move |_: &Random| {
                jitter_step(
                    &schedule,
                    Random::from(crate::kernel::random::TestRandom::new(seed)),
                )
            }),
            name,
        }
    }

    /// Stops once the total delay would exceed `limit`.
    ///
    /// ```
    /// use effect::{ms, Schedule};
    ///
    /// let policy: Schedule<()> = Schedule::spaced(ms(100)).up_to(ms(350));
    /// assert_eq!(policy.delays(&(), 10), [ms(100); 3]);
    /// ```
    pub fn up_to(self, limit: Duration) -> Self {
        self.while_output(move |out| out.elapsed <= limit)
    }

    /// Caps every single delay at `max`.
    ///
    /// ```
    /// use effect::{ms, Schedule};
    ///
    /// let policy: Schedule<()> = (Schedule::exponential(ms(100)) & Schedule::recurs(5)).max_delay(ms(500));
    /// assert_eq!(policy.delays(&(), 10), [100, 200, 400, 500, 500].map(ms));
    /// ```
    pub fn max_delay(self, max: Duration) -> Self {
        self.map_delay(move |d| d.min(max))
    }

    /// A schedule whose every run wraps a fresh run of this one: `wrap` gets the inner step
    /// and gives the wrapping step.
    fn wrap<S>(self, wrap: impl Fn(Box<dyn Step<I>>) -> S + Send + Sync + 'static) -> Self
    where
        S: FnMut(&I) -> Option<Duration> + Send + 'static,
    {
        let name = self.name;
        let inner = self;
        Schedule {
            start: Arc::new(move |random: &Random| {
                Box::new(FnStep(wrap((inner.start)(random)))) as Box<dyn Step<I>>
            }),
            name,
        }
    }

    fn map_delay(self, f: impl Fn(Duration) -> Duration + Send + Sync + Clone + 'static) -> Self {
        self.wrap(move |mut step| {
            let f = f.clone();
            move |input: &I| step.next(input).map(&f)
        })
    }

    /// Continues only while `predicate` holds for the attempt's input (the error, or the
    /// value), and this schedule continues.
    ///
    /// ```
    /// use effect::{ms, Schedule};
    ///
    /// #[derive(Debug)]
    /// enum Error { Busy, Invalid }
    ///
    /// // Retry only errors that may go away.
    /// let policy: Schedule<Error> =
    ///     Schedule::spaced(ms(10)).while_input(|e| matches!(e, Error::Busy)) & Schedule::recurs(3);
    /// assert_eq!(policy.delays(&Error::Busy, 10), [ms(10); 3]);
    /// assert!(policy.delays(&Error::Invalid, 10).is_empty());
    /// ```
    pub fn while_input(self, predicate: impl Fn(&I) -> bool + Send + Sync + 'static) -> Self {
        let predicate = Arc::new(predicate);
        self.wrap(move |mut step| {
            let predicate = predicate.clone();
            move |input: &I| {
                if predicate(input) {
                    step.next(input)
                } else {
                    None
                }
            }
        })
    }

    /// Continues only while `predicate` holds for what this schedule decided.
    ///
    /// ```
    /// use effect::{ms, Schedule};
    ///
    /// let policy: Schedule<()> = Schedule::exponential(ms(10)).while_output(|out| out.elapsed <= ms(100));
    /// assert_eq!(policy.delays(&(), 10), [10, 20, 40].map(ms));
    /// ```
    pub fn while_output(
        self,
        predicate: impl Fn(&ScheduleOutput) -> bool + Send + Sync + 'static,
    ) -> Self {
        let predicate = Arc::new(predicate);
        self.wrap(move |mut step| {
            let predicate = predicate.clone();
            let (mut recurrence, mut elapsed) = (0u64, Duration::ZERO);
            move |input: &I| {
                let delay = step.next(input)?;
                let output = ScheduleOutput {
                    recurrence: recurrence + 1,
                    delay,
                    elapsed: elapsed.saturating_add(delay),
                };
                if !predicate(&output) {
                    return None;
                }
                (recurrence, elapsed) = (output.recurrence, output.elapsed);
                Some(delay)
            }
        })
    }

    /// Continues while **both** continue, with the longer of their delays (also `a & b`).
    ///
    /// ```
    /// use effect::{ms, Schedule};
    ///
    /// let policy: Schedule<()> = Schedule::spaced(ms(50)).both(Schedule::exponential(ms(10))).both(Schedule::recurs(4));
    /// assert_eq!(policy.delays(&(), 10), [50, 50, 50, 80].map(ms));
    /// ```
    pub fn both(self, other: Schedule<I>) -> Self {
        Schedule::combine(self, other, |a, b| Some(a?.max(b?)))
    }

    /// Continues while **either** continues, with the shorter of their delays (also `a | b`).
    ///
    /// ```
    /// use effect::{ms, Schedule};
    ///
    /// let policy: Schedule<()> = (Schedule::spaced(ms(50)) & Schedule::recurs(2)).either(Schedule::spaced(ms(500)) & Schedule::recurs(3));
    /// assert_eq!(policy.delays(&(), 10), [50, 50, 500].map(ms));
    /// ```
    pub fn either(self, other: Schedule<I>) -> Self {
        Schedule::combine(self, other, |a, b| match (a, b) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        })
    }

    fn combine(
        a: Schedule<I>,
        b: Schedule<I>,
        merge: fn(Option<Duration>, Option<Duration>) -> Option<Duration>,
    ) -> Self {
        let name = a.name;
        Schedule {
            name,
            start: Arc::new(move |random: &Random| {
                let (mut a, mut b) = ((a.start)(random), (b.start)(random));
                Box::new(FnStep(move |input: &I| merge(a.next(input), b.next(input))))
                    as Box<dyn Step<I>>
            }),
        }
    }

    /// Runs this schedule until it stops, then `next`.
    ///
    /// ```
    /// use effect::{ms, Schedule};
    ///
    /// let policy: Schedule<()> = (Schedule::spaced(ms(10)) & Schedule::recurs(2)).and_then(Schedule::spaced(ms(1000)) & Schedule::recurs(1));
    /// assert_eq!(policy.delays(&(), 10), [10, 10, 1000].map(ms));
    /// ```
    pub fn and_then(self, next: Schedule<I>) -> Self {
        Schedule {
            name: self.name,
            start: Arc::new(move |random: &Random| {
                let (mut first, mut second, mut on_second) =
                    ((self.start)(random), (next.start)(random), false);
                Box::new(FnStep(move |input: &I| {
                    if !on_second {
                        if let Some(delay) = first.next(input) {
                            return Some(delay);
                        }
                        on_second = true;
                    }
                    second.next(input)
                })) as Box<dyn Step<I>>
            }),
        }
    }

    /// This schedule under `name`: the `schedule` label of the `effect_retries_total` and
    /// `effect_repeats_total` metrics of the [`retry`](crate::retry)s and [`repeat`](crate::repeat)s it drives (the
    /// `metrics` feature). Unnamed, a schedule is named after the constructor it started from
    /// (`"exponential"`, `"recurs"`, ...); a combination, after its left operand.
    ///
    /// ```
    /// use effect::{ms, Schedule};
    ///
    /// let backoff: Schedule<String> = Schedule::exponential(ms(10)) & Schedule::recurs(3);
    /// assert_eq!(backoff.name(), "exponential");
    /// assert_eq!(backoff.named("db_backoff").name(), "db_backoff");
    /// ```
    pub fn named(mut self, name: &'static str) -> Self {
        self.name = name;
        self
    }

    /// The schedule's name (see [`named`](Schedule::named)).
    ///
    /// ```
    /// use effect::{ms, Schedule};
    ///
    /// assert_eq!(Schedule::<()>::fibonacci(ms(10)).name(), "fibonacci");
    /// assert_eq!(Schedule::<()>::forever().jittered().name(), "forever");
    /// ```
    pub fn name(&self) -> &'static str {
        self.name
    }

    /// The delays this schedule would choose, given the same input after each attempt, up to
    /// `limit` of them. Handy to check a policy. A [`jittered`](Schedule::jittered) schedule
    /// draws from the live generator here; see [`delays_with`](Schedule::delays_with).
    ///
    /// ```
    /// use effect::{ms, Schedule};
    ///
    /// let policy: Schedule<()> = Schedule::fibonacci(ms(10)) & Schedule::recurs(4);
    /// assert_eq!(policy.delays(&(), 10), [10, 10, 20, 30].map(ms));
    /// ```
    pub fn delays(&self, input: &I, limit: usize) -> Vec<Duration> {
        self.delays_with(&Random::live(), input, limit)
    }

    /// Like [`delays`](Schedule::delays), drawing randomness from `random`.
    ///
    /// ```
    /// use effect::{ms, Random, Schedule, TestRandom};
    ///
    /// let policy: Schedule<()> = Schedule::spaced(ms(50)).jittered() & Schedule::recurs(2);
    /// let seeded = || Random::from(TestRandom::new(99));
    /// assert_eq!(policy.delays_with(&seeded(), &(), 5), policy.delays_with(&seeded(), &(), 5));
    /// ```
    pub fn delays_with(&self, random: &Random, input: &I, limit: usize) -> Vec<Duration> {
        let mut step = (self.start)(random);
        (0..limit).map_while(|_| step.next(input)).collect()
    }
}

/// One run of a schedule, for code in the crate that drives it by hand (`retry`, `repeat`,
/// streams, supervisors), with the schedule's name for its metrics.
pub(crate) struct ScheduleRun<I>(
    Box<dyn Step<I>>,
    #[cfg_attr(not(feature = "metrics"), allow(dead_code))] &'static str,
);

/// The counter of the retries a schedule decides on (`retry`, `Stream::retry`), labelled by
/// its name (the `metrics` feature).
pub(crate) const RETRIES: &str = "effect_retries_total";
/// The counter of the repeats a schedule decides on (`repeat`, `Stream::repeat_effect`).
pub(crate) const REPEATS: &str = "effect_repeats_total";

impl<I> ScheduleRun<I> {
    /// After an attempt that produced `input`: the delay before the next one, or `None`.
    pub(crate) fn next(&mut self, input: &I) -> Option<Duration> {
        self.0.next(input)
    }

    /// [`next`](Self::next), a next attempt counted in `counter` ([`RETRIES`] or
    /// [`REPEATS`]) under the schedule's name.
    pub(crate) fn next_counted(&mut self, input: &I, counter: &'static str) -> Option<Duration> {
        let next = self.0.next(input);
        #[cfg(feature = "metrics")]
        if next.is_some() {
            metrics::counter!(counter, "schedule" => self.1).increment(1);
        }
        #[cfg(not(feature = "metrics"))]
        let _ = counter;
        next
    }
}

impl<I: 'static> Schedule<I> {
    /// Starts a run of this schedule, drawing randomness from `random`.
    pub(crate) fn start_run(&self, random: &Random) -> ScheduleRun<I> {
        ScheduleRun((self.start)(random), self.name)
    }
}

fn scale(base: Duration, factor: f64) -> Duration {
    Duration::try_from_secs_f64(base.as_secs_f64() * factor).unwrap_or(Duration::MAX)
}

fn jitter_step<I: 'static>(schedule: &Schedule<I>, random: Random) -> Box<dyn Step<I>> {
    let mut step = (schedule.start)(&random);
    Box::new(FnStep(move |input: &I| {
        let delay = step.next(input)?;
        Some(scale(delay, 0.8 + 0.4 * random.next_f64()))
    }))
}

impl<I: 'static> BitAnd for Schedule<I> {
    type Output = Schedule<I>;
    fn bitand(self, other: Schedule<I>) -> Schedule<I> {
        self.both(other)
    }
}

impl<I: 'static> BitOr for Schedule<I> {
    type Output = Schedule<I>;
    fn bitor(self, other: Schedule<I>) -> Schedule<I> {
        self.either(other)
    }
}
