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

use crate::kernel::cause::Never;
use crate::kernel::clock::{Clock, TestClock};
use crate::kernel::context::Context;
use crate::kernel::effect::{succeed, Effect};
use crate::kernel::fiber::run::Run;
use crate::ops::par::zip_par;
use crate::ops::scope::{scoped, Scope};

static NEXT_LAYER_ID: AtomicU64 = AtomicU64::new(1);

type BuildFn<E> = dyn Fn(Context, Memo) -> Effect<Context, E> + Send + Sync;

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
/// use effect::{run_blocking, succeed, Context, Effect, Layer};
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

/// The layers built so far in one build, by identity. It holds built contexts only, so one
/// memo serves layers of every error type (a layer and its `map_err` share an identity).
#[derive(Clone)]
struct Memo {
    entries: Arc<Mutex<HashMap<u64, Arc<MemoEntry>>>>,
}

/// One layer's build within a memo: its services once built (`Some(Ok(..))`), or the news
/// that it failed (`Some(Err(()))`).
///
/// The failure itself is not kept: the error type need not be `Clone` (`io::Error` and
/// `anyhow::Error` are not), and nobody needs a copy. Whoever waits on a build that failed
/// is part of the same build graph as the builder, and a layer graph has no recovery in it
/// (`and_then` stops at a failure, `and` is fail-fast): the builder's failure fails the whole
/// build, which interrupts every branch still waiting. So a waiter of a failed build just
/// keeps waiting, interruptibly, and the build's result is the builder's cause alone, not a
/// copy of it per dependent.
struct MemoEntry {
    result: Mutex<Option<Result<Context, ()>>>,
    ready: Notify,
}

