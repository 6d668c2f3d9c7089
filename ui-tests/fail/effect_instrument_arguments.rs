use effect::prelude::*;

#[effect(instrument(nmae = "load"))]
fn misspelled(id: u32) -> Effect<u32, String> {
    id
}

#[effect(instrument(level = "loud"))]
fn unknown_level(id: u32) -> Effect<u32, String> {
    id
}

#[effect(instrument(skip(pasword)))]
fn skips_a_missing_argument(user: String, password: String) -> Effect<usize, String> {
    user.len() + password.len()
}

#[effect(instrument(skip(crate::password)))]
fn skips_a_path(password: String) -> Effect<usize, String> {
    password.len()
}

#[effect(instrument, instrument)]
fn instrumented_twice(id: u32) -> Effect<u32, String> {
    id
}

#[effect(instrument(name = "a", name = "b"))]
fn named_twice(id: u32) -> Effect<u32, String> {
    id
}

#[effect(instrument(err(Json)))]
fn unknown_err_format(id: u32) -> Effect<u32, String> {
    id
}

#[effect(trace)]
fn not_instrument(id: u32) -> Effect<u32, String> {
    id
}

fn main() {}
