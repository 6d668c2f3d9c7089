//! [`CircuitBreaker`]: stops calling a failing service for a while.

use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::kernel::cause::Cause;
use crate::kernel::clock::Clock;
use crate::kernel::effect::Effect;

/// What a call through a [`CircuitBreaker`] failed with.
///
/// ```
/// use effect::{fail, run_blocking, secs, BreakerError, CircuitBreaker};
///
/// let breaker = CircuitBreaker::new(1, secs(60));
/// let first = run_blocking(breaker.call(fail::<(), _>("timeout"))).unwrap_err();
/// assert_eq!(first.failure(), Some(&BreakerError::Failed("timeout")));
/// let second = run_blocking(breaker.call(fail::<(), _>("timeout"))).unwrap_err();
/// assert_eq!(second.failure(), Some(&BreakerError::Open)); // not called at all
/// assert_eq!(BreakerError::<&str>::Open.to_string(), "circuit breaker is open");
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BreakerError<E> {
    /// The breaker is open: the call was not made.
    Open,
    /// The call was made and failed.
    Failed(E),
}

impl<E: fmt::Display> fmt::Display for BreakerError<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BreakerError::Open => f.write_str("circuit breaker is open"),
            BreakerError::Failed(e) => write!(f, "{e}"),
        }
    }
}

impl<E: std::error::Error + 'static> std::error::Error for BreakerError<E> {}

/// The state of a breaker.
///
/// ```
/// use effect::{fail, run_blocking, secs, BreakerState, CircuitBreaker};
///
/// let breaker = CircuitBreaker::new(3, secs(10));
/// assert_eq!(breaker.state(), BreakerState::Closed { failures: 0 });
/// let _ = run_blocking(breaker.call(fail::<(), _>("oops")));
/// assert_eq!(breaker.state(), BreakerState::Closed { failures: 1 });
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BreakerState {
    /// Calls go through; consecutive failures are counted.
    Closed {
        /// Consecutive failures so far.
        failures: u32,
    },
    /// Calls are rejected until the reset timeout has passed since `since`.
    Open {
        /// When the breaker opened, on the clock of the call that opened it.
        since: Duration,
    },
    /// One trial call is in flight; its outcome closes or reopens the breaker.
    HalfOpen,
}

/// Closed: calls go through, and `failure_threshold` consecutive failures open it. Open:
/// calls fail at once with [`BreakerError::Open`] until `reset_timeout` has passed on the
/// context's [`Clock`]; then one trial call is let through (half-open): its success closes
/// the breaker, its failure opens it again. Defects count as failures; interruption of a
/// trial lets the next call try again. Clones share the state.
///
/// ```
/// use effect::{fail, run_blocking, secs, BreakerError, CircuitBreaker, Effect};
///
/// let breaker = CircuitBreaker::new(2, secs(60));
/// let call = || breaker.call(fail::<u32, &str>("down"));
/// assert_eq!(run_blocking(call()).unwrap_err().failure(), Some(&BreakerError::Failed("down")));
/// assert_eq!(run_blocking(call()).unwrap_err().failure(), Some(&BreakerError::Failed("down")));
/// assert_eq!(run_blocking(call()).unwrap_err().failure(), Some(&BreakerError::Open));
/// ```
#[derive(Clone)]
pub struct CircuitBreaker {
    state: Arc<Mutex<BreakerState>>,
    failure_threshold: u32,
    reset_timeout: Duration,
}

impl fmt::Debug for CircuitBreaker {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CircuitBreaker")
            .field("state", &self.state())
            .field("failure_threshold", &self.failure_threshold)
            .field("reset_timeout", &self.reset_timeout)
            .finish()
    }
}

impl CircuitBreaker {
    /// A closed breaker that opens after `failure_threshold` consecutive failures (at least
    /// 1) and tries again after `reset_timeout`.
    ///
    /// ```
    /// use effect::{secs, BreakerState, CircuitBreaker};
    ///
    /// let breaker = CircuitBreaker::new(5, secs(30));
    /// assert_eq!(breaker.state(), BreakerState::Closed { failures: 0 });
    /// ```
    pub fn new(failure_threshold: u32, reset_timeout: Duration) -> Self {
        CircuitBreaker {
            state: Arc::new(Mutex::new(BreakerState::Closed { failures: 0 })),
            failure_threshold: failure_threshold.max(1),
            reset_timeout,
        }
    }

