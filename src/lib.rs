//! # effect
//!
//! Effect programs for Rust: lazy, composable async work with typed errors, structured
//! concurrency, resource safety, injectable services and deterministic time, on tokio.
//!
//! The package is `effectkit`; it is imported as `effect`. `cargo add effectkit` writes
//! `effectkit = "0.1"`, a dependency whose key is `effectkit` and whose library is named
//! `effect`, so code says `use effect::prelude::*;` (`effect` and `effect-runtime` on
//! crates.io are unrelated crates). Renamed in Cargo.toml
//! (`my_fx = { package = "effectkit", version = "0.1" }`), it is `my_fx`, attributes included
//! (`#[my_fx::test]`), and the macros' generated code follows the rename.
//!
//! The [`prelude`] holds what an effect body writes; what is set up around one
//! ([`Context`], [`Runtime`], [`Layer`], [`Ref`], [`Queue`], ...) is imported from the crate
//! root by name.
//!
//! ## Effects are values
//!
//! An [`Effect<A, E>`](Effect) describes work that succeeds with an `A` or fails with a
//! [`Cause<E>`](Cause). Building one runs nothing; [`Effect::run`] (or [`run_blocking`])
//! runs it. Because effects are values, they compose: [`map`](Effect::map),
//! [`flat_map`](Effect::flat_map), [`zip_par`], [`race()`], [`timeout`](Effect::timeout),
//! [`retry`] and the rest build bigger effects from smaller ones, and a function returning an
//! effect is a reusable recipe.
//!
//! ```
//! use effect::prelude::*;
//!
//! let greeting: Effect<String, String> = succeed("effect")
//!     .map(|name| format!("hello, {name}"))
//!     .ensuring(sync(|| println!("cleanup runs however it ends")));
//! assert_eq!(effect::run_blocking(greeting), Ok("hello, effect".to_string()));
//! ```
//!
//! ## The DSL
//!
//! Most code is written as do-notation bodies: [`#[effect]`](prelude::effect) functions and
//! [`effect_block!`] blocks, where `expr?` binds an effect (or a `Result`), the tail is the
//! value, and [`par!`], [`race!`], [`catch!`] and [`catch_all!`] are clauses:
//!
//! ```
//! use effect::prelude::*;
//!
//! #[derive(Debug, PartialEq)]
//! enum AppError { NotFound }
//!
//! #[effect]
//! fn load(id: u32) -> Effect<String, AppError> {
//!     sleep(ms(1))?;
//!     if id == 0 {
//!         fail(AppError::NotFound)?;
//!     }
//!     format!("item-{id}")
//! }
//!
//! #[effect]
//! fn page() -> Effect<String, AppError> {
//!     let (a, b) = par!(load(1), load(2))?;
//!     let fallback = catch!(load(0), { AppError::NotFound => "none".to_string() })?;
//!     format!("{a} {b} {fallback}")
//! }
//! assert_eq!(effect::run_blocking(page()), Ok("item-1 item-2 none".to_string()));
//! ```
//!
//! | you write | meaning |
//! |---|---|
//! | `EXPR?` | **bind**: run the effect `EXPR`, give its value, or leave the body with its failure (converted with `From` into the body's error type). On a `Result` it does the same. |
//! | `EXPR;` | a plain statement. An effect there would be dropped unrun, so it is refused: bind it (`EXPR?;`), or drop it on purpose (`let _ = EXPR;`). |
//! | `par!(B1, B2, ..)` | the branches concurrently, fail-fast, giving the tuple of their values. |
//! | `race!(B1, B2, ..)` | the first branch to succeed; the losers are interrupted. |
//! | `catch!(B, { PAT => EXPR, .. })` | B; a failure matching an arm is recovered with the arm's value, any other propagates unchanged. The error type stays B's. |
//! | `catch_all!(B, { PAT => EXPR, .. })` | B, every failure recovered by the arms, which must match them all (checked as any `match` is). No failure is left, so the error type is free: [`Never`] for an effect that cannot fail, or the one the arms' binds fail with, like Effect-TS's `catchTags` narrowing its error channel to `never`. |
//!
//! Defects and interruptions are never caught by `catch!` or `catch_all!`: they pass through
//! unchanged.
//!
//! ## Structured concurrency
//!
//! - A forked fiber ([`Effect::fork`]) is a child of the fiber that forked it: when the parent
//!   ends, however it ends, a child still running is interrupted and awaited.
//! - [`zip_par`] and `par!` are fail-fast: the first failure interrupts the other branches,
//!   whose finalizers have run before the failure is reported.
//! - [`race()`] yields the first success; the losers are interrupted and their finalizers have
//!   run before it yields. [`for_each_par`] never has more than `parallelism` items in
//!   flight.
//! - Interruption is cooperative: at a suspension point the in-flight future is dropped,
//!   then every registered async finalizer ([`ensuring`](Effect::ensuring),
//!   [`acquire_release`], ...) runs, in reverse order, exactly once.
//!   [`uninterruptible`](Effect::uninterruptible) regions finish first.
//! - [`Runtime::live_fibers`] counts the fibers a runtime started, so tests can assert that
//!   nothing leaked, and [`Runtime::dump`] says what each is doing: its name
//!   ([`fork_named`](Effect::fork_named), [`named`](Effect::named)), the fiber that started
//!   it, its age, and what it waits on (a sleep until time T, a join of fiber N, a
//!   `Deferred`, a queue, a semaphore, a pool, its children closing, a race's members, a
//!   future of its own), printed as a tree. An `#[effect::test]` that leaks prints it, and
//!   so does one stuck on a `TestClock` nobody advances.
//!
//! ```
//! use effect::prelude::*;
//! use effect::{Context, Runtime};
//!
//! # #[tokio::main(flavor = "current_thread")] async fn main() {
//! let runtime = Runtime::new(Context::new());
//! runtime.fork_named("worker", sleep::<Never>(secs(60)));
//! tokio::task::yield_now().await;
//! let dump = runtime.dump().to_string();
//! // 1 live fiber(s)
//! // #1 "worker" 52.0µs, waiting: sleep, 60.0s left
//! assert!(dump.contains("\"worker\"") && dump.contains("waiting: sleep"));
//! runtime.shutdown().await;
//! # }
//! ```
//!
//! ## Errors, defects, interruption
//!
//! A [`Cause`] separates the **typed failure** you expect (`Fail(E)`, recovered by
//! [`catch_all`](Effect::catch_all) and friends) from **defects** (`Die`: a panic in user
//! code, or [`die`]; never recovered by typed handlers) and **interruption**. Composed
//! causes (`Then`, `Both`) keep everything: a finalizer that panics while an effect fails is
//! reported after the failure, not instead of it. A cause renders as a readable tree; a
//! defect says where it happened ([`Defect::location`]), an interruption which fiber asked
//! for it ([`Cause::Interrupt`]).
//!
//! When `E` is a `std::error::Error` (a `thiserror` enum, `io::Error`, ...), so is
//! `Cause<E>`, and one `?` turns a run's result into `anyhow::Error` or
//! `Box<dyn Error + Send + Sync>`; the chain shows each message once.
//!
//! ```
//! #[derive(Debug)]
//! struct DiskFull;
//! impl std::fmt::Display for DiskFull {
//!     fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
//!         f.write_str("disk full")
//!     }
//! }
//! impl std::error::Error for DiskFull {}
//!
//! fn save() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
//!     effect::run_blocking(effect::fail::<(), DiskFull>(DiskFull))?;
//!     Ok(())
//! }
//! assert_eq!(save().unwrap_err().to_string(), "disk full");
//! ```
//!
//! ## Services and resources
//!
//! A [`Context`] is a typed map of services; a body reads one with [`service::<T>()`](service)
//! (or [`service_with`] for a service that is not `Clone`), and a missing service is a
//! defect naming it. [`Layer`]s build services into a context within a [`Scope`], memoized
//! and torn down in reverse order, and [`Effect::provide`] runs an effect with a layer's
//! services. [`acquire_release`] ties a resource's release to the enclosing [`scoped`]
//! region.
//!
//! ```
//! use effect::prelude::*;
//!
//! #[derive(Clone)]
//! struct Config { greeting: &'static str }
//!
//! #[effect]
//! fn greet(name: String) -> Effect<String, String> {
//!     let config = service::<Config>()?;
//!     format!("{}, {name}", config.greeting)
//! }
//!
//! let program = greet("world".into()).provide(effect::Layer::succeed(Config { greeting: "hello" }));
//! assert_eq!(effect::run_blocking(program), Ok("hello, world".to_string()));
//! ```
//!
//! ## The toolkit
//!
//! What a service reaches for on its first day, each built in a [`Scope`] (closing it stops
//! the thing, interrupts whoever waits and releases what it holds) and timed on the
//! context's [`Clock`]: [`Pool`] and [`KeyedPool`] (reusable items, checked out for the
//! length of a scope), [`RateLimiter`] and [`KeyedRateLimiter`] (token bucket or fixed
//! window, waiters in order), [`Cache`] (one lookup per missing key however many ask,
//! least-recently-used eviction, a time to live per exit), [`Queue`] with its four
//! strategies, [`Semaphore`] permits held for a scope, and [`CircuitBreaker`].
//!
//! ```
//! use effect::prelude::*;
//! use effect::{Cache, Pool, RateLimiter};
//!
//! #[derive(Clone, Debug, PartialEq)]
//! struct Connection(u32);
//!
//! let program: Effect<Vec<String>, String> = scoped(effect_block! {
//!     let pool = Pool::make(|| succeed::<_, String>(Connection(1)), 1..=2)?;
//!     let limiter = RateLimiter::token_bucket(10, 10, secs(1));
//!     let users = Cache::make(100, secs(60), move |id: &u32| {
//!         let (pool, id) = (pool.clone(), *id);
//!         // A lookup checks a connection out for its own length.
//!         scoped(pool.get().map(move |conn| format!("user {id} via connection {}", conn.0)))
//!     })?;
//!     let gets: Vec<_> = [1, 2, 1].into_iter().map(|id| users.get(id).rate_limited(&limiter)).collect();
//!     zip_par(gets)?
//! });
//! let names = effect::run_blocking(program).unwrap();
//! assert_eq!(names[0], names[2]); // the second get of user 1 came from the cache
//! ```
//!
//! ## Supervision
//!
//! [`supervisor::Supervisor`] keeps long-running child services alive, with Erlang/OTP's
//! semantics (which neither ZIO nor Effect-TS ships): a restart strategy (one-for-one,
//! one-for-all, rest-for-one), a restart policy per child (permanent, transient, temporary),
//! a backoff [`Schedule`], and an intensity limit (at most N restarts in a period), past which
//! it stops its children and fails, escalating to its own supervisor. Supervisors nest into
//! a tree ([`into_child`](supervisor::Supervisor::into_child)); interrupting one stops its
//! children in reverse start order, each within its shutdown timeout, with its finalizers.
//! On a [`TestClock`] every restart happens at an exact virtual instant.
//!
//! ## Running effects
//!
//! An effect runs with a context: [`Effect::run`]`(&ctx).await` from async code,
//! [`Runtime::run`] to count and shut down what it starts, [`run_blocking`] from `main`, or
//! [`#[effect::main]`](main) / [`#[effect::test]`](test). Inside a body, `effect?` (or
//! `effect.await` for its `Exit`) runs an effect on the same fiber, with the same context.
//! **Awaiting an effect anywhere else** — in a `#[tokio::test]`, in `main`, in a task
//! spawned with `tokio::spawn` — panics with that advice: there is no context there, so it
//! would sleep on the real clock instead of the test's `TestClock` and miss every service.
//!
//! ## Fiber-local values
//!
//! A [`FiberRef`] holds one value per fiber: what every nested call of a piece of work should
//! see without it being passed down (a request id, a deadline). A fiber starts with a copy of
//! the values of the fiber that started it (forks, `par!` / `race!` / [`for_each_par`]
//! branches, a timeout's effect); what it sets afterwards is its own, and is never merged back
//! when it is joined. [`locally`](FiberRef::locally) scopes a value to one effect.
//!
//! ```
//! use std::sync::LazyLock;
//! use effect::prelude::*;
//!
//! static REQUEST_ID: LazyLock<FiberRef<u64>> = LazyLock::new(|| FiberRef::new(0));
//!
//! #[effect]
//! fn audit(action: &'static str) -> Effect<String, String> {
//!     format!("request {}: {action}", REQUEST_ID.get()?)
//! }
//!
//! let request = REQUEST_ID.locally(7, par!(audit("read"), audit("write")));
//! assert_eq!(
//!     effect::run_blocking(request),
//!     Ok(("request 7: read".to_string(), "request 7: write".to_string()))
//! );
//! ```
//!
//! ## Tracing
//!
//! With the `tracing` feature (on by default), effects keep the spans of the
//! [`tracing`](https://docs.rs/tracing) crate across fibers, the way `tracing`'s own
//! `Instrument` does for one future:
//!
//! - **Spans follow fibers.** A fiber runs in the span that was current where it was started,
//!   entered on every poll of its work: a fiber forked with [`Effect::fork`] (or
//!   [`fork_daemon`](Effect::fork_daemon)), every branch of [`zip_par`] / `par!`, [`race()`] /
//!   [`race_first`] / `race!` and [`for_each_par`], the effect a
//!   [`timeout`](Effect::timeout) guards, and a fiber started with [`Runtime::fork`] (in the
//!   span current at the call). So what a branch logs has the request's span as an ancestor,
//!   though the branch runs on a task of its own. A root run ([`Effect::run`]) runs in
//!   whatever span is current where its future is polled.
//! - **Instrumenting effects.** [`Effect::instrument`] runs an effect in a span you made;
//!   [`Effect::with_span`] makes an `INFO` span named as you say (target `effect`, with the
//!   running fiber's id in its `fiber` field) when the effect starts, as a child of the
//!   fiber's span then. Either span is entered exactly while that effect's work is polled
//!   (the fibers it starts inherit it), and is closed when the effect ends, however it ends:
//!   success, failure, defect or interruption. The effect's own finalizers run in it; code
//!   after the effect does not.
//! - **Fibers that end badly are reported**, once each, as events of target `effect` with
//!   the fields `fiber` (its [`FiberId`]) and `cause` (the [`Cause`] as a tree; typed
//!   failures appear by their type's name), logged in the span the fiber started in:
//!
//! | the fiber ended with | level | message |
//! |---|---|---|
//! | a defect (a panic, [`die`]), its own or a finalizer's | `ERROR` | `fiber died` |
//! | interruption, and no new defect | `DEBUG` | `fiber interrupted` |
//! | a success or a typed failure | not reported | |
//!
//! A defect is reported by the first fiber it ends: fibers that fail with that same defect
//! afterwards (joining the fiber, a `par!` whose branch died) do not report it again, so a
//! panic is one `ERROR` event however far it travels. Interruption is `DEBUG` because
//! structured concurrency interrupts fibers as a matter of course (race losers, expired
//! timeouts, fail-fast siblings). Typed failures are values for whoever runs or joins the
//! fiber to judge (a `NotFound` that a `catch!` recovers is no incident): log them where you
//! handle them.
//!
//! The levels are a [`FiberEvents`] in the context (a `Runtime`'s, or any effect's with
//! `provide`): each kind of event at another level, or turned off, and a fiber's typed
//! failure reported too (`fiber failed`) if you want it.
//!
//! A root run whose effect is a plain defect ([`Runtime::run`] of a `die(..)`) ends without
//! running a fiber; it is reported all the same, under the fiber id `#0`.
//!
//! With no subscriber (or none interested) this costs a null check per fiber poll and a
//! level check per fiber end. Without the feature, `instrument` and `with_span` do not exist.
//!
//! ```
//! use effect::prelude::*;
//!
//! #[effect]
//! fn load(table: &'static str) -> Effect<usize, String> {
//!     sleep(ms(1))?;
//!     // Logged in `request{id=7}:load{fiber=#..}`, on the branch's own fiber.
//!     tracing::info!(table, "loaded");
//!     table.len()
//! }
//!
//! #[effect]
//! fn handle() -> Effect<usize, String> {
//!     let (users, orders) = par!(load("users").with_span("load"), load("orders").with_span("load"))?;
//!     users + orders
//! }
//!
//! # let subscriber = tracing_subscriber::fmt().with_max_level(tracing::Level::DEBUG).finish();
//! # tracing::subscriber::set_global_default(subscriber).unwrap();
//! let request = handle().instrument(tracing::info_span!("request", id = 7));
//! assert_eq!(effect::run_blocking(request), Ok(11));
//! ```
//!
//! ## Metrics
//!
//! With the `metrics` feature (off by default), the runtime records what an operator watches
//! through the [`metrics`](https://docs.rs/metrics) facade, so any recorder the application
//! installs receives it (a Prometheus exporter; `integrations/examples/http_service.rs`
//! serves `/metrics` with one):
//!
//! - **fibers**: started and ended by outcome (`success`, `failure`, `defect`,
//!   `interrupted`), users' fibers apart from combinators' members; users' fibers live, and
//!   how long each lived;
//! - **combinators**: retries and repeats by [`Schedule`] name, timeouts that fired, race
//!   losers interrupted;
//! - **the toolkit**, for the objects given a name (`Pool::named`, `KeyedPool::named`, `RateLimiter::named`,
//!   `CacheBuilder::named`, `Queue::named`): pool size, idle, in use and wait time;
//!   rate-limiter waits; cache hits, misses, loads and evictions; queue depth and the items
//!   refused or dropped;
//! - **your own**: `effect.tracked("name")` counts and times an effect by outcome on the
//!   context's clock (virtual time under a [`TestClock`]), and `metrics::Counter`, `Gauge` and
//!   `Histogram` are named metrics whose updates are effects.
//!
//! The `effect::metrics` module lists every metric with its labels. With no recorder
//! installed a metric costs a few nanoseconds (`fork_join` with fiber metrics on is within a
//! few percent of it with them off: the bench's `metered_fork_join`); without the feature,
//! nothing.
//!
//! ```
//! # #[cfg(feature = "metrics")] {
//! use effect::prelude::*;
//!
//! let lookup: Effect<u32, String> = sleep(ms(1)).as_value(7).tracked("user_lookup");
//! assert_eq!(effect::run_blocking(lookup), Ok(7)); // effect_tracked_total{name="user_lookup",outcome="success"} += 1
//! # }
//! ```
//!
//! ## Testing time
//!
//! Time is a service: [`sleep`], timeouts and schedules read the [`Clock`] in the context.
//! Put a [`TestClock`] there and time moves only when the test calls
//! [`advance`](TestClock::advance), which first waits until every fiber on the clock is
//! blocked, then wakes sleepers in deadline order, running each woken fiber until it blocks
//! again. No test ever sleeps for real. [`#[effect::test]`](test) sets this up. Read the
//! time with [`now`] (wall clock) and [`instant`] (monotonic, for durations; or
//! [`Effect::timed`]): under a `TestClock` both move with virtual time only. Randomness is a
//! service too: [`Random`], which [`Schedule::jittered`] draws from, and a seeded
//! [`TestRandom`] that `#[effect::test]` provides, so jittered retries replay exactly.
//!
//! ```
//! use effect::prelude::*;
//!
//! #[effect::test]
//! fn a_timeout_fires_at_its_deadline(clock: TestClock) -> Effect<(), String> {
//!     let slow = sleep::<String>(secs(10)).as_value("done").timeout(secs(5)).fork()?;
//!     clock.advance(secs(5)).await;
//!     assert_eq!(slow.join()?, None);
//! }
//! # fn main() {}
//! ```
#![warn(missing_docs)]
#![forbid(unsafe_code)]
#![cfg_attr(docsrs, feature(doc_cfg))]

