//! `catch_all!` compiles wherever `catch!` does, with no warning: as an effect that cannot
//! fail (`Never`), bound in bodies of any error type, with guards, binds and `return` in its
//! arms, as a `par!` branch, and with arms that diverge.
#![deny(warnings)]

use effect::prelude::*;

#[derive(Debug, PartialEq)]
enum LoadError {
    NotFound,
    Timeout(u32),
}

fn load(id: u32) -> Effect<u32, LoadError> {
    match id {
        0 => fail(LoadError::NotFound),
        1 => fail(LoadError::Timeout(7)),
        _ => succeed(id * 10),
    }
}

fn total(id: u32) -> Effect<u32, Never> {
    catch_all!(load(id), {
        LoadError::NotFound => 0,
        LoadError::Timeout(after) if after > 5 => after,
        LoadError::Timeout(_) => sleep(ms(1)).as_value(1)?,
    })
}

#[effect]
fn in_a_body(id: u32) -> Effect<u32, String> {
    let direct = total(id)?;
    let inline = catch_all!(load(id), {
        LoadError::NotFound => fail("not found".to_string())?,
        LoadError::Timeout(after) => after,
    })?;
    let returned = catch_all!(load(id), {
        LoadError::NotFound => return 100,
        LoadError::Timeout(_) => 200,
    })?;
    let (a, b) = par!(
        total(id),
        catch_all!(load(id + 2), { _ => unreachable!("no failure") })
    )?;
    direct + inline + returned + a + b
}

fn main() {
    assert_eq!(effect::run_blocking(total(0)), Ok(0));
    assert_eq!(effect::run_blocking(total(1)), Ok(7));
    assert_eq!(effect::run_blocking(in_a_body(1)), Ok(7 + 7 + 200 + 7 + 30));
    assert_eq!(
        effect::run_blocking(in_a_body(0)).unwrap_err().failure(),
        Some(&"not found".to_string())
    );
}
