//! Model-based randomized tests: random effect programs run on a `TestClock` and compared
//! with a small reference interpreter of the design's semantics in virtual time.
//!
//! For every program: the outcome (value, or the kinds and values of its causes) and the
//! completion time equal the model's; every finalizer and resource, every retry attempt,
//! every item a pipe offered or took, every item an `effect::Pool` handed out and every
//! caller an `effect::RateLimiter` let through, was logged at the virtual time the model says,
//! exactly once; every acquired resource was released and every started finalizer finished,
//! exactly once; a semaphore pool never had more holders than permits and has them all back;
//! an item pool never held more than its maximum (items alive or being acquired), never
//! handed an item to two holders at once or once released, and released every item it made
//! exactly once; a rate limiter never let more through than its limit allows at any virtual
//! instant and has nobody left in line; no pipe item was lost or duplicated; no fiber is
//! alive after the run (daemons included, once they are done).
//!
//! Programs are drawn in three shapes (`generate::Shape`: the bulk at depth 4, some at depth 8
//! and more, some with 50 to 80 children in one group) and run in one of the `run::Mode`s:
//! to their end, interrupted from outside at a virtual time (often just after a finalizer
//! started), their `Run` future dropped at a virtual time, or (a small slice, kept cheap) on
//! the live clock, where times are not compared.
//!
//! How many: 30,000 programs in an optimized build, which CI runs in four variants (`cargo
//! test --release --test model`, on both runtime flavours, with and without random yields),
//! and a quick 4,000 in a debug build, the slice `cargo test --workspace` runs while you work.
//!
//! Reproduce a failure with `EFFECT_MODEL_SEED=<seed printed> cargo test --release --test
//! model`; `EFFECT_MODEL_CASES=N` runs more programs, `EFFECT_MODEL_RUNTIME=multi_thread` runs
//! them on two worker threads, and `EFFECT_PERTURB=<seed>` adds random yields;
//! `EFFECT_MODEL_KEEP_GOING=1` reports every failing
//! program (shrunk) instead of stopping at the first, and `EFFECT_MODEL_CASE=<n>` runs
//! program n alone and shows what the model expects of it. A failing program is shrunk
//! before it is shown.

mod generate;
mod prog;
mod real;
mod real_limiter;
mod real_pool;
mod reference;
mod reference_limiter;
mod reference_par;
mod reference_pool;
mod run;
mod shrink;

use std::collections::BTreeMap;

use generate::{Gen, Rng, Shape};
use prog::Prog;
use run::{check, expect, Config, Mode, Verdict};

fn env<T: std::str::FromStr>(name: &str) -> Option<T> {
    std::env::var(name).ok().and_then(|s| s.parse().ok())
}

/// Panics the programs make on purpose are expected: keep them off the test's output.
fn quiet_model_panics() {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let payload = info.payload();
        let message = payload
            .downcast_ref::<&str>()
            .copied()
            .or_else(|| payload.downcast_ref::<String>().map(String::as_str));
        if !message.is_some_and(|m| m.starts_with(real::PANIC)) {
            default(info);
        }
    }));
}

fn shape(rng: &mut Rng) -> Shape {
    match rng.below(100) {
        0..=6 => Shape::Deep,
        7..=9 => Shape::Wide,
        _ => Shape::Normal,
    }
}

/// A time to interrupt (or drop) at: anywhere in the program's natural run, or just after
/// something it logs (a finalizer starting, an attempt, an offer), to land inside finalizers
/// and between steps.
fn cut_time(rng: &mut Rng, prog: &Prog) -> u64 {
    let natural = expect(prog, Mode::Plain);
    if natural.log.is_empty() || rng.chance(50) {
        return rng.below(natural.end + 100);
    }
    let (at, _) = natural.log[rng.below(natural.log.len() as u64) as usize];
    at + 1 + rng.below(3)
}

