//! [`Semaphore`]: a fixed number of permits, held for the length of an effect.

use std::sync::Arc;

use crate::cause::Cause;
use crate::effect::Effect;

/// Limits how many effects run at once: [`with_permits`](Semaphore::with_permits) waits for
/// permits, runs the effect, and returns them however it ends (success, failure, defect or
/// interruption). Clones share the permits.
///
/// ```
/// use effect::{run_blocking, succeed, Effect, Semaphore};
///
/// let semaphore = Semaphore::new(2);
/// let guarded: Effect<u32, ()> = semaphore.with_permit(succeed(1));
/// assert_eq!(run_blocking(guarded), Ok(1));
/// assert_eq!(semaphore.available(), 2);
/// ```
#[derive(Clone, Debug)]
pub struct Semaphore {
    permits: Arc<tokio::sync::Semaphore>,
    total: usize,
}

impl Semaphore {
    /// A semaphore with `permits` permits.
    ///
    /// ```
    /// use effect::Semaphore;
    ///
    /// let pool = Semaphore::new(3);
    /// assert_eq!(pool.available(), 3);
    /// ```
    pub fn new(permits: usize) -> Self {
        Semaphore {
            permits: Arc::new(tokio::sync::Semaphore::new(permits)),
            total: permits,
        }
    }

    /// Permits not held right now.
    ///
    /// ```
    /// use effect::prelude::*;
    /// use effect::Semaphore;
    ///
    /// let semaphore = Semaphore::new(2);
    /// let inside = semaphore.clone();
    /// let seen: Effect<usize, Never> = semaphore.with_permit(sync(move || inside.available()));
    /// assert_eq!(effect::run_blocking(seen), Ok(1)); // one held while the effect runs
    /// assert_eq!(semaphore.available(), 2); // and returned after
    /// ```
    pub fn available(&self) -> usize {
        self.permits.available_permits()
    }

    /// Runs `effect` holding one permit.
    ///
    /// # Cancel safety
    /// Interrupted while waiting for the permit, it holds none and `effect` never starts;
    /// interrupted while `effect` runs, the permit is returned after `effect`'s finalizers ran.
    ///
    /// ```
    /// use effect::prelude::*;
    /// use effect::{Ref, Semaphore};
    ///
    /// #[effect]
    /// fn task(running: Ref<u32>, peak: Ref<u32>) -> Effect<(), Never> {
    ///     let now = running.modify(|n| { *n += 1; *n })?;
    ///     peak.update(move |p| *p = (*p).max(now))?;
    ///     sleep(ms(1))?;
    ///     running.update(|n| *n -= 1)?;
    /// }
    ///
    /// // Ten tasks, never more than two at a time.
    /// let semaphore = Semaphore::new(2);
    /// let (running, peak) = (Ref::new(0), Ref::new(0));
    /// let tasks: Vec<_> = (0..10)
    ///     .map(|_| semaphore.with_permit(task(running.clone(), peak.clone())))
    ///     .collect();
    /// effect::run_blocking(zip_par(tasks)).unwrap();
    /// assert!(peak.get_now() <= 2);
    /// ```
    pub fn with_permit<A: Send + 'static, E: Send + 'static>(
        &self,
        effect: Effect<A, E>,
    ) -> Effect<A, E> {
        self.with_permits(1, effect)
    }

    /// Runs `effect` holding `n` permits, waiting until they are free. Asking for more
    /// permits than the semaphore has dies with a message saying so (it could never run).
    ///
    /// A defect, not a typed failure: asking for more permits than the semaphore has dies.
    ///
    /// # Cancel safety
    /// As [`with_permit`](Semaphore::with_permit): interrupted while waiting it holds no permit;
    /// the permits come back however `effect` ends.
    ///
    /// ```
    /// use effect::prelude::*;
    /// use effect::Semaphore;
    ///
    /// let semaphore = Semaphore::new(4);
    /// let batch: Effect<&str, Never> = semaphore.with_permits(3, succeed("big job"));
    /// assert_eq!(effect::run_blocking(batch), Ok("big job"));
    ///
    /// let too_big: Effect<(), Never> = semaphore.with_permits(5, succeed(()));
    /// assert!(effect::run_blocking(too_big).unwrap_err().is_die());
    /// ```
    pub fn with_permits<A: Send + 'static, E: Send + 'static>(
        &self,
        n: usize,
        effect: Effect<A, E>,
    ) -> Effect<A, E> {
        let (permits, total) = (self.permits.clone(), self.total);
        Effect::from_future(async move {
            let Some(count) = u32::try_from(n).ok().filter(|_| n <= total) else {
                return Err(Cause::die(format!(
                    "with_permits: asked for {n} permits of a semaphore that has {total}"
                )));
            };
            // The permit lives in this body: it is returned when the body ends or is dropped
            // on interruption, after the effect's own finalizers ran.
            let _permit = match permits.acquire_many_owned(count).await {
                Ok(permit) => permit,
                Err(_) => return Err(Cause::die("semaphore closed")),
            };
            effect.await
        })
    }
}
