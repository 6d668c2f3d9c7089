use effect::prelude::*;

#[derive(Debug)]
enum AppError {
    NotFound,
}

#[effect]
fn load(id: u32) -> Effect<u32, AppError> {
    if id == 0 {
        fail(AppError::NotFound)?;
    }
    id
}

#[effect]
fn load_or_default(id: u32) -> Effect<u32, AppError> {
    // An arm that returns gives the catch's value: the catch is an effect of its own.
    let value = catch!(load(id), {
        AppError::NotFound => return "nothing",
    })?;
    value + 1
}

fn main() {}
