use effect::prelude::*;

#[effect]
fn greet(name: &str) -> Effect<String, String> {
    format!("hello, {name}")
}

fn main() {}
