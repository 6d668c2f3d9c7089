use effect::prelude::*;

fn main() {
    let _ = par!(succeed::<u8, ()>(1),, succeed(2));
}
