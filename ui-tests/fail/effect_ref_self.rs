use effect::prelude::*;

struct Repo;

impl Repo {
    #[effect]
    fn find(&self, id: u32) -> Effect<u32, String> {
        id
    }
}

fn main() {}
