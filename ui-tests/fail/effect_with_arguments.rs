use effect::prelude::*;

#[effect(fast)]
fn load(id: u32) -> Effect<u32, String> {
    id
}

fn main() {}
