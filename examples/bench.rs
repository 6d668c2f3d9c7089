//! Measures effect against hand-written tokio code doing the same work, in the same run.
//!
//!     cargo run --release --example bench                # table
//!     cargo run --release --example bench -- --json      # one JSON object per workload
//!     cargo run --release --example bench -- --scale 0.1 --only bind_chain
//!     cargo run --release --example bench -- --quick     # scale 0.01, used by CI
//!
//! Each workload runs on a multi-thread tokio runtime, once as a user of this library would
//! write it and once by hand (the floor); the figure is the median of several repetitions,
//! in nanoseconds per operation, and the ratio is effect / floor.

use std::future::Future;
use std::hint::black_box;
use std::pin::Pin;
use std::time::{Duration, Instant};

use effect::prelude::*;

const REPETITIONS: usize = 5;

struct Options {
    json: bool,
    scale: f64,
    only: Option<String>,
}

fn parse_options() -> Result<Options, String> {
    let mut options = Options {
        json: false,
        scale: 1.0,
        only: None,
    };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--json" => options.json = true,
            "--quick" => options.scale = 0.01,
            "--scale" => {
                let value = args
                    .next()
                    .ok_or("--scale needs a number, e.g. --scale 0.1")?;
                options.scale = value
                    .parse()
                    .ok()
                    .filter(|s: &f64| *s > 0.0 && s.is_finite())
                    .ok_or(format!("--scale needs a positive number, got `{value}`"))?;
            }
            "--only" => options.only = Some(args.next().ok_or("--only needs a workload name")?),
            other => {
                return Err(format!(
                "unknown argument `{other}`; expected --json, --quick, --scale F or --only NAME"
            ))
            }
        }
    }
    Ok(options)
}

/// One side of a workload: the time it took for `n` operations, or why it could not run.
type Side = Result<Duration, String>;

struct Workload {
    name: &'static str,
    n: u64,
    effect: fn(u64) -> Pin<Box<dyn Future<Output = Side>>>,
    baseline: fn(u64) -> Pin<Box<dyn Future<Output = Side>>>,
}

async fn timed<F: Future<Output = ()>>(work: F) -> Side {
    let start = Instant::now();
    work.await;
    Ok(start.elapsed())
}

// ---- bind_chain: sequential binds of a pure value in one body ----

fn bind_chain_effect(n: u64) -> Pin<Box<dyn Future<Output = Side>>> {
    Box::pin(timed(async move {
        let body: Effect<u64, Never> = effect_block! {
            let mut total = 0u64;
            for i in 0..n {
                total = total.wrapping_add(succeed(black_box(i))?);
            }
            total
        };
        black_box(body.run(&Context::new()).await.unwrap_or_default());
    }))
}

async fn step(i: u64) -> u64 {
    black_box(i)
}

fn bind_chain_baseline(n: u64) -> Pin<Box<dyn Future<Output = Side>>> {
    Box::pin(timed(async move {
        let mut total = 0u64;
        for i in 0..n {
            total = total.wrapping_add(step(i).await);
        }
        black_box(total);
    }))
}

// ---- deep_recursion: each level binds the next, then adds one ----

#[effect]
fn count_down(n: u64) -> Effect<u64, Never> {
    if n == 0 {
        return 0;
    }
    count_down(n - 1)? + 1
}

fn deep_recursion_effect(n: u64) -> Pin<Box<dyn Future<Output = Side>>> {
    Box::pin(timed(async move {
        black_box(count_down(n).run(&Context::new()).await.unwrap_or_default());
    }))
}

fn count_down_async(n: u64) -> Pin<Box<dyn Future<Output = u64> + Send>> {
    Box::pin(async move {
        if n == 0 {
            0
        } else {
            count_down_async(n - 1).await + 1
        }
    })
}

/// The deepest boxed async recursion this bench lets the floor attempt on a worker thread;
/// beyond it the hand-written version overflows its 2 MiB stack.
const BASELINE_MAX_DEPTH: u64 = 10_000;

