//! The `http_service` example, end to end: its app serves on a loopback port and a real
//! HTTP client talks to it. The service's clock is a `TestClock` and its price feed is
//! scripted, so timeouts, backoff and fallbacks happen exactly when a test advances virtual
//! time: no test races or sleeps in real time, and every outcome is the same on every run.

#[path = "../../tests/common/mod.rs"]
mod common;

#[allow(dead_code)]
#[path = "../examples/http_service.rs"]
mod http_service;

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::http::StatusCode;
use common::within;
use effect::prelude::*;
use effect::{Clock, Context, Deferred, Runtime};
use futures::FutureExt;
use http_service::{
    client, http_get, App, Cents, Client, Config, Feed, FeedError, PoolStats, PriceFeed,
    QuoteStore, LAST_CLOSE,
};
use tokio::net::TcpListener;
use tokio::sync::{oneshot, watch, Barrier};
use tokio::task::JoinHandle;

// ---- A scripted price feed ----

/// What the feed does on one call.
#[derive(Clone)]
enum Step {
    /// Answers at once: 100.00 for a listed symbol.
    Answer,
    /// Fails transiently, at once.
    Fail,
    /// Never answers.
    Hang,
    /// Waits until as many calls as the barrier counts are waiting, then answers.
    Meet(Arc<Barrier>),
}

/// A feed that plays `script`, one step per call, then `then` on every later call, and
/// counts its calls.
#[derive(Clone)]
struct ScriptedFeed {
    script: Arc<Mutex<VecDeque<Step>>>,
    then: Step,
    calls: Arc<watch::Sender<usize>>,
}

impl ScriptedFeed {
    fn new(script: impl IntoIterator<Item = Step>, then: Step) -> Self {
        ScriptedFeed {
            script: Arc::new(Mutex::new(script.into_iter().collect())),
            then,
            calls: Arc::new(watch::Sender::new(0)),
        }
    }

    fn calls(&self) -> usize {
        *self.calls.borrow()
    }

    /// Resolves once the feed has been called `n` times.
    async fn called(&self, n: usize) {
        let mut calls = self.calls.subscribe();
        within(calls.wait_for(|&calls| calls >= n)).await.unwrap();
    }
}

impl PriceFeed for ScriptedFeed {
    fn price(&self, symbol: &str) -> Effect<Cents, FeedError> {
        let (feed, symbol) = (self.clone(), symbol.to_string());
        Effect::new(move |_| async move {
            feed.calls.send_modify(|calls| *calls += 1);
            let step = feed.script.lock().unwrap().pop_front();
            match step.unwrap_or(feed.then) {
                Step::Answer => {}
                Step::Fail => return Err(Cause::fail(FeedError::Unavailable)),
                Step::Hang => std::future::pending().await,
                Step::Meet(barrier) => {
                    barrier.wait().await;
                }
            }
            if LAST_CLOSE.iter().any(|(listed, _)| *listed == symbol) {
                Ok(Cents(10000))
            } else {
                Err(Cause::fail(FeedError::UnknownSymbol(symbol)))
            }
        })
    }
}

// ---- The service under test ----

/// The example's app on a loopback port, on a test clock, with a scripted feed.
struct Service {
    addr: SocketAddr,
    clock: TestClock,
    feed: ScriptedFeed,
    runtime: Runtime,
    store: QuoteStore,
    client: Client,
    stop: oneshot::Sender<()>,
    server: JoinHandle<()>,
}

async fn start(config: Config, feed: ScriptedFeed) -> Service {
    let clock = TestClock::new();
    let base = Context::new().with(Clock::from(clock.clone()));
    let app = App::start(config, Feed::layer(feed.clone()), base)
        .await
        .expect("the services start");
    let runtime = app.runtime().clone();
    let store = runtime.context().get::<QuoteStore>();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = oneshot::channel::<()>();
    let server = tokio::spawn(app.serve(listener, stopped.map(drop)));
    Service {
        addr,
        clock,
        feed,
        runtime,
        store,
        client: client(),
        stop,
        server,
    }
}

impl Service {
    async fn get(&self, path: &str) -> (StatusCode, String) {
        within(self.send(path)).await.unwrap()
    }

