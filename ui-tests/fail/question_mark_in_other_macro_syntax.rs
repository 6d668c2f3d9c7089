use effect::prelude::*;

macro_rules! pick {
    ($value:expr => $fallback:expr) => {
        if $value > 0 { $value } else { $fallback }
    };
}

#[effect]
fn chosen() -> Effect<u32, String> {
    let fallback = pick!(0 => 7);
    pick!(succeed(3)? => fallback)
}

fn main() {}
