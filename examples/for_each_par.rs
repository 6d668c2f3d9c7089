//! Guide section "for_each_par: Parallel Mapping".
//!
//! Look for: ten 0.1 s fetches with at most 3 at a time take about 0.4 s (4 rounds).

#[path = "shared/mod.rs"]
mod shared;

use std::time::Instant;

use effect::prelude::*;
use shared::fetch_data;

fn main() {
    let user_ids: Vec<u32> = (1..=10).collect();
    let names: Vec<&'static str> = user_ids
        .iter()
        .map(|id| &*Box::leak(format!("User{id}").into_boxed_str()))
        .collect();
    let started = Instant::now();
    // Process users with maximum 3 concurrent operations
    let results =
        effect::run_blocking(for_each_par(names, |name| fetch_data(name, ms(100)), 3)).unwrap();
    println!(
        "Processed {} users in {:.1} s",
        results.len(),
        started.elapsed().as_secs_f64()
    );
}
