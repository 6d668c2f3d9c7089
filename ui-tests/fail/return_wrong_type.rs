use effect::prelude::*;

#[effect]
fn total(items: Vec<u32>) -> Effect<u32, String> {
    if items.is_empty() {
        return "empty";
    }
    items.iter().sum()
}

fn main() {}
