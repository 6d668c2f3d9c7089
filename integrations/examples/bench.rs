//! Measures effect against hand-written tokio code doing the same work, in the same run.
//!
//!     cargo run --release --example bench                # table
//!     cargo run --release --example bench -- --json      # one JSON object per workload
//!     cargo run --release --example bench -- --scale 0.1 --only bind_chain
//!     cargo run --release --example bench -- --quick     # scale 0.01, used by CI
//!
//! Each workload runs on a multi-thread tokio runtime, once as a user of this library would
//! write it and once by hand (the floor); the figure is the median of several repetitions,
//! in nanoseconds per operation (for `fiber_memory`: bytes per suspended fiber), and the
//! ratio is effect / floor. The two sides take turns in one process, a fresh one for each
//! workload; `test_clock_sleepers` runs both sides on a current-thread runtime (the only kind
//! paused tokio time allows, and the kind `#[effect::test]` uses).
//!
//! The last workloads (`pool_get_release`, `rate_limiter_acquire`, `cache_hit`) measure our
//! toolkit types against the crates the field uses for the same job (deadpool, governor,
//! moka) instead of hand-written code: the peer's figure fills the floor column, the ratio
//! is ours / the peer's, and a `peer:` line (a `"peer"` field in JSON) names it.
//!
//! This machine's speed drifts (shared cores), and some figures depend on the process as a
//! whole (how tokio spreads a `JoinSet` over its two workers, what one side leaves in the
//! heap for the other): the same floor runs at 640 ns in one process and 900 in the next.
//! So each workload is measured in three processes (one with `--quick`), and the one whose
//! ratio is the median is reported, its two sides and allocations with it. Compare ratios
//! from the same run, and rerun a workload with `--only` before trusting one outlier.
//! The machine also has states that last minutes, across processes, in which work spread
//! over both workers runs up to twice as slow while single-task floors do not move:
//! `for_each_par_64`'s effect side runs at about 125 ns in one and 300 in the other, and
//! `fork_join`, `real_sleep_10ms` and `cpu_fork_join` shift with it. Compare those four
//! across several runs.
//!
//! Beside the times, each side's heap allocations per operation (and bytes asked for) are
//! counted in one more run of each side, untimed: they do not drift, and they are most of
//! what separates a fiber from a bare task.

use std::alloc::{GlobalAlloc, Layout, System};
use std::future::Future;
use std::hint::black_box;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use effect::prelude::*;
use effect::stream::Stream;
use effect::{Clock, Context, Fiber, Runtime};

/// The system allocator, counting allocations while [`COUNTING`] is on. Off (all timed
/// runs), it costs one relaxed load per allocation, on both sides alike.
struct CountingAllocator;

static COUNTING: AtomicBool = AtomicBool::new(false);
static ALLOCATIONS: AtomicU64 = AtomicU64::new(0);
static ALLOCATED_BYTES: AtomicU64 = AtomicU64::new(0);

impl CountingAllocator {
    fn count(size: usize) {
        if COUNTING.load(Ordering::Relaxed) {
            ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
            ALLOCATED_BYTES.fetch_add(size as u64, Ordering::Relaxed);
        }
    }
}

// SAFETY: every method forwards to `System` with the caller's arguments unchanged, so
// `System`'s guarantees are this allocator's; counting touches only atomics (it never
// allocates, which would recurse).
#[allow(unsafe_code)]
unsafe impl GlobalAlloc for CountingAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        Self::count(layout.size());
        // SAFETY: forwarded as is (see above).
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        Self::count(layout.size());
        // SAFETY: forwarded as is (see above).
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded as is (see above).
        unsafe { System.dealloc(ptr, layout) }
    }

    /// A growth counts as an allocation of the new size (a growing `Vec` pays for each).
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        Self::count(new_size);
        // SAFETY: forwarded as is (see above).
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOCATOR: CountingAllocator = CountingAllocator;

/// Processes per workload; the one with the median ratio is reported (`--quick`: one).
const PROCESSES: usize = 3;

/// Measured rounds per workload (each side once per round), after one warm-up round.
const REPETITIONS: usize = 5;

/// Worker threads of the runtime both sides run on.
const WORKERS: usize = 2;

struct Options {
    json: bool,
    scale: f64,
    only: Option<String>,
    processes: usize,
}

fn parse_options() -> Result<Options, String> {
    let mut options = Options {
        json: false,
        scale: 1.0,
        only: None,
        processes: PROCESSES,
    };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--json" => options.json = true,
            "--quick" => {
                options.scale = 0.01;
                options.processes = 1;
            }
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
    effect: SideFn,
    baseline: SideFn,
    /// What the floor is, when it is not the obvious hand-written tokio code.
    note: Option<&'static str>,
    /// For a workload measured against another crate (see `peer_workloads`): that crate, and
    /// the way it is used. Its side is the floor, and the ratio is ours / the peer's.
    peer: Option<&'static str>,
}

async fn timed<F: Future<Output = ()>>(work: F) -> Side {
    let start = Instant::now();
    work.await;
    Ok(start.elapsed())
}

/// The effect side of a workload: builds the effect with `make` and runs it to its value,
/// all of it timed.
fn run_effect<A, F>(make: F) -> Pin<Box<dyn Future<Output = Side> + Send>>
where
    A: Default + Send + 'static,
    F: FnOnce() -> Effect<A, Never> + Send + 'static,
{
    Box::pin(timed(async move {
        black_box(make().run(&Context::new()).await.unwrap_or_default());
    }))
}

// ---- bind_chain: sequential binds of a pure value in one body ----

fn bind_chain_effect(n: u64) -> Pin<Box<dyn Future<Output = Side> + Send>> {
    run_effect(move || {
        effect_block! {
            let mut total = 0u64;
            for i in 0..n {
                total = total.wrapping_add(succeed(black_box(i))?);
            }
            total
        }
    })
}

async fn step(i: u64) -> u64 {
    black_box(i)
}

