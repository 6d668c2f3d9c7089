//! [`Scope`]: finalizers that run when a region closes; [`scoped`] and [`acquire_release`].
//!
//! Invariants: a finalizer is popped from the scope before it runs, so it runs at most once;
//! `close` runs every finalizer registered before it, in reverse order of registration, each
//! uninterruptibly, and keeps going when one fails, so every registered finalizer runs
//! exactly once. A finalizer added to a scope that is already closed runs at once.
//!
//! A child scope ([`Scope::child`]) is one finalizer of its parent, registered when the child
//! is made: the parent closes it in that place of its reverse order, so what the child holds
//! is released before what the parent acquired earlier. A child closed on its own first
//! takes its entry out of the parent, so a parent that makes a child per element (a stream's
//! `flat_map`) does not grow; closing is idempotent, so a child closed by both at once runs
//! its finalizers once.

use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard};

use crate::kernel::cause::{Cause, Exit, Never};
use crate::kernel::context::Context;
use crate::kernel::effect::{die, succeed, Effect};
use crate::kernel::fiber::prim::Prim;
use crate::kernel::fiber::run::Run;

/// How the region a scope guarded ended: `Ok(())`, or its cause with the typed error erased
/// (`Cause::Fail(())` for a typed failure; defects and interruption as they were).
///
/// ```
/// use std::sync::{Arc, Mutex};
/// use effect::{acquire_release, fail, run_blocking, scoped, succeed, sync, Effect};
///
/// let seen = Arc::new(Mutex::new(None));
/// let record = seen.clone();
/// let program: Effect<(), &str> = scoped(
///     acquire_release(succeed("conn"), move |_, exit| {
///         let failed = exit.is_err();
///         sync(move || *record.lock().unwrap() = Some(failed))
///     })
///     .flat_map(|_| fail("query failed")),
/// );
/// assert!(run_blocking(program).is_err());
/// assert_eq!(*seen.lock().unwrap(), Some(true)); // the release saw `Err(Cause::Fail(()))`
/// ```
pub type ScopeExit = Exit<(), ()>;

type ScopeFinalizer = Box<dyn FnOnce(&ScopeExit) -> Effect<(), Never> + Send>;

/// A bag of finalizers that run, in reverse order, when the scope closes.
///
/// Scopes are cheap handles: clones refer to the same scope. Resources acquired with
/// [`acquire_release`] register their release in the scope of the context they run in,
/// which [`scoped`] provides.
///
/// ```
/// use effect::{sync, Scope};
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// let scope = Scope::new();
/// scope.add_finalizer_now(sync(|| println!("second")));
/// scope.add_finalizer_now(sync(|| println!("first: finalizers run in reverse")));
/// assert_eq!(scope.close(Ok(())).await, Ok(()));
/// # }
/// ```
#[derive(Clone, Default)]
pub struct Scope {
    inner: Arc<Mutex<ScopeState>>,
}

#[derive(Default)]
struct ScopeState {
    /// Each with its key: 0 for a plain finalizer, a child scope's own key for the entry
    /// that closes it (so the child can take it out when it closes first).
    finalizers: Vec<(u64, ScopeFinalizer)>,
    closed: Option<ScopeExit>,
    /// The last key given to a child.
    last_child: u64,
    /// For a child scope: its parent, and its entry's key there. Weak: a parent owns its
    /// children through their entries, not the other way round.
    parent: Option<(std::sync::Weak<Mutex<ScopeState>>, u64)>,
}

impl fmt::Debug for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = self.state();
        f.debug_struct("Scope")
            .field("finalizers", &state.finalizers.len())
            .field("closed", &state.closed.is_some())
            .finish()
    }
}

/// Erases the typed failure of an exit, for a scope.
///
/// ```
/// use effect::{scope_exit, Cause, Exit};
///
/// let failed: Exit<u32, String> = Err(Cause::Fail("disk full".to_string()));
/// assert_eq!(scope_exit(&failed), Err(Cause::Fail(())));
/// assert_eq!(scope_exit(&Ok::<u32, Cause<String>>(3)), Ok(()));
/// ```
pub fn scope_exit<A, E>(exit: &Exit<A, E>) -> ScopeExit {
    match exit {
        Ok(_) => Ok(()),
        Err(cause) => Err(cause.clone_erased()),
    }
}

