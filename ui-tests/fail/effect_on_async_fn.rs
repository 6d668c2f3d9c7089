use effect::prelude::*;

#[effect]
async fn load(id: u32) -> Effect<u32, String> {
    id
}

fn main() {}