fn bind_chain_baseline(n: u64) -> Pin<Box<dyn Future<Output = Side> + Send>> {
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

fn deep_recursion_effect(n: u64) -> Pin<Box<dyn Future<Output = Side> + Send>> {
    run_effect(move || count_down(n))
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

/// The floor of a recursion `n` levels deep: the same recursion, hand-written, at the deepest
/// depth it survives on a worker thread's 2 MiB stack (found in child processes, since an
/// overflow aborts the process), its time scaled to `n` levels: the ratio compares the cost
/// per level.
async fn deepest_floor<F>(n: u64, probe: &'static str, run: F) -> Side
where
    F: FnOnce(u64) -> Pin<Box<dyn Future<Output = u64> + Send>>,
{
    let depth = tokio::task::spawn_blocking(move || deepest_surviving(probe, n))
        .await
        .map_err(|e| e.to_string())??;
    let start = Instant::now();
    tokio::spawn(run(depth))
        .await
        .map_err(|e| format!("the hand-written recursion failed: {e}"))?;
    Ok(start.elapsed().mul_f64(n as f64 / depth as f64))
}

/// The deepest of `n` levels (a power of two times 1,000, then bisected) at which the
/// hand-written recursion `probe` finishes in a child process, probed once per process.
fn deepest_surviving(probe: &'static str, n: u64) -> Result<u64, String> {
    use std::sync::Mutex;
    static FOUND: Mutex<Vec<(&str, u64, u64)>> = Mutex::new(Vec::new());
    let found = FOUND.lock().unwrap_or_else(|p| p.into_inner());
    if let Some(&(_, _, depth)) = found.iter().find(|(p, m, _)| *p == probe && *m == n) {
        return Ok(depth);
    }
    drop(found);
    let survives = |depth: u64| -> Result<bool, String> {
        let exe = std::env::current_exe().map_err(|e| e.to_string())?;
        let status = std::process::Command::new(exe)
            .args(["--depth-probe-child", probe, &depth.to_string()])
            .stderr(std::process::Stdio::null())
            .status()
            .map_err(|e| e.to_string())?;
        Ok(status.success())
    };
    let (mut good, mut bad) = (0, None);
    let mut depth = 1_000.min(n);
    while bad.is_none() && good < n {
        if survives(depth)? {
            good = depth;
            depth = (depth * 2).min(n);
        } else {
            bad = Some(depth);
        }
    }
    if let Some(mut bad) = bad {
        // Bisect to within 5%.
        while good > 0 && bad - good > good / 20 {
            let mid = (good + bad) / 2;
            if survives(mid)? {
                good = mid;
            } else {
                bad = mid;
            }
        }
    }
    if good == 0 {
        return Err(format!(
            "the hand-written `{probe}` overflows even at 1,000 levels"
        ));
    }
    // A margin below the deepest survivor: stack use varies a little between processes.
    let depth = if good == n { n } else { good - good / 10 };
    FOUND
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .push((probe, n, depth));
    Ok(depth)
}

/// In a child process: runs the hand-written recursion `probe` `depth` levels deep on a
/// worker thread; the process exits normally only if it survived.
fn depth_probe_child(probe: &str, depth: u64) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    let run = match probe {
        "count_down" => count_down_async(depth),
        "nested_timeout" => nested_timeout_async(depth),
        _ => std::process::exit(2),
    };
    let survived = runtime.block_on(runtime.spawn(run)).is_ok();
    std::process::exit(if survived { 0 } else { 1 });
}

fn deep_recursion_baseline(n: u64) -> Pin<Box<dyn Future<Output = Side> + Send>> {
    Box::pin(deepest_floor(n, "count_down", count_down_async))
}

// ---- nested_timeout: each level of a recursion runs the next under a one-hour timeout ----

#[effect]
fn nested_timeouts(n: u64) -> Effect<u64, Never> {
    if n == 0 {
        return 0;
    }
    nested_timeouts(n - 1).timeout(secs(3600))?.unwrap_or(0) + 1
}

fn nested_timeout_effect(n: u64) -> Pin<Box<dyn Future<Output = Side> + Send>> {
    run_effect(move || nested_timeouts(n))
}

fn nested_timeout_async(n: u64) -> Pin<Box<dyn Future<Output = u64> + Send>> {
    Box::pin(async move {
        if n == 0 {
            return 0;
        }
        tokio::time::timeout(Duration::from_secs(3600), nested_timeout_async(n - 1))
            .await
            .unwrap_or(0)
            + 1
    })
}

fn nested_timeout_baseline(n: u64) -> Pin<Box<dyn Future<Output = Side> + Send>> {
    Box::pin(deepest_floor(n, "nested_timeout", nested_timeout_async))
}

// ---- the per-item work: yield once, then 2*i ----

fn step_effect(i: u64) -> Effect<u64, Never> {
    effect_block! {
        yield_now()?;
        2 * i
    }
}

async fn step_async(i: u64) -> u64 {
    tokio::task::yield_now().await;
    2 * i
}

// ---- fork_join: zip_par of a Vec vs JoinSet ----

fn fork_join_effect(n: u64) -> Pin<Box<dyn Future<Output = Side> + Send>> {
    run_effect(move || zip_par((0..n).map(step_effect).collect::<Vec<_>>()))
}

fn fork_join_baseline(n: u64) -> Pin<Box<dyn Future<Output = Side> + Send>> {
    Box::pin(timed(join_set(n, step_async)))
}

/// The floor of `fork_join`: `n` tasks (made by `task`) in a `JoinSet`, their values
/// collected as they finish.
async fn join_set<F>(n: u64, task: impl Fn(u64) -> F)
where
    F: Future<Output = u64> + Send + 'static,
{
    let mut set = tokio::task::JoinSet::new();
    for i in 0..n {
        set.spawn(task(i));
    }
    let mut values = vec![0; n as usize];
    let mut index = 0;
    while let Some(value) = set.join_next().await {
        values[index] = value.unwrap_or_default();
        index += 1;
    }
    black_box(values);
}

// ---- traced_fork_join: fork_join inside a request span, no subscriber ----
//
// What a service pays for the `tracing` feature when nobody collects: `fork_join` run inside a
// span (disabled, there being no subscriber), its branches inheriting it, against the same
// `fork_join` with no span current.

fn traced_fork_join_effect(n: u64) -> Pin<Box<dyn Future<Output = Side> + Send>> {
    use tracing::Instrument;
    Box::pin(timed(async move {
        let effects: Vec<Effect<u64, Never>> = (0..n).map(step_effect).collect();
        let run = zip_par(effects).run(&Context::new());
        black_box(
            run.instrument(tracing::info_span!("request"))
                .await
                .unwrap_or_default(),
        );
    }))
}

// ---- metered_fork_join: fork_join with the fiber metrics on, no recorder ----
//
// What a service pays for the `metrics` feature when no recorder is installed: `fork_join`
// with fiber metrics on (each fiber counted started, live and ended, its lifetime timed, all
// into the no-op recorder) against the same `fork_join` with them off. The bench is built
// with the feature (for this workload), and every other workload runs with fiber metrics
// off (`main`), as close as one binary gets to the feature being off: what is left is a load
// and a branch per fiber.

/// Fiber metrics on or off (the `metrics` feature; without it, there are none to turn on,
/// and `metered_fork_join` measures `fork_join` twice).
fn set_fiber_metrics(on: bool) {
    #[cfg(feature = "metrics")]
    effect::metrics::set_fiber_metrics(on);
    #[cfg(not(feature = "metrics"))]
    let _ = on;
}

fn metered_fork_join_effect(n: u64) -> Pin<Box<dyn Future<Output = Side> + Send>> {
    Box::pin(async move {
        set_fiber_metrics(true);
        let side = fork_join_effect(n).await;
        set_fiber_metrics(false);
        side
    })
}

// ---- for_each_par_64 vs buffered(64) ----

fn for_each_par_effect(n: u64) -> Pin<Box<dyn Future<Output = Side> + Send>> {
    run_effect(move || for_each_par(0..n, step_effect, 64))
}

fn for_each_par_baseline(n: u64) -> Pin<Box<dyn Future<Output = Side> + Send>> {
    use futures::StreamExt;
    Box::pin(timed(async move {
        let values: Vec<u64> = futures::stream::iter(0..n)
            .map(step_async)
            .buffered(64)
            .collect()
            .await;
        black_box(values);
    }))
}

// ---- race_interrupt_loser: race(sleep 1 h, work) vs select! ----

fn race_effect(n: u64) -> Pin<Box<dyn Future<Output = Side> + Send>> {
    run_effect(move || {
        effect_block! {
            let mut total = 0u64;
            for i in 0..n {
                total += race!(sleep(secs(3600)).as_value(0), step_effect(i))?;
            }
            total
        }
    })
}

fn race_baseline(n: u64) -> Pin<Box<dyn Future<Output = Side> + Send>> {
    Box::pin(timed(async move {
        let mut total = 0u64;
        for i in 0..n {
            total += tokio::select! {
                _ = tokio::time::sleep(Duration::from_secs(3600)) => 0,
                value = step_async(i) => value,
            };
        }
        black_box(total);
    }))
}

// ---- timeout_fast: timeout(1 s) around the work ----

fn timeout_effect(n: u64) -> Pin<Box<dyn Future<Output = Side> + Send>> {
    run_effect(move || {
        effect_block! {
            let mut total = 0u64;
            for i in 0..n {
                total += step_effect(i).timeout(secs(1))?.unwrap_or(0);
            }
            total
        }
    })
}

fn timeout_baseline(n: u64) -> Pin<Box<dyn Future<Output = Side> + Send>> {
    Box::pin(timed(async move {
        let mut total = 0u64;
        for i in 0..n {
            total += tokio::time::timeout(Duration::from_secs(1), step_async(i))
                .await
                .unwrap_or(0);
        }
        black_box(total);
    }))
}

// ---- test_clock_sleepers: n fibers sleeping i+1 ms, one advance, join all ----

fn test_clock_effect(n: u64) -> Pin<Box<dyn Future<Output = Side> + Send>> {
    // Like the floor (paused tokio time needs a current-thread runtime), and like
    // `#[effect::test]`, which runs each test on a current-thread runtime of its own.
    on_current_thread(move || {
        timed(async move {
            let clock = TestClock::new();
            let runtime = Runtime::new(Context::new().with(Clock::from(clock.clone())));
            let fibers: Vec<Fiber<u64, Never>> = (0..n)
                .map(|i| runtime.fork(sleep(ms(i + 1)).as_value(i)))
                .collect();
            clock.advance(ms(n + 1)).await;
            let join_all: Effect<u64, Never> = effect_block! {
                let mut total = 0u64;
                for fiber in fibers {
                    total += fiber.join()?;
                }
                total
            };
            black_box(runtime.run(join_all).await.unwrap_or_default());
        })
    })
}

/// Runs `work` on a current-thread runtime (with paused time) on a thread of its own.
fn on_current_thread<F, W>(work: W) -> Pin<Box<dyn Future<Output = Side> + Send>>
where
    W: FnOnce() -> F + Send + 'static,
    F: Future<Output = Side>,
{
    Box::pin(async move {
        std::thread::spawn(move || {
            let paused = tokio::runtime::Builder::new_current_thread()
                .enable_time()
                .start_paused(true)
                .build()
                .map_err(|e| e.to_string())?;
            paused.block_on(work())
        })
        .join()
        .map_err(|_| "the current-thread runtime's thread panicked".to_string())?
    })
}

fn test_clock_baseline(n: u64) -> Pin<Box<dyn Future<Output = Side> + Send>> {
    // Paused tokio time needs a current-thread runtime of its own.
    on_current_thread(move || {
        timed(async move {
            let handles: Vec<_> = (0..n)
                .map(|i| {
                    tokio::spawn(async move {
                        tokio::time::sleep(Duration::from_millis(i + 1)).await;
                        i
                    })
                })
                .collect();
            tokio::time::advance(Duration::from_millis(n + 1)).await;
            let mut total = 0u64;
            for handle in handles {
                total += handle.await.unwrap_or_default();
            }
            black_box(total);
        })
    })
}

// ---- race_wide: a race of n branches sleeping i+1 ms on a test clock, one advance ----

fn race_wide_effect(n: u64) -> Pin<Box<dyn Future<Output = Side> + Send>> {
    on_current_thread(move || {
        timed(async move {
            let clock = TestClock::new();
            let runtime = Runtime::new(Context::new().with(Clock::from(clock.clone())));
            let branches = (0..n).map(|i| sleep(ms(i + 1)).as_value(i));
            let race: Fiber<u64, Never> = runtime.fork(race(branches));
            clock.advance(ms(1)).await;
            black_box(runtime.run(race.join()).await.unwrap_or_default());
        })
    })
}

fn race_wide_baseline(n: u64) -> Pin<Box<dyn Future<Output = Side> + Send>> {
    use futures::StreamExt;
    on_current_thread(move || {
        timed(async move {
            let race = tokio::spawn(async move {
                let mut branches: futures::stream::FuturesUnordered<_> = (0..n)
                    .map(|i| async move {
                        tokio::time::sleep(Duration::from_millis(i + 1)).await;
                        i
                    })
                    .collect();
                // The first to finish; the rest are dropped (cancelled) with the set.
                branches.next().await.unwrap_or_default()
            });
            tokio::time::advance(Duration::from_millis(1)).await;
            black_box(race.await.unwrap_or_default());
        })
    })
}

// ---- cpu_fork_join: n items of about 10 us of CPU work each, zip_par vs JoinSet ----

/// About 10 µs of CPU work on this machine: a xorshift chain the optimizer cannot shorten.
fn cpu_work(seed: u64) -> u64 {
    let mut x = seed | 1;
    for _ in 0..CPU_WORK_STEPS {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x = black_box(x);
    }
    x
}

const CPU_WORK_STEPS: u32 = 6_600;

fn cpu_fork_join_effect(n: u64) -> Pin<Box<dyn Future<Output = Side> + Send>> {
    run_effect(move || {
        zip_par(
            (0..n)
                .map(|i| sync(move || cpu_work(i)))
                .collect::<Vec<_>>(),
        )
    })
}

fn cpu_fork_join_baseline(n: u64) -> Pin<Box<dyn Future<Output = Side> + Send>> {
    Box::pin(timed(join_set(n, |i| async move { cpu_work(i) })))
}

/// `cpu_fork_join`'s effect side on a 1-worker and on a 2-worker runtime: the speedup the
/// second worker brings (median of the repetitions).
fn cpu_speedup(n: u64) -> String {
    let median_on = |workers: usize| -> Result<f64, String> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(workers)
            .enable_all()
            .build()
            .map_err(|e| e.to_string())?;
        let mut samples = Vec::new();
        for round in 0..=REPETITIONS {
            let taken = sample(&runtime, n, cpu_fork_join_effect)?;
            if round > 0 {
                samples.push(taken);
            }
        }
        Ok(median(samples).as_secs_f64())
    };
    match (median_on(1), median_on(2)) {
        (Ok(one), Ok(two)) => format!(
            "speedup of 2 workers over 1: {:.2}x ({:.1} us per item of CPU work on 1 worker)",
            one / two,
            one * 1e6 / n as f64
        ),
        (Err(e), _) | (_, Err(e)) => format!("speedup not measured: {e}"),
    }
}

// ---- real_sleep_10ms: n concurrent live sleeps (wall time) ----

fn real_sleep_effect(n: u64) -> Pin<Box<dyn Future<Output = Side> + Send>> {
    Box::pin(timed(async move {
        let sleeps: Vec<Effect<(), Never>> = (0..n).map(|_| sleep(ms(10))).collect();
        black_box(zip_par(sleeps).run(&Context::new()).await.is_ok());
    }))
}

fn real_sleep_baseline(n: u64) -> Pin<Box<dyn Future<Output = Side> + Send>> {
    Box::pin(timed(async move {
        let handles: Vec<_> = (0..n)
            .map(|_| tokio::spawn(tokio::time::sleep(Duration::from_millis(10))))
            .collect();
        for handle in handles {
            let _ = handle.await;
        }
    }))
}

// ---- fiber_memory: resident memory per suspended fiber, measured in a child process ----

/// Resident set size of this process, in bytes.
fn rss_bytes() -> Option<u64> {
    let statm = std::fs::read_to_string("/proc/self/statm").ok()?;
    let pages: u64 = statm.split_whitespace().nth(1)?.parse().ok()?;
    Some(pages * 4096)
}

// ---- zip_par_2: two effects in parallel, each yielding once, from inside a task ----

fn zip_par_2_effect(n: u64) -> Pin<Box<dyn Future<Output = Side> + Send>> {
    run_effect(move || {
        effect_block! {
            let mut total = 0u64;
            for i in 0..n {
                let (a, b) = zip_par((
                    yield_now::<Never>().as_value(i),
                    yield_now::<Never>().as_value(1u64),
                ))?;
                total += a + b;
            }
            total
        }
    })
}

fn zip_par_2_baseline(n: u64) -> Pin<Box<dyn Future<Output = Side> + Send>> {
    Box::pin(timed(async move {
        let mut total = 0u64;
        for i in 0..n {
            let (a, b) = tokio::join!(
                tokio::spawn(async move {
                    tokio::task::yield_now().await;
                    i
                }),
                tokio::spawn(async {
                    tokio::task::yield_now().await;
                    1u64
                }),
            );
            total += a.unwrap_or_default() + b.unwrap_or_default();
        }
        black_box(total);
    }))
}

// ---- root_run: a request handler's Runtime::run of a small effect ----

fn root_run_effect(n: u64) -> Pin<Box<dyn Future<Output = Side> + Send>> {
    Box::pin(async move {
        let runtime = Runtime::new(Context::new());
        timed(async move {
            let mut total = 0u64;
            for i in 0..n {
                let handled = yield_now::<Never>().map(move |()| i);
                total += runtime.run(handled).await.unwrap_or_default();
            }
            black_box(total);
        })
        .await
    })
}

fn root_run_baseline(n: u64) -> Pin<Box<dyn Future<Output = Side> + Send>> {
    Box::pin(timed(async move {
        let mut total = 0u64;
        for i in 0..n {
            let handled = async move {
                tokio::task::yield_now().await;
                i
            };
            total += black_box(handled).await;
        }
        black_box(total);
    }))
}

// ---- fork_under_load: Runtime::fork while many unsupervised fibers are alive ----

/// Fibers kept alive (suspended forever) while `fork_under_load` measures: just under a power
/// of two, where a registry that sweeps when its vector is full sweeps most often.
const FIBERS_UNDER_LOAD: u64 = 65_500;

/// `n` `Runtime::fork`s, each joined, on a runtime with `load` other forked fibers alive
/// (started before the clock starts, interrupted after it stops).
async fn forks_with_load(n: u64, load: u64) -> Side {
    let runtime = Runtime::new(Context::new());
    let alive: Vec<Fiber<(), Never>> = (0..load).map(|_| runtime.fork(never())).collect();
    tokio::task::yield_now().await;
    let start = Instant::now();
    let forks: Vec<Fiber<u64, Never>> = (0..n).map(|i| runtime.fork(succeed(i))).collect();
    let mut total = 0;
    for fiber in forks {
        total += runtime.run(fiber.join()).await.unwrap_or_default();
    }
    let elapsed = start.elapsed();
    black_box(total);
    drop(alive);
    runtime.shutdown().await;
    Ok(elapsed)
}

fn fork_under_load_effect(n: u64) -> Pin<Box<dyn Future<Output = Side> + Send>> {
    Box::pin(forks_with_load(n, FIBERS_UNDER_LOAD))
}

fn fork_under_load_baseline(n: u64) -> Pin<Box<dyn Future<Output = Side> + Send>> {
    Box::pin(forks_with_load(n, 0))
}

// ---- fork_children_under_load: a fiber's own forks while many of its forks are alive ----

/// `n` supervised forks, each joined, by a fiber with `load` other forks of its own alive
/// (an accept loop with that many open connections), timed inside the fiber.
async fn children_with_load(n: u64, load: u64) -> Side {
    children_with_load_on(n, load, None).await
}

/// [`children_with_load`], run by `runtime` if given (its fibers are registered, for
/// `Runtime::dump`), by a plain run otherwise.
async fn children_with_load_on(n: u64, load: u64, runtime: Option<Runtime>) -> Side {
    // The time is taken before the fiber ends, which closes its `load` forks: not measured.
    let program: Effect<Duration, Never> = effect_block! {
        for _ in 0..load {
            never::<(), Never>().fork()?;
        }
        yield_now::<Never>()?;
        let start = Instant::now();
        let mut total = 0u64;
        for i in 0..n {
            let child = succeed::<u64, Never>(i).fork()?;
            total += child.join()?;
        }
        black_box(total);
        start.elapsed()
    };
    let exit = match runtime {
        Some(runtime) => runtime.run(program).await,
        None => program.run(&Context::new()).await,
    };
    exit.map_err(|cause| format!("{cause:?}"))
}

// ---- runtime_forks: a fiber's own forks under a Runtime, which registers them for dumps ----

fn runtime_forks_effect(n: u64) -> Pin<Box<dyn Future<Output = Side> + Send>> {
    Box::pin(children_with_load_on(
        n,
        0,
        Some(Runtime::new(Context::new())),
    ))
}

fn runtime_forks_baseline(n: u64) -> Pin<Box<dyn Future<Output = Side> + Send>> {
    Box::pin(children_with_load_on(n, 0, None))
}

fn fork_children_under_load_effect(n: u64) -> Pin<Box<dyn Future<Output = Side> + Send>> {
    Box::pin(children_with_load(n, FIBERS_UNDER_LOAD))
}

fn fork_children_under_load_baseline(n: u64) -> Pin<Box<dyn Future<Output = Side> + Send>> {
    Box::pin(children_with_load(n, 0))
}

/// In a child process: start `n` suspended fibers (or tasks) and print the RSS growth per
/// one. A fresh process per side keeps one side's freed memory from flattering the other.
fn fiber_memory_child(side: &str, n: u64) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    let per = runtime.block_on(async move {
        let before = rss_bytes().unwrap_or(0);
        let growth = if side == "effect" {
            let rt = Runtime::new(Context::new());
            let fibers: Vec<Fiber<(), Never>> = (0..n).map(|_| rt.fork(never())).collect();
            tokio::task::yield_now().await;
            let growth = rss_bytes().unwrap_or(0).saturating_sub(before);
            for fiber in fibers {
                let _ = rt.run(fiber.interrupt::<Never>()).await;
            }
            growth
        } else {
            let tasks: Vec<_> = (0..n)
                .map(|_| tokio::spawn(std::future::pending::<()>()))
                .collect();
            tokio::task::yield_now().await;
            let growth = rss_bytes().unwrap_or(0).saturating_sub(before);
            tasks.iter().for_each(|t| t.abort());
            growth
        };
        growth as f64 / n as f64
    });
    println!("{per}");
}

