// Methods: `self` by value, `self: Arc<Self>`, and associated functions.
use effect::prelude::*;
use std::sync::Arc;

#[derive(Clone)]
struct Repo {
    prefix: String,
}

impl Repo {
    #[effect]
    fn find(self, id: u32) -> Effect<String, String> {
        format!("{}{}", self.prefix, succeed::<u32, String>(id)?)
    }

    #[effect]
    fn shared(self: Arc<Self>, id: u32) -> Effect<String, String> {
        self.as_ref().clone().find(id)?
    }

    #[effect]
    fn create(prefix: String) -> Effect<Repo, String> {
        Repo { prefix }
    }
}

fn main() {
    let repo = Arc::new(Repo { prefix: "row-".into() });
    let _ = effect::run_blocking(repo.shared(1).zip(Repo::create("x".into())));
}