impl<E: Send + 'static> Layer<E> {
    fn from_build(
        build: impl Fn(Context, Memo) -> Effect<Context, E> + Send + Sync + 'static,
    ) -> Self {
        Layer {
            id: NEXT_LAYER_ID.fetch_add(1, Ordering::Relaxed),
            build: Arc::new(build),
        }
    }

    /// A layer providing `service` as it is.
    ///
    /// ```
    /// use effect::{run_blocking, service_with, Effect, Layer};
    ///
    /// #[derive(Clone)]
    /// struct Config { retries: u32 }
    ///
    /// let retries: Effect<u32, String> = service_with(|c: &Config| c.retries);
    /// let provided = retries.provide(Layer::succeed(Config { retries: 3 }));
    /// assert_eq!(run_blocking(provided), Ok(3));
    /// ```
    pub fn succeed<T: Clone + Send + Sync + 'static>(service: T) -> Self {
        Layer::from_build(move |_, _| succeed(Context::new().with(service.clone())))
    }

    /// A layer whose service is built by the effect `make` returns, given the layer's input
    /// context (the services built before it).
    ///
    /// ```
    /// use effect::{fail, run_blocking, service_with, succeed, Context, Effect, Layer};
    ///
    /// #[derive(Clone)]
    /// struct Config { url: &'static str }
    /// #[derive(Clone)]
    /// struct Client { url: &'static str }
    ///
    /// let client = Layer::effect(|ctx: Context| {
    ///     let url = ctx.get::<Config>().url;
    ///     if url.is_empty() { fail("no url".to_string()) } else { succeed(Client { url }) }
    /// });
    /// let layers = Layer::succeed(Config { url: "https://api" }).and_then(client);
    /// let url: Effect<&str, String> = service_with(|c: &Client| c.url).provide(layers);
    /// assert_eq!(run_blocking(url), Ok("https://api"));
    /// ```
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
    ///
    /// ```
    /// use std::sync::{Arc, Mutex};
    /// use effect::{acquire_release, run_blocking, service_with, succeed, sync, Context, Effect, Layer};
    ///
    /// #[derive(Clone)]
    /// struct Pool(&'static str);
    ///
    /// let log = Arc::new(Mutex::new(Vec::new()));
    /// let on_close = log.clone();
    /// let pool = Layer::scoped(move |_ctx: Context| {
    ///     let on_close = on_close.clone();
    ///     acquire_release(succeed(Pool("db")), move |_, _| {
    ///         sync(move || on_close.lock().unwrap().push("pool closed"))
    ///     })
    /// });
    /// let name: Effect<&str, String> = service_with(|p: &Pool| p.0).provide(pool);
    /// assert_eq!(run_blocking(name), Ok("db"));
    /// assert_eq!(*log.lock().unwrap(), ["pool closed"]); // torn down when the effect ended
    /// ```
    pub fn scoped<T, F>(make: F) -> Self
    where
        T: Send + Sync + 'static,
        F: Fn(Context) -> Effect<T, E> + Send + Sync + 'static,
    {
        Layer::effect(make)
    }

    /// This layer, then `next`, which sees this layer's services. Provides both.
    ///
    /// ```
    /// use effect::{run_blocking, service, Context, Effect, Layer};
    ///
    /// let base = Layer::succeed(10u32);
    /// let doubled = Layer::effect(|ctx: Context| effect::succeed(ctx.get::<u32>() as u64 * 2));
    /// let both: Effect<(u32, u64), String> =
    ///     service::<u32>().zip(service::<u64>()).widen().provide(base.and_then(doubled));
    /// assert_eq!(run_blocking(both), Ok((10, 20)));
    /// ```
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
    ///
    /// ```
    /// use effect::{run_blocking, service, Effect, Layer};
    ///
    /// let side_by_side = Layer::succeed(1u8).and(Layer::succeed("name"));
    /// let both: Effect<(u8, &str), String> =
    ///     service::<u8>().zip(service::<&str>()).widen().provide(side_by_side);
    /// assert_eq!(run_blocking(both), Ok((1, "name")));
    /// ```
    pub fn and(self, other: Layer<E>) -> Layer<E> {
        Layer::from_build(move |input, memo| {
            let left = self.memoized(input.clone(), memo.clone());
            let right = other.memoized(input, memo);
            zip_par((left, right)).map(|(left, right)| left.merge(&right))
        })
    }

    /// This layer, failing with `f` of its failure. It is the same layer for memoization:
    /// built once per build, however many of the original and mapped copies the graph holds.
    ///
    /// ```
    /// use effect::{fail, run_blocking, succeed, Effect, Layer};
    ///
    /// #[derive(Debug, PartialEq)]
    /// enum AppError { Config(String) }
    ///
    /// let config: Layer<String> = Layer::effect(|_| fail::<u32, _>("no such key".to_string()));
    /// let program: Effect<(), AppError> = succeed(()).provide(config.map_err(AppError::Config));
    /// assert_eq!(
    ///     run_blocking(program).unwrap_err().failure(),
    ///     Some(&AppError::Config("no such key".into()))
    /// );
    /// ```
    pub fn map_err<E2: Send + 'static>(
        self,
        f: impl Fn(E) -> E2 + Send + Sync + 'static,
    ) -> Layer<E2> {
        let f = Arc::new(f);
        let build = self.build;
        Layer {
            id: self.id,
            build: Arc::new(move |input, memo| {
                let f = f.clone();
                build(input, memo).map_err(move |e| f(e))
            }),
        }
    }

    /// This layer, failing with its failure converted by `Into` (the type is usually
    /// inferred: `effect.provide(layer.err_into())`). Same layer for memoization, as
    /// [`map_err`](Layer::map_err).
    ///
    /// ```
    /// use effect::{fail, run_blocking, succeed, Effect, Layer};
    ///
    /// #[derive(Debug, PartialEq)]
    /// struct AppError(String);
    /// impl From<String> for AppError {
    ///     fn from(e: String) -> Self { AppError(e) }
    /// }
    ///
    /// let config: Layer<String> = Layer::effect(|_| fail::<u32, _>("no such key".to_string()));
    /// let program: Effect<(), AppError> = succeed(()).provide(config.err_into());
    /// assert_eq!(run_blocking(program).unwrap_err().failure(), Some(&AppError("no such key".into())));
    /// ```
    pub fn err_into<E2>(self) -> Layer<E2>
    where
        E2: Send + 'static,
        E: Into<E2>,
    {
        self.map_err(Into::into)
    }

    /// Builds this layer, or waits for the build already under way in this memo.
    fn memoized(&self, input: Context, memo: Memo) -> Effect<Context, E> {
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
                let built = match exit {
                    Ok(services) => Ok(services.clone()),
                    Err(_) => Err(()),
                };
                *entry.result.lock().unwrap_or_else(|p| p.into_inner()) = Some(built);
                entry.ready.notify_waiters();
                succeed(())
            });
        }
        Effect::from_future(async move {
            loop {
                // Registered before the check, so a build finishing in between still wakes us.
                let mut notified = std::pin::pin!(entry.ready.notified());
                notified.as_mut().enable();
                let built = entry
                    .result
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .clone();
                match built {
                    Some(Ok(services)) => return Ok(services),
                    // The builder's failure is failing this whole build, which will interrupt
                    // this wait (see `MemoEntry`).
                    Some(Err(())) => std::future::pending::<()>().await,
                    None => notified.await,
                }
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
    ///
    /// # Errors
    /// Fails with the first layer's failure (after tearing down what was built).
    ///
    /// ```
    /// use effect::prelude::*;
    /// use effect::{Context, Layer, Scope};
    ///
    /// #[effect]
    /// fn with_services(scope: Scope) -> Effect<u32, String> {
    ///     let ctx: Context = Layer::succeed(7u32).build(&scope)?;
    ///     ctx.get::<u32>()
    /// }
    ///
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let scope = Scope::new();
    /// assert_eq!(with_services(scope.clone()).run(&Context::new()).await, Ok(7));
    /// scope.close(Ok(())).await.unwrap(); // tears the services down
    /// # }
    /// ```
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
    ///
    /// # Errors
    /// Resolves to the build's cause when a layer fails, dies or the build is interrupted.
    ///
    /// ```
    /// use effect::{Context, Layer, Scope};
    ///
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let scope = Scope::new();
    /// let layer: Layer<String> = Layer::succeed("service");
    /// let env = layer.build_scoped(&Context::new(), &scope).await.unwrap();
    /// assert_eq!(env.get::<&str>(), "service");
    /// scope.close(Ok(())).await.unwrap();
    /// # }
    /// ```
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
    ///
    /// The layer fails with the effect's error type `E`, so layers that cannot fail
    /// ([`Layer::succeed`], [`TestClockLayer`], [`ClockLayer`]) need no annotation; a layer of
    /// another error type converts with [`Layer::err_into`] (through `From`) or
    /// [`Layer::map_err`].
    ///
    /// ```
    /// use effect::{now, run_blocking, Effect, TestClock, TestClockLayer};
    ///
    /// // No `provide::<String>`: the layer takes the effect's error type.
    /// let at: Effect<_, String> = now().provide(TestClockLayer(TestClock::new()));
    /// assert_eq!(run_blocking(at), Ok(std::time::UNIX_EPOCH));
    /// ```
    pub fn provide(self, layer: impl Into<Layer<E>>) -> Effect<A, E> {
        let layer = layer.into();
        scoped(Effect::new(move |ctx: Context| async move {
            // `scoped` has put the scope there.
            let scope = ctx.get::<Scope>();
            let env = layer.build(&scope).await?;
            self.provide_context(env).await
        }))
    }
}

/// The layer providing the live [`Clock`] (what effects use when no clock is provided).
///
/// ```
/// use effect::{now, run_blocking, ClockLayer, Effect};
///
/// let wall: Effect<_, String> = now().provide(ClockLayer);
/// assert!(run_blocking(wall).unwrap() > std::time::UNIX_EPOCH);
/// ```
#[derive(Clone, Copy, Debug, Default)]
pub struct ClockLayer;

/// The layer providing a [`TestClock`] as the context's [`Clock`].
///
/// ```
/// use effect::{instant, run_blocking, Effect, TestClock, TestClockLayer};
///
/// let clock = TestClock::new();
/// let start = clock.instant();
/// let at: Effect<_, String> = instant().provide(TestClockLayer(clock));
/// assert_eq!(run_blocking(at), Ok(start)); // virtual time has not moved
/// ```
#[derive(Clone, Debug)]
pub struct TestClockLayer(pub TestClock);

impl<E: Send + 'static> From<ClockLayer> for Layer<E> {
    fn from(_: ClockLayer) -> Self {
        Layer::succeed(Clock::live())
    }
}

impl<E: Send + 'static> From<TestClockLayer> for Layer<E> {
    fn from(layer: TestClockLayer) -> Self {
        Layer::succeed(Clock::from(layer.0))
    }
}

impl ClockLayer {
    /// Builds the live clock on top of `ctx`; see [`Layer::build_scoped`].
    ///
    /// ```
    /// use effect::{Clock, ClockLayer, Context, Scope};
    ///
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let scope = Scope::new();
    /// let env = ClockLayer.build_scoped(&Context::new(), &scope).await.unwrap();
    /// assert!(env.get::<Clock>().current_time().as_secs() > 0);
    /// scope.close(Ok(())).await.unwrap();
    /// # }
    /// ```
    pub fn build_scoped(&self, ctx: &Context, scope: &Scope) -> Run<Context, Never> {
        Layer::from(*self).build_scoped(ctx, scope)
    }
}

impl TestClockLayer {
    /// Builds the test clock on top of `ctx`; see [`Layer::build_scoped`].
    ///
    /// ```
    /// use effect::{secs, Clock, Context, Scope, TestClock, TestClockLayer};
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