fn deep_recursion_baseline(n: u64) -> Pin<Box<dyn Future<Output = Side>>> {
    Box::pin(async move {
        let depth = n.min(BASELINE_MAX_DEPTH);
        let start = Instant::now();
        let result = tokio::spawn(count_down_async(depth)).await;
        let elapsed = start.elapsed();
        match result {
            // Report per-operation time at the largest depth that runs.
            Ok(_) if depth == n => Ok(elapsed),
            Ok(_) => Err(format!(
                "hand-written async recursion overflows a 2 MiB stack far below {n} levels; measured at {depth}: {:.1} ns/op",
                elapsed.as_nanos() as f64 / depth as f64
            )),
            Err(e) => Err(format!("hand-written recursion failed: {e}")),
        }
    })
}

fn workloads() -> Vec<Workload> {
    vec![
        Workload {
            name: "bind_chain",
            n: 1_000_000,
            effect: bind_chain_effect,
            baseline: bind_chain_baseline,
        },
        Workload {
            name: "deep_recursion",
            n: 1_000_000,
            effect: deep_recursion_effect,
            baseline: deep_recursion_baseline,
        },
    ]
}

fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

fn measure(
    runtime: &tokio::runtime::Runtime,
    n: u64,
    side: fn(u64) -> Pin<Box<dyn Future<Output = Side>>>,
) -> Result<f64, String> {
    let mut samples = Vec::with_capacity(REPETITIONS);
    for _ in 0..REPETITIONS {
        samples.push(runtime.block_on(side(n))?);
    }
    Ok(median(samples).as_nanos() as f64 / n as f64)
}

fn main() {
    let options = match parse_options() {
        Ok(options) => options,
        Err(message) => {
            eprintln!("bench: {message}");
            std::process::exit(2);
        }
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    let selected: Vec<Workload> = workloads()
        .into_iter()
        .filter(|w| options.only.as_deref().is_none_or(|only| only == w.name))
        .collect();
    if selected.is_empty() {
        let names: Vec<&str> = workloads().iter().map(|w| w.name).collect();
        eprintln!(
            "bench: no workload named `{}`; known: {}",
            options.only.unwrap_or_default(),
            names.join(", ")
        );
        std::process::exit(2);
    }
    if !options.json {
        println!(
            "{:<24} {:>10} {:>14} {:>14} {:>8}",
            "workload", "n", "effect ns/op", "tokio ns/op", "ratio"
        );
    }
    for workload in selected {
        let n = ((workload.n as f64 * options.scale).round() as u64).max(1);
        let effect = measure(&runtime, n, workload.effect);
        let baseline = measure(&runtime, n, workload.baseline);
        report(&options, workload.name, n, &effect, &baseline);
    }
}

fn report(
    options: &Options,
    name: &str,
    n: u64,
    effect: &Result<f64, String>,
    baseline: &Result<f64, String>,
) {
    let ratio = match (effect, baseline) {
        (Ok(e), Ok(b)) if *b > 0.0 => Some(e / b),
        _ => None,
    };
    let error = [effect, baseline]
        .iter()
        .find_map(|side| side.as_ref().err().cloned());
    if options.json {
        let num = |v: Option<f64>| v.map_or("null".to_string(), |v| format!("{v:.3}"));
        let mut line = format!(
            "{{\"workload\":\"{name}\",\"n\":{n},\"effect_ns_per_op\":{},\"baseline_ns_per_op\":{},\"ratio\":{}",
            num(effect.as_ref().ok().copied()),
            num(baseline.as_ref().ok().copied()),
            num(ratio)
        );
        if let Some(error) = error {
            line.push_str(&format!(",\"error\":{:?}", error));
        }
        line.push('}');
        println!("{line}");
    } else {
        let cell = |side: &Result<f64, String>| {
            side.as_ref()
                .map_or("error".to_string(), |v| format!("{v:.1}"))
        };
        println!(
            "{:<24} {:>10} {:>14} {:>14} {:>8}",
            name,
            n,
            cell(effect),
            cell(baseline),
            ratio.map_or("-".to_string(), |r| format!("{r:.2}"))
        );
        if let Some(error) = error {
            println!("  note: {error}");
        }
    }
}
