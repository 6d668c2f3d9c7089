use effect::prelude::*;
use std::rc::Rc;

#[effect]
fn count(names: Rc<Vec<String>>) -> Effect<usize, String> {
    names.len()
}

fn main() {}
