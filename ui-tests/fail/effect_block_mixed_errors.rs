use effect::prelude::*;

fn main() {
    let _program = effect_block! {
        let a = succeed::<u32, String>(1)?;
        let b = "2".parse::<u32>()?;
        a + b
    };
}
