use effect::prelude::*;

#[effect::test(flavor = "current_thread", worker_threads = 2)]
fn runs() -> Effect<(), String> {}

#[effect::test(worker_threads = 2)]
fn by_default() -> Effect<(), String> {}

fn main() {}