    /// Sends `GET path` on a task of its own, to be awaited once the test has let it finish.
    fn send(&self, path: &str) -> JoinHandle<(StatusCode, String)> {
        let (client, addr, path) = (self.client.clone(), self.addr, path.to_string());
        tokio::spawn(async move { http_get(&client, addr, &path).await.unwrap() })
    }

    /// Signals the shutdown; the server task ends once the service has shut down.
    fn shut_down(self) -> JoinHandle<()> {
        self.stop.send(()).unwrap();
        self.server
    }

    /// Shuts the service down and checks it stopped cleanly: the server task ended, no
    /// fiber is alive, every connection lent was returned, and the pool is closed: every
    /// connection it opened is closed.
    async fn stop(self) {
        let (runtime, store) = (self.runtime.clone(), self.store.clone());
        within(self.shut_down()).await.unwrap();
        assert_eq!(runtime.live_fibers(), 0);
        let stats = store.stats();
        assert_eq!(stats.returned, stats.checked_out, "{stats:?}");
        assert!(stats.opened > 0, "{stats:?}");
        assert_eq!(stats.closed, stats.opened, "{stats:?}");
    }
}

/// Yields until `ready` holds (within the limit): for what only a poll can see, such as a
/// request having reached the service without a call to the feed to show for it.
async fn until(mut ready: impl FnMut() -> bool) {
    within(async {
        while !ready() {
            tokio::task::yield_now().await;
        }
    })
    .await;
}

fn answer(status: StatusCode, body: &str) -> (StatusCode, String) {
    (status, body.to_string())
}