// The macros' generated code names this crate as its users do: `::effect::__private` (or the
// name of a renamed dependency). This makes `::effect` resolve inside the crate too.
extern crate self as effect;

pub use effectkit_runtime::*;

/// `effect::effect! { BODY }`: an effect block; the same macro as [`effect_block!`].
///
/// It is named `effect!` at the crate root. The prelude cannot export a macro named `effect`
/// beside the `#[effect]` attribute (Rust keeps one macro per name in a scope), so after
/// `use effect::prelude::*;` write blocks as `effect_block! { .. }`.
///
/// ```
/// let two: effect::Effect<u32, String> = effect::effect! { effect::succeed(1)? + 1 };
/// assert_eq!(effect::run_blocking(two), Ok(2));
/// ```
pub use effectkit_macros::effect_block as effect;

/// `effect_block! { BODY }`: an effect written as a do-notation body.
///
/// BODY is ordinary Rust with one extra meaning: `expr?` **binds**. On an `Effect<T, E2>`
/// it runs the effect and gives its value, or leaves the block with its cause; on a
/// `Result<T, E2>` it does the same with the `Err`. The tail expression is the block's
/// value (a value, not an effect: bind effects with `?`), `return value` ends it early,
/// and `.await` on plain futures works. A statement that would drop an effect unrun
/// (`sleep(d);` without `?`) is refused: bind it, or drop it on purpose with `let _ =`. `?` inside closures, `async` blocks and nested fns
/// keeps its plain Rust meaning. Binding a plain value (`succeed(x)?`) costs a branch.
///
/// In an `effect_block!` every bind shares the block's error type, except effects that
/// cannot fail (`Effect<A, Never>`), which bind in any block; inside an `#[effect] fn`
/// (whose error type is declared) a bound error converts with `From`. One consequence: a
/// block cannot see its error type before its end, so a constructor whose error type is
/// generic and must convert from something (`queue.offer(x)`, `Effect<(), E>` for any
/// `E: From<QueueShutdown>`) is taken to be infallible there and is refused; spell its
/// error type (`queue.offer::<MyError>(x)?`), or write an `#[effect] fn`, where the
/// declared error type is used.
///
/// ```
/// use effect::prelude::*;
///
/// let total: Effect<u32, String> = effect_block! {
///     let mut total = 0;
///     for n in 1..=3 {
///         total += succeed(n)?;
///     }
///     if total > 100 {
///         fail("too big".to_string())?;
///     }
///     total
/// };
/// assert_eq!(effect::run_blocking(total), Ok(6));
/// ```
pub use effectkit_macros::effect_block;

