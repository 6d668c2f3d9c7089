use effect::prelude::*;

type Answer = std::collections::HashMap<u32, String>;

#[effect]
fn answer() -> Answer {
    Answer::new()
}

fn main() {}
