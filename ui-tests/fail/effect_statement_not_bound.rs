use effect::prelude::*;

#[derive(Debug)]
struct AppError;

#[effect]
fn wait_then_fail() -> Effect<(), AppError> {
    // Each statement builds an effect and drops it: nothing waits, nothing fails.
    sleep(ms(5));
    fail::<(), AppError>(AppError);
}

fn main() {
    let _both: Effect<(), AppError> = effect_block! {
        par!(sleep(ms(1)), sleep(ms(2)));
        let fiber = sleep::<AppError>(ms(1)).fork()?;
        fiber.join();
    };
}