/// `par!(B1, B2, ..)`: runs 2 to 12 branches concurrently and yields the tuple of their
/// values; fail-fast (the first failure interrupts the others, whose finalizers run before
/// it fails). A branch is an effect expression or an inline `{ BODY }` block. It is an
/// effect: bind it with `?`.
///
/// ```
/// use effect::prelude::*;
///
/// #[effect]
/// fn both() -> Effect<(u32, &'static str), String> {
///     par!(succeed(1), { sleep(ms(1))?; "two" })?
/// }
/// assert_eq!(effect::run_blocking(both()), Ok((1, "two")));
/// ```
pub use effectkit_macros::par;

/// `race!(B1, B2, ..)`: yields the first branch to **succeed**; the losers are interrupted
/// and their finalizers have run before it yields. Fails only when every branch fails,
/// with all their causes. Branches as in [`par!`].
///
/// ```
/// use effect::prelude::*;
///
/// #[effect]
/// fn fastest() -> Effect<&'static str, String> {
///     race!({ sleep(ms(50))?; "slow" }, { sleep(ms(1))?; "fast" })?
/// }
/// assert_eq!(effect::run_blocking(fastest()), Ok("fast"));
/// ```
pub use effectkit_macros::race;

/// `catch!(B, { PAT => EXPR, .. })`: runs `B`; a typed failure matching an arm is
/// recovered with that arm's value (arms are effect-body code, so they may bind with `?`,
/// and take guards `PAT if cond =>`; `return v` in an arm gives the catch the value `v`). An
/// unmatched failure, a defect or an interruption propagates unchanged.
///
/// Bound with `?` in a body, `catch!(..)?` is compiled into that body, as the `match` on a
/// call's error an `async fn` would write: no effect of its own is built or run.
///
/// ```
/// use effect::prelude::*;
///
/// #[derive(Debug, PartialEq)]
/// enum AppError { NotFound, Down }
///
/// #[effect]
/// fn profile(id: u32) -> Effect<&'static str, AppError> {
///     let found = catch!(fail(AppError::NotFound), {
///         AppError::NotFound => "guest",
///     })?;
///     found
/// }
/// assert_eq!(effect::run_blocking(profile(1)), Ok("guest"));
/// let down: Effect<u32, AppError> = catch!(fail(AppError::Down), { AppError::NotFound => 0 });
/// assert_eq!(effect::run_blocking(down).unwrap_err().failure(), Some(&AppError::Down));
/// ```
pub use effectkit_macros::catch;

