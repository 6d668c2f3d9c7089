use effect::prelude::*;

fn main() {
    let _: Effect<u32, String> = effect_block! {
        let = 1;
    };
}
