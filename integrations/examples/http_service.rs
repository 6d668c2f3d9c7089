//! An HTTP service whose handlers are effect programs: `cargo run --example http_service`.
//!
//! Not a section of the guide: it puts the guide's patterns together in one service.
//! `GET /quote/{symbol}` answers a stock quote from a downstream price feed, with what
//! a service needs on its first day in production:
//!
//! - **a deadline per request**: every request's effect runs under `timeout_fail`; past it
//!   the request is interrupted, its cleanup runs, and it answers 504;
//! - **retry with exponential backoff**: the feed fails now and then, and transient failures
//!   are retried on `Schedule::exponential`, a few times;
//! - **a fallback with `catch!`**: a feed that is down, or too slow for the feed budget,
//!   yields the last known price from the quote store, marked `cached`;
//! - **a resource per request**: a connection to the quote store, checked out of an
//!   `effect::Pool` with `pool.get()` and returned when the request's `scoped` region ends,
//!   however it ends;
//! - **services from layers**: the configuration, the feed and the quote store's pool are
//!   built by `Layer`s into the runtime's `Context` at startup (the pool in its layer's
//!   scope) and torn down at shutdown, so `tests/http_service.rs` swaps in slow and flaky
//!   feeds and a `TestClock`;
//! - **a tracing span per request**: `request{method path request_id}` on every line a
//!   request logs;
//! - **metrics at `/metrics`**, in Prometheus' text format: the runtime's (fibers by
//!   outcome, retries of the feed's backoff, timeouts fired), the quote store pool's (size,
//!   in use, how long requests waited for a connection) and each request's count and
//!   duration by outcome (`tracked("quote")`), recorded through the `metrics` facade into
//!   the Prometheus exporter's recorder;
//! - **graceful shutdown on Ctrl-C**: axum stops accepting, requests in flight get a few
//!   seconds to finish, then `Runtime::shutdown` interrupts the rest (each returns its
//!   connection and answers 503), the services are torn down, and no fiber is left alive.
//!
//! ```text
//! cargo run --example http_service                 # serves on 127.0.0.1:3000 (or $HTTP_ADDR)
//! curl localhost:3000/quote/ACME                   # ACME 123.70 live
//! curl localhost:3000/quote/HOOLI                  # trading halted: HOOLI 45.00 cached, after 300 ms
//! curl -i localhost:3000/quote/NOPE                # 404 Not Found: no such symbol: NOPE
//! curl localhost:3000/metrics                      # effect_tracked_total{name="quote",outcome="success"} 1 ...
//! cargo run --example http_service -- --self-test  # serves on a free port, sends requests, stops
//! ```
//!
//! Look for: each request's lines inside its `request{..}` span, a "price feed failed" line
//! followed by a live answer (the retry at work), HOOLI answered from the cache, and the
//! last line saying the service stopped with 0 fibers alive.

use std::collections::HashMap;
use std::error::Error;
use std::fmt;
use std::future::{Future, IntoFuture};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use effect::prelude::*;
use effect::{Context, Layer, Pool, Runtime, Scope};
use futures::FutureExt;
use http_body_util::{BodyExt, Empty};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use tokio::net::TcpListener;
use tracing::Instrument;

// ---- Configuration ----

/// How the service behaves. It is a service in the context too, so effects read it.
#[derive(Clone, Debug)]
pub struct Config {
    /// The deadline of a whole request: past it, the request answers 504.
    pub request_timeout: Duration,
    /// How long a request waits for a live price, retries included, before it answers
    /// the last known one.
    pub feed_timeout: Duration,
    /// How many times a transient feed failure is retried: the first retry after
    /// `backoff`, each next one after twice the delay before.
    pub retries: u64,
    /// The delay before the first retry.
    pub backoff: Duration,
    /// Connections to the quote store; requests beyond this many wait for one.
    pub pool_size: usize,
    /// At shutdown, how long (real time) requests in flight get to finish before they are
    /// interrupted.
    pub drain: Duration,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            request_timeout: secs(2),
            feed_timeout: ms(300),
            retries: 3,
            backoff: ms(10),
            pool_size: 4,
            drain: secs(5),
        }
    }
}

// ---- The downstream price feed ----

/// A price in cents, shown in dollars.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Cents(pub u64);

impl fmt::Display for Cents {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{:02}", self.0 / 100, self.0 % 100)
    }
}

