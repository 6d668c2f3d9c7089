//! Guide section "The Problem with Raw asyncio", in tokio terms, then "The effectpy Solution".
//!
//! Look for: with raw `tokio::spawn`, the early `?` returns while the second task keeps
//! running (a zombie that finishes after the caller moved on), and dropping a task cannot run
//! async cleanup. With `zip_par`, the sibling is interrupted and its async cleanup has run
//! before the failure reaches the caller.

use std::time::Duration;

use effect::prelude::*;
use effect::Context;

async fn fetch_raw(name: &str, delay: u64, fails: bool) -> Result<String, String> {
    tokio::time::sleep(Duration::from_millis(delay)).await;
    println!("  [raw] {name} finished its work");
    if fails {
        Err(format!("{name} failed"))
    } else {
        Ok(format!("data from {name}"))
    }
}

async fn risky_tokio() -> Result<(String, String), String> {
    // ❌ Easy to create zombie tasks
    let task1 = tokio::spawn(fetch_raw("service1", 50, true));
    let task2 = tokio::spawn(fetch_raw("service2", 150, false));
    let result1 = task1.await.map_err(|e| e.to_string())??; // returns early...
    let result2 = task2.await.map_err(|e| e.to_string())?; // ...and task2 keeps running
    Ok((result1, result2?))
}

#[effect]
fn fetch(name: &'static str, delay: u64, fails: bool) -> Effect<String, String> {
    sleep(ms(delay))?;
    if fails {
        fail(format!("{name} failed"))?;
    }
    format!("data from {name}")
}

#[tokio::main]
async fn main() {
    println!("raw tokio:");
    let result = risky_tokio().await;
    println!("  caller got {result:?} and moved on");
    tokio::time::sleep(Duration::from_millis(200)).await;
    println!("  ...but service2 was still running after the caller returned (see above)");

    println!("\neffect:");
    let service2 = fetch("service2", 150, false).on_interrupt(sync(|| {
        println!("  [effect] service2 interrupted, cleanup ran")
    }));
    let safe = zip_par((fetch("service1", 50, true), service2));
    let result = safe.run(&Context::new()).await;
    println!(
        "  caller got {:?}; no task outlives it",
        result.map_err(|c| c.to_string())
    );
}
