//! A short tour of effect: `cargo run --example tour`.
//!
//! Each section prints what it shows. Look for: effects are values that do nothing until run,
//! failures are typed and recoverable, defects (panics) are kept apart from failures, and
//! cleanup runs however an effect ends.

use std::time::Duration;

use effect::prelude::*;
use effect::stream::Stream;
use effect::{Clock, Context, Layer, Runtime};

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

/// The DSL: `?` binds an effect; `par!`, `race!` and `catch!` are clauses of the body.
#[effect]
fn profile_page(id: u64) -> Effect<String, FetchError> {
    let user = fetch_user(id)?;
    let (friends, posts) = par!(fetch_user(id + 1), fetch_user(id + 2))?;
    let banner = race!(
        {
            sleep(ms(30))?;
            "slow banner"
        },
        {
            sleep(ms(5))?;
            "fast banner"
        }
    )?;
    let avatar = catch!(fetch_user(0), {
        FetchError::NotFound(_) => "default avatar".to_string(),
    })?;
    format!("{user}: friends {friends}, posts {posts}, {banner}, {avatar}")
}

fn section(title: &str) {
    println!("\n== {title} ==");
}

#[tokio::main]
async fn main() {
    let ctx = Context::new();

    section("0. the DSL: #[effect], par!, race!, catch!");
    println!("{:?}", profile_page(7).run(&ctx).await);

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

    section("7. structured concurrency");
    let both = zip_par((fetch_user(1), fetch_user(2)));
    println!("zip_par of two users: {:?}", both.run(&ctx).await);
    let fastest = race([sleep(ms(50)).flat_map(|()| fetch_user(10)), fetch_user(11)]);
    println!("race, first success wins: {:?}", fastest.run(&ctx).await);
    let fail_fast = zip_par((
        fetch_user(0),
        never::<String, FetchError>()
            .on_interrupt(sync(|| println!("  sibling interrupted, cleanup ran"))),
    ));
    println!(
        "zip_par fails fast: {:?}",
        fail_fast.run(&ctx).await.map_err(|c| c.to_string())
    );
    let bounded = for_each_par(1..=6u64, fetch_user, 2);
    println!("for_each_par, two at a time: {:?}", bounded.run(&ctx).await);

    section("8. timeout with fallback");
    let slow = sleep::<FetchError>(secs(2)).flat_map(|()| fetch_user(5));
    let answer = slow
        .timeout(ms(100))
        .map(|user| user.unwrap_or_else(|| "cached user".to_string()));
    println!("after a 100 ms timeout: {:?}", answer.run(&ctx).await);

    section("9. retry on a schedule");
    let attempts = std::sync::Arc::new(std::sync::atomic::AtomicU32::new(0));
    let counter = attempts.clone();
    let flaky = move || -> Effect<String, FetchError> {
        let n = counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        if n < 2 {
            fail(FetchError::Timeout("flaky service"))
        } else {
            fetch_user(n as u64)
        }
    };
    let policy = Schedule::exponential(ms(10)) & Schedule::recurs(5);
    println!(
        "retried with exponential backoff: {:?} after {} attempts",
        retry(flaky, policy).run(&ctx).await,
        attempts.load(std::sync::atomic::Ordering::SeqCst)
    );

    section("10. a resource released on interruption");
    let connection = acquire_release(
        sync(|| {
            println!("  connection opened");
            "conn-1"
        }),
        |conn, exit| {
            let how = if exit.as_ref().is_err_and(|c| c.is_interrupted()) {
                "interrupted"
            } else {
                "done"
            };
            sync(move || println!("  {conn} closed ({how})"))
        },
    );
    let slow_query =
        scoped(connection.flat_map(|_| sleep::<FetchError>(secs(10)).as_value("rows")));
    println!(
        "query with a 20 ms timeout: {:?}",
        slow_query.timeout(ms(20)).run(&ctx).await
    );

    section("11. services from layers");
    #[derive(Clone)]
    struct Greeter(&'static str);
    let greeter: Layer<FetchError> = Layer::succeed(Greeter("welcome"));
    let greet: Effect<String, FetchError> = effect_block! {
        let greeter = service::<Greeter>()?;
        format!("{}, user-1", greeter.0)
    };
    println!(
        "provided by a layer: {:?}",
        greet.provide(greeter).run(&ctx).await
    );

    section("12. deterministic time with TestClock");
    let test_clock = TestClock::new();
    let runtime = Runtime::new(Context::new().with(Clock::from(test_clock.clone())));
    let fiber = runtime.fork(sleep::<FetchError>(secs(3600)).flat_map(|()| fetch_user_at_clock()));
    test_clock.advance(secs(3600)).await; // an hour of virtual time, instantly
    println!(
        "after advancing an hour: {:?}",
        runtime.run(fiber.join()).await
    );
    println!("fibers still alive: {}", runtime.live_fibers());

    section("13. stack safety");
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

    section("14. streams");
    let squares = Stream::from_iter(1..=1_000_000u64)
        .filter(|n| n % 3 == 0)
        .map_par(8, |n| succeed::<u64, FetchError>(n * n))
        .take(4)
        .run_collect();
    println!(
        "the first four squares of multiples of 3, mapped 8 at a time: {:?}",
        squares.run(&ctx).await
    );

    section("15. errors that fit anyhow and Box<dyn Error>");
    let failed: Result<u32, Cause<std::io::Error>> =
        attempt(|| Err(std::io::Error::other("disk full")))
            .run(&ctx)
            .await;
    let boxed: Box<dyn std::error::Error + Send + Sync> = failed.unwrap_err().into();
    println!("one `?` away from a boxed error: {boxed}");
}

/// Reads the time from the context's clock: virtual under a TestClock.
fn fetch_user_at_clock() -> Effect<String, FetchError> {
    Effect::new(|ctx| async move {
        let now = ctx.get::<Clock>().current_time();
        Ok(format!("user fetched at virtual time {now:?}"))
    })
}
