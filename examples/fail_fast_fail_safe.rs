//! Guide section "Fail-Fast vs. Fail-Safe".
//!
//! Look for: fail-fast stops at the first error and cancels the rest; fail-safe turns each
//! failure into `None` and collects everything.

use effect::prelude::*;

#[effect]
fn fail_fast() -> Effect<(), Never> {
    let third = sleep::<String>(ms(50))
        .as_value("ok3")
        .on_interrupt(sync(|| println!("  third operation cancelled")));
    let outcome =
        zip_par((succeed("ok1"), fail::<&str, String>("error!".into()), third)).result()?;
    if let Err(error) = outcome {
        println!("Failed fast: {error}");
    }
}

#[effect]
fn fail_safe() -> Effect<(), Never> {
    let effects: Vec<Effect<&str, &str>> = vec![succeed("ok1"), fail("error!"), succeed("ok3")];
    // Run all, convert failures to Options
    let safe_effects: Vec<Effect<Option<&str>, Never>> =
        effects.into_iter().map(|e| e.option()).collect();
    let results = zip_par(safe_effects)?;
    let successes: Vec<&str> = results.iter().flatten().copied().collect();
    let failures = results.iter().filter(|r| r.is_none()).count();
    println!("Successes: {successes:?}, Failures: {failures}");
}

fn main() {
    effect::run_blocking(fail_fast()).unwrap();
    effect::run_blocking(fail_safe()).unwrap();
}
