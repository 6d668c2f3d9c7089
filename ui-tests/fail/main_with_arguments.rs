use effect::prelude::*;

#[effect::main]
fn main(args: Vec<String>) -> Effect<(), String> {
    println!("{args:?}");
}
