use effect::prelude::*;

#[derive(Debug)]
struct AppError;

#[effect]
fn parse(text: String) -> Effect<u32, std::num::ParseIntError> {
    text.parse::<u32>()?
}

#[effect]
fn load() -> Effect<u32, AppError> {
    parse("7".to_string())?
}

fn main() {}
