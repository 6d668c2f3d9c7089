//! [`Semaphore`]: a fixed number of permits, held for the length of an effect, or until the
//! enclosing scope closes.

use std::sync::Arc;

use crate::kernel::cause::Cause;
use crate::kernel::effect::{sync, Effect};
use crate::kernel::fiber::waiting::{self, Wait};
use crate::ops::scope::Scope;

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

    /// Takes one permit and holds it until the scope of the context closes (see
    /// [`scoped`](crate::scoped)): a permit as a resource, for the length of a region rather
    /// than of one effect.
    ///
    /// # Cancel safety
    /// The wait is interruptible and takes nothing when interrupted. The permit is registered
    /// with the scope in the same step that takes it, so once taken it is returned exactly
    /// once, when the scope closes, however the scope's region ends.
    ///
    /// Outside any scope it dies with a message saying to wrap the region in `scoped(..)`.
    ///
    /// ```
    /// use effect::prelude::*;
    /// use effect::Semaphore;
    ///
    /// #[effect]
    /// fn held_for_the_region(semaphore: Semaphore) -> Effect<usize, Never> {
    ///     semaphore.permit()?;
    ///     semaphore.permit()?;
    ///     semaphore.available() // two held until the scope closes
    /// }
    /// let semaphore = Semaphore::new(3);
    /// assert_eq!(effect::run_blocking(scoped(held_for_the_region(semaphore.clone()))), Ok(1));
    /// assert_eq!(semaphore.available(), 3); // returned as the scope closed
    /// ```
    pub fn permit<E: Send + 'static>(&self) -> Effect<(), E> {
        self.permits(1)
    }

    /// Takes `n` permits and holds them until the scope of the context closes; see
    /// [`permit`](Semaphore::permit). Asking for more permits than the semaphore has dies
    /// with a message saying so (it could never be granted).
    ///
    /// ```
    /// use effect::prelude::*;
    /// use effect::Semaphore;
    ///
    /// let semaphore = Semaphore::new(4);
    /// let region: Effect<usize, Never> = {
    ///     let semaphore = semaphore.clone();
    ///     scoped(semaphore.permits(3).flat_map(move |()| succeed(semaphore.available())))
    /// };
    /// assert_eq!(effect::run_blocking(region), Ok(1));
    /// assert_eq!(semaphore.available(), 4);
    ///
    /// let too_many: Effect<(), Never> = scoped(semaphore.permits(5));
    /// assert!(effect::run_blocking(too_many).unwrap_err().is_die());
    /// ```
    pub fn permits<E: Send + 'static>(&self, n: usize) -> Effect<(), E> {
        let (permits, total) = (self.permits.clone(), self.total);
        Effect::new(move |ctx| async move {
            let Some(scope) = ctx.try_get::<Scope>().cloned() else {
                return Err(Cause::die(
                    "Semaphore::permits outside a scope: wrap the region that holds the permits in `scoped(..)`",
                ));
            };
            let count = permit_count(n, total, "permits")?;
            // Waiting is interruptible: dropped while it waits, it has taken nothing.
            let at = waiting::address(&permits);
            let acquire = permits.acquire_many_owned(count);
            let Ok(permit) = waiting::marked(Wait::Semaphore(at), acquire).await else {
                return Err(Cause::die("semaphore closed"));
            };
            // Registered in the poll that took it: there is no point at which the permits
            // are held and not yet the scope's to return.
            if scope.add_finalizer_now(sync(move || drop(permit))) {
                Ok(())
            } else {
                // The scope closed meanwhile: the finalizer (and the permits) were dropped.
                Err(Cause::die(
                    "Semaphore::permits: the scope closed before the permits were taken",
                ))
            }
        })
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
            let count = permit_count(n, total, "with_permits")?;
            // The permit lives in this body: it is returned when the body ends or is dropped
            // on interruption, after the effect's own finalizers ran.
            let at = waiting::address(&permits);
            let acquire = permits.acquire_many_owned(count);
            let _permit = match waiting::marked(Wait::Semaphore(at), acquire).await {
                Ok(permit) => permit,
                Err(_) => return Err(Cause::die("semaphore closed")),
            };
            effect.await
        })
    }
}

/// `n` permits of a semaphore that has `total`, as tokio counts them; more than `total` is a
/// defect saying so (they could never be granted).
fn permit_count<E>(n: usize, total: usize, operation: &str) -> Result<u32, Cause<E>> {
    u32::try_from(n).ok().filter(|_| n <= total).ok_or_else(|| {
        Cause::die(format!(
            "{operation}: asked for {n} permits of a semaphore that has {total}"
        ))
    })
}
