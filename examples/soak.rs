//! Soak: a service loop repeated on `Schedule::forever`, racing, timing out, forking and
//! churning resources, for a while; checks that memory and the live-fiber count do not grow.
//!
//!     cargo run --release --example soak                  # 5 s
//!     cargo run --release --example soak -- --seconds 600 # long, by hand
//!     cargo run --example soak -- --quick                 # CI: about a second
//!
//! Look for: resident memory and live fibers sampled after warm-up and at the end; the
//! program exits non-zero if either grew.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use effect::prelude::*;
use effect::{Context, Runtime};

fn rss_bytes() -> u64 {
    std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|s| {
            s.split_whitespace()
                .nth(1)
                .and_then(|p| p.parse::<u64>().ok())
        })
        .map_or(0, |pages| pages * 4096)
}

/// One request of the service: a pooled resource, a race, a timeout, a parallel fan-out, a
/// forked helper that gets interrupted, and a recovered failure.
#[effect]
fn request(i: u64, released: Arc<AtomicU64>) -> Effect<u64, String> {
    let counter = released.clone();
    let conn = acquire_release(succeed(i), move |_, _| {
        sync(move || {
            counter.fetch_add(1, Ordering::Relaxed);
        })
    })?;
    let fastest = race!(
        {
            sleep(ms(2))?;
            1
        },
        {
            yield_now()?;
            2
        }
    )?;
    // A real timer fires at millisecond granularity: expire one request in sixteen.
    let limit = if i % 16 == 0 {
        Duration::from_micros(200)
    } else {
        secs(1)
    };
    let timed = yield_now::<String>()
        .as_value(0u64)
        .flat_map(move |v| {
            if i % 16 == 0 {
                sleep(ms(50)).as_value(v)
            } else {
                succeed(v)
            }
        })
        .timeout(limit)?
        .unwrap_or(3);
    let fanned: Vec<u64> = zip_par((0..4).map(succeed::<u64, String>).collect::<Vec<_>>())?;
    let helper = never::<(), String>().fork()?;
    helper.interrupt::<String>()?.ok();
    let recovered = catch!(fail::<u64, String>("transient".into()), { _ => 5 })?;
    conn + fastest + timed + fanned.iter().sum::<u64>() + recovered
}

fn main() {
    let mut args = std::env::args().skip(1);
    let mut seconds = 5.0;
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--quick" => seconds = 1.0,
            "--seconds" => {
                seconds = args
                    .next()
                    .and_then(|s| s.parse().ok())
                    .filter(|s: &f64| *s > 0.0)
                    .unwrap_or_else(|| {
                        eprintln!("soak: --seconds needs a positive number");
                        std::process::exit(2)
                    })
            }
            other => {
                eprintln!("soak: unknown argument `{other}`; expected --quick or --seconds N");
                std::process::exit(2);
            }
        }
    }
    let tokio = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    let runtime = Runtime::new(Context::new());
    let released = Arc::new(AtomicU64::new(0));
    let requests = Arc::new(AtomicU64::new(0));
    let run_for = |duration: Duration| {
        let deadline = Instant::now() + duration;
        let (released, requests) = (released.clone(), requests.clone());
        let service = repeat(
            move || {
                let n = requests.fetch_add(1, Ordering::Relaxed);
                scoped(request(n, released.clone()))
            },
            Schedule::forever().while_input(move |_| Instant::now() < deadline),
        );
        tokio
            .block_on(runtime.run(service))
            .expect("the service loop must not fail");
    };

    run_for(Duration::from_secs_f64(seconds * 0.2)); // warm-up: allocator and runtime settle
    let (rss_start, fibers_start, done_start) = (
        rss_bytes(),
        runtime.live_fibers(),
        requests.load(Ordering::Relaxed),
    );
    run_for(Duration::from_secs_f64(seconds * 0.8));
    let (rss_end, fibers_end, done_end) = (
        rss_bytes(),
        runtime.live_fibers(),
        requests.load(Ordering::Relaxed),
    );

    let served = done_end - done_start;
    println!(
        "soak: {served} requests in {:.1} s after warm-up",
        seconds * 0.8
    );
    println!(
        "  resident memory: {:.1} MiB -> {:.1} MiB",
        rss_start as f64 / 1048576.0,
        rss_end as f64 / 1048576.0
    );
    println!("  live fibers: {fibers_start} -> {fibers_end}");
    println!(
        "  resources released: {} of {} acquired",
        released.load(Ordering::Relaxed),
        done_end
    );
    let grew = rss_end > rss_start + 16 * 1048576;
    if fibers_end != 0 || grew || released.load(Ordering::Relaxed) != done_end {
        eprintln!("soak: FAILED: fibers or memory grew, or a resource was not released");
        std::process::exit(1);
    }
    println!("soak: ok");
}
