//! Guide section "race: First to Complete".
//!
//! Look for: the backup (0.2 s) wins; the primary and the fallback are cancelled before the
//! race returns.

#[path = "shared/mod.rs"]
mod shared;

use effect::prelude::*;
use shared::fetch_data;

fn main() {
    let cancelled = |name: &'static str| sync(move || println!("  {name} cancelled"));
    let winner = race!(
        fetch_data("Primary", ms(300)).on_interrupt(cancelled("Primary")),
        fetch_data("Backup", ms(200)).on_interrupt(cancelled("Backup")),
        fetch_data("Fallback", ms(400)).on_interrupt(cancelled("Fallback"))
    );
    let winner = effect::run_blocking(winner).unwrap();
    println!("Winner: {winner:?}");
}