impl Scope {
    /// A new, open scope.
    ///
    /// ```
    /// use effect::Scope;
    ///
    /// let scope = Scope::new();
    /// assert!(!scope.is_closed());
    /// ```
    pub fn new() -> Scope {
        Scope::default()
    }

    /// A scope closed with this one, in the place of this one's reverse order it takes now
    /// (before whatever was registered earlier), or earlier on its own: closing it first
    /// takes it out of this scope. Made on a closed scope, it is closed already, with that
    /// scope's exit.
    ///
    /// ```
    /// use std::sync::{Arc, Mutex};
    /// use effect::{sync, Scope};
    ///
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let log = Arc::new(Mutex::new(Vec::new()));
    /// let note = |text: &'static str| {
    ///     let log = log.clone();
    ///     sync(move || log.lock().unwrap().push(text))
    /// };
    /// let connection = Scope::new();
    /// connection.add_finalizer_now(note("connection closed"));
    /// let cursor = connection.child();
    /// cursor.add_finalizer_now(note("cursor closed"));
    /// connection.close(Err(effect::Cause::Fail(()))).await.unwrap();
    /// // The cursor, opened later, is closed first.
    /// assert_eq!(*log.lock().unwrap(), ["cursor closed", "connection closed"]);
    /// # }
    /// ```
    pub fn child(&self) -> Scope {
        let child = Scope::new();
        let entry = child.clone();
        let mut state = self.state();
        if let Some(exit) = &state.closed {
            child.state().closed = Some(exit.clone());
            return child;
        }
        state.last_child += 1;
        let key = state.last_child;
        child.state().parent = Some((Arc::downgrade(&self.inner), key));
        state.finalizers.push((
            key,
            Box::new(move |exit: &ScopeExit| entry.closing(exit.clone())),
        ));
        child
    }

    fn state(&self) -> MutexGuard<'_, ScopeState> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Whether the scope has been closed.
    ///
    /// ```
    /// use effect::Scope;
    ///
    /// #[tokio::main(flavor = "current_thread")]
    /// async fn main() {
    ///     let scope = Scope::new();
    ///     scope.close(Ok(())).await.unwrap();
    ///     assert!(scope.is_closed());
    /// }
    /// ```
    pub fn is_closed(&self) -> bool {
        self.state().closed.is_some()
    }

    /// Registers `finalizer` now. On a closed scope it is handed back, to run at once.
    fn register(&self, finalizer: ScopeFinalizer) -> Option<(ScopeFinalizer, ScopeExit)> {
        let mut state = self.state();
        match &state.closed {
            Some(exit) => Some((finalizer, exit.clone())),
            None => {
                state.finalizers.push((0, finalizer));
                None
            }
        }
    }