/// Yesterday's closing prices: the symbols the exchange lists, and what the quote store
/// knows before the first live price.
pub const LAST_CLOSE: [(&str, Cents); 4] = [
    ("ACME", Cents(12345)),
    ("GLOBEX", Cents(8710)),
    ("HOOLI", Cents(4500)),
    ("INITECH", Cents(999)),
];

/// Why the feed gave no price.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FeedError {
    /// The exchange does not list the symbol.
    UnknownSymbol(String),
    /// A failure worth retrying.
    Unavailable,
    /// No price within the feed budget (`Config::feed_timeout`).
    TimedOut,
}

impl FeedError {
    fn is_transient(&self) -> bool {
        matches!(self, FeedError::Unavailable)
    }
}

impl fmt::Display for FeedError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FeedError::UnknownSymbol(symbol) => write!(f, "no such symbol: {symbol}"),
            FeedError::Unavailable => f.write_str("price feed unavailable"),
            FeedError::TimedOut => f.write_str("price feed timed out"),
        }
    }
}

/// The downstream service prices come from. The service reads it from the context (as a
/// [`Feed`]), so a test provides a slow or flaky one instead.
pub trait PriceFeed: Send + Sync + 'static {
    /// The current price of `symbol`.
    fn price(&self, symbol: &str) -> Effect<Cents, FeedError>;
}

/// The price feed service: a handle on some [`PriceFeed`].
#[derive(Clone)]
pub struct Feed(Arc<dyn PriceFeed>);

impl Feed {
    /// The layer providing `feed` as the service's price feed.
    pub fn layer(feed: impl PriceFeed) -> Layer {
        Layer::succeed(Feed(Arc::new(feed)))
    }
}

/// A simulated exchange: it answers after 20 ms, a quarter above yesterday's close; one
/// call in three fails (transiently: the retry absorbs it); HOOLI's trading is halted, so
/// its price never comes.
#[derive(Clone, Default)]
pub struct SimulatedExchange {
    calls: Arc<AtomicU64>,
}

impl PriceFeed for SimulatedExchange {
    fn price(&self, symbol: &str) -> Effect<Cents, FeedError> {
        let (calls, symbol) = (self.calls.clone(), symbol.to_string());
        effect_block! {
            let call = calls.fetch_add(1, Ordering::Relaxed) + 1;
            sleep(ms(20))?;
            if symbol == "HOOLI" {
                never::<(), FeedError>()?;
            }
            if call % 3 == 0 {
                fail(FeedError::Unavailable)?;
            }
            match LAST_CLOSE.iter().find(|(listed, _)| *listed == symbol) {
                Some((_, close)) => Cents(close.0 + 25),
                None => fail(FeedError::UnknownSymbol(symbol))?,
            }
        }
    }
}

// ---- The quote store, and its connection pool ----

/// A quote: a price and where it came from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Quote {
    pub symbol: String,
    pub price: Cents,
    pub source: Source,
}

/// Where a quote's price came from: the feed, or the quote store.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Source {
    Live,
    Cached,
}

impl fmt::Display for Quote {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let source = match self.source {
            Source::Live => "live",
            Source::Cached => "cached",
        };
        write!(f, "{} {} {source}", self.symbol, self.price)
    }
}

/// Where the quote store keeps the last known price of each symbol.
type Prices = Arc<Mutex<HashMap<String, Cents>>>;

/// A connection to the quote store, which keeps the last known price of each symbol.
#[derive(Clone)]
pub struct Connection {
    /// Which connection this is, in the order opened.
    id: usize,
    prices: Prices,
}

/// A pool tells its items apart with `==` (to find the one to `invalidate`): a connection is
/// the same connection whatever the store holds.
impl PartialEq for Connection {
    fn eq(&self, other: &Self) -> bool {
        self.id == other.id
    }
}

impl Connection {
    /// Stores a live quote as the symbol's last known price.
    fn remember(&self, quote: Quote) -> Quote {
        let mut prices = self.prices.lock().unwrap();
        prices.insert(quote.symbol.clone(), quote.price);
        quote
    }

    /// The last known price of `symbol`, if the store has one.
    fn last_known(&self, symbol: &str) -> Result<Quote, FeedError> {
        let prices = self.prices.lock().unwrap();
        let price = *prices.get(symbol).ok_or(FeedError::Unavailable)?;
        Ok(Quote {
            symbol: symbol.to_string(),
            price,
            source: Source::Cached,
        })
    }
}