/// `catch_all!(B, { PAT => EXPR, .. })`: runs `B` and recovers **every** typed failure with
/// the arms, which must match them all: the compiler checks it as it checks any `match`, and
/// names a variant they miss. With no failure left to propagate, the result's error type is
/// free: `Never` (an effect that cannot fail, binding in any body), or the error type the
/// arms' binds fail with (an arm may bind with `?`: `Err::Stale => refetch()?`). Defects
/// and interruptions pass through unchanged, as with [`catch!`].
///
/// Use it where every failure has a recovery, instead of [`catch!`] and a placeholder
/// error type: the type then says the effect cannot fail. Bound with `?` in a body,
/// `catch_all!(..)?` is compiled into the body, as `catch!(..)?` is.
///
/// ```
/// use effect::prelude::*;
///
/// #[derive(Debug, PartialEq)]
/// enum LoadError { NotFound, Timeout }
///
/// fn load(id: u32) -> Effect<&'static str, LoadError> {
///     match id {
///         0 => fail(LoadError::NotFound),
///         1 => fail(LoadError::Timeout),
///         _ => succeed("profile"),
///     }
/// }
///
/// fn profile_or_guest(id: u32) -> Effect<&'static str, Never> {
///     catch_all!(load(id), {
///         LoadError::NotFound => "guest",
///         LoadError::Timeout => "cached",
///     })
/// }
/// assert_eq!(effect::run_blocking(profile_or_guest(0)), Ok("guest"));
/// assert_eq!(effect::run_blocking(profile_or_guest(1)), Ok("cached"));
/// assert_eq!(effect::run_blocking(profile_or_guest(2)), Ok("profile"));
///
/// // An effect that cannot fail binds in a body of any error type.
/// #[effect]
/// fn page(id: u32) -> Effect<String, String> {
///     format!("page of {}", profile_or_guest(id)?)
/// }
/// assert_eq!(effect::run_blocking(page(0)), Ok("page of guest".to_string()));
/// ```
///
/// Arms that leave a failure unmatched are refused where they are written:
///
/// ```compile_fail,E0004
/// use effect::prelude::*;
///
/// #[derive(Debug)]
/// enum LoadError { NotFound, Timeout }
///
/// fn guest(effect: Effect<&'static str, LoadError>) -> Effect<&'static str, Never> {
///     // error[E0004]: non-exhaustive patterns: `LoadError::Timeout` not covered
///     catch_all!(effect, { LoadError::NotFound => "guest" })
/// }
/// ```
pub use effectkit_macros::catch_all;