    /// An effect that registers `finalizer` to run when the scope closes (or runs it at once
    /// if the scope is already closed).
    ///
    /// ```
    /// use std::sync::{Arc, Mutex};
    /// use effect::prelude::*;
    /// use effect::{Context, Scope};
    ///
    /// #[tokio::main(flavor = "current_thread")]
    /// async fn main() {
    ///     let log = Arc::new(Mutex::new(Vec::new()));
    ///     let scope = Scope::new();
    ///     for name in ["registered first", "registered second"] {
    ///         let log = log.clone();
    ///         let register: Effect<(), Never> =
    ///             scope.add_finalizer(sync(move || log.lock().unwrap().push(name)));
    ///         register.run(&Context::new()).await.unwrap();
    ///     }
    ///     scope.close(Ok(())).await.unwrap();
    ///     assert_eq!(*log.lock().unwrap(), ["registered second", "registered first"]);
    /// }
    /// ```
    pub fn add_finalizer<E: Send + 'static>(&self, finalizer: Effect<(), Never>) -> Effect<(), E> {
        self.add_finalizer_exit(move |_| finalizer)
    }

    /// An effect that registers a finalizer built from the scope's exit.
    ///
    /// ```
    /// use std::sync::{Arc, Mutex};
    /// use effect::prelude::*;
    /// use effect::{Context, Scope};
    ///
    /// #[tokio::main(flavor = "current_thread")]
    /// async fn main() {
    ///     let outcome = Arc::new(Mutex::new(String::new()));
    ///     let record = outcome.clone();
    ///     let scope = Scope::new();
    ///     let register: Effect<(), Never> = scope.add_finalizer_exit(move |exit| {
    ///         let text = if exit.is_ok() { "committed" } else { "rolled back" };
    ///         sync(move || *record.lock().unwrap() = text.to_string())
    ///     });
    ///     register.run(&Context::new()).await.unwrap();
    ///     scope.close(Err(Cause::Fail(()))).await.unwrap();
    ///     assert_eq!(*outcome.lock().unwrap(), "rolled back");
    /// }
    /// ```
    pub fn add_finalizer_exit<E, F>(&self, finalizer: F) -> Effect<(), E>
    where
        E: Send + 'static,
        F: FnOnce(&ScopeExit) -> Effect<(), Never> + Send + 'static,
    {
        let scope = self.clone();
        Effect::from_future(async move {
            if let Some((late, exit)) = scope.register(Box::new(finalizer)) {
                late(&exit).await.map_err(Cause::widen)?;
            }
            Ok(())
        })
    }

    /// Registers `finalizer` right away, from plain code. On a closed scope it is dropped
    /// unrun, and `false` is returned.
    ///
    /// ```
    /// use effect::{sync, Scope};
    ///
    /// #[tokio::main(flavor = "current_thread")]
    /// async fn main() {
    ///     let scope = Scope::new();
    ///     assert!(scope.add_finalizer_now(sync(|| println!("cleanup"))));
    ///     scope.close(Ok(())).await.unwrap();
    ///     assert!(!scope.add_finalizer_now(sync(|| println!("never runs"))));
    /// }
    /// ```
    pub fn add_finalizer_now(&self, finalizer: Effect<(), Never>) -> bool {
        self.register(Box::new(move |_| finalizer)).is_none()
    }

    /// Registers `finalizer` right away; on a closed scope hands it back, for the caller to
    /// run (what it releases must not be dropped unreleased).
    pub(crate) fn add_finalizer_or_back(
        &self,
        finalizer: Effect<(), Never>,
    ) -> Result<(), Effect<(), Never>> {
        match self.register(Box::new(move |_| finalizer)) {
            None => Ok(()),
            Some((late, exit)) => Err(late(&exit)),
        }
    }

    /// Registers a finalizer built from the scope's exit right away (`false`, and dropped
    /// unrun, on a closed scope).
    pub(crate) fn add_finalizer_exit_now(
        &self,
        finalizer: impl FnOnce(&ScopeExit) -> Effect<(), Never> + Send + 'static,
    ) -> bool {
        self.register(Box::new(finalizer)).is_none()
    }

    /// The effect of closing the scope with `exit`: runs every finalizer, last registered
    /// first, each uninterruptibly, and fails with all their causes (in order) if any failed.
    /// Closing twice runs nothing the second time.
    ///
    /// ```
    /// use effect::prelude::*;
    /// use effect::Scope;
    ///
    /// let scope = Scope::new();
    /// scope.add_finalizer_now(die("release failed"));
    /// scope.add_finalizer_now(sync(|| println!("runs despite the other finalizer's defect")));
    /// let closing: Effect<(), Never> = scope.close_effect(Ok(()));
    /// assert!(effect::run_blocking(closing).unwrap_err().is_die());
    /// let again: Effect<(), Never> = scope.close_effect(Ok(()));
    /// assert_eq!(effect::run_blocking(again), Ok(())); // nothing left to run
    /// ```
    pub fn close_effect(&self, exit: ScopeExit) -> Effect<(), Never> {
        self.closing(exit).uninterruptible()
    }

    /// The closing of [`close_effect`](Scope::close_effect), to be run uninterruptibly (as
    /// a finalizer is).
    fn closing(&self, exit: ScopeExit) -> Effect<(), Never> {
        let scope = self.clone();
        // Taking the finalizers is done in place as the effect starts; one finalizer (the
        // common case: a scope around one resource) is run as it is, more in a loop, each
        // uninterruptible with the whole closing.
        Effect::suspend_with(move |_| {
            let (mut finalizers, parent) = {
                let mut state = scope.state();
                if state.closed.is_some() {
                    return succeed(());
                }
                state.closed = Some(exit.clone());
                (std::mem::take(&mut state.finalizers), state.parent.take())
            };
            // A child closing first takes its entry out of its parent (usually the last one).
            if let Some((parent, key)) = parent {
                if let Some(parent) = parent.upgrade() {
                    let mut parent = parent.lock().unwrap_or_else(|p| p.into_inner());
                    if let Some(at) = parent.finalizers.iter().rposition(|(k, _)| *k == key) {
                        drop(parent.finalizers.remove(at));
                    }
                }
            }
            let mut finalizers: Vec<ScopeFinalizer> = finalizers
                .drain(..)
                .map(|(_, finalizer)| finalizer)
                .collect();
            if finalizers.len() <= 1 {
                return match finalizers.pop() {
                    Some(finalizer) => catch_build(finalizer, &exit),
                    None => succeed(()),
                };
            }
            Effect::from_future(async move {
                let mut failure: Option<Cause<Never>> = None;
                for finalizer in finalizers.into_iter().rev() {
                    if let Err(cause) = catch_build(finalizer, &exit).await {
                        failure = Some(match failure {
                            None => cause,
                            Some(earlier) => earlier.then(cause),
                        });
                    }
                }
                match failure {
                    None => Ok(()),
                    Some(cause) => Err(cause),
                }
            })
        })
    }

    /// Closes the scope with `exit` from plain async code (a test, `main`); see
    /// [`close_effect`](Scope::close_effect).
    ///
    /// # Cancel safety
    /// The finalizers run uninterruptibly; dropping the returned [`Run`] before it completes
    /// leaves them to finish on a spawned task (see [`Run`]).
    ///
    /// ```
    /// use effect::{sync, Scope};
    ///
    /// #[tokio::main(flavor = "current_thread")]
    /// async fn main() {
    ///     let scope = Scope::new();
    ///     scope.add_finalizer_now(sync(|| println!("closing the connection")));
    ///     assert_eq!(scope.close(Ok(())).await, Ok(()));
    /// }
    /// ```
    pub fn close(&self, exit: ScopeExit) -> Run<(), Never> {
        self.close_effect(exit).run(&Context::new())
    }
}

