use effect::prelude::*;

#[effect]
fn load() -> Effect<u32> {
    1
}

fn main() {}
