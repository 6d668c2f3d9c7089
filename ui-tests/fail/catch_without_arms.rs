use effect::prelude::*;

fn main() {
    let _ = catch!(fail::<u32, String>("x".into()), {});
}
