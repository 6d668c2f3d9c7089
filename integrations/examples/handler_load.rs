//! What an effect costs an HTTP handler under load: the requests per second of three axum
//! handlers doing the same small piece of async work, measured over real TCP.
//!
//! ```text
//! cargo run --release -p effectkit-integrations --example handler_load -- --secs 5
//! cargo run --release -p effectkit-integrations --example handler_load -- --only full --rounds 3
//! ```
//!
//! - `/plain`: an `async fn` handler: `tokio::task::yield_now` and a short body, under
//!   `tokio::time::timeout`;
//! - `/effect`: the same work as an effect (`yield_now()` and a `map`), run with
//!   `Runtime::run` under `timeout_fail`;
//! - `/full`: the effect as a service's request would write it: a permit of an
//!   `effect::Semaphore` around the work, a `retry` on a `Schedule`, a `catch!` fallback, all
//!   under `timeout_fail`. The work succeeds at once: this is their cost on the success path.
//!
//! The server and the load generator each run on a tokio runtime with one worker thread: on
//! 2 cores, a core each. The load generator plays the role of `wrk -c 64`: 64 keep-alive
//! HTTP/1.1 connections, each sending a request and reading (and checking) its whole
//! response before the next. Each path is warmed up for a second, then measured for `--secs`
//! seconds (default 5); the paths take turns, `--rounds` times (default 2), and the table
//! gives each path's best and median round and their ratios to `/plain`. `--only PATH` measures one path.
//! The figures are only as steady as the machine is idle.

