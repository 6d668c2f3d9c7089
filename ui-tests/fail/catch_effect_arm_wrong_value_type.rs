use effect::prelude::*;

#[derive(Debug)]
enum AppError {
    NotFound,
}

fn load(id: u32) -> Effect<u32, AppError> {
    if id == 0 {
        return fail(AppError::NotFound);
    }
    succeed(id)
}

fn main() {
    // `catch!` as a value (not bound with `?` in a body): an effect of its own.
    let _recovered: Effect<u32, AppError> = catch!(load(0), {
        AppError::NotFound => "nothing",
    });
}