/// `#[effect::test]`: a test whose body is an effect body. The test gets a fresh
/// [`TestClock`] (take it as the one argument, `clock: TestClock`, or take none), fails with
/// the rendered cause if the effect fails, and fails if a fiber it started is still alive at
/// the end. Its context also holds a seeded [`TestRandom`] (seed
/// [`dsl::TEST_SEED`]), so jittered schedules and `random_*` effects
/// give the same values on every run.
///
/// The fn returns `Effect<(), E>` with `E: Debug` (failures are rendered with it): assert on
/// values in the body.
///
/// A test that goes wrong says where its fibers were: one that leaks fibers prints the
/// [`Runtime::dump`] of those left; one whose sleeps wait on a clock nobody advances prints
/// each fiber's wait after two seconds of real time; and with `EFFECT_TEST_TIMEOUT=S` set
/// (seconds of real time; CI sets it), one still running after `S` seconds fails with the
/// dump of what each fiber was waiting on, instead of hanging.
///
/// It runs on a current-thread runtime; like `#[tokio::test]`, it takes
/// `flavor = "multi_thread"` (and with it `worker_threads = N`, N >= 1; tokio's default is
/// one per core) to run on worker threads. The test clock works the same there:
/// [`advance`](TestClock::advance) waits for the fibers on every worker to block.
///
/// ```
/// use effect::prelude::*;
///
/// #[effect::test]
/// fn sleeps_are_instant(clock: TestClock) -> Effect<(), String> {
///     let sleeper = sleep::<String>(secs(3600)).fork()?;
///     clock.advance(secs(3600)).await;
///     sleeper.join()?;
///     assert_eq!(clock.current_time(), secs(3600));
/// }
///
/// #[effect::test(flavor = "multi_thread", worker_threads = 2)]
/// fn on_two_workers(clock: TestClock) -> Effect<(), String> {
///     let both = par!({ sleep(secs(1))?; 1 }, { sleep(secs(2))?; 2 }).fork()?;
///     clock.advance(secs(2)).await;
///     assert_eq!(both.join()?, (1, 2));
/// }
/// # fn main() {}
/// ```
pub use effectkit_macros::test;