/// The quote store: an [`effect::Pool`] of connections to it, counting what it opens and
/// lends so the test can check that every request gives its connection back and that the
/// pool closes every connection at shutdown.
#[derive(Clone)]
pub struct QuoteStore {
    pool: Pool<Connection, Never>,
    counts: Arc<PoolCounts>,
}

/// What the pool's connections went through, counted around the pool's acquisition and
/// release of a connection, and around each checkout.
#[derive(Default)]
struct PoolCounts {
    opened: AtomicUsize,
    closed: AtomicUsize,
    checked_out: AtomicUsize,
    returned: AtomicUsize,
    in_use: AtomicUsize,
    most_in_use: AtomicUsize,
}

/// What the quote store's pool has done so far.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PoolStats {
    /// Connections opened: the pool's size, from startup on.
    pub opened: usize,
    /// Connections closed: none while the pool lives, all of them once it has closed.
    pub closed: usize,
    /// Connections lent to requests.
    pub checked_out: usize,
    /// Connections given back by the requests they were lent to.
    pub returned: usize,
    /// The most connections lent at once.
    pub most_in_use: usize,
}

impl PoolCounts {
    /// Opens a connection to the store's `prices`, and closes it when the pool lets it go:
    /// how the pool makes its connections.
    fn connect(self: Arc<Self>, prices: Prices) -> Effect<Connection, Never> {
        let closing = self.clone();
        acquire_release(
            sync(move || Connection {
                id: self.opened.fetch_add(1, Ordering::SeqCst),
                prices,
            }),
            move |_, _| {
                sync(move || {
                    closing.closed.fetch_add(1, Ordering::SeqCst);
                })
            },
        )
    }

    /// Counts `connection` as lent to the enclosing `scoped` region, and as returned when
    /// that region ends.
    fn lend(self: Arc<Self>, connection: Connection) -> Effect<Connection, Never> {
        let returning = self.clone();
        let lent = sync(move || {
            let in_use = self.in_use.fetch_add(1, Ordering::SeqCst) + 1;
            self.most_in_use.fetch_max(in_use, Ordering::SeqCst);
            self.checked_out.fetch_add(1, Ordering::SeqCst);
            connection
        });
        acquire_release(lent, move |_, _| {
            sync(move || {
                returning.in_use.fetch_sub(1, Ordering::SeqCst);
                returning.returned.fetch_add(1, Ordering::SeqCst);
            })
        })
    }

    fn stats(&self) -> PoolStats {
        PoolStats {
            opened: self.opened.load(Ordering::SeqCst),
            closed: self.closed.load(Ordering::SeqCst),
            checked_out: self.checked_out.load(Ordering::SeqCst),
            returned: self.returned.load(Ordering::SeqCst),
            most_in_use: self.most_in_use.load(Ordering::SeqCst),
        }
    }
}

impl QuoteStore {
    /// The layer that opens the store's pool of `size` connections at startup and closes it
    /// when the services are torn down (the pool lives in the layer's scope).
    pub fn layer(size: usize) -> Layer {
        Layer::scoped(move |_| QuoteStore::open(size))
    }

    /// Opens a pool of `size` connections, living until the scope of the context closes.
    fn open(size: usize) -> Effect<QuoteStore, Never> {
        let prices = LAST_CLOSE.map(|(symbol, close)| (symbol.to_string(), close));
        let prices: Prices = Arc::new(Mutex::new(HashMap::from(prices)));
        let counts = Arc::<PoolCounts>::default();
        effect_block! {
            // Registered before the pool, so it runs once the pool has closed: a scope runs
            // its finalizers in reverse order.
            let closed = counts.clone();
            let log_closed = sync(move || {
                tracing::info!(stats = ?closed.stats(), "quote store pool closed");
            });
            service::<Scope>()?.add_finalizer::<Never>(log_closed)?;
            let connecting = counts.clone();
            let connect = move || connecting.clone().connect(prices.clone());
            // All `size` connections now; on shutdown the pool waits for those lent, then
            // closes them all.
            let pool = Pool::make(connect, size..=size)?.named("quote_store");
            QuoteStore { pool, counts }
        }
    }

    /// A connection for the rest of the enclosing `scoped` region: checked out of the pool
    /// now (waiting while every connection is in use), given back when the region ends,
    /// however it ends. The wait can be interrupted: a request waiting in line still has its
    /// deadline, and the service may shut down (the pool's close interrupts those waiting).
    pub fn connection(&self) -> Effect<Connection, Never> {
        let counts = self.counts.clone();
        self.pool
            .get()
            .flat_map(move |connection| counts.lend(connection))
    }

