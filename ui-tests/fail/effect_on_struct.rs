use effect::prelude::*;

#[effect]
struct Config {
    retries: u32,
}

fn main() {}
