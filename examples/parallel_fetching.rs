//! Guide section "zip_par: Parallel Execution".
//!
//! Look for: the three fetches run concurrently (about 0.2 s in all, not 0.45 s); with one
//! slow service the whole fails fast with its error and the others are cancelled.

#[path = "shared/mod.rs"]
mod shared;

use std::time::Instant;

use effect::prelude::*;
use shared::fetch_data;

#[effect]
fn parallel_fetching(profile_delay: std::time::Duration) -> Effect<(), Never> {
    let started = Instant::now();
    match zip_par((
        fetch_data("Auth", ms(100)),
        fetch_data("User", ms(200)),
        fetch_data("Profile", profile_delay),
    ))
    .result()?
    {
        Ok((auth, user, profile)) => {
            println!("All succeeded: {auth:?}, {user:?}, {profile:?}");
        }
        Err(error) => println!("At least one failed: {error}"),
    }
    println!("  (took {:.2} s)", started.elapsed().as_secs_f64());
}

fn main() {
    effect::run_blocking(parallel_fetching(ms(150))).unwrap();
    effect::run_blocking(parallel_fetching(ms(600))).unwrap();
}
