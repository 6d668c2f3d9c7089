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
    pub fn new(permits: usize) -> Self {
        Semaphore {
            permits: Arc::new(tokio::sync::Semaphore::new(permits)),
            total: permits,
        }
    }

    /// Permits not held right now.
    pub fn available(&self) -> usize {
        self.permits.available_permits()
    }

    /// Runs `effect` holding one permit.
    pub fn with_permit<A: Send + 'static, E: Send + 'static>(
        &self,
        effect: Effect<A, E>,
    ) -> Effect<A, E> {
        self.with_permits(1, effect)
    }

    /// Runs `effect` holding `n` permits, waiting until they are free. Asking for more
    /// permits than the semaphore has dies with a message saying so (it could never run).
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