/// The traits and types behind the DSL's `?`, tail values and return types.
///
/// You never implement or call these: the macros use them, and the compiler names them when
/// a body misuses one (binding something that is not an effect, a tail that is an unbound
/// effect, an effect dropped by a statement without `?`
/// ([`StatementValue`](dsl::StatementValue)), an `#[effect]` fn that does not return an
/// effect, an effect awaited with
/// `.await?`, a bound failure without a `From` into the body's error type:
/// [`BoundFailure`](dsl::BoundFailure), [`BodyFailure`](dsl::BodyFailure)).
///
/// ```compile_fail
/// use effect::prelude::*;
///
/// #[effect]
/// fn count() -> Effect<u32, Never> {
///     // error: the trait `effect::dsl::Bindable` is not implemented for `Option<u32>`
///     // (a note says to convert it first: `option.ok_or(error)?`)
///     Some(1)?
/// }
/// ```
pub mod dsl {
    pub use effectkit_runtime::dsl::{
        AwaitInBody, AwaitReady, Bindable, BodyFailure, BodyValue, BoundFailure, EffectAwaited,
        EffectType, StatementValue, TEST_SEED,
    };
}

/// `#[effect::main]`: a program whose `main` is an effect body.
///
/// `#[effect::main] fn main() -> Effect<(), E> { BODY }` runs BODY (compiled as in
/// [`#[effect]`](prelude::effect)) on a multi-thread tokio runtime whose context holds the
/// live [`Clock`]. It takes the arguments of [`#[effect::test]`](test):
/// `flavor = "current_thread"`, or `"multi_thread"` (the default) with `worker_threads = N`.
///
/// - On success the process exits with code 0. On failure (a typed failure, a defect or an
///   interruption) the [`Cause`] is written to stderr as a tree, its typed failures rendered
///   with `E`'s `Debug`, and the process exits with code 1.
/// - Either way, after the effect ends the runtime shuts down gracefully
///   ([`Runtime::shutdown_timeout`], 30 seconds): daemons and forks still running are
///   interrupted and have run their finalizers before the process exits.
/// - The fn takes no arguments (read `std::env::args()` in the body), is not `async` or
///   generic, and returns `Effect<(), E>`. It may have any name: named otherwise than
///   `main`, it is a plain `fn()` that runs the program and ends the process when called.
///
/// ```
/// use effect::prelude::*;
///
/// #[derive(Debug)]
/// enum AppError { Unreachable }
///
/// #[effect::main(worker_threads = 2)]
/// fn main() -> Effect<(), AppError> {
///     let (a, b) = par!({ sleep(ms(1))?; 1 }, succeed(2))?;
///     if a + b != 3 {
///         fail(AppError::Unreachable)?;
///     }
///     println!("{a} + {b} = 3");
/// }
/// ```
pub use effectkit_macros::main;

