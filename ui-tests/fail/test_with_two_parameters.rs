use effect::prelude::*;

#[effect::test]
fn runs(clock: TestClock, other: TestClock) -> Effect<(), String> {
    let _ = (clock, other);
}

fn main() {}
