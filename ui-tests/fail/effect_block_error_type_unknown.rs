use effect::prelude::*;

fn main() {
    // Nothing says what the block may fail with.
    let answer = effect_block! {
        let x = succeed(1)?;
        x + 1
    };
}