fn mode(rng: &mut Rng, prog: &Prog, shape: Shape) -> Mode {
    match rng.below(100) {
        0..=29 => Mode::Plain,
        30..=79 => Mode::Interrupt(cut_time(rng, prog)),
        80..=95 => Mode::Drop(cut_time(rng, prog)),
        _ if shape == Shape::Normal => Mode::Live,
        _ => Mode::Plain,
    }
}

fn mode_name(mode: Mode) -> &'static str {
    match mode {
        Mode::Plain => "plain",
        Mode::Interrupt(_) => "interrupted",
        Mode::Drop(_) => "dropped",
        Mode::Live => "live clock",
    }
}

#[test]
fn random_programs_behave_as_the_model_says() {
    quiet_model_panics();
    let seed: u64 = env("EFFECT_MODEL_SEED").unwrap_or(0x00c0_ffee_1234_5678);
    let default_cases = if cfg!(debug_assertions) {
        4_000
    } else {
        30_000
    };
    let cases: u64 = env("EFFECT_MODEL_CASES").unwrap_or(default_cases);
    let config = Config {
        multi_thread: std::env::var("EFFECT_MODEL_RUNTIME").as_deref() == Ok("multi_thread"),
    };
    let keep_going = env::<u32>("EFFECT_MODEL_KEEP_GOING").is_some_and(|v| v != 0);
    // EFFECT_MODEL_CASE=n runs program n alone and shows it, the model's view and the verdict.
    let only: Option<u64> = env("EFFECT_MODEL_CASE");
    println!(
        "model test: seed {seed}, {cases} programs, {config:?} \
         (EFFECT_MODEL_SEED / EFFECT_MODEL_CASES / EFFECT_MODEL_RUNTIME to change)"
    );
    let mut rng = Rng(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1);
    let mut tally: BTreeMap<(&str, &str), u64> = BTreeMap::new();
    let (mut compared, mut failures) = (0, Vec::new());
    for case in 0..cases {
        let shape = shape(&mut rng);
        let prog = Gen::program(&mut rng, shape);
        let mode = mode(&mut rng, &prog, shape);
        if only.is_some_and(|only| only != case) {
            continue;
        }
        if only.is_some() {
            let expected = expect(&prog, mode);
            println!("program {case}: {prog}\n  {mode:?}, model: {expected:?}");
            println!("  verdict: {:?}", check(&prog, mode, &config));
        }
        let (depth, width) = prog.extent();
        *tally.entry(("shape", "depth 8 or more")).or_default() += u64::from(depth >= 8);
        *tally.entry(("shape", "50 or more children")).or_default() += u64::from(width >= 50);
        let verdict = match check(&prog, mode, &config) {
            Ok(verdict) => verdict,
            Err(first) => {
                let (small, why) = shrink::minimize(prog.clone(), mode, &config);
                let why = if why.is_empty() {
                    format!("{first} (it did not fail again: the scheduler decides)")
                } else {
                    why
                };
                let report = format!(
                    "program {case} of seed {seed} ({mode:?}) disagrees with the model: {why}\n  \
                     shrunk: {small}\n  original: {prog}"
                );
                if !keep_going {
                    panic!("{report}");
                }
                println!("{report}\n");
                failures.push(report);
                continue;
            }
        };
        let name = match verdict {
            Verdict::Matched => {
                compared += 1;
                "matched"
            }
            Verdict::Ambiguous => {
                "invariants only (simultaneous events, or timing on the live clock)"
            }
        };
        *tally.entry((mode_name(mode), name)).or_default() += 1;
        if prog.any(&|p| matches!(p, Prog::ItemPool(..))) {
            *tally.entry(("with an item pool", name)).or_default() += 1;
        }
        if prog.any(&|p| matches!(p, Prog::Limited(..))) {
            *tally.entry(("with a rate limiter", name)).or_default() += 1;
        }
    }
    for ((mode, verdict), count) in &tally {
        println!("model test: {count:>5} {mode}: {verdict}");
    }
    assert!(
        failures.is_empty(),
        "{} programs disagree with the model",
        failures.len()
    );
    assert!(
        only.is_some() || compared * 2 > cases,
        "too few programs fully compared: {compared} of {cases}"
    );
}
