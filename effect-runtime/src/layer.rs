//! [`Layer`]: recipes that build services into a [`Context`] inside a [`Scope`].
//!
//! Invariants: within one build, a layer (and its clones) is built at most once, however many
//! layers depend on it (memoized by identity), and so torn down once; every finalizer a
//! layer registers goes into the build's scope, so teardown runs in reverse order of
//! construction; that scope is owned by the caller's scope from before the build starts,
//! and a build that fails, dies or is interrupted closes it before it ends.

use std::collections::HashMap;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use tokio::sync::Notify;

use crate::cause::{Exit, Never};
use crate::clock::{Clock, TestClock};
use crate::context::Context;
use crate::effect::{succeed, Effect};
use crate::fiber::run::Run;
use crate::par::zip_par;
use crate::scope::{scoped, Scope};

static NEXT_LAYER_ID: AtomicU64 = AtomicU64::new(1);

type BuildFn<E> = dyn Fn(Context, Memo<E>) -> Effect<Context, E> + Send + Sync;

/// A recipe for services: given the services it depends on (its input context), it builds
/// the services it provides, registering their teardown in the build's [`Scope`].
///
/// Build one with [`Layer::succeed`] (a ready value), [`Layer::effect`] (a constructor
/// effect) or [`Layer::scoped`] (a resource acquired with `acquire_release`), and combine
/// with [`and_then`](Layer::and_then) (the second sees the first's services) and
/// [`and`](Layer::and) (both built concurrently). Run an effect with the services of a
/// layer with [`Effect::provide`].
///
/// ```
/// use effect_runtime::{run_blocking, succeed, Context, Effect, Layer};
///
/// #[derive(Clone)]
/// struct Config { url: &'static str }
/// #[derive(Clone)]
/// struct Database { url: &'static str }
///
/// let config: Layer<String> = Layer::succeed(Config { url: "db://local" });
/// let database = Layer::effect(|ctx: Context| succeed(Database { url: ctx.get::<Config>().url }));
/// let app: Effect<&str, String> =
///     Effect::new(|ctx| async move { Ok(ctx.get::<Database>().url) });
/// assert_eq!(run_blocking(app.provide(config.and_then(database))), Ok("db://local"));
/// ```
pub struct Layer<E = Never> {
    id: u64,
    build: Arc<BuildFn<E>>,
}

impl<E> Clone for Layer<E> {
    fn clone(&self) -> Self {
        Layer {
            id: self.id,
            build: self.build.clone(),
        }
    }
}

impl<E> fmt::Debug for Layer<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Layer(#{})", self.id)
    }
}

/// The layers built so far in one build, by identity.
struct Memo<E> {
    entries: Arc<Mutex<HashMap<u64, Arc<MemoEntry<E>>>>>,
}

impl<E> Clone for Memo<E> {
    fn clone(&self) -> Self {
        Memo {
            entries: self.entries.clone(),
        }
    }
}

struct MemoEntry<E> {
    result: Mutex<Option<Exit<Context, E>>>,
    ready: Notify,
}

