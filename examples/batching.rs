//! Guide section "Batching Operations".
//!
//! Look for: 1000 items in 20 batches of 50, at most 5 batches at a time: 4 rounds of 0.1 s.

use std::time::Instant;

use effect::prelude::*;

fn process_batch(batch: Vec<u64>) -> Effect<Vec<u64>, String> {
    Effect::new(|_ctx| async move {
        // Simulate batch processing (more efficient than individual items)
        tokio::time::sleep(ms(100)).await;
        Ok(batch.iter().map(|item| item * 2).collect())
    })
}

fn main() {
    // Large number of items to process
    let items: Vec<u64> = (0..1000).collect();
    // Create batches
    let batches: Vec<Vec<u64>> = items.chunks(50).map(<[u64]>::to_vec).collect();
    let count = batches.len();
    let started = Instant::now();
    // Process batches with limited parallelism: max 5 concurrent batches
    let batch_results = effect::run_blocking(for_each_par(batches, process_batch, 5)).unwrap();
    // Flatten results
    let results: Vec<u64> = batch_results.into_iter().flatten().collect();
    println!(
        "Processed {} items in {count} batches ({:.1} s)",
        results.len(),
        started.elapsed().as_secs_f64()
    );
}