/// Builds a finalizer, turning a panic while building it into its defect.
fn catch_build(finalizer: ScopeFinalizer, exit: &ScopeExit) -> Effect<(), Never> {
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| finalizer(exit))) {
        Ok(effect) => effect,
        Err(panic) => crate::kernel::effect::fail_cause(Cause::Die(
            crate::kernel::cause::Defect::from_panic(panic),
        )),
    }
}

/// Runs `effect` with a fresh [`Scope`] in its context, and closes that scope when the effect
/// ends, however it ends (success, failure, defect, interruption). A failing finalizer's
/// cause is added after the effect's own.
///
/// ```
/// use effect::{acquire_release, run_blocking, scoped, succeed, sync, Effect};
///
/// let program: Effect<u32, String> = scoped(
///     acquire_release(succeed(41), |n, _exit| sync(move || println!("released {n}")))
///         .map(|n| n + 1),
/// );
/// assert_eq!(run_blocking(program), Ok(42)); // prints "released 41" first
/// ```
pub fn scoped<A: Send + 'static, E: Send + 'static>(effect: Effect<A, E>) -> Effect<A, E> {
    Effect::suspend_with(move |ctx| {
        let scope = Scope::new();
        let closing = scope.clone();
        let inner = ctx.clone().with(scope);
        Effect::<A, E>::from_prim(Prim::Provide(inner, Box::new(effect.into_prim())))
            // A finalizer runs uninterruptibly: the closing needs no region of its own.
            .on_exit(move |exit| closing.closing(scope_exit(exit)))
    })
}