    pub fn stats(&self) -> PoolStats {
        self.counts.stats()
    }
}

// ---- The request's program ----

/// What a request fails with; each answers its own status.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ApiError {
    /// The exchange does not list the symbol.
    UnknownSymbol(String),
    /// The feed is down and the store knows no price either.
    NoPrice,
    /// Past the request's deadline.
    TimedOut,
    /// The service is shutting down.
    ShuttingDown,
}

impl From<FeedError> for ApiError {
    fn from(error: FeedError) -> Self {
        match error {
            FeedError::UnknownSymbol(symbol) => ApiError::UnknownSymbol(symbol),
            FeedError::Unavailable | FeedError::TimedOut => ApiError::NoPrice,
        }
    }
}

impl ApiError {
    fn status(&self) -> StatusCode {
        match self {
            ApiError::UnknownSymbol(_) => StatusCode::NOT_FOUND,
            ApiError::NoPrice | ApiError::ShuttingDown => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::TimedOut => StatusCode::GATEWAY_TIMEOUT,
        }
    }
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ApiError::UnknownSymbol(symbol) => write!(f, "no such symbol: {symbol}"),
            ApiError::NoPrice => f.write_str("no price available"),
            ApiError::TimedOut => f.write_str("request timed out"),
            ApiError::ShuttingDown => f.write_str("shutting down"),
        }
    }
}

/// `GET /quote/{symbol}`: the live price, or the last known one when the feed is down or
/// too slow. It runs in the request's `scoped` region (see [`App::respond`]).
#[effect]
fn quote(symbol: String) -> Effect<Quote, ApiError> {
    let config = service::<Config>()?;
    let feed = service::<Feed>()?;
    let store = service::<QuoteStore>()?.connection()?;
    let live = {
        let store = store.clone();
        live_price(&config, feed, symbol.clone()).map(move |quote| store.remember(quote))
    };
    catch!(live, {
        error @ (FeedError::Unavailable | FeedError::TimedOut) => {
            tracing::warn!(%error, "serving the last known price");
            store.last_known(&symbol)?
        }
    })?
}

/// The live price: transient failures retried with exponential backoff, all within the
/// feed budget.
fn live_price(config: &Config, feed: Feed, symbol: String) -> Effect<Quote, FeedError> {
    let backoff = (Schedule::exponential(config.backoff) & Schedule::recurs(config.retries))
        .while_input(FeedError::is_transient)
        .named("feed_backoff");
    let attempt = move || {
        let symbol = symbol.clone();
        feed.0
            .price(&symbol)
            .on_error(|cause| {
                if let Some(error) = cause.failure() {
                    tracing::warn!(%error, "price feed failed");
                }
                succeed(())
            })
            .map(move |price| Quote {
                symbol,
                price,
                source: Source::Live,
            })
    };
    retry(attempt, backoff).timeout_fail(config.feed_timeout, FeedError::TimedOut)
}

// ---- HTTP ----

/// The service: the effect runtime its requests run on (its context holds the services the
/// layers built) and what it needs to shut down. Clones share it.
#[derive(Clone)]
pub struct App {
    runtime: Runtime,
    metrics: &'static PrometheusHandle,
    config: Config,
    services: Scope,
    next_request_id: Arc<AtomicU64>,
}

impl App {
    /// Builds the services (`config`, `feed` and the quote store's pool) on top of `base`
    /// (empty in `main`: the live clock; a `TestClock` in the tests), and a runtime whose
    /// requests see them.
    pub async fn start(config: Config, feed: Layer, base: Context) -> Result<App, Cause<Never>> {
        let layers = Layer::succeed(config.clone())
            .and(feed)
            .and(QuoteStore::layer(config.pool_size));
        let services = Scope::new();
        let ctx = layers.build_scoped(&base, &services).await?;
        Ok(App {
            runtime: Runtime::new(ctx),
            metrics: prometheus(),
            config,
            services,
            next_request_id: Arc::new(AtomicU64::new(1)),
        })
    }

    /// The runtime requests run on: its `live_fibers()` are the requests in flight.
    pub fn runtime(&self) -> &Runtime {
        &self.runtime
    }

