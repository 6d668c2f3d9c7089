use effect::prelude::*;

trait Repo {
    #[effect]
    fn find(self, id: u32) -> Effect<String, String>;
}

fn main() {}
