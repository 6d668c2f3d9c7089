//! Guide section "Fan-out/Fan-in Pattern".
//!
//! Look for: five chunks of twenty processed in parallel (about 0.1 s), then summed: 4950.

use effect::prelude::*;

/// Simulated processing: a pause, then the chunk's sum.
fn process_chunk(chunk: Vec<u64>) -> Effect<u64, String> {
    Effect::new(|_ctx| async move {
        tokio::time::sleep(ms(100)).await;
        Ok(chunk.iter().sum())
    })
}

fn main() {
    // Large dataset to process
    let data: Vec<u64> = (0..100).collect();
    // Split into chunks for parallel processing
    let chunks = data.chunks(20).map(<[u64]>::to_vec);
    // Fan-out: distribute work
    let chunk_effects: Vec<Effect<u64, String>> = chunks.map(process_chunk).collect();
    // Fan-in: collect all results
    let chunk_results = effect::run_blocking(zip_par(chunk_effects)).unwrap();
    // Final aggregation
    let total: u64 = chunk_results.iter().sum();
    println!("Processed {} items, total: {total}", data.len());
}
