use effect::prelude::*;

#[effect::test]
mod tests {}

fn main() {}
