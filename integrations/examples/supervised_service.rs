//! A tree of supervised workers: `cargo run --example supervised_service`.
//!
//! ```text
//! service (one-for-one, backoff 100 ms, at most 3 restarts in 10 s)
//! ├── workers (rest-for-one, backoff 50 ms, at most 2 restarts in 10 s)
//! │   ├── consumer   takes jobs from a queue; a poison job kills it (a panic)
//! │   └── reporter   every 250 ms, how many jobs are done
//! └── listener       an HTTP listener on 127.0.0.1 (axum): `GET /` answers `ok`,
//!                    `GET /dump` the fiber dump
//! ```
//!
//! A producer feeds the queue twenty jobs and five poison ones:
//!
//! - the first poison kills the consumer: `workers` restarts it after 50 ms, and the reporter
//!   after it (rest-for-one);
//! - a burst of four more: the consumer dies twice more within `workers`' period, one restart
//!   too many, so `workers` gives up, stopping its children, and escalates: `service`
//!   restarts the `workers` subtree after 100 ms, whose new consumer takes the last two poison
//!   jobs (two restarts, within its fresh limit) and the rest of the work;
//! - the listener, in another branch of the tree, is never touched.
//!
//! `kill -USR1 <pid>` (the pid is logged at the start) prints the runtime's fiber dump: every
//! live fiber under the one that started it, with what it waits on (the consumer on its
//! queue, the reporter on its next tick, the listener on its socket, each supervisor on its
//! children, on the queue of their events):
//!
//! ```text
//! 5 live fiber(s)
//! #1 "service" 547.3ms, waiting: take from queue @7f5b6000acf0 (empty)
//! ├─ #1026 "listener" 546.9ms, waiting: an external future (from_async)
//! └─ #2057 "workers" 224.1ms, waiting: take from queue @7f5b6800e3d0 (empty)
//!    ├─ #2064 "consumer" 70.1ms, waiting: take from queue @55b8746308e0 (empty)
//!    └─ #2065 "reporter" 70.0ms, waiting: sleep, 180.0ms left
//! ```
//!
//! Ctrl-C stops the tree in reverse start order (the listener, then `workers`, which stops
//! the reporter, then the consumer), each child with its finalizers. The restarts are
//! `INFO` events, and the metrics (Prometheus' text format) are printed at the end.
//! `-- --self-test` stops by itself once the work is done, sends itself a SIGUSR1 and checks
//! the dump it prints, and checks the counts.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::routing::get;
use axum::Router;
use effect::prelude::*;
use effect::supervisor::{Child, Strategy, Supervisor};
use effect::{Queue, QueueShutdown};
use metrics_exporter_prometheus::PrometheusBuilder;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::signal::unix::{signal, SignalKind};
use tokio::sync::mpsc;

#[derive(Debug)]
enum Job {
    Work(u32),
    Poison,
}

/// Takes jobs one at a time; a poison job panics (a defect, as a bug would).
#[effect]
fn consume(jobs: Queue<Job>, done: Arc<AtomicU32>) -> Effect<(), String> {
    loop {
        match jobs
            .take::<QueueShutdown>()
            .map_err(|_| "queue shut down".to_string())?
        {
            Job::Work(n) => {
                sleep(ms(5))?;
                done.fetch_add(1, Ordering::SeqCst);
                tracing::debug!(job = n, "done");
            }
            Job::Poison => panic!("poison job"),
        }
    }
}

/// Every 250 ms: how many jobs are done.
fn report(done: Arc<AtomicU32>) -> Effect<(), String> {
    let tick = move || {
        let done = done.clone();
        sync(move || tracing::info!(done = done.load(Ordering::SeqCst), "progress"))
    };
    repeat(tick, Schedule::spaced(ms(250)))
}

