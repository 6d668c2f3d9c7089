use effect::prelude::*;

#[effect::test]
fn runs() {
    let _ = 1;
}

fn main() {}
