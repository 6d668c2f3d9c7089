//! Valid Rust in effect bodies compiles with no warning: diverging tails, bodies that end in
//! `return x;` or a `match` whose arms all return, return types passed through macros and
//! aliases, effects that cannot fail bound in any body, and binds inside `vec![x?; n]` and
//! `matches!(x?, ..)`.
#![deny(warnings)]

use effect::prelude::*;
use effect::Never;

#[derive(Debug, PartialEq)]
struct AppError(String);

impl From<String> for AppError {
    fn from(e: String) -> Self {
        AppError(e)
    }
}

// 1. Diverging tails.
#[effect]
fn tail_unreachable(n: u32) -> Effect<u32, String> {
    if n > 0 {
        return n;
    }
    unreachable!("n is never 0 here")
}

#[effect]
fn tail_panics() -> Effect<u32, String> {
    sleep(ms(1))?;
    panic!("this body always dies")
}

#[effect]
fn tail_returns(n: u32) -> Effect<u32, String> {
    let doubled = succeed(n * 2)?;
    return doubled
}

#[effect]
fn tail_loops_forever() -> Effect<u32, String> {
    let mut ticks = 0u32;
    loop {
        sleep(ms(1))?;
        ticks += 1;
        if ticks == 3 {
            fail(format!("stopped after {ticks} ticks"))?;
        }
    }
}

#[effect]
fn tail_exits(flag: bool) -> Effect<u32, String> {
    if flag {
        return 7;
    }
    std::process::exit(3)
}

// 2. The last statement returns.
#[effect]
fn last_statement_returns(n: u32) -> Effect<u32, String> {
    let n = succeed(n)?;
    return n + 1;
}

#[effect]
fn last_match_returns_in_every_arm(n: u32) -> Effect<&'static str, String> {
    let n = succeed(n)?;
    match n {
        0 => return "zero",
        1 => return "one",
        _ => return "many",
    };
}

// 3. Return types from macro fragments and aliases.
macro_rules! effect_fn {
    ($name:ident -> $ret:ty $body:block) => {
        #[effect]
        fn $name() -> $ret $body
    };
}

effect_fn!(from_a_macro -> Effect<u32, String> {
    let n = succeed(20)?;
    n + 1
});

type AppEffect<A> = Effect<A, AppError>;

#[effect]
fn through_an_alias() -> AppEffect<u32> {
    let n = succeed::<u32, String>(41)?;
    n + 1
}

// 4. An effect that cannot fail binds in a body of any error type.
fn cannot_fail() -> Effect<u32, Never> {
    succeed(5)
}

#[effect]
fn binds_infallible() -> Effect<u32, AppError> {
    let a = cannot_fail()?;
    let b = "7".parse::<String>()?.len() as u32;
    a + b
}

fn binds_infallible_in_a_block() -> Effect<u32, String> {
    effect_block! {
        let a = cannot_fail()?;
        if a > 100 {
            fail("too big".to_string())?;
        }
        a
    }
}

// 5. `?` binds inside `vec![x?; n]` and `matches!(x?, ..)`.
#[effect]
fn binds_in_macros() -> Effect<(Vec<u32>, bool), String> {
    let repeated = vec![succeed(3)?; 2];
    let is_small = matches!(succeed(4)?, 0..=9);
    assert!(matches!(succeed(Some(1))?, Some(n) if n == 1));
    (repeated, is_small)
}

// 6. A generic constructor whose error type converts from something (`Queue::offer` is
// `Effect<(), E>` for any `E: From<QueueShutdown>`) binds in a declared body: its open error
// type becomes the body's.
#[derive(Debug, PartialEq)]
enum QueueError {
    Closed,
}

impl From<effect::QueueShutdown> for QueueError {
    fn from(_: effect::QueueShutdown) -> Self {
        QueueError::Closed
    }
}

#[effect]
fn generic_errors_take_the_bodys(queue: effect::Queue<u32>) -> Effect<u32, QueueError> {
    queue.offer(20)?;
    sleep(ms(0))?;
    let cannot_fail = succeed::<u32, Never>(1)?;
    queue.take()? + cannot_fail
}

fn main() {
    assert_eq!(
        effect::run_blocking(generic_errors_take_the_bodys(effect::Queue::bounded(1))),
        Ok(21)
    );
    let closed = effect::Queue::bounded(1);
    closed.shutdown();
    assert_eq!(
        effect::run_blocking(generic_errors_take_the_bodys(closed)).unwrap_err().failure(),
        Some(&QueueError::Closed)
    );
    assert_eq!(effect::run_blocking(tail_unreachable(3)), Ok(3));
    assert!(effect::run_blocking(tail_panics()).unwrap_err().is_die());
    assert_eq!(effect::run_blocking(tail_returns(4)), Ok(8));
    assert_eq!(
        effect::run_blocking(tail_loops_forever()).unwrap_err().failure(),
        Some(&"stopped after 3 ticks".to_string())
    );
    assert_eq!(effect::run_blocking(tail_exits(true)), Ok(7));
    assert_eq!(effect::run_blocking(last_statement_returns(1)), Ok(2));
    assert_eq!(effect::run_blocking(last_match_returns_in_every_arm(1)), Ok("one"));
    assert_eq!(effect::run_blocking(from_a_macro()), Ok(21));
    assert_eq!(effect::run_blocking(through_an_alias()), Ok(42));
    assert_eq!(effect::run_blocking(binds_infallible()), Ok(6));
    assert_eq!(effect::run_blocking(binds_infallible_in_a_block()), Ok(5));
    assert_eq!(effect::run_blocking(binds_in_macros()), Ok((vec![3, 3], true)));
}