fn fiber_memory_side(side: &'static str, n: u64) -> Side {
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let out = std::process::Command::new(exe)
        .args(["--fiber-memory-child", side, &n.to_string()])
        .output()
        .map_err(|e| e.to_string())?;
    let per: f64 = String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .map_err(|_| "no figure from the child".to_string())?;
    // Reported through the "ns per op" columns as bytes per fiber.
    Ok(Duration::from_nanos((per * n as f64) as u64))
}

fn fiber_memory_effect(n: u64) -> Pin<Box<dyn Future<Output = Side> + Send>> {
    Box::pin(async move { fiber_memory_side("effect", n) })
}

fn fiber_memory_baseline(n: u64) -> Pin<Box<dyn Future<Output = Side> + Send>> {
    Box::pin(async move { fiber_memory_side("tokio", n) })
}

// ---- stream_map_filter: a pure stream pipeline, map + filter + fold ----

fn stream_map_filter_effect(n: u64) -> Pin<Box<dyn Future<Output = Side> + Send>> {
    run_effect(move || {
        Stream::<u64, Never>::from_iter(0..n)
            .map(|i| black_box(i).wrapping_mul(3))
            .filter(|i| i % 2 == 0)
            .run_fold(0u64, |total, i| total.wrapping_add(i))
    })
}

