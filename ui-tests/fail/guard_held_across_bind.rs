use effect::prelude::*;
use std::sync::{Arc, Mutex};

#[effect]
fn bump(counter: Arc<Mutex<u32>>) -> Effect<u32, String> {
    let mut guard = counter.lock().unwrap();
    sleep(ms(10))?;
    *guard += 1;
    *guard
}

fn main() {}
