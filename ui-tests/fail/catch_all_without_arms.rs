use effect::prelude::*;

fn main() {
    let _nothing: Effect<u32, Never> = catch_all!(succeed::<u32, String>(1), {});
    let _no_braces: Effect<u32, Never> = catch_all!(succeed::<u32, String>(1));
}