fn stream_map_filter_baseline(n: u64) -> Pin<Box<dyn Future<Output = Side> + Send>> {
    use futures::StreamExt;
    Box::pin(timed(async move {
        let total = futures::stream::iter(0..n)
            .map(|i| black_box(i).wrapping_mul(3))
            .filter(|i| std::future::ready(i % 2 == 0))
            .fold(0u64, |total, i| std::future::ready(total.wrapping_add(i)))
            .await;
        black_box(total);
    }))
}

// ---- stream_map_par_8: an effectful step that yields, 8 at a time, results in order ----

fn stream_map_par_effect(n: u64) -> Pin<Box<dyn Future<Output = Side> + Send>> {
    run_effect(move || {
        Stream::<u64, Never>::from_iter(0..n)
            .map_par(8, |i| yield_now().as_value(black_box(i)))
            .run_fold(0u64, |total, i| total.wrapping_add(i))
    })
}

fn stream_map_par_baseline(n: u64) -> Pin<Box<dyn Future<Output = Side> + Send>> {
    use futures::StreamExt;
    Box::pin(timed(async move {
        // The hand-written parallel map: each element a task of its own (so CPU-bound ones
        // would run on every worker, as map_par's do), 8 at a time, results in order.
        let total = futures::stream::iter(0..n)
            .map(|i| async move {
                tokio::spawn(async move {
                    tokio::task::yield_now().await;
                    black_box(i)
                })
                .await
                .expect("the element task does not panic")
            })
            .buffered(8)
            .fold(0u64, |total, i| std::future::ready(total.wrapping_add(i)))
            .await;
        black_box(total);
    }))
}

/// The in-place floor of `stream_map_par_8`: futures' `buffered` polls the 8 on one task,
/// so it is concurrent but never parallel.
fn stream_map_par_in_place_baseline(n: u64) -> Pin<Box<dyn Future<Output = Side> + Send>> {
    use futures::StreamExt;
    Box::pin(timed(async move {
        let total = futures::stream::iter(0..n)
            .map(|i| async move {
                tokio::task::yield_now().await;
                black_box(i)
            })
            .buffered(8)
            .fold(0u64, |total, i| std::future::ready(total.wrapping_add(i)))
            .await;
        black_box(total);
    }))
}

