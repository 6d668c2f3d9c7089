use effect::prelude::*;

#[derive(Debug)]
struct DbError;

#[effect]
fn load_user(id: u32) -> Effect<String, String> {
    format!("user-{id}")
}

#[effect]
fn load_orders(id: u32) -> Effect<Vec<u32>, DbError> {
    vec![id]
}

#[effect]
fn dashboard(id: u32) -> Effect<usize, String> {
    let (user, orders) = par!(load_user(id), load_orders(id))?;
    user.len() + orders.len()
}

fn main() {}