impl<E: Clone + Send + Sync + 'static> Layer<E> {
    fn from_build(
        build: impl Fn(Context, Memo<E>) -> Effect<Context, E> + Send + Sync + 'static,
    ) -> Self {
        Layer {
            id: NEXT_LAYER_ID.fetch_add(1, Ordering::Relaxed),
            build: Arc::new(build),
        }
    }

    /// A layer providing `service` as it is.
    pub fn succeed<T: Clone + Send + Sync + 'static>(service: T) -> Self {
        Layer::from_build(move |_, _| succeed(Context::new().with(service.clone())))
    }

    /// A layer whose service is built by the effect `make` returns, given the layer's input
    /// context (the services built before it).
    pub fn effect<T, F>(make: F) -> Self
    where
        T: Send + Sync + 'static,
        F: Fn(Context) -> Effect<T, E> + Send + Sync + 'static,
    {
        Layer::from_build(move |ctx, _| make(ctx).map(|service| Context::new().with(service)))
    }

    /// A layer whose service is a resource: `make` typically uses
    /// [`acquire_release`](crate::acquire_release), whose release is registered in the build's
    /// scope and runs when that scope closes, in reverse order of construction. A resource
    /// acquired by a build that then fails or is interrupted is released as that build ends.
    pub fn scoped<T, F>(make: F) -> Self
    where
        T: Send + Sync + 'static,
        F: Fn(Context) -> Effect<T, E> + Send + Sync + 'static,
    {
        Layer::effect(make)
    }

    /// This layer, then `next`, which sees this layer's services. Provides both.
    pub fn and_then(self, next: Layer<E>) -> Layer<E> {
        Layer::from_build(move |input, memo| {
            let next = next.clone();
            let first = self.memoized(input.clone(), memo.clone());
            first.flat_map(move |built: Context| {
                next.memoized(input.merge(&built), memo)
                    .map(move |more| built.merge(&more))
            })
        })
    }

    /// This layer and `other`, built concurrently. Provides both.
    pub fn and(self, other: Layer<E>) -> Layer<E> {
        Layer::from_build(move |input, memo| {
            let left = self.memoized(input.clone(), memo.clone());
            let right = other.memoized(input, memo);
            zip_par((left, right)).map(|(left, right)| left.merge(&right))
        })
    }

    /// Builds this layer, or waits for the build already under way in this memo.
    fn memoized(&self, input: Context, memo: Memo<E>) -> Effect<Context, E> {
        let (entry, builder) = {
            let mut entries = memo.entries.lock().unwrap_or_else(|p| p.into_inner());
            match entries.get(&self.id) {
                Some(entry) => (entry.clone(), false),
                None => {
                    let entry = Arc::new(MemoEntry {
                        result: Mutex::new(None),
                        ready: Notify::new(),
                    });
                    entries.insert(self.id, entry.clone());
                    (entry, true)
                }
            }
        };
        if builder {
            let build = (self.build)(input, memo);
            return build.on_exit(move |exit| {
                *entry.result.lock().unwrap_or_else(|p| p.into_inner()) = Some(exit.clone());
                entry.ready.notify_waiters();
                succeed(())
            });
        }
        Effect::from_future(async move {
            loop {
                // Registered before the check, so a build finishing in between still wakes us.
                let mut notified = std::pin::pin!(entry.ready.notified());
                notified.as_mut().enable();
                if let Some(exit) = entry
                    .result
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .clone()
                {
                    return exit;
                }
                notified.await;
            }
        })
    }

    /// The effect of building this layer into `scope`: succeeds with the context it runs in
    /// plus the layer's services, whose teardown then belongs to `scope` (it runs when
    /// `scope` closes, in reverse order of construction).
    ///
    /// A build that does not succeed — a layer fails or dies, or the build is interrupted
    /// (its fiber interrupted, a `timeout` expiring, a lost `race`) — has torn down
    /// everything it had built, in reverse order, by the time it ends; a failing teardown's
    /// cause is added after the build's. Each service is torn down exactly once, whichever
    /// of the build's end and `scope`'s close comes first.
    pub fn build(&self, scope: &Scope) -> Effect<Context, E> {
        let layer = self.clone();
        let parent = scope.clone();
        Effect::new(move |input: Context| async move {
            // Everything the build acquires goes into `own`. Its close is registered in the
            // parent before anything is built, so no moment exists at which a built service
            // is owned by no scope (registering it after the build left an interrupted build,
            // and one interrupted just after it finished, with nobody to tear it down).
            let own = Scope::new();
            let closing = own.clone();
            parent
                .add_finalizer_exit::<E, _>(move |exit| closing.close_effect(exit.clone()))
                .await?;
            let memo = Memo {
                entries: Arc::default(),
            };
            let services = layer
                .memoized(input.clone(), memo)
                .provide_context(input.clone().with(own.clone()))
                // A build that ends without its services tears down at once what it built;
                // the parent's later close of `own` then finds nothing left to run.
                .on_error(move |cause| own.close_effect(Err(cause.clone_erased())))
                .await?;
            Ok(input.merge(&services))
        })
    }

    /// Builds this layer on top of `ctx` into `scope`, from plain async code: the
    /// counterpart of the guide's `layer.build_scoped(Context(), scope)`. See
    /// [`build`](Layer::build) for what `scope` owns and when.
    ///
    /// # Cancel safety
    ///
    /// Dropping the returned [`Run`] before it finishes interrupts the build: what it had
    /// built is torn down as the build unwinds (on a task spawned onto the current tokio
    /// runtime, since a destructor cannot wait), or when `scope` closes, whichever comes
    /// first, and exactly once. Nothing built is left to `scope` for good.
    pub fn build_scoped(&self, ctx: &Context, scope: &Scope) -> Run<Context, E> {
        self.build(scope).run(ctx)
    }
}

