use effect::prelude::*;

#[derive(Debug)]
enum LoadError {
    NotFound,
    Timeout,
    Denied(String),
}

fn load() -> Effect<&'static str, LoadError> {
    fail(LoadError::NotFound)
}

// catch_all! recovers every failure, so its arms must match them all.
fn profile_or_guest() -> Effect<&'static str, Never> {
    catch_all!(load(), {
        LoadError::NotFound => "guest",
        LoadError::Timeout => "cached",
    })
}

#[effect]
fn page() -> Effect<String, String> {
    let profile = catch_all!(load(), {
        LoadError::NotFound => "guest",
    })?;
    profile.to_string()
}

fn main() {}
