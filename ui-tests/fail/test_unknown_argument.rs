use effect::prelude::*;

#[effect::test(threads = 2)]
fn runs() -> Effect<(), String> {}

#[effect::test(start_paused = true)]
fn paused() -> Effect<(), String> {}

fn main() {}
