use effect::prelude::*;

#[effect]
fn pair() -> Effect<(u32, u32), String> {
    par!(1, succeed(2))?
}

fn main() {}
