// Nested blocks and clauses, macros by example inside bodies, early returns in loops.
use effect::prelude::*;

macro_rules! twice {
    ($e:expr) => {
        $e + $e
    };
}

#[effect]
fn nested(limit: u32) -> Effect<u32, String> {
    let inner: Effect<u32, String> = effect_block! {
        let (a, b) = par!({ succeed(1)? }, effect_block! { succeed(2)? })?;
        a + b
    };
    let value = inner?;
    let raced = race!({ succeed(value)? }, never())?;
    let caught = catch!(fail::<u32, String>("x".into()), { _ => raced })?;
    println!("caught {}", caught);
    let mut total = twice!(caught);
    for i in 0.. {
        if i >= limit {
            return total;
        }
        total += succeed(i)?;
    }
    unreachable!()
}

fn main() {
    let _ = effect::run_blocking(nested(3));
}
