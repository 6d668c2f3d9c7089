use effect::prelude::*;

#[effect::main]
fn main() {
    println!("hello");
}