use std::error::Error;
use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::atomic::{AtomicU64, AtomicU8, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use axum::serve::ListenerExt;
use axum::Router;
use effect::prelude::*;
use effect::{Context, Runtime, Semaphore};
use tokio::io::Interest;
use tokio::net::{TcpListener, TcpStream};

const USAGE: &str = "usage: handler_load [--secs N] [--rounds N] [--only plain|effect|full]";
const PATHS: [&str; 3] = ["/plain", "/effect", "/full"];
const CONNECTIONS: usize = 64;
const WARMUP: Duration = Duration::from_secs(1);
/// Every handler's deadline; never reached.
const DEADLINE: Duration = Duration::from_secs(1);
const NAME: &str = "world";
/// What every handler answers.
const BODY: &str = "hello, world";

type BoxError = Box<dyn Error + Send + Sync>;

// ---- The server ----

enum WorkError {
    TimedOut,
    /// What the retry and the fallback of `/full` are for; the work never fails.
    #[expect(dead_code, reason = "the work never fails")]
    Unavailable,
}

#[derive(Clone)]
struct App {
    runtime: Runtime,
    semaphore: Semaphore,
}

/// The work every handler does: a turn of the scheduler, then a short body.
fn greeting() -> String {
    format!("hello, {NAME}")
}

fn work() -> Effect<String, WorkError> {
    yield_now().map(|()| greeting())
}

/// The work under a permit, retried on failure, with a fallback.
#[effect]
fn guarded_work(semaphore: Semaphore) -> Effect<String, WorkError> {
    let attempt = move || semaphore.with_permit(work());
    let retried = retry(attempt, Schedule::recurs(3));
    catch!(retried, { WorkError::Unavailable => "fallback".to_string() })?
}

async fn plain_handler() -> Result<String, StatusCode> {
    let work = async {
        tokio::task::yield_now().await;
        greeting()
    };
    tokio::time::timeout(DEADLINE, work)
        .await
        .map_err(|_| StatusCode::GATEWAY_TIMEOUT)
}

async fn effect_handler(State(app): State<App>) -> Result<String, StatusCode> {
    let program = work().timeout_fail(DEADLINE, WorkError::TimedOut);
    app.runtime.run(program).await.map_err(status)
}

async fn full_handler(State(app): State<App>) -> Result<String, StatusCode> {
    let program = guarded_work(app.semaphore.clone()).timeout_fail(DEADLINE, WorkError::TimedOut);
    app.runtime.run(program).await.map_err(status)
}

fn status(cause: Cause<WorkError>) -> StatusCode {
    match cause.failure() {
        Some(WorkError::TimedOut) => StatusCode::GATEWAY_TIMEOUT,
        _ => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

fn router() -> Router {
    let app = App {
        runtime: Runtime::new(Context::new()),
        // As many permits as connections: taking one never waits.
        semaphore: Semaphore::new(CONNECTIONS),
    };
    Router::new()
        .route("/plain", get(plain_handler))
        .route("/effect", get(effect_handler))
        .route("/full", get(full_handler))
        .with_state(app)
}

// ---- The load generator ----

// A measurement's phases: warming up (0, the default), then these.
const MEASURING: u8 = 1;
const STOPPED: u8 = 2;

/// What the connections of one measurement share.
#[derive(Default)]
struct Load {
    phase: AtomicU8,
    completed: AtomicU64,
    latency_ns: AtomicU64,
    errors: AtomicU64,
}

impl Load {
    fn phase(&self) -> u8 {
        self.phase.load(Ordering::Relaxed)
    }

    /// Counts an error, and shows the first.
    fn error(&self, error: &dyn fmt::Display) {
        if self.errors.fetch_add(1, Ordering::Relaxed) == 0 {
            println!("  first error: {error}");
        }
    }
}

/// One connection: requests `path` one after another until the load stops, reconnecting
/// after an error.
async fn connection(addr: SocketAddr, path: &'static str, load: Arc<Load>) {
    let request = format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n");
    let mut buf = Vec::with_capacity(1024);
    while load.phase() != STOPPED {
        let connected = TcpStream::connect(addr).await;
        let Ok(stream) = connected.inspect_err(|error| load.error(error)) else {
            tokio::time::sleep(Duration::from_millis(10)).await;
            continue;
        };
        let _ = stream.set_nodelay(true);
        buf.clear();
        while load.phase() != STOPPED {
            let started = Instant::now();
            if let Err(error) = exchange(&stream, &mut buf, request.as_bytes()).await {
                load.error(&error);
                break;
            }
            if load.phase() == MEASURING {
                let latency = started.elapsed().as_nanos() as u64;
                load.completed.fetch_add(1, Ordering::Relaxed);
                load.latency_ns.fetch_add(latency, Ordering::Relaxed);
            }
        }
    }
}

/// Sends `request` and reads one whole response, which must be a 200 with [`BODY`].
async fn exchange(stream: &TcpStream, buf: &mut Vec<u8>, request: &[u8]) -> Result<(), BoxError> {
    let mut sent = 0;
    while sent < request.len() {
        sent += when_ready(stream, Interest::WRITABLE, || {
            stream.try_write(&request[sent..])
        })
        .await?;
    }
    let head_len = loop {
        if let Some(end) = buf.windows(4).position(|window| window == b"\r\n\r\n") {
            break end + 4;
        }
        read_more(stream, buf).await?;
    };
    let head = std::str::from_utf8(&buf[..head_len])?;
    let mut lines = head.split("\r\n");
    let status = lines.next().and_then(|line| line.split(' ').nth(1));
    let body_len = lines
        .filter_map(|line| line.split_once(':'))
        .find(|(name, _)| name.trim().eq_ignore_ascii_case("content-length"))
        .ok_or("a response without Content-Length")?
        .1
        .trim()
        .parse::<usize>()?;
    if status != Some("200") {
        return Err(format!("status {status:?}, not 200").into());
    }
    while buf.len() < head_len + body_len {
        read_more(stream, buf).await?;
    }
    let body = &buf[head_len..head_len + body_len];
    if body != BODY.as_bytes() {
        return Err(format!("body {:?}, not {BODY:?}", String::from_utf8_lossy(body)).into());
    }
    buf.drain(..head_len + body_len);
    Ok(())
}

async fn read_more(stream: &TcpStream, buf: &mut Vec<u8>) -> Result<(), BoxError> {
    let mut chunk = [0; 4096];
    match when_ready(stream, Interest::READABLE, || stream.try_read(&mut chunk)).await? {
        0 => Err("the server closed the connection".into()),
        read => {
            buf.extend_from_slice(&chunk[..read]);
            Ok(())
        }
    }
}

/// Runs `io` once `stream` is ready for it, and again while it would block. (This crate
/// builds tokio without `io-util`, so without `AsyncReadExt` / `AsyncWriteExt`.)
async fn when_ready<T>(
    stream: &TcpStream,
    interest: Interest,
    mut io: impl FnMut() -> io::Result<T>,
) -> io::Result<T> {
    loop {
        stream.ready(interest).await?;
        match io() {
            Err(error) if error.kind() == io::ErrorKind::WouldBlock => {}
            result => return result,
        }
    }
}

/// Loads `path` with [`CONNECTIONS`] connections: [`WARMUP`], then `duration` measured.
/// Prints what it measured, and returns the requests per second and the errors.
async fn measure(addr: SocketAddr, path: &'static str, duration: Duration) -> (f64, u64) {
    let load = Arc::new(Load::default());
    let connections: Vec<_> = (0..CONNECTIONS)
        .map(|_| tokio::spawn(connection(addr, path, load.clone())))
        .collect();
    tokio::time::sleep(WARMUP).await;
    load.phase.store(MEASURING, Ordering::Relaxed);
    let started = Instant::now();
    tokio::time::sleep(duration).await;
    load.phase.store(STOPPED, Ordering::Relaxed);
    let elapsed = started.elapsed();
    for connection in connections {
        connection.await.expect("a connection panicked");
    }
    let completed = load.completed.load(Ordering::Relaxed);
    let per_sec = completed as f64 / elapsed.as_secs_f64();
    let mean_ms = load.latency_ns.load(Ordering::Relaxed) as f64 / completed.max(1) as f64 / 1e6;
    let errors = load.errors.load(Ordering::Relaxed);
    println!("  {path:<8} {per_sec:>9.0} req/s  mean {mean_ms:>6.3} ms  {errors} errors");
    (per_sec, errors)
}

// ---- main ----

struct Args {
    secs: u64,
    rounds: u64,
    paths: Vec<&'static str>,
}

/// The arguments, `None` for `--help`, or what is wrong with them.
fn parse_args(mut args: impl Iterator<Item = String>) -> Result<Option<Args>, String> {
    let mut parsed = Args {
        secs: 5,
        rounds: 2,
        paths: PATHS.to_vec(),
    };
    while let Some(flag) = args.next() {
        let mut value = || args.next().ok_or(format!("{flag} needs a value"));
        let positive = |value: String| match value.parse() {
            Ok(n) if n > 0 => Ok(n),
            _ => Err(format!(
                "{flag} takes a positive whole number, not {value:?}"
            )),
        };
        match flag.as_str() {
            "--secs" => parsed.secs = positive(value()?)?,
            "--rounds" => parsed.rounds = positive(value()?)?,
            "--only" => {
                let value = value()?;
                let wanted = format!("/{}", value.trim_start_matches('/'));
                let path = PATHS.into_iter().find(|path| *path == wanted);
                parsed.paths = vec![path.ok_or(format!("no path {value:?}"))?];
            }
            "-h" | "--help" => return Ok(None),
            _ => return Err(format!("unknown argument {flag:?}")),
        }
    }
    Ok(Some(parsed))
}

fn one_worker() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("cannot start a tokio runtime")
}

fn main() -> Result<ExitCode, BoxError> {
    let args = match parse_args(std::env::args().skip(1)) {
        Ok(Some(args)) => args,
        Ok(None) => {
            println!("{USAGE}");
            return Ok(ExitCode::SUCCESS);
        }
        Err(error) => {
            eprintln!("handler_load: {error}\n{USAGE}");
            return Ok(ExitCode::from(2));
        }
    };

    let server = one_worker();
    let listener = server.block_on(TcpListener::bind("127.0.0.1:0"))?;
    let addr = listener.local_addr()?;
    let listener = listener.tap_io(|tcp| {
        let _ = tcp.set_nodelay(true);
    });
    server.spawn(async move { axum::serve(listener, router()).await });

    let duration = Duration::from_secs(args.secs);
    println!("http://{addr}: {CONNECTIONS} connections, {WARMUP:?} warm-up, {duration:?} measured");
    let client = one_worker();
    let mut rounds = vec![Vec::new(); args.paths.len()];
    let mut errors = 0;
    for round in 1..=args.rounds {
        println!("round {round}");
        for (&path, taken) in args.paths.iter().zip(&mut rounds) {
            let (per_sec, failed) = client.block_on(measure(addr, path, duration));
            taken.push(per_sec);
            errors += failed;
        }
    }

    // Each path's best round and its median one: this machine's figures wander from round
    // to round, so the two together say more than either.
    let summary: Vec<(f64, f64)> = rounds
        .iter_mut()
        .map(|taken| {
            taken.sort_by(f64::total_cmp);
            (taken[taken.len() - 1], taken[taken.len() / 2])
        })
        .collect();
    // `/plain` comes first when it is measured.
    let plain = (args.paths[0] == "/plain").then(|| summary[0]);
    println!(
        "\n{:<8} {:>10}  {:>8}  {:>10}  {:>8}",
        "path", "best req/s", "vs plain", "median", "vs plain"
    );
    for (path, (best, median)) in args.paths.iter().zip(&summary) {
        let ratio =
            |of: f64, to: Option<f64>| to.map_or("-".to_string(), |to| format!("{:.2}", of / to));
        println!(
            "{path:<8} {best:>10.0}  {:>8}  {median:>10.0}  {:>8}",
            ratio(*best, plain.map(|p| p.0)),
            ratio(*median, plain.map(|p| p.1)),
        );
    }
    if errors > 0 {
        eprintln!("handler_load: {errors} requests failed");
        return Ok(ExitCode::FAILURE);
    }
    Ok(ExitCode::SUCCESS)
}
