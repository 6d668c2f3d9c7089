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
    catch!(load(id), {
        AppError::NotFound => "nothing",
    })?
}

fn main() {}
