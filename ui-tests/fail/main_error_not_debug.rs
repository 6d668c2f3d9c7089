use effect::prelude::*;

struct Config {
    port: u16,
}

#[effect::main]
fn main() -> Effect<(), Config> {
    fail(Config { port: 80 })?;
}
