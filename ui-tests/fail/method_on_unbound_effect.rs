use effect::prelude::*;

#[effect]
fn load(id: u32) -> Effect<String, String> {
    format!("item-{id}")
}

#[effect]
fn size(id: u32) -> Effect<usize, String> {
    load(id).len()
}

fn main() {}
