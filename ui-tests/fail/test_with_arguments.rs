use effect::prelude::*;

#[effect::test(flavor = "multi_thread")]
fn runs() -> Effect<(), String> {}

fn main() {}
