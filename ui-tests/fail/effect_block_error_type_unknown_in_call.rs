use effect::prelude::*;

fn main() {
    // Nothing says what the block may fail with, and it is no `let`'s value.
    let _ = effect::run_blocking(effect_block! {
        let x = succeed(1)?;
        x + 1
    });
}