impl<A: Send + 'static, E: Send + 'static> Effect<A, E> {
    /// Runs this effect with the services of `layer` added to its context. The layer is
    /// built first, in a scope that closes (tearing the services down) when this effect
    /// ends, however it ends. A layer failure fails the effect, converted with `From`.
    ///
    /// Whatever part of the layer graph was built is torn down exactly once, in reverse
    /// order of construction, however the whole ends: the program succeeding, failing or
    /// being interrupted after the build, or the build itself failing, dying or being
    /// interrupted part-way (the fiber interrupted, a `timeout` expiring, a lost `race`);
    /// see [`Layer::build`]. The effect ends only after that teardown has run.
    pub fn provide<LE>(self, layer: impl Into<Layer<LE>>) -> Effect<A, E>
    where
        LE: Clone + Send + Sync + 'static,
        E: From<LE>,
    {
        let layer = layer.into();
        scoped(Effect::new(move |ctx: Context| async move {
            // `scoped` has put the scope there.
            let scope = ctx.get::<Scope>();
            let env = layer.build(&scope).err_into::<E>().await?;
            self.provide_context(env).await
        }))
    }
}

/// The layer providing the live [`Clock`] (what effects use when no clock is provided).
#[derive(Clone, Copy, Debug, Default)]
pub struct ClockLayer;

/// The layer providing a [`TestClock`] as the context's [`Clock`].
#[derive(Clone, Debug)]
pub struct TestClockLayer(pub TestClock);

impl<E: Clone + Send + Sync + 'static> From<ClockLayer> for Layer<E> {
    fn from(_: ClockLayer) -> Self {
        Layer::succeed(Clock::live())
    }
}

impl<E: Clone + Send + Sync + 'static> From<TestClockLayer> for Layer<E> {
    fn from(layer: TestClockLayer) -> Self {
        Layer::succeed(Clock::from(layer.0))
    }
}

impl ClockLayer {
    /// Builds the live clock on top of `ctx`; see [`Layer::build_scoped`].
    pub fn build_scoped(&self, ctx: &Context, scope: &Scope) -> Run<Context, Never> {
        Layer::from(*self).build_scoped(ctx, scope)
    }
}

impl TestClockLayer {
    /// Builds the test clock on top of `ctx`; see [`Layer::build_scoped`].
    ///
    /// ```
    /// use effect_runtime::{secs, Clock, Context, Scope, TestClock, TestClockLayer};
    ///
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let test_clock = TestClock::new();
    /// let scope = Scope::new();
    /// let env = TestClockLayer(test_clock.clone()).build_scoped(&Context::new(), &scope).await.unwrap();
    /// test_clock.advance(secs(5)).await;
    /// assert_eq!(env.get::<Clock>().current_time(), secs(5));
    /// scope.close(Ok(())).await.unwrap();
    /// # }
    /// ```
    pub fn build_scoped(&self, ctx: &Context, scope: &Scope) -> Run<Context, Never> {
        Layer::from(self.clone()).build_scoped(ctx, scope)
    }
}
