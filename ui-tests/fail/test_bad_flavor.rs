use effect::prelude::*;

#[effect::test(flavor = "multi")]
fn runs() -> Effect<(), String> {}

#[effect::test(flavor = multi_thread)]
fn unquoted() -> Effect<(), String> {}

fn main() {}
