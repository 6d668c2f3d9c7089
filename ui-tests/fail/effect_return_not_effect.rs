use effect::prelude::*;

#[effect]
fn load(id: u32) -> Result<u32, String> {
    id
}

fn main() {}