/// Support for macro-generated code. Not part of the API.
#[doc(hidden)]
pub mod __private {
    pub use effectkit_runtime::dsl::*;
    pub use effectkit_runtime::{race, zip_par, Effect, TestClock};
}

/// What an effect body needs, for `use effect::prelude::*;`.
///
/// The rule: a name is here if code *inside* an effect body or `#[effect]` fn writes it
/// often, and it cannot clash with a name from `std` or tokio that the same file may import.
///
/// - effects and their constructors: [`Effect`], [`succeed`], [`fail`], [`fail_cause`],
///   [`die`], [`sync`], [`attempt`], [`attempt_async`], [`from_async`], [`suspend`],
///   [`sleep`], [`never`](fn@never), [`yield_now`];
/// - the DSL: [`#[effect]`](macro@effect), [`effect_block!`], [`par!`], [`race!`], [`catch!`],
///   [`catch_all!`];
/// - what a body reads from its context: [`service`], [`service_with`], [`now`],
///   [`instant`];
/// - durations: [`ms`], [`secs`];
/// - outcomes: [`Cause`], [`Exit`], [`Never`] (the error of an effect that cannot fail);
/// - combinators called as functions: [`zip_par`], [`race()`], [`race_first`],
///   [`for_each_par`], [`retry`], [`repeat`], [`Schedule`], [`acquire_release`],
///   [`acquire_use_release`], [`scoped`];
/// - [`TestClock`], which an `#[effect::test]` fn takes as its argument;
/// - [`FiberRef`], the fiber-local values bodies read and scope without passing them down
///   (`REQUEST_ID.get()?`, `DEADLINE.locally(..)`).
///
/// Everything else is at the crate root, imported by name where it is used:
/// `use effect::{Context, Runtime, Ref, Queue, Semaphore};`. Those are set up around a body
/// rather than written in it, or their names (`Context`, `Runtime`, `Semaphore`, `Scope`,
/// `Layer`, `Ref`, `Queue`) clash with `std`, tokio and other crates' names.
///
/// ```
/// use effect::prelude::*;
/// use effect::{Context, Ref};
///
/// #[effect]
/// fn count_to(n: u32) -> Effect<u32, Never> {
///     let counter = Ref::new(0);
///     for _ in 0..n {
///         counter.update(|c| *c += 1)?;
///     }
///     counter.get()?
/// }
///
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// assert_eq!(count_to(3).run(&Context::new()).await, Ok(3));
/// # });
/// ```
pub mod prelude {
    /// `#[effect] fn name(args) -> Effect<A, E> { BODY }`: a function whose body is an effect
    /// body (see [`effect_block!`](crate::effect_block)); calling it builds the effect, which
    /// owns the arguments. Bound errors convert into `E` with `From`.
    ///
    /// Rules: the fn is not `async`; its arguments are owned (`'static`) and `Send`; methods
    /// take `self` by value (or `self: Arc<Self>`), since the effect runs after the call
    /// returns. On a trait, put it on the method in each `impl` (or on a default method).
    ///
    /// - The return type may be any alias of `Effect<A, E>` (`type AppEffect<A> = Effect<A,
    ///   AppError>;`), or come from a macro's `$ret:ty`: the body reads `A` and `E` through
    ///   [`EffectType`](crate::dsl::EffectType).
    /// - A bound failure converts into `E` with `From`, exactly like `?` in a fn returning
    ///   `Result`; an effect that cannot fail (`Effect<A, Never>`) binds in any body.
    /// - A tail or last statement that never finishes (`panic!(..)`, `unreachable!()`,
    ///   `return x;`, `loop {}` without `break`) is fine, and warns about nothing.
    /// - `effect?` binds an effect; `.await?` is for plain futures (on an effect it is refused
    ///   with that advice).
    /// - The fn is `#[inline]` (unless you give it an `#[inline(..)]` of your own): like an
    ///   `async fn`'s state machine, its body is compiled by the crate that uses it, not by a
    ///   library that only defines it. Calls between `#[effect]` fns never nest generic code,
    ///   so a chain of any length compiles.
    /// - `#[effect(instrument)]` (the `tracing` feature) runs the effect in a span, with
    ///   `#[tracing::instrument]`'s meaning: named after the fn, at `INFO`, recording each
    ///   argument (and `self`) with `Debug`, made when the fn is called (a child of the span
    ///   current then), entered while the effect runs and closed when it ends, however it
    ///   ends. Its arguments: `name = ".."`, `target = ".."`, `level = "debug"`, `skip(a, b)`,
    ///   `skip_all`, `fields(id = %order.id, attempt = 1)` (which take the place of an
    ///   argument of the same name), and `err` (or `err(Debug)`), which records a typed
    ///   failure as an `ERROR` event, `error = %e`, inside the span.
    ///
    /// ```
    /// use effect::prelude::*;
    ///
    /// #[effect(instrument(level = "debug", skip(token), err))]
    /// fn fetch(user: u32, token: String) -> Effect<usize, String> {
    ///     sleep(ms(1))?; // inside `fetch{user=7}`
    ///     token.len()
    /// }
    /// assert_eq!(effect::run_blocking(fetch(7, "s3cret".into())), Ok(6));
    /// ```
    ///
    /// ```
    /// use effect::prelude::*;
    ///
    /// #[derive(Debug, PartialEq)]
    /// enum AppError { Parse(String) }
    /// impl From<String> for AppError {
    ///     fn from(e: String) -> Self { AppError::Parse(e) }
    /// }
    ///
    /// #[effect]
    /// fn parse(text: String) -> Effect<u32, String> {
    ///     text.trim().parse::<u32>().map_err(|e| e.to_string())?
    /// }
    ///
    /// #[effect]
    /// fn sum(a: String, b: String) -> Effect<u32, AppError> {
    ///     parse(a)? + parse(b)? // `String` failures convert into `AppError`
    /// }
    /// assert_eq!(effect::run_blocking(sum("1".into(), " 2".into())), Ok(3));
    ///
    /// type AppEffect<A> = Effect<A, AppError>;
    ///
    /// fn cannot_fail() -> Effect<u32, Never> {
    ///     succeed(40)
    /// }
    ///
    /// #[effect]
    /// fn answer(flag: bool) -> AppEffect<u32> {
    ///     if !flag {
    ///         return 0;
    ///     }
    ///     cannot_fail()? + sum("1".into(), "1".into())?
    /// }
    /// assert_eq!(effect::run_blocking(answer(true)), Ok(42));
    /// ```
    pub use effectkit_macros::effect;
    pub use effectkit_macros::{catch, catch_all, effect_block, par, race};
    pub use effectkit_runtime::{
        acquire_release, acquire_use_release, for_each_par, race, race_first, repeat, retry,
        scoped, zip_par, Schedule,
    };
    pub use effectkit_runtime::{
        attempt, attempt_async, die, fail, fail_cause, from_async, instant, ms, never, now,
        random_f64, random_range, random_u64, secs, service, service_with, shutdown_signal, sleep,
        succeed, suspend, sync, yield_now, Cause, Effect, Exit, FiberRef, Never, TestClock,
    };
}

// The README's example runs as a doctest, so it cannot drift from the API.
#[doc = include_str!("../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;
