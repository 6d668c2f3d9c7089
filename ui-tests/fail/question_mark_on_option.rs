use effect::prelude::*;

#[effect]
fn first(items: Vec<u32>) -> Effect<u32, String> {
    items.first().copied()?
}

fn main() {}
