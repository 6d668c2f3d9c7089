use effect::prelude::*;

fn main() {
    let _none: Effect<u32, String> = race!();
}
