//! Guide section "Partial Failure Handling".
//!
//! Look for: the critical services must all succeed; the optional ones (which time out here)
//! fall back to "unavailable" instead of failing the whole. `catch_all!` recovers every
//! failure of an optional service, so its type says it cannot fail: `Effect<Data, Never>`.

#[path = "shared/mod.rs"]
mod shared;

use effect::prelude::*;
use shared::{fetch_data, Data};

#[effect]
fn partial_failure_example() -> Effect<(), String> {
    // Critical services (must succeed)
    let critical_effects = vec![fetch_data("Auth", ms(100)), fetch_data("Core", ms(100))];
    // Optional services (can fail, but every failure is recovered: they cannot fail the whole)
    let optional = |name: &'static str, delay| -> Effect<Data, Never> {
        catch_all!(fetch_data(name, delay), {
            _timeout => Data::new(name, "unavailable"),
        })
    };
    let optional_effects = vec![
        optional("Analytics", ms(300)),
        optional("Recommendations", ms(600)),
    ];
    // Critical services must all succeed
    let critical_results = zip_par(critical_effects)?;
    // Optional services run in parallel but failures are handled
    let optional_results = zip_par(optional_effects)?;
    println!("Critical: {critical_results:?}");
    println!("Optional: {optional_results:?}");
}

fn main() {
    effect::run_blocking(partial_failure_example()).unwrap();
}
