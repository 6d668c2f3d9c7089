use effect::prelude::*;

#[effect]
const fn load(id: u32) -> Effect<u32, String> {
    id
}

fn main() {}
