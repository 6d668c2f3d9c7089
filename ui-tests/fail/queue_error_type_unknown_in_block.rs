use effect::prelude::*;
use effect::Queue;

fn main() {
    let queue = Queue::<i32>::bounded(4);
    // `offer` fails with `QueueShutdown`, converted into any error type written for it; in
    // an effect_block! none is, so it is taken to be `Never`.
    let _offered: Effect<(), String> = effect_block! {
        queue.offer(1)?;
    };
}