/// Serves HTTP on `socket` (each start on a handle to the same socket: a restarted listener
/// keeps its address), until stopped: `GET /` answers `ok`, `GET /dump` the runtime's fiber
/// dump.
fn listen(socket: &std::net::TcpListener, runtime: &effect::Runtime) -> Effect<(), String> {
    let socket = socket.try_clone();
    let runtime = runtime.clone();
    effect::attempt_async(move || async move {
        let listener =
            TcpListener::from_std(socket.map_err(|e| e.to_string())?).map_err(|e| e.to_string())?;
        let routes = Router::new().route("/", get(|| async { "ok\n" })).route(
            "/dump",
            get(move || async move { runtime.dump().to_string() }),
        );
        axum::serve(listener, routes)
            .await
            .map_err(|e| e.to_string())
    })
}

/// `GET path` from `addr`, over HTTP/1.1: the response's status line and body.
async fn http_get(
    addr: std::net::SocketAddr,
    path: &str,
) -> Result<(String, String), Box<dyn std::error::Error + Send + Sync>> {
    let mut stream = TcpStream::connect(addr).await?;
    let request = format!("GET {path} HTTP/1.1\r\nhost: {addr}\r\nconnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await?;
    let mut response = String::new();
    stream.read_to_string(&mut response).await?;
    let (head, body) = response.split_once("\r\n\r\n").ok_or("no end of headers")?;
    let status = head.lines().next().unwrap_or_default().to_string();
    Ok((status, body.to_string()))
}

/// Twenty jobs with a poison one after the fifth, then a burst of four poison jobs after the
/// tenth.
fn produce(jobs: Queue<Job>) -> Effect<(), String> {
    let mut script = Vec::new();
    for n in 0..20 {
        script.push(Job::Work(n));
        match n {
            4 => script.push(Job::Poison),
            9 => script.extend((0..4).map(|_| Job::Poison)),
            _ => {}
        }
    }
    effect::sync(move || {
        for job in script {
            jobs.try_offer(job)
                .expect("an unbounded queue takes every job");
        }
    })
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    tracing_subscriber::fmt()
        .with_max_level(tracing::Level::INFO)
        .with_target(false)
        .init();
    let self_test = std::env::args().any(|arg| arg == "--self-test");
    // The poison jobs panic on purpose: the runtime reports each defect once, as a `child
    // restarted` event, so the default hook's message and backtrace would only repeat it.
    // (Set before the runtime starts, which adds the panic's location to the defect.)
    std::panic::set_hook(Box::new(|_| {}));
    let metrics = PrometheusBuilder::new().install_recorder()?;

    let jobs = Queue::<Job>::unbounded().named("jobs");
    let done = Arc::new(AtomicU32::new(0));
    let socket = std::net::TcpListener::bind("127.0.0.1:0")?;
    socket.set_nonblocking(true)?;
    let addr = socket.local_addr()?;
    let runtime = effect::Runtime::new(effect::Context::new());

    let workers = Supervisor::new("workers")
        .strategy(Strategy::RestForOne)
        .intensity(2, secs(10))
        .backoff(Schedule::exponential(ms(50)))
        .child(Child::new("consumer", {
            let (jobs, done) = (jobs.clone(), done.clone());
            move || consume(jobs.clone(), done.clone())
        }))
        .child(Child::new("reporter", {
            let done = done.clone();
            move || report(done.clone())
        }));
    let service = Supervisor::new("service")
        .intensity(3, secs(10))
        .backoff(Schedule::exponential(ms(100)))
        .child(workers.into_child())
        .child(
            Child::new("listener", {
                let runtime = runtime.clone();
                move || listen(&socket, &runtime)
            })
            .shutdown_timeout(secs(1)),
        );

    let tree = runtime.fork_named("service", service.run());

    // SIGUSR1 prints what every fiber is doing (and hands the text to the self-test).
    let (dumped, mut dumps) = mpsc::unbounded_channel();
    let mut usr1 = signal(SignalKind::user_defined1())?;
    let dumper = tokio::spawn({
        let runtime = runtime.clone();
        async move {
            while usr1.recv().await.is_some() {
                let dump = runtime.dump().to_string();
                println!("{dump}");
                let _ = dumped.send(dump);
            }
        }
    });
    let pid = std::process::id();
    tracing::info!(pid, "`kill -USR1 {pid}` prints the fiber dump");
    runtime
        .run(produce(jobs.clone()))
        .await
        .map_err(|cause| cause.to_string())?;
    tracing::info!(%addr, "serving; Ctrl-C stops");

    let (status, body) = http_get(addr, "/").await?;
    assert_eq!(
        (status.as_str(), body.as_str()),
        ("HTTP/1.1 200 OK", "ok\n")
    );

    if self_test {
        // Until the work is done (real time: a few hundred milliseconds).
        tokio::time::timeout(Duration::from_secs(20), async {
            while done.load(Ordering::SeqCst) < 20 {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        })
        .await?;
        // The dump a SIGUSR1 prints: the whole tree, each worker waiting where it should.
        let status = std::process::Command::new("kill")
            .args(["-USR1", &pid.to_string()])
            .status()?;
        assert!(status.success(), "kill -USR1: {status}");
        let dump = dumps.recv().await.expect("the dumper prints on SIGUSR1");
        let line = |name: &str| {
            dump.lines()
                .find(|line| line.contains(&format!("\"{name}\"")))
                .unwrap_or_else(|| panic!("no {name:?} in the dump:\n{dump}"))
                .to_string()
        };
        assert!(line("service").starts_with('#'), "the root:\n{dump}");
        assert!(line("workers").contains("─ #"), "under service:\n{dump}");
        assert!(line("listener").contains("─ #"), "under service:\n{dump}");
        assert!(
            line("consumer").contains("waiting: take from queue"),
            "the consumer waits for jobs:\n{dump}"
        );
        assert!(
            line("reporter").contains("waiting: sleep"),
            "the reporter waits for its next tick:\n{dump}"
        );
        // The same dump over HTTP, from the listener it lists.
        let (status, served) = http_get(addr, "/dump").await?;
        assert_eq!(status, "HTTP/1.1 200 OK");
        assert!(
            served.contains("\"listener\"") && served.contains("\"consumer\""),
            "{served}"
        );
    } else {
        tokio::signal::ctrl_c().await?;
    }
    dumper.abort();
    tracing::info!("stopping the tree");
    let exit = runtime
        .run(tree.interrupt::<std::convert::Infallible>())
        .await;
    assert!(
        matches!(exit, Ok(Err(ref cause)) if cause.is_interrupted_only()),
        "{exit:?}"
    );
    assert_eq!(runtime.live_fibers(), 0);

    let rendered = metrics.render();
    let restarts: Vec<&str> = rendered
        .lines()
        .filter(|line| line.starts_with("effect_supervisor_restarts_total"))
        .collect();
    println!("{}", restarts.join("\n"));
    let count = |series: &str| -> u64 {
        restarts
            .iter()
            .find(|line| line.starts_with(series))
            .and_then(|line| line.rsplit(' ').next()?.parse().ok())
            .unwrap_or(0)
    };
    let restarted = |supervisor: &str, child: &str| {
        count(&format!(
            r#"effect_supervisor_restarts_total{{supervisor="{supervisor}",child="{child}"}}"#
        ))
    };
    // workers restarted the consumer after the first poison, and after the first of the
    // burst, then gave up at the second; its second incarnation restarted it twice more.
    assert_eq!(restarted("workers", "consumer"), 4);
    assert_eq!(restarted("workers", "reporter"), 4);
    assert_eq!(restarted("service", "workers"), 1);
    assert_eq!(restarted("service", "listener"), 0);
    println!("done: {} jobs, 0 fibers left", done.load(Ordering::SeqCst));
    Ok(())
}