// ---- stream_nested_concat: 1M values through 10,000 nested concats ----

/// How many values each stream `stream_nested_concat` concatenates has: at full scale (1M
/// values) 10,000 streams, and the same shape at any scale.
const PER_CONCAT: u64 = 100;

fn stream_nested_concat_effect(n: u64) -> Pin<Box<dyn Future<Output = Side> + Send>> {
    run_effect(move || {
        let (per, concats) = (PER_CONCAT, (n / PER_CONCAT).max(1));
        // Left-nested: ((s0 ++ s1) ++ s2) ++ ..., the shape a loop building a stream makes.
        (0..concats)
            .fold(Stream::<u64, Never>::empty(), |stream, k| {
                stream.concat(Stream::from_iter(k * per..(k + 1) * per))
            })
            .run_fold(0u64, |total, i| total.wrapping_add(black_box(i)))
    })
}

fn stream_nested_concat_baseline(n: u64) -> Pin<Box<dyn Future<Output = Side> + Send>> {
    use futures::StreamExt;
    Box::pin(timed(async move {
        let (per, concats) = (PER_CONCAT, (n / PER_CONCAT).max(1));
        // The futures floor: the same parts, flattened one after another.
        let total = futures::stream::iter(
            (0..concats).map(move |k| futures::stream::iter(k * per..(k + 1) * per)),
        )
        .flatten()
        .fold(0u64, |total, i| {
            std::future::ready(total.wrapping_add(black_box(i)))
        })
        .await;
        black_box(total);
    }))
}

// ---- stream_group_by_key: 16 keys, a fold (sum) per key, each group on its own fiber ----

/// How many values each group's buffer holds, on both sides (the floor's channels are
/// bounded to as many values).
const GROUP_BUFFER: usize = 256;

fn stream_group_by_key_effect(n: u64) -> Pin<Box<dyn Future<Output = Side> + Send>> {
    run_effect(move || {
        Stream::<u64, Never>::from_iter(0..n)
            .group_by_key(|i| black_box(*i) % 16, GROUP_BUFFER)
            .merge_groups(|key, group| {
                let sum = group.run_fold(0u64, |sum, i| sum.wrapping_add(i));
                Stream::from_effect(sum).map(move |sum| (key, sum))
            })
            .run_fold(0u64, |total, (_, sum)| total.wrapping_add(sum))
    })
}

fn stream_group_by_key_baseline(n: u64) -> Pin<Box<dyn Future<Output = Side> + Send>> {
    use std::collections::HashMap;
    use tokio::sync::mpsc;
    Box::pin(async move {
        let start = Instant::now();
        // A task per key, fed through a bounded channel, folding; the results joined.
        let mut groups: HashMap<u64, mpsc::Sender<u64>> = HashMap::new();
        let mut folds = Vec::new();
        for i in 0..n {
            let key = black_box(i) % 16;
            let group = groups.entry(key).or_insert_with(|| {
                let (values, mut received) = mpsc::channel(GROUP_BUFFER);
                folds.push(tokio::spawn(async move {
                    let mut sum = 0u64;
                    while let Some(i) = received.recv().await {
                        sum = sum.wrapping_add(i);
                    }
                    (key, sum)
                }));
                values
            });
            group
                .send(i)
                .await
                .map_err(|_| "a group's task ended early".to_string())?;
        }
        drop(groups);
        let mut total = 0u64;
        for fold in folds {
            let (_, sum) = fold.await.map_err(|e| e.to_string())?;
            total = total.wrapping_add(sum);
        }
        black_box(total);
        Ok(start.elapsed())
    })
}

// ---- stream_grouped_within: groups of up to 100 values or 1 s, whichever comes first ----

fn stream_grouped_within_effect(n: u64) -> Pin<Box<dyn Future<Output = Side> + Send>> {
    run_effect(move || {
        Stream::<u64, Never>::from_iter(0..n)
            .grouped_within(100, Duration::from_secs(1))
            .run_fold(0u64, |groups, group| {
                groups + black_box(group).len().min(1) as u64
            })
    })
}

fn stream_grouped_within_baseline(n: u64) -> Pin<Box<dyn Future<Output = Side> + Send>> {
    use futures::StreamExt;
    Box::pin(timed(async move {
        // The hand-written loop: a batch closes at 100 values or when a 1 s deadline set at
        // the previous batch passes, whichever comes first.
        let mut source = futures::stream::iter(0..n);
        let mut batch = Vec::with_capacity(100);
        let mut groups = 0u64;
        let within = Duration::from_secs(1);
        let mut deadline = tokio::time::Instant::now() + within;
        loop {
            match tokio::time::timeout_at(deadline, source.next()).await {
                Ok(Some(i)) => {
                    batch.push(i);
                    if batch.len() == 100 {
                        groups += black_box(std::mem::replace(&mut batch, Vec::with_capacity(100)))
                            .len()
                            .min(1) as u64;
                        deadline = tokio::time::Instant::now() + within;
                    }
                }
                Ok(None) => {
                    if !batch.is_empty() {
                        groups += 1;
                    }
                    break;
                }
                Err(_) => {
                    if !batch.is_empty() {
                        groups += black_box(std::mem::take(&mut batch)).len().min(1) as u64;
                    }
                    deadline = tokio::time::Instant::now() + within;
                }
            }
        }
        black_box(groups);
    }))
}

// ==== Peers: our toolkit types against the field's standard crates ====
//
// Each workload below runs one of our types as a user would, against the crate most Rust
// services use for the same job, doing the same work on the same runtime; the peer's side
// takes the floor's place, so the ratio is ours / the peer's. A new one needs its two sides
// and an entry in `peer_workloads`.

/// Splits `n` operations as evenly as possible over `parts` fibers or tasks.
fn shares(n: u64, parts: u64) -> impl Iterator<Item = u64> {
    (0..parts).map(move |part| n / parts + u64::from(part < n % parts))
}

// ---- pool_get_release: 8 fibers checking out and returning 4 pooled items ----
//
// Each cycle checks an item out, holds it across one yield (so that the others contend for
// it: with the holders suspended, all 4 items are out and the other fibers wait), reads it,
// and returns it. n counts the cycles of all the fibers together.

/// How many fibers (tasks) share the pool, and how many items it holds.
const POOL_USERS: u64 = 8;
const POOL_ITEMS: usize = 4;

/// The items both pools hand out: numbers, in the order they were made.
#[derive(Default)]
struct NumberedItems(AtomicU64);

impl NumberedItems {
    fn next(&self) -> u64 {
        self.0.fetch_add(1, Ordering::Relaxed)
    }
}

/// One fiber's `cycles` checkouts; each item returns when its `scoped` region closes.
#[effect]
fn use_pooled(pool: effect::Pool<u64, Never>, cycles: u64) -> Effect<u64, Never> {
    let mut total = 0u64;
    for _ in 0..cycles {
        total = total.wrapping_add(scoped(hold_pooled(pool.clone()))?);
    }
    total
}

/// Checks an item out, holds it across a yield, and gives its number.
#[effect]
fn hold_pooled(pool: effect::Pool<u64, Never>) -> Effect<u64, Never> {
    let item = pool.get()?;
    yield_now()?;
    black_box(item)
}

fn pool_get_release_effect(n: u64) -> Pin<Box<dyn Future<Output = Side> + Send>> {
    run_effect(move || {
        let items = std::sync::Arc::new(NumberedItems::default());
        scoped(effect_block! {
            let pool = effect::Pool::make(
                move || succeed(items.next()),
                POOL_ITEMS..=POOL_ITEMS,
            )?;
            let users: Vec<_> = shares(n, POOL_USERS)
                .map(|cycles| use_pooled(pool.clone(), cycles))
                .collect();
            zip_par(users)?.into_iter().fold(0u64, u64::wrapping_add)
        })
    })
}

impl deadpool::managed::Manager for NumberedItems {
    type Type = u64;
    type Error = std::convert::Infallible;

    async fn create(&self) -> Result<u64, Self::Error> {
        Ok(self.next())
    }

