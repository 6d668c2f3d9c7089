// User names that the expansion must not capture or collide with.
use effect::prelude::*;

#[allow(dead_code)]
struct Ok;
#[allow(dead_code)]
struct Err;
#[allow(dead_code)]
enum Result {
    Fine,
}
#[allow(dead_code)]
mod core {}

#[effect]
fn shadowing(ctx: u32, __effect_value: u32) -> Effect<u32, String> {
    let body = succeed::<u32, String>(1)?;
    let __effect_exit = succeed::<u32, String>(2)?;
    ctx + __effect_value + body + __effect_exit
}

fn main() {
    let _ = effect::run_blocking(shadowing(1, 2));
}
