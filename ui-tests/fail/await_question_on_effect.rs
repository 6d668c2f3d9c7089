use effect::prelude::*;

#[effect]
fn load(id: u32) -> Effect<String, String> {
    format!("item-{id}")
}

#[effect]
fn page(id: u32) -> Effect<usize, String> {
    let item = load(id).await?;
    item.len()
}

fn main() {}