    async fn recycle(
        &self,
        _: &mut u64,
        _: &deadpool::managed::Metrics,
    ) -> deadpool::managed::RecycleResult<Self::Error> {
        Ok(())
    }
}

fn pool_get_release_peer(n: u64) -> Pin<Box<dyn Future<Output = Side> + Send>> {
    Box::pin(async move {
        let start = Instant::now();
        let pool = deadpool::managed::Pool::<NumberedItems>::builder(NumberedItems::default())
            .max_size(POOL_ITEMS)
            .build()
            .map_err(|e| format!("deadpool: {e}"))?;
        let mut users = tokio::task::JoinSet::new();
        for cycles in shares(n, POOL_USERS) {
            let pool = pool.clone();
            users.spawn(async move {
                let mut total = 0u64;
                for _ in 0..cycles {
                    // Back to the pool when `item` drops, at the end of the iteration.
                    let item = pool.get().await.map_err(|e| format!("deadpool: {e}"))?;
                    tokio::task::yield_now().await;
                    total = total.wrapping_add(black_box(*item));
                }
                Ok::<u64, String>(total)
            });
        }
        let mut total = 0u64;
        while let Some(joined) = users.join_next().await {
            total = total.wrapping_add(joined.map_err(|e| e.to_string())??);
        }
        black_box(total);
        Ok(start.elapsed())
    })
}

// ---- rate_limiter_acquire: one fiber taking a token at a time, never waiting ----

/// Tokens a second, and the burst: far more than a run takes, so that nobody waits.
const NEVER_LIMITING: u32 = 1_000_000_000;

fn rate_limiter_acquire_effect(n: u64) -> Pin<Box<dyn Future<Output = Side> + Send>> {
    run_effect(move || {
        let rate = u64::from(NEVER_LIMITING);
        let limiter = effect::RateLimiter::token_bucket(rate, rate, secs(1));
        effect_block! {
            for _ in 0..n {
                limiter.acquire::<Never>(1)?;
            }
            n
        }
    })
}

fn rate_limiter_acquire_peer(n: u64) -> Pin<Box<dyn Future<Output = Side> + Send>> {
    use governor::{Quota, RateLimiter};
    Box::pin(async move {
        let start = Instant::now();
        let rate = std::num::NonZeroU32::new(NEVER_LIMITING).ok_or("a zero rate")?;
        let limiter = RateLimiter::direct(Quota::per_second(rate));
        for _ in 0..n {
            limiter.until_ready().await;
        }
        black_box(&limiter);
        Ok(start.elapsed())
    })
}

// ---- cache_hit: 8 fibers reading keys the cache holds ----
//
// The cache holds every key read (64 of them); each read is a `get` that finds its value.
// The peer reads with moka's plain `get` (its `get_with`, a lookup on a miss as our `get`
// is, measured within 5% of it here).

/// The keys the cache holds, and how many fibers (tasks) read them.
const CACHE_KEYS: u64 = 64;
const CACHE_READERS: u64 = 8;

/// One fiber's `reads` gets, from key `first` on.
#[effect]
fn read_cached(
    cache: effect::Cache<u64, u64, Never>,
    reads: u64,
    first: u64,
) -> Effect<u64, Never> {
    let mut total = 0u64;
    for i in 0..reads {
        total = total.wrapping_add(cache.get((first + i) % CACHE_KEYS)?);
    }
    total
}

fn cache_hit_effect(n: u64) -> Pin<Box<dyn Future<Output = Side> + Send>> {
    run_effect(move || {
        scoped(effect_block! {
            let cache = effect::Cache::make(1_000, Duration::MAX, |key: &u64| succeed::<u64, Never>(key * 2))?;
            for key in 0..CACHE_KEYS {
                cache.get(key)?;
            }
            let readers: Vec<_> = shares(n, CACHE_READERS)
                .zip(0..)
                .map(|(reads, first)| read_cached(cache.clone(), reads, first))
                .collect();
            zip_par(readers)?.into_iter().fold(0u64, u64::wrapping_add)
        })
    })
}

fn cache_hit_peer(n: u64) -> Pin<Box<dyn Future<Output = Side> + Send>> {
    Box::pin(async move {
        let start = Instant::now();
        let cache: moka::future::Cache<u64, u64> = moka::future::Cache::new(1_000);
        for key in 0..CACHE_KEYS {
            cache.insert(key, key * 2).await;
        }
        let mut readers = tokio::task::JoinSet::new();
        for (reads, first) in shares(n, CACHE_READERS).zip(0..) {
            let cache = cache.clone();
            readers.spawn(async move {
                let mut total = 0u64;
                for i in 0..reads {
                    let key = (first + i) % CACHE_KEYS;
                    total = total.wrapping_add(cache.get(&key).await.unwrap_or_default());
                }
                total
            });
        }
        let mut total = 0u64;
        while let Some(joined) = readers.join_next().await {
            total = total.wrapping_add(joined.map_err(|e| e.to_string())?);
        }
        black_box(total);
        Ok(start.elapsed())
    })
}

/// The workloads measured against another crate instead of hand-written tokio code.
fn peer_workloads() -> Vec<Workload> {
    vec![
        Workload {
            name: "pool_get_release",
            n: 100_000,
            effect: pool_get_release_effect,
            baseline: pool_get_release_peer,
            note: Some("per cycle: 8 fibers (tasks) sharing 4 items, each held across a yield"),
            peer: Some("deadpool 0.13, managed pool"),
        },
        Workload {
            name: "rate_limiter_acquire",
            n: 1_000_000,
            effect: rate_limiter_acquire_effect,
            baseline: rate_limiter_acquire_peer,
            note: Some("one fiber, a token at a time, a limit it never reaches"),
            peer: Some("governor 0.10, direct limiter, until_ready"),
        },
        Workload {
            name: "cache_hit",
            n: 1_000_000,
            effect: cache_hit_effect,
            baseline: cache_hit_peer,
            note: Some("8 fibers (tasks) reading 64 keys the cache holds"),
            peer: Some("moka 0.12, future::Cache, get"),
        },
    ]
}

