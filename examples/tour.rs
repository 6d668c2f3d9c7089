//! A short tour of effect: `cargo run --example tour`.
//!
//! Each section prints what it shows. Look for: effects are values that do nothing until run,
//! failures are typed and recoverable, defects (panics) are kept apart from failures, and
//! cleanup runs however an effect ends.

use std::time::Duration;

use effect::prelude::*;

#[derive(Debug, Clone, PartialEq)]
enum FetchError {
    Timeout(&'static str),
    NotFound(u64),
}

impl std::fmt::Display for FetchError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FetchError::Timeout(service) => write!(f, "{service} timed out"),
            FetchError::NotFound(id) => write!(f, "user {id} not found"),
        }
    }
}

/// An effect built from an async body: it runs only when the effect runs.
fn fetch_user(id: u64) -> Effect<String, FetchError> {
    Effect::new(move |_ctx| async move {
        tokio::time::sleep(Duration::from_millis(5)).await;
        if id == 0 {
            Err(FetchError::NotFound(id))?;
        }
        Ok(format!("user-{id}"))
    })
}

fn section(title: &str) {
    println!("\n== {title} ==");
}

#[tokio::main]
async fn main() {
    let ctx = Context::new();

    section("1. effects are values");
    let greeting: Effect<String, FetchError> = fetch_user(7).map(|user| format!("hello, {user}"));
    println!("built {greeting:?}; nothing has run yet");
    println!("ran it: {:?}", greeting.run(&ctx).await);

    section("2. sequencing and typed failures");
    let both = fetch_user(1).zip(fetch_user(2));
    println!("zip of two users: {:?}", both.run(&ctx).await);
    let missing = fetch_user(0).flat_map(|user| succeed(user.len()));
    match missing.run(&ctx).await {
        Ok(len) => println!("unexpected success: {len}"),
        Err(cause) => println!("failed with a typed error: {}", cause.failure().unwrap()),
    }

    section("3. recovery");
    let recovered = fetch_user(0)
        .catch_all(|error| succeed::<_, FetchError>(format!("guest (after: {error})")));
    println!("catch_all: {:?}", recovered.run(&ctx).await);
    let fallback = fetch_user(0).or_else(succeed::<_, FetchError>("cached user".to_string()));
    println!("or_else: {:?}", fallback.run(&ctx).await);
    let optional = fetch_user(0).option::<FetchError>();
    println!("option (fail-safe): {:?}", optional.run(&ctx).await);

    section("4. cleanup runs however an effect ends");
    let guarded = fetch_user(0)
        .ensuring(sync(|| println!("  ensuring: connection closed")))
        .on_error(|cause| {
            let text = cause.to_string();
            sync(move || println!("  on_error saw: {text}"))
        });
    println!(
        "result: {:?}",
        guarded.run(&ctx).await.map_err(|c| c.to_string())
    );

    section("5. defects are not failures");
    // A panic inside an effect becomes a defect in its Cause; it never unwinds through `run`.
    // Rust still reports every panic through the panic hook, so keep that report to one line.
    std::panic::set_hook(Box::new(|info| println!("  (panic hook) {info}")));
    let buggy = fetch_user(3).map(|user| -> String { panic!("bug while formatting {user}") });
    let recovered = buggy.catch_all(|_| succeed::<String, FetchError>("never used".into()));
    match recovered.run(&ctx).await {
        Ok(_) => println!("unexpected success"),
        Err(cause) => println!(
            "catch_all left the defect alone: is_die = {}, message = {:?}",
            cause.is_die(),
            cause.defects()[0].message()
        ),
    }

    section("6. a failure rendered as a Cause tree");
    let messy = fail::<(), FetchError>(FetchError::Timeout("ads"))
        .ensuring(die("cache flush failed during cleanup"));
    let cause = messy.run(&ctx).await.unwrap_err();
    println!("{cause}");

    section("7. stack safety");
    fn count_down(n: u64) -> Effect<u64, FetchError> {
        if n == 0 {
            return succeed(0);
        }
        suspend(move || count_down(n - 1)).map(|below| below + 1)
    }
    println!(
        "recursed {:?} levels deep on a normal stack",
        count_down(1_000_000).run(&ctx).await
    );
}
