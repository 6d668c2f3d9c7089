use effect::prelude::*;

#[effect]
fn total(items: Vec<u32>) -> Effect<u32, String> {
    let sum: u32 = items.iter().sum();
    sleep(ms(1))?;
    println!("{sum}");
}

fn main() {}
