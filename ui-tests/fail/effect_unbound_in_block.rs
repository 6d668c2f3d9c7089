use effect::prelude::*;

fn main() {
    // In an effect_block!, binds share the block's error type: convert explicitly.
    let _: Effect<u32, String> = effect_block! {
        let n: u32 = fail::<u32, std::io::Error>(std::io::Error::other("disk"))?;
        n
    };
}
