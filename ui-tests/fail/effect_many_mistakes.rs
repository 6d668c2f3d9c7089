use effect::prelude::*;

// Every mistake is reported at once, each at its own tokens.
#[effect]
async fn load(name: &str, ids: &[u32]) -> u32 {
    ids.len() as u32
}

fn main() {}
