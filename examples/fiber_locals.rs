//! Fiber-local values: `cargo run --example fiber_locals`.
//!
//! Not a section of the guide: it shows `FiberRef`, for what every nested call of a request
//! should see without it being passed down as an argument. Two requests run side by side,
//! each with its own request id and deadline. Look for: every line carries the id of its own
//! request, including the lines of parallel branches (branches start with their parent's
//! values); request 2's deadline is short, so its slow call gives up; and once both are done,
//! the program's own fiber still has no request id (a `locally` value ends with its effect).

use std::sync::LazyLock;
use std::time::{Duration, Instant};

use effect::prelude::*;

static REQUEST_ID: LazyLock<FiberRef<u64>> = LazyLock::new(|| FiberRef::new(0));
static DEADLINE: LazyLock<FiberRef<Option<Instant>>> = LazyLock::new(|| FiberRef::new(None));

#[effect]
fn log(message: String) -> Effect<(), Never> {
    let id = REQUEST_ID.get()?;
    println!("[request {id}] {message}");
}

/// A call deep in the handler: it reads the deadline, and gives up when it passes.
#[effect]
fn call(service: &'static str, takes: Duration) -> Effect<String, String> {
    let left = match DEADLINE.get()? {
        Some(deadline) => deadline.saturating_duration_since(instant()?),
        None => Duration::MAX,
    };
    log(format!("calling {service}, {} ms left", left.as_millis()))?;
    if sleep(takes).timeout(left)?.is_none() {
        fail(format!("{service} missed the deadline"))?;
    }
    format!("{service} answered")
}

#[effect]
fn handler() -> Effect<(), Never> {
    match par!(call("users", ms(20)), call("orders", ms(60))).result()? {
        Ok((users, orders)) => log(format!("done: {users}, {orders}"))?,
        Err(error) => log(format!("failed: {error}"))?,
    }
}

/// Serves request `id` within `budget`: every fiber of the handler sees both values.
fn serve(id: u64, budget: Duration) -> Effect<(), Never> {
    instant().flat_map(move |now| {
        let deadline = DEADLINE.locally(Some(now + budget), handler());
        REQUEST_ID.locally(id, deadline)
    })
}

#[effect::main]
fn main() -> Effect<(), Never> {
    par!(serve(1, ms(200)), serve(2, ms(40)))?;
    println!(
        "both served; the program's own request id is {}",
        REQUEST_ID.get()?
    );
}
