use effect::prelude::*;

#[effect]
fn first<'a>(names: Vec<&'a str>) -> Effect<usize, String> {
    names.len()
}

fn main() {}
