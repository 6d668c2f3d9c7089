use effect::prelude::*;

#[effect::main(flavor = "current_thread", worker_threads = 4)]
async fn main<T>() -> Effect<u8, String> {}
