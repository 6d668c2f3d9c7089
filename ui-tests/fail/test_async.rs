use effect::prelude::*;

#[effect::test]
async fn runs() -> Effect<(), String> {}

fn main() {}