fn workloads() -> Vec<Workload> {
    let measured_against_tokio = vec![
        Workload {
            name: "bind_chain",
            n: 1_000_000,
            effect: bind_chain_effect,
            baseline: bind_chain_baseline,
            note: None,
            peer: None,
        },
        Workload {
            name: "deep_recursion",
            n: 1_000_000,
            effect: deep_recursion_effect,
            baseline: deep_recursion_baseline,
            note: Some(
                "floor: the hand-written recursion at the deepest depth it survives, per level",
            ),
            peer: None,
        },
        Workload {
            name: "fork_join",
            n: 100_000,
            effect: fork_join_effect,
            baseline: fork_join_baseline,
            note: None,
            peer: None,
        },
        Workload {
            name: "traced_fork_join",
            n: 100_000,
            effect: traced_fork_join_effect,
            baseline: fork_join_effect,
            note: Some("floor: fork_join's effect side, with no span current"),
            peer: None,
        },
        Workload {
            name: "metered_fork_join",
            n: 100_000,
            effect: metered_fork_join_effect,
            baseline: fork_join_effect,
            note: Some("floor: fork_join's effect side, with fiber metrics off"),
            peer: None,
        },
        Workload {
            name: "nested_timeout",
            n: 100_000,
            effect: nested_timeout_effect,
            baseline: nested_timeout_baseline,
            note: Some("floor: nested tokio timeouts at the deepest depth they survive, per level"),
            peer: None,
        },
        Workload {
            name: "for_each_par_64",
            n: 1_000_000,
            effect: for_each_par_effect,
            baseline: for_each_par_baseline,
            note: None,
            peer: None,
        },
        Workload {
            name: "race_interrupt_loser",
            n: 100_000,
            effect: race_effect,
            baseline: race_baseline,
            note: None,
            peer: None,
        },
        Workload {
            name: "timeout_fast",
            n: 100_000,
            effect: timeout_effect,
            baseline: timeout_baseline,
            note: None,
            peer: None,
        },
        Workload {
            name: "test_clock_sleepers",
            n: 100_000,
            effect: test_clock_effect,
            baseline: test_clock_baseline,
            note: None,
            peer: None,
        },
        Workload {
            name: "race_wide",
            n: 10_000,
            effect: race_wide_effect,
            baseline: race_wide_baseline,
            note: Some("per branch; floor: FuturesUnordered on paused tokio time"),
            peer: None,
        },
        Workload {
            name: "cpu_fork_join",
            n: 10_000,
            effect: cpu_fork_join_effect,
            baseline: cpu_fork_join_baseline,
            note: None,
            peer: None,
        },
        Workload {
            name: "real_sleep_10ms",
            n: 10_000,
            effect: real_sleep_effect,
            baseline: real_sleep_baseline,
            note: None,
            peer: None,
        },
        Workload {
            name: "zip_par_2",
            n: 100_000,
            effect: zip_par_2_effect,
            baseline: zip_par_2_baseline,
            note: Some("floor: tokio::join! of two spawned tasks"),
            peer: None,
        },
        Workload {
            name: "root_run",
            n: 100_000,
            effect: root_run_effect,
            baseline: root_run_baseline,
            note: Some("floor: awaiting the same async block; effect: Runtime::run of it, from a task"),
            peer: None,
        },
        Workload {
            name: "fork_under_load",
            n: 10_000,
            effect: fork_under_load_effect,
            baseline: fork_under_load_baseline,
            note: Some("floor: the same forks with no other fiber alive; 65,500 alive on the effect side"),
            peer: None,
        },
        Workload {
            name: "runtime_forks",
            n: 100_000,
            effect: runtime_forks_effect,
            baseline: runtime_forks_baseline,
            note: Some("floor: the same forks and joins in a plain run, whose fibers no registry holds"),
            peer: None,
        },
        Workload {
            name: "fork_children_under_load",
            n: 10_000,
            effect: fork_children_under_load_effect,
            baseline: fork_children_under_load_baseline,
            note: Some("floor: the same forks by a fiber with no other fork alive; 65,500 alive on the effect side"),
            peer: None,
        },
        Workload {
            name: "fiber_memory",
            n: 100_000,
            effect: fiber_memory_effect,
            baseline: fiber_memory_baseline,
            note: None,
            peer: None,
        },
        Workload {
            name: "stream_map_filter",
            n: 1_000_000,
            effect: stream_map_filter_effect,
            baseline: stream_map_filter_baseline,
            note: None,
            peer: None,
        },
        Workload {
            name: "stream_map_par_8",
            n: 1_000_000,
            effect: stream_map_par_effect,
            baseline: stream_map_par_baseline,
            note: Some("floor: a tokio task per element, buffered(8): the hand-written parallel map"),
            peer: None,
        },
        Workload {
            name: "stream_map_par_8_in_place",
            n: 1_000_000,
            effect: stream_map_par_effect,
            baseline: stream_map_par_in_place_baseline,
            note: Some("floor: buffered(8) on one task, concurrent but never parallel"),
            peer: None,
        },
        Workload {
            name: "stream_nested_concat",
            n: 1_000_000,
            effect: stream_nested_concat_effect,
            baseline: stream_nested_concat_baseline,
            note: Some("floor: futures' flatten of the 10,000 parts; the target: stream_map_filter's ns/op within 2x"),
            peer: None,
        },
        Workload {
            name: "stream_group_by_key",
            n: 1_000_000,
            effect: stream_group_by_key_effect,
            baseline: stream_group_by_key_baseline,
            note: Some("floor: a tokio task per key fed through a bounded mpsc channel"),
            peer: None,
        },
        Workload {
            name: "stream_grouped_within",
            n: 1_000_000,
            effect: stream_grouped_within_effect,
            baseline: stream_grouped_within_baseline,
            note: None,
            peer: None,
        },
    ];
    measured_against_tokio
        .into_iter()
        .chain(peer_workloads())
        .collect()
}

fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

type SideFn = fn(u64) -> Pin<Box<dyn Future<Output = Side> + Send>>;

/// Runs one sample of one side as a task on a worker thread, as service code does (a
/// `block_on` thread would add a cross-thread wake-up to every join).
fn sample(runtime: &tokio::runtime::Runtime, n: u64, side: SideFn) -> Side {
    runtime
        .block_on(async move { tokio::spawn(side(n)).await })
        .map_err(|e| format!("the workload panicked: {e}"))?
}

/// Both sides of a workload, as medians in ns per operation. The sides take turns, after one
/// unmeasured warm-up each, and the order alternates between rounds: drift in the machine's
/// speed, and whatever one side leaves behind in the allocator, fall on both alike. Each side
/// runs on a tokio runtime of its own (`runtimes[0]` the effect side's), so that neither
/// inherits the other's timers or worker state: a timer one side left registered keeps the
/// other's time driver from parking with an empty wheel, which changes how often registering
/// a timer wakes a worker.
fn measure(
    runtimes: &[tokio::runtime::Runtime; 2],
    n: u64,
    effect: SideFn,
    baseline: SideFn,
) -> (Result<f64, String>, Result<f64, String>) {
    let mut samples = [Ok(Vec::new()), Ok(Vec::new())];
    let sides = [effect, baseline];
    for round in 0..=REPETITIONS {
        let order = if round % 2 == 0 { [0, 1] } else { [1, 0] };
        for which in order {
            let taken = sample(&runtimes[which], n, sides[which]);
            if let (Ok(list), true) = (&mut samples[which], round > 0) {
                match taken {
                    Ok(duration) => list.push(duration),
                    Err(error) => samples[which] = Err(error),
                }
            } else if let Err(error) = taken {
                samples[which] = Err(error);
            }
        }
    }
    let [effect, baseline] =
        samples.map(|side| side.map(|list| median(list).as_nanos() as f64 / n as f64));
    (effect, baseline)
}

fn main() {
    // Fiber metrics off for every workload but `metered_fork_join`, which turns them on for
    // its effect side (see there).
    set_fiber_metrics(false);
    let mut args = std::env::args().skip(1);
    match args.next().as_deref() {
        Some("--fiber-memory-child") => {
            let side = args.next().unwrap_or_default();
            let n = args.next().and_then(|n| n.parse().ok()).unwrap_or(1);
            fiber_memory_child(&side, n);
            return;
        }
        Some("--depth-probe-child") => {
            let probe = args.next().unwrap_or_default();
            let depth = args.next().and_then(|n| n.parse().ok()).unwrap_or(1);
            depth_probe_child(&probe, depth);
            return;
        }
        Some("--workload-child") => {
            let name = args.next().unwrap_or_default();
            let n = args.next().and_then(|n| n.parse().ok()).unwrap_or(1);
            workload_child(&name, n);
            return;
        }
        _ => {}
    }
    let options = match parse_options() {
        Ok(options) => options,
        Err(message) => {
            eprintln!("bench: {message}");
            std::process::exit(2);
        }
    };
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
            "{:<24} {:>10} {:>14} {:>14} {:>8} {:>17}",
            "workload", "n", "effect ns/op", "floor ns/op", "ratio", "allocs/op e | f"
        );
    }
    for workload in selected {
        let n = ((workload.n as f64 * options.scale).round() as u64).max(1);
        let (effect, baseline, allocations, measured) =
            median_process(workload.name, n, options.processes);
        let notes: Vec<String> = workload
            .note
            .map(str::to_string)
            .into_iter()
            .chain(measured)
            .collect();
        let figures = (effect, baseline, allocations);
        report(&options, &workload, n, &figures, &notes);
    }
}

/// Both sides' figures, their allocations, and what else the workload measured (a line to
/// print beside them).
type Figures = (
    Result<f64, String>,
    Result<f64, String>,
    Allocations,
    Option<String>,
);

/// Runs one workload in `processes` child processes, and gives the figures of the one whose
/// ratio is the median (of the ones that measured both sides; a failure is reported when
/// none did).
fn median_process(name: &str, n: u64, processes: usize) -> Figures {
    let mut runs: Vec<Figures> = (0..processes.max(1))
        .map(|_| run_workload_child(name, n))
        .collect();
    let ratio = |figures: &Figures| match (&figures.0, &figures.1) {
        (Ok(effect), Ok(baseline)) if *baseline > 0.0 => Some(effect / baseline),
        _ => None,
    };
    let mut measured: Vec<(f64, usize)> = runs
        .iter()
        .enumerate()
        .filter_map(|(at, figures)| ratio(figures).map(|r| (r, at)))
        .collect();
    measured.sort_by(|a, b| a.0.total_cmp(&b.0));
    let chosen = measured.get(measured.len() / 2).map_or(0, |&(_, at)| at);
    runs.swap_remove(chosen)
}

