use effect::prelude::*;

#[effect]
fn load(id: u32) -> Effect<u32, String> {
    id
}

#[effect]
fn twice(id: u32) -> Effect<u32, String> {
    load(id)
}

fn main() {}