// ---- The tests ----

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn answers_live_quotes_and_404_for_unlisted_symbols() {
    let service = start(Config::default(), ScriptedFeed::new([], Step::Answer)).await;
    assert_eq!(service.get("/health").await, answer(StatusCode::OK, "ok"));
    assert_eq!(
        service.get("/quote/ACME").await,
        answer(StatusCode::OK, "ACME 100.00 live")
    );
    assert_eq!(
        service.get("/quote/NOPE").await,
        answer(StatusCode::NOT_FOUND, "no such symbol: NOPE")
    );
    // An unlisted symbol is not worth a retry.
    assert_eq!(service.feed.calls(), 2);
    let stats = PoolStats {
        opened: 4,
        closed: 0,
        checked_out: 2,
        returned: 2,
        most_in_use: 1,
    };
    assert_eq!(service.store.stats(), stats);
    // Nothing here needed virtual time.
    assert_eq!(service.clock.current_time(), Duration::ZERO);
    service.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_are_served_in_prometheus_text_format() {
    let service = start(Config::default(), ScriptedFeed::new([], Step::Answer)).await;
    assert_eq!(service.get("/quote/ACME").await.0, StatusCode::OK);
    assert_eq!(service.get("/quote/NOPE").await.0, StatusCode::NOT_FOUND);
    let (status, body) = service.get("/metrics").await;
    assert_eq!(status, StatusCode::OK);
    // The process has one recorder, which every test's service shares: the counts here are
    // at least this test's. Each line is `name{labels} value`.
    let value = |series: &str| -> f64 {
        let line = body
            .lines()
            .find(|line| line.starts_with(series))
            .unwrap_or_else(|| panic!("no `{series}` in:\n{body}"));
        line[series.len()..].trim().parse().unwrap()
    };
    assert!(value(r#"effect_tracked_total{name="quote",outcome="success"}"#) >= 1.0);
    assert!(value(r#"effect_tracked_total{name="quote",outcome="failure"}"#) >= 1.0);
    assert!(
        value(r#"effect_tracked_duration_seconds_count{name="quote",outcome="success"}"#) >= 1.0
    );
    assert!(value(r#"effect_fibers_started_total{kind="user"}"#) >= 2.0);
    assert!(value(r#"effect_fibers_ended_total{kind="user",outcome="success"}"#) >= 1.0);
    assert!(value(r#"effect_pool_wait_seconds_count{pool="quote_store"}"#) >= 2.0);
    assert!(body.contains("# TYPE effect_pool_size gauge"), "{body}");
    service.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_feed_that_never_answers_yields_the_last_known_price_at_the_feed_timeout() {
    let config = Config::default();
    let feed = ScriptedFeed::new([Step::Answer], Step::Hang);
    let service = start(config.clone(), feed).await;
    assert_eq!(
        service.get("/quote/ACME").await,
        answer(StatusCode::OK, "ACME 100.00 live")
    );

    let slow = service.send("/quote/ACME");
    service.feed.called(2).await;
    service.clock.advance(config.feed_timeout - ms(1)).await;
    assert!(!slow.is_finished(), "answered before the feed timeout");
    service.clock.advance(ms(1)).await;
    // The last known price is the live one the first request stored.
    assert_eq!(
        within(slow).await.unwrap(),
        answer(StatusCode::OK, "ACME 100.00 cached")
    );
    // Its connection was returned, although the feed call it made never ended.
    assert_eq!(service.store.stats().returned, 2);
    service.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retry_backs_off_exponentially_and_recovers_from_a_feed_failing_three_times() {
    let config = Config::default();
    assert_eq!((config.backoff, config.retries), (ms(10), 3));
    let feed = ScriptedFeed::new([Step::Fail, Step::Fail, Step::Fail], Step::Answer);
    let service = start(config, feed).await;

    let request = service.send("/quote/ACME");
    service.feed.called(1).await;
    // Each retry comes when its backoff is over, and not before: 10, then 20, then 40 ms.
    for (backoff, calls) in [(ms(10), 2), (ms(20), 3), (ms(40), 4)] {
        service.clock.advance(backoff - ms(1)).await;
        assert_eq!(service.feed.calls(), calls - 1);
        service.clock.advance(ms(1)).await;
        assert_eq!(service.feed.calls(), calls);
    }
    assert_eq!(
        within(request).await.unwrap(),
        answer(StatusCode::OK, "ACME 100.00 live")
    );
    assert_eq!(service.store.stats().returned, 1);
    service.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_feed_still_failing_after_the_retries_yields_the_last_known_price() {
    let service = start(Config::default(), ScriptedFeed::new([], Step::Fail)).await;
    let request = service.send("/quote/ACME");
    service.feed.called(1).await;
    service.clock.advance(ms(10 + 20 + 40)).await;
    // Yesterday's close: no live price was ever stored.
    assert_eq!(
        within(request).await.unwrap(),
        answer(StatusCode::OK, "ACME 123.45 cached")
    );
    // The first attempt and three retries.
    assert_eq!(service.feed.calls(), 4);
    service.stop().await;
}

/// A feed budget longer than the request deadline: the deadline is what ends a request.
fn short_deadline() -> Config {
    Config {
        request_timeout: secs(1),
        feed_timeout: secs(60),
        ..Config::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_past_its_deadline_answers_504_and_gives_its_connection_back() {
    let service = start(short_deadline(), ScriptedFeed::new([], Step::Hang)).await;
    let request = service.send("/quote/ACME");
    service.feed.called(1).await;
    service.clock.advance(secs(1) - ms(1)).await;
    assert!(!request.is_finished(), "answered before the deadline");
    service.clock.advance(ms(1)).await;
    assert_eq!(
        within(request).await.unwrap(),
        answer(StatusCode::GATEWAY_TIMEOUT, "request timed out")
    );
    let stats = PoolStats {
        opened: 4,
        closed: 0,
        checked_out: 1,
        returned: 1,
        most_in_use: 1,
    };
    assert_eq!(service.store.stats(), stats);
    service.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_waiting_for_a_connection_still_answers_504_at_its_deadline() {
    let config = Config {
        pool_size: 1,
        ..short_deadline()
    };
    let service = start(config, ScriptedFeed::new([], Step::Answer)).await;
    // A fiber of the service's runtime holds the only connection.
    let holding = Deferred::new();
    let hold = holding
        .complete::<Never>(())
        .flat_map(|_| never::<(), Never>());
    let holder = service
        .runtime
        .fork(scoped(service.store.connection().flat_map(|_| hold)));
    within(service.runtime.run(holding.wait::<()>()))
        .await
        .unwrap();

    let request = service.send("/quote/ACME");
    // Its deadline is armed once it waits (for the connection: there is nothing else).
    until(|| service.clock.pending_sleepers() == 1).await;
    service.clock.advance(secs(1)).await;
    assert_eq!(
        within(request).await.unwrap(),
        answer(StatusCode::GATEWAY_TIMEOUT, "request timed out")
    );
    assert_eq!(service.feed.calls(), 0);
    assert_eq!(service.store.stats().checked_out, 1);
    let held = within(service.runtime.run(holder.interrupt::<()>())).await;
    assert!(held.unwrap().unwrap_err().is_interrupted());
    assert_eq!(service.store.stats().returned, 1);
    service.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_requests_share_the_pool() {
    // The feed answers only when three calls wait together: the requests can only all be
    // answered if three at a time are in flight, each holding one of the three connections.
    let config = Config {
        pool_size: 3,
        ..Config::default()
    };
    let feed = ScriptedFeed::new([], Step::Meet(Arc::new(Barrier::new(3))));
    let service = start(config, feed).await;
    let symbols = ["ACME", "GLOBEX", "HOOLI", "INITECH"].repeat(3);
    let requests: Vec<_> = symbols
        .iter()
        .map(|symbol| service.send(&format!("/quote/{symbol}")))
        .collect();
    for (symbol, request) in symbols.iter().zip(requests) {
        let expected = format!("{symbol} 100.00 live");
        assert_eq!(
            within(request).await.unwrap(),
            answer(StatusCode::OK, &expected)
        );
    }
    let stats = PoolStats {
        opened: 3,
        closed: 0,
        checked_out: 12,
        returned: 12,
        most_in_use: 3,
    };
    assert_eq!(service.store.stats(), stats);
    service.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_lets_a_request_in_flight_finish_within_the_drain() {
    let config = Config {
        drain: Duration::from_secs(60),
        ..Config::default()
    };
    let service = start(config.clone(), ScriptedFeed::new([], Step::Hang)).await;
    let in_flight = service.send("/quote/HOOLI");
    service.feed.called(1).await;
    let (clock, runtime, store) = (
        service.clock.clone(),
        service.runtime.clone(),
        service.store.clone(),
    );

    let server = service.shut_down();
    // The request goes on: it answers at its feed timeout, well within the drain.
    clock.advance(config.feed_timeout).await;
    assert_eq!(
        within(in_flight).await.unwrap(),
        answer(StatusCode::OK, "HOOLI 45.00 cached")
    );
    within(server).await.unwrap();
    assert_eq!(runtime.live_fibers(), 0);
    let stats = store.stats();
    assert_eq!(stats.returned, 1);
    // The pool closed: every connection it opened is closed.
    assert_eq!(
        (stats.opened, stats.closed),
        (config.pool_size, config.pool_size)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_interrupts_requests_still_in_flight_after_the_drain() {
    let config = Config {
        drain: Duration::ZERO,
        ..Config::default()
    };
    let service = start(config, ScriptedFeed::new([], Step::Hang)).await;
    let in_flight = service.send("/quote/HOOLI");
    service.feed.called(1).await;
    let (addr, client, runtime, store) = (
        service.addr,
        service.client.clone(),
        service.runtime.clone(),
        service.store.clone(),
    );

    // No time passes on the service's clock: the request can only end by interruption.
    within(service.shut_down()).await.unwrap();
    assert_eq!(
        within(in_flight).await.unwrap(),
        answer(StatusCode::SERVICE_UNAVAILABLE, "shutting down")
    );
    assert_eq!(runtime.live_fibers(), 0);
    let stats = PoolStats {
        opened: 4,
        closed: 4,
        checked_out: 1,
        returned: 1,
        most_in_use: 1,
    };
    assert_eq!(store.stats(), stats);
    // The listener is closed.
    assert!(http_get(&client, addr, "/health").await.is_err());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_hanging_up_interrupts_its_request_which_gives_its_connection_back() {
    let service = start(Config::default(), ScriptedFeed::new([], Step::Hang)).await;
    // A raw connection, to hang up in the middle of the request.
    let stream = tokio::net::TcpStream::connect(service.addr).await.unwrap();
    let request = b"GET /quote/ACME HTTP/1.1\r\nhost: localhost\r\n\r\n";
    stream.writable().await.unwrap();
    assert_eq!(stream.try_write(request).unwrap(), request.len());
    service.feed.called(1).await;
    assert_eq!(service.store.stats().returned, 0);

    // hyper drops the handler's future, and with it the run of the request's effect: its
    // fiber is interrupted and its finalizers run (on a task of their own). No time passes
    // on the service's clock, so nothing else could end the request.
    drop(stream);
    within(service.runtime.until_idle()).await;
    assert_eq!(service.store.stats().returned, 1);
    service.stop().await;
}