    /// The routes.
    pub fn router(&self) -> Router {
        Router::new()
            .route("/health", get(|| async { "ok" }))
            .route("/quote/{symbol}", get(get_quote))
            .route("/metrics", get(get_metrics))
            .with_state(self.clone())
    }

    /// Runs one request's `program` on the runtime, in the request's own scope (closed when
    /// it ends, which returns what it acquired), within its deadline, inside its span, and
    /// answers how it ended.
    async fn respond<A>(&self, method: Method, uri: Uri, program: Effect<A, ApiError>) -> Response
    where
        A: fmt::Display + Send + 'static,
    {
        let request_id = self.next_request_id.fetch_add(1, Ordering::Relaxed);
        let span = tracing::info_span!("request", %method, path = %uri.path(), request_id);
        let started = Instant::now();
        let program = scoped(program).timeout_fail(self.config.request_timeout, ApiError::TimedOut);
        // `tracing::Instrument` enters the span each time the run is polled, and that poll
        // drives the request's fiber, so whatever the program logs is inside the span; so is
        // what the fibers it starts log (forks, `par!` / `race!` branches, its timeout's
        // effect), since each starts in the span current where it was started.
        let exit = self.runtime.run(program).instrument(span.clone()).await;
        let (status, body) = match exit {
            Ok(value) => (StatusCode::OK, value.to_string()),
            Err(cause) => match cause.failure() {
                Some(error) => (error.status(), error.to_string()),
                // Interrupted by the shutdown. (A client that hangs up does not get here:
                // hyper drops this future, which interrupts the run and finishes its cleanup.)
                None if cause.is_interrupted_only() => (
                    StatusCode::SERVICE_UNAVAILABLE,
                    ApiError::ShuttingDown.to_string(),
                ),
                // A defect: the runtime has already logged it (an ERROR event with the cause's
                // tree, inside this request's span), once.
                None => (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "internal error".to_string(),
                ),
            },
        };
        let elapsed_ms = started.elapsed().as_millis() as u64;
        tracing::info!(parent: &span, status = status.as_u16(), elapsed_ms, "answered");
        (status, body).into_response()
    }

    /// Serves on `listener` until `shutdown` resolves, then shuts down gracefully:
    ///
    /// 1. axum stops accepting connections and closes the idle ones;
    /// 2. the requests in flight get `config.drain` to finish (`Runtime::until_idle`);
    /// 3. the rest are interrupted (`Runtime::shutdown`): each runs its finalizers (its
    ///    connection goes back to the pool) and answers 503, and axum closes its connection;
    /// 4. the services are torn down: the pool closes, and with it every connection.
    ///
    /// Returns once all of that is done: no fiber of the runtime is alive.
    pub async fn serve(
        self,
        listener: TcpListener,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) {
        let shutdown = shutdown.shared();
        let server = axum::serve(listener, self.router()).with_graceful_shutdown(shutdown.clone());
        let runtime = self.runtime.clone();
        let drain = self.config.drain;
        let stop_requests = async move {
            shutdown.await;
            tracing::info!(live_fibers = runtime.live_fibers(), "shutting down");
            if tokio::time::timeout(drain, runtime.until_idle())
                .await
                .is_err()
            {
                tracing::warn!(
                    live_fibers = runtime.live_fibers(),
                    "interrupting the requests still in flight"
                );
            }
            runtime.shutdown().await;
        };
        // axum's `serve` only ends after the shutdown signal (it retries failed accepts).
        let (served, ()) = tokio::join!(server.into_future(), stop_requests);
        if let Err(error) = served {
            tracing::error!(%error, "the server failed");
        }
        if let Err(cause) = self.services.close(Ok(())).await {
            tracing::error!("tearing the services down failed:\n{cause}");
        }
    }
}

async fn get_quote(
    State(app): State<App>,
    method: Method,
    uri: Uri,
    Path(symbol): Path<String>,
) -> Response {
    app.respond(method, uri, quote(symbol).tracked("quote"))
        .await
}

/// `GET /metrics`: everything recorded so far, in Prometheus' text format.
async fn get_metrics(State(app): State<App>) -> Response {
    // Drains what the exporter's histograms hold: summaries are computed here, not as each
    // sample is recorded.
    app.metrics.run_upkeep();
    let content_type = [("content-type", "text/plain; version=0.0.4")];
    (StatusCode::OK, content_type, app.metrics.render()).into_response()
}

