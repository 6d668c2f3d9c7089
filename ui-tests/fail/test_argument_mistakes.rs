use effect::prelude::*;

// Every mistake is reported, each at its own tokens.
#[effect::test(flavor = "multi_thread", worker_threads = "2", flavor = "current_thread", multi_thread)]
fn runs() -> Effect<(), String> {}

// A wrong flavor says nothing more about `worker_threads`; a key given twice is reported even
// when its first value was wrong.
#[effect::test(flavor = "multi", worker_threads = 2, flavor = "multi_thread")]
fn wrong_flavor() -> Effect<(), String> {}

#[effect::test(flavor = "multi_thread" worker_threads = 2)]
fn missing_comma() -> Effect<(), String> {}

fn main() {}
