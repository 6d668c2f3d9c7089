use effect::prelude::*;

fn main() {
    let _ = par!(
        succeed::<u8, ()>(1), succeed(2), succeed(3), succeed(4), succeed(5), succeed(6), succeed(7),
        succeed(8), succeed(9), succeed(10), succeed(11), succeed(12), succeed(13)
    );
}