/// The process's metrics recorder, installed on first use: Prometheus' exporter, without an
/// HTTP listener of its own (axum serves `/metrics`). A process has one recorder, so every
/// `App` in it (the tests start several) shares it.
fn prometheus() -> &'static PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE.get_or_init(|| {
        PrometheusBuilder::new()
            .install_recorder()
            .expect("no other metrics recorder is installed in this process")
    })
}

// ---- A client, for the self-test and tests/http_service.rs ----

/// An HTTP/1 client (hyper-util's).
pub type Client = hyper_util::client::legacy::Client<HttpConnector, Empty<Bytes>>;

pub fn client() -> Client {
    hyper_util::client::legacy::Client::builder(TokioExecutor::new()).build_http()
}

pub type BoxError = Box<dyn Error + Send + Sync>;

/// `GET http://{addr}{path}`: the status and the body.
pub async fn http_get(
    client: &Client,
    addr: SocketAddr,
    path: &str,
) -> Result<(StatusCode, String), BoxError> {
    let response = client.get(format!("http://{addr}{path}").parse()?).await?;
    let status = response.status();
    let body = response.into_body().collect().await?.to_bytes();
    Ok((status, String::from_utf8(body.to_vec())?))
}

// ---- main ----

// A plain tokio `main`: axum runs the server loop, and the service keeps its own `Runtime`
// to shut down (`#[effect::main]` is for programs that are a single effect).
#[tokio::main]
async fn main() -> Result<(), BoxError> {
    tracing_subscriber::fmt()
        .with_max_level(tracing::Level::INFO)
        .with_target(false)
        .init();
    let self_test = std::env::args().any(|arg| arg == "--self-test");
    let addr = match std::env::var("HTTP_ADDR") {
        _ if self_test => "127.0.0.1:0".to_string(),
        Ok(addr) => addr,
        Err(_) => "127.0.0.1:3000".to_string(),
    };
    let listener = TcpListener::bind(&addr).await?;
    let addr = listener.local_addr()?;
    let feed = Feed::layer(SimulatedExchange::default());
    let app = App::start(Config::default(), feed, Context::new()).await?;
    let runtime = app.runtime().clone();
    tracing::info!("listening on http://{addr} (Ctrl-C stops)");

    if self_test {
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let server = tokio::spawn(app.serve(listener, stopped.map(drop)));
        run_self_test(addr).await?;
        let _ = stop.send(());
        server.await?;
    } else {
        let ctrl_c = async {
            if let Err(error) = tokio::signal::ctrl_c().await {
                tracing::error!(%error, "cannot listen for Ctrl-C; stopping");
            }
        };
        app.serve(listener, ctrl_c).await;
    }
    tracing::info!(live_fibers = runtime.live_fibers(), "stopped");
    assert_eq!(runtime.live_fibers(), 0);
    Ok(())
}

/// `--self-test`: a few requests, their answers checked, then eight at once.
async fn run_self_test(addr: SocketAddr) -> Result<(), BoxError> {
    let client = client();
    let expected = [
        ("/health", StatusCode::OK, "ok"),
        ("/quote/ACME", StatusCode::OK, "ACME "),
        ("/quote/GLOBEX", StatusCode::OK, "GLOBEX "),
        ("/quote/INITECH", StatusCode::OK, "INITECH "),
        ("/quote/HOOLI", StatusCode::OK, "HOOLI 45.00 cached"),
        ("/quote/NOPE", StatusCode::NOT_FOUND, "no such symbol: NOPE"),
    ];
    for (path, status, body) in expected {
        let answer = http_get(&client, addr, path).await?;
        println!("GET {path} -> {} {}", answer.0, answer.1);
        assert_eq!(answer.0, status, "GET {path}");
        assert!(answer.1.starts_with(body), "GET {path}: {}", answer.1);
    }
    let (_, metrics) = http_get(&client, addr, "/metrics").await?;
    let counts = |line: &&str| line.starts_with("effect_") && line.contains("_total{");
    for line in metrics.lines().filter(counts) {
        println!("  {line}");
    }
    assert!(metrics.contains(r#"effect_tracked_total{name="quote",outcome="success"} 4"#));
    let batch = (0..8).map(|_| http_get(&client, addr, "/quote/ACME"));
    for answer in futures::future::join_all(batch).await {
        let (status, body) = answer?;
        println!("GET /quote/ACME (one of eight at once) -> {status} {body}");
        assert_eq!(status, StatusCode::OK);
    }
    Ok(())
}
