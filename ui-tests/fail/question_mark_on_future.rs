use effect::prelude::*;

async fn fetch() -> Result<u32, String> {
    Ok(1)
}

#[effect]
fn load() -> Effect<u32, String> {
    fetch()?
}

fn main() {}