    /// The current state.
    ///
    /// ```
    /// use effect::{die, run_blocking, secs, BreakerState, CircuitBreaker, Effect};
    ///
    /// let breaker = CircuitBreaker::new(1, secs(5));
    /// let crashing: Effect<(), String> = die("bug");
    /// let _ = run_blocking(breaker.call(crashing)); // a defect counts as a failure
    /// assert!(matches!(breaker.state(), BreakerState::Open { .. }));
    /// ```
    pub fn state(&self) -> BreakerState {
        *self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn set(&self, state: BreakerState) {
        *self.state.lock().unwrap_or_else(|p| p.into_inner()) = state;
    }

    /// Whether a call may go through now; moves an expired open breaker to half-open.
    fn admit(&self, now: Duration) -> bool {
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        match *state {
            BreakerState::Closed { .. } => true,
            BreakerState::HalfOpen => false,
            BreakerState::Open { since } if now.saturating_sub(since) >= self.reset_timeout => {
                *state = BreakerState::HalfOpen;
                true
            }
            BreakerState::Open { .. } => false,
        }
    }

    fn record_failure(&self, now: Duration) {
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        *state = match *state {
            BreakerState::Closed { failures } if failures + 1 < self.failure_threshold => {
                BreakerState::Closed {
                    failures: failures + 1,
                }
            }
            _ => BreakerState::Open { since: now },
        };
    }

    /// Runs `effect` through the breaker.
    ///
    /// # Errors
    /// Fails with [`BreakerError::Open`], without running `effect`, while the breaker is open (or
    /// a trial call is in flight); with [`BreakerError::Failed`] when `effect` fails. A defect or
    /// an interruption of `effect` stays a defect or interruption.
    ///
    /// # Cancel safety
    /// An interrupted call counts neither as a success nor as a failure; an interrupted trial lets
    /// the next call try again.
    ///
    /// ```
    /// use effect::prelude::*;
    /// use effect::{BreakerState, CircuitBreaker, Clock, Context, Runtime};
    ///
    /// #[tokio::main(flavor = "current_thread")]
    /// async fn main() {
    ///     let clock = TestClock::new();
    ///     let runtime = Runtime::new(Context::new().with(Clock::from(clock.clone())));
    ///     let breaker = CircuitBreaker::new(1, secs(30));
    ///
    ///     assert!(runtime.run(breaker.call(fail::<(), _>("down"))).await.is_err());
    ///     assert!(matches!(breaker.state(), BreakerState::Open { .. }));
    ///
    ///     clock.advance(secs(30)).await; // the reset timeout passes: one trial goes through
    ///     let trial = breaker.call(succeed::<_, &str>("up"));
    ///     assert_eq!(runtime.run(trial).await, Ok("up"));
    ///     assert_eq!(breaker.state(), BreakerState::Closed { failures: 0 });
    /// }
    /// ```
    pub fn call<A: Send + 'static, E: Send + 'static>(
        &self,
        effect: Effect<A, E>,
    ) -> Effect<A, BreakerError<E>> {
        let breaker = self.clone();
        Effect::new(move |ctx| async move {
            let clock = Clock::of(&ctx);
            if !breaker.admit(clock.current_time()) {
                return Err(Cause::Fail(BreakerError::Open));
            }
            let trial = breaker.state() == BreakerState::HalfOpen;
            let exit = effect
                .on_interrupt({
                    let (breaker, clock) = (breaker.clone(), clock.clone());
                    crate::kernel::effect::sync(move || {
                        if trial {
                            // An interrupted trial decided nothing: the next call tries again.
                            let since = clock.current_time().saturating_sub(breaker.reset_timeout);
                            breaker.set(BreakerState::Open { since });
                        }
                    })
                })
                .await;
            match exit {
                Ok(value) => {
                    breaker.set(BreakerState::Closed { failures: 0 });
                    Ok(value)
                }
                Err(cause) if cause.is_interrupted_only() => Err(cause.map(BreakerError::Failed)),
                Err(cause) => {
                    breaker.record_failure(clock.current_time());
                    Err(cause.map(BreakerError::Failed))
                }
            }
        })
    }
}
