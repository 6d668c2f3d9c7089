use effect::prelude::*;

fn main() {
    let _one: Effect<(u32,), String> = par!(succeed(1));
}
