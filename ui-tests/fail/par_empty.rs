use effect::prelude::*;

fn main() {
    let _both: Effect<(), String> = par!();
}
