use effect::prelude::*;

#[effect]
fn primary() -> Effect<String, String> {
    "primary".to_string()
}

#[effect]
fn backup() -> Effect<&'static str, String> {
    "backup"
}

#[effect]
fn ad() -> Effect<String, String> {
    race!(primary(), backup())?
}

fn main() {}
