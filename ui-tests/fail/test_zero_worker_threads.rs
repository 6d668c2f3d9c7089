use effect::prelude::*;

#[effect::test(flavor = "multi_thread", worker_threads = 0)]
fn runs() -> Effect<(), String> {}

fn main() {}