/// Runs one workload, both sides, in a child process of its own: each workload starts with a
/// fresh heap, so what an earlier workload left in the allocator (a hundred thousand freed
/// fibers or tasks) does not slow down, or speed up, the next one's sides.
fn run_workload_child(name: &str, n: u64) -> Figures {
    let failed = |why: String| (Err(why.clone()), Err(why), [None, None], None);
    let exe = match std::env::current_exe() {
        Ok(exe) => exe,
        Err(e) => return failed(format!("cannot find the bench executable: {e}")),
    };
    let out = match std::process::Command::new(exe)
        .args(["--workload-child", name, &n.to_string()])
        .output()
    {
        Ok(out) => out,
        Err(e) => return failed(format!("cannot start the workload's process: {e}")),
    };
    let stdout = String::from_utf8_lossy(&out.stdout);
    let mut lines = stdout.lines();
    match (lines.next(), lines.next()) {
        (Some(effect), Some(baseline)) => {
            let mut allocations = [None, None];
            let mut measured = None;
            for line in lines {
                if line.starts_with("allocations ") {
                    allocations = parse_allocations(line);
                } else {
                    measured = Some(line.to_string());
                }
            }
            (
                parse_side(effect),
                parse_side(baseline),
                allocations,
                measured,
            )
        }
        _ => failed(format!(
            "the workload's process gave no figures ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        )),
    }
}

/// In the child: measures both sides of workload `name` and prints one line per side.
fn workload_child(name: &str, n: u64) {
    let Some(workload) = workloads().into_iter().find(|w| w.name == name) else {
        println!("err no workload named {name}");
        println!("err no workload named {name}");
        return;
    };
    let runtime = || {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(WORKERS)
            .enable_all()
            .build()
            .expect("tokio runtime")
    };
    let runtimes = [runtime(), runtime()];
    let (effect, baseline) = measure(&runtimes, n, workload.effect, workload.baseline);
    for side in [effect, baseline] {
        match side {
            Ok(value) => println!("ok {value}"),
            Err(error) => println!("err {}", error.replace('\n', " ")),
        }
    }
    // Counted where a side runs its `n` operations in this process: `fiber_memory`'s sides
    // run in processes of their own, and the deep floors run fewer levels, scaled.
    // The `*_under_load` workloads start their 65,500 fibers inside each side: not per
    // operation.
    let outside = matches!(
        workload.name,
        "fiber_memory" | "fork_under_load" | "fork_children_under_load"
    );
    let scaled_floor = matches!(workload.name, "deep_recursion" | "nested_timeout");
    let counted = [!outside, !outside && !scaled_floor];
    let sides = [workload.effect, workload.baseline];
    let counts: Vec<String> = (0..2)
        .map(|which| match counted[which] {
            true => count_allocations(&runtimes[which], n, sides[which])
                .map_or("- -".to_string(), |(count, bytes)| {
                    format!("{count} {bytes}")
                }),
            false => "- -".to_string(),
        })
        .collect();
    println!("allocations {}", counts.join(" "));
    drop(runtimes);
    match workload.name {
        "cpu_fork_join" => println!("{}", cpu_speedup(n)),
        "deep_recursion" | "nested_timeout" => {
            let probe = if workload.name == "deep_recursion" {
                "count_down"
            } else {
                "nested_timeout"
            };
            if let Ok(depth) = deepest_surviving(probe, n) {
                println!("the floor ran {depth} levels deep, and its time is scaled to {n}");
            }
        }
        _ => {}
    }
}

/// One more run of a side, untimed, with the allocator counting: its allocations and bytes
/// asked for, per operation (`None` if the side failed).
fn count_allocations(
    runtime: &tokio::runtime::Runtime,
    n: u64,
    side: SideFn,
) -> Option<(f64, f64)> {
    let before = (
        ALLOCATIONS.load(Ordering::SeqCst),
        ALLOCATED_BYTES.load(Ordering::SeqCst),
    );
    COUNTING.store(true, Ordering::SeqCst);
    let ran = sample(runtime, n, side);
    COUNTING.store(false, Ordering::SeqCst);
    ran.ok()?;
    let count = ALLOCATIONS.load(Ordering::SeqCst) - before.0;
    let bytes = ALLOCATED_BYTES.load(Ordering::SeqCst) - before.1;
    Some((count as f64 / n as f64, bytes as f64 / n as f64))
}

/// Allocations and bytes per operation of each side, from the child's `allocations` line.
type Allocations = [Option<(f64, f64)>; 2];

fn parse_allocations(line: &str) -> Allocations {
    let numbers: Vec<Option<f64>> = line
        .split_whitespace()
        .skip(1)
        .map(|word| word.parse().ok())
        .collect();
    let side = |at: usize| match (numbers.get(at), numbers.get(at + 1)) {
        (Some(Some(count)), Some(Some(bytes))) => Some((*count, *bytes)),
        _ => None,
    };
    [side(0), side(2)]
}

fn parse_side(line: &str) -> Result<f64, String> {
    match line.split_once(' ') {
        Some(("ok", value)) => value
            .parse()
            .map_err(|_| format!("unreadable figure `{value}`")),
        Some(("err", error)) => Err(error.to_string()),
        _ => Err(format!("unreadable line `{line}`")),
    }
}

fn report(
    options: &Options,
    workload: &Workload,
    n: u64,
    (effect, baseline, allocations): &(Result<f64, String>, Result<f64, String>, Allocations),
    notes: &[String],
) {
    let ratio = match (effect, baseline) {
        (Ok(e), Ok(b)) if *b > 0.0 => Some(e / b),
        _ => None,
    };
    let error = [effect, baseline]
        .iter()
        .find_map(|side| side.as_ref().err().cloned());
    let name = workload.name;
    if options.json {
        let num = |v: Option<f64>| v.map_or("null".to_string(), |v| format!("{v:.3}"));
        let mut line = format!(
            "{{\"workload\":\"{name}\",\"n\":{n},\"effect_ns_per_op\":{},\"baseline_ns_per_op\":{},\"ratio\":{}",
            num(effect.as_ref().ok().copied()),
            num(baseline.as_ref().ok().copied()),
            num(ratio)
        );
        for (side, counted) in ["effect", "baseline"].iter().zip(allocations) {
            if let Some((count, bytes)) = counted {
                line.push_str(&format!(
                    ",\"{side}_allocs_per_op\":{count:.2},\"{side}_alloc_bytes_per_op\":{bytes:.1}"
                ));
            }
        }
        if let Some(peer) = workload.peer {
            line.push_str(&format!(",\"peer\":{peer:?}"));
        }
        if let Some(error) = error {
            line.push_str(&format!(",\"error\":{:?}", error));
        }
        if !notes.is_empty() {
            line.push_str(&format!(",\"note\":{:?}", notes.join("; ")));
        }
        line.push('}');
        println!("{line}");
    } else {
        let cell = |side: &Result<f64, String>| {
            side.as_ref()
                .map_or("error".to_string(), |v| format!("{v:.1}"))
        };
        let allocs =
            |side: &Option<(f64, f64)>| side.map_or("-".to_string(), |(c, _)| format!("{c:.2}"));
        println!(
            "{:<24} {:>10} {:>14} {:>14} {:>8} {:>17}",
            name,
            n,
            cell(effect),
            cell(baseline),
            ratio.map_or("-".to_string(), |r| format!("{r:.2}")),
            format!("{} | {}", allocs(&allocations[0]), allocs(&allocations[1]))
        );
        if let Some(peer) = workload.peer {
            println!("  peer: {peer}: its ns/op in the floor column; ratio = ours / peer's");
        }
        if let Some(error) = error {
            println!("  error: {error}");
        }
        for note in notes {
            println!("  note: {note}");
        }
    }
}
