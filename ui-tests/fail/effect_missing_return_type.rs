use effect::prelude::*;

#[effect]
fn load(id: u32) {
    let _ = id;
}

fn main() {}
