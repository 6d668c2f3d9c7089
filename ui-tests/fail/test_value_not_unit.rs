use effect::prelude::*;

#[effect::test]
fn computes() -> Effect<u32, String> {
    succeed(42)?
}

fn main() {}
