// `#[effect::main]`: the binary exits 0 when its effect succeeds, after its daemon's
// finalizer has run.
use effect::prelude::*;

#[derive(Debug)]
enum AppError {
    Mismatch(u32),
}

#[effect::main(worker_threads = 2)]
fn main() -> Effect<(), AppError> {
    let _daemon = never::<(), AppError>().fork_daemon::<AppError>()?;
    let (a, b) = par!({ sleep(ms(1))?; 1 }, succeed(2))?;
    if a + b != 3 {
        fail(AppError::Mismatch(a + b))?;
    }
}