/// Acquires a resource and registers its release in the scope of the context (see
/// [`scoped`]): acquisition and registration are one uninterruptible step, and the release
/// runs exactly once when that scope closes — on success, failure, defect or interruption,
/// including a lost `race` or a failed `zip_par` sibling. The release gets a clone of the
/// resource and how the scope ended.
///
/// Outside any scope it dies with a message saying to wrap the effect in `scoped(..)`.
///
/// Because the acquisition is uninterruptible, an `acquire` that *waits* (a pool checkout,
/// a permit) ignores deadlines and shutdown while it waits. Make the waiting part
/// interruptible, and keep only the taking uninterruptible: `acquire_release(wait_for_free
/// .interruptible().flat_map(|_| take), release)`, where `take` cannot wait.
///
/// ```
/// use std::sync::{Arc, Mutex};
/// use effect::prelude::*;
///
/// let log = Arc::new(Mutex::new(Vec::new()));
/// let open = |name: &'static str, log: Arc<Mutex<Vec<String>>>| {
///     let on_release = log.clone();
///     acquire_release(
///         sync(move || { log.lock().unwrap().push(format!("open {name}")); name }),
///         move |name, _exit| sync(move || on_release.lock().unwrap().push(format!("close {name}"))),
///     )
/// };
/// let program: Effect<(), String> = scoped(
///     open("db", log.clone())
///         .flat_map({ let log = log.clone(); move |_| open("cache", log) })
///         .flat_map(|_| fail("request failed".to_string())),
/// );
/// assert!(effect::run_blocking(program).is_err());
/// // Released in reverse order of acquisition, on failure too.
/// assert_eq!(*log.lock().unwrap(), ["open db", "open cache", "close cache", "close db"]);
/// ```
pub fn acquire_release<R, E, F>(acquire: Effect<R, E>, release: F) -> Effect<R, E>
where
    R: Clone + Send + 'static,
    E: Send + 'static,
    F: FnOnce(R, &ScopeExit) -> Effect<(), Never> + Send + 'static,
{
    Effect::new(move |ctx| async move {
        let Some(scope) = ctx.try_get::<Scope>().cloned() else {
            return die("acquire_release outside a scope: wrap the effect that uses the resource in `scoped(..)`").await;
        };
        acquire
            .flat_map(move |resource: R| {
                let kept = resource.clone();
                scope
                    .add_finalizer_exit(move |exit| release(kept, exit))
                    .flat_map(move |()| succeed(resource))
            })
            .uninterruptible()
            .await
    })
}

/// Acquires a resource, uses it, and releases it whatever happens, without a scope: the
/// bracket pattern. Acquire is uninterruptible; release runs exactly once after `use_`.
///
/// ```
/// use std::sync::atomic::{AtomicU32, Ordering};
/// use std::sync::Arc;
/// use effect::prelude::*;
///
/// let open_files = Arc::new(AtomicU32::new(0));
/// let (opened, closed) = (open_files.clone(), open_files.clone());
/// let length: Effect<usize, String> = acquire_use_release(
///     sync(move || { opened.fetch_add(1, Ordering::SeqCst); "contents".to_string() }),
///     |file| succeed(file.len()),
///     move |_file, _exit| sync(move || { closed.fetch_sub(1, Ordering::SeqCst); }),
/// );
/// assert_eq!(effect::run_blocking(length), Ok(8));
/// assert_eq!(open_files.load(Ordering::SeqCst), 0);
/// ```
pub fn acquire_use_release<R, A, E, U, F>(
    acquire: Effect<R, E>,
    use_: U,
    release: F,
) -> Effect<A, E>
where
    R: Clone + Send + 'static,
    A: Send + 'static,
    E: Send + 'static,
    U: FnOnce(R) -> Effect<A, E> + Send + 'static,
    F: FnOnce(R, &ScopeExit) -> Effect<(), Never> + Send + 'static,
{
    scoped(acquire_release(acquire, release).flat_map(use_))
}
