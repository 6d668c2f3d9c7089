//! Statements that are not effects compile in effect bodies as in plain Rust, with no
//! warning: calls and method calls giving `()` or a value dropped on purpose, assignments,
//! macros, a `Fiber`'s plain methods, an effect dropped on purpose with `let _ =`, a value
//! borrowing a temporary, and a call that never returns.
#![deny(warnings)]

use std::sync::{Arc, Mutex};

use effect::prelude::*;

/// A call that never returns, as its block's tail.
fn fatal() -> ! {
    std::process::exit(2)
}

#[effect]
fn statements(log: Arc<Mutex<Vec<String>>>) -> Effect<usize, String> {
    let mut items = vec![1, 2];
    items.push(3);
    items.sort();
    let mut total = 0;
    total += items.len();
    println!("{total}");
    log.lock().unwrap().push("pushed".to_string());
    drop(log.lock().unwrap());
    "borrowed".to_string().as_str();
    let fiber = succeed::<u32, String>(7).fork()?;
    fiber.id();
    fiber.is_done();
    let _ = sleep::<String>(ms(1));
    assert_eq!(fiber.join()?, 7);
    if total > 100 {
        std::process::exit(1);
    }
    if total > 200 {
        fatal()
    }
    total
}

fn main() {
    let log = Arc::new(Mutex::new(Vec::new()));
    let shared = log.clone();
    let block: Effect<usize, String> = effect_block! {
        let mut seen = Vec::new();
        seen.push(statements(shared)?);
        seen.len()
    };
    assert_eq!(effect::run_blocking(block), Ok(1));
    assert_eq!(*log.lock().unwrap(), ["pushed"]);
}
