//! What the macros generate, counted: the code a bind, a clause and a body's prelude add to
//! a user's crate, in tokens, against budgets. Every generated token is parsed, name-resolved
//! and type-checked by rustc in the user's build, so a change that makes the expansion bigger
//! makes every user's build slower; this test fails on it, on any machine, without timing
//! anything. `scripts/compile-cost` measures the builds themselves.
//!
//! Run with `--nocapture` to see the counts. A budget is the count when it was set, with a
//! margin of about 10%; if a change needs more, raise the budget in the same commit and say
//! why. When they were set, a bind cost 32 tokens (315 before the expansion was made cheap), a
//! 50-arm match with a bind in each arm 1,900 (15,950), and the compile-cost generator's
//! function 693 (2,142), its `par!` and `race!` expanding on their own.

use proc_macro2::{TokenStream, TokenTree};

use crate::facade::Facade;
use crate::{catch, clauses, function};

/// The tokens of `stream`, a group counting as one token plus its contents.
fn count(stream: TokenStream) -> usize {
    stream
        .into_iter()
        .map(|tree| match tree {
            TokenTree::Group(group) => 1 + count(group.stream()),
            _ => 1,
        })
        .sum()
}

fn parse(text: &str) -> TokenStream {
    text.parse().expect("the sample tokenizes")
}

/// The tokens of `#[effect] fn sample(x: u64) -> Effect<u64, AppError> { BODY }`, expanded.
fn effect_fn(body: &str) -> usize {
    let item = parse(&format!(
        "fn sample(x: u64) -> Effect<u64, AppError> {{ {body} }}"
    ));
    let expanded = function::expand(TokenStream::new(), item, &Facade::default());
    let text = expanded.to_string();
    assert!(!text.contains("compile_error"), "{text}");
    count(expanded)
}

/// The tokens `expand` generates for `input`, beyond the input's own.
fn clause(expand: fn(TokenStream, &Facade) -> TokenStream, input: &str) -> usize {
    let expanded = expand(parse(input), &Facade::default());
    let text = expanded.to_string();
    assert!(!text.contains("compile_error"), "{text}");
    count(expanded) - count(parse(input))
}

/// One measured quantity and its budget.
struct Measured {
    what: &'static str,
    tokens: usize,
    budget: usize,
}

/// A bind in a declared body: `fetch(x)?`, beyond the expression it binds.
fn per_bind() -> usize {
    let one = effect_fn("let a = fetch(x)?; a");
    let seven = effect_fn(
        "let a = fetch(x)?; let b = fetch(a)?; let c = fetch(b)?; let d = fetch(c)?; \
         let e = fetch(d)?; let f = fetch(e)?; let g = fetch(f)?; g",
    );
    // Six more binds, each with its `let v = fetch(u);` (9 tokens written by the user).
    ((seven - one) / 6).saturating_sub(9)
}

fn measurements() -> Vec<Measured> {
    let plain = effect_fn("x + 1");
    let one_bind = effect_fn("let a = fetch(x)?; a");
    let bind = per_bind();
    // The body's prelude (the names its binds share), written once when it has binds.
    let prelude = one_bind.saturating_sub(plain + bind + 9);
    let inline_catch = effect_fn(
        "let v = catch!(fetch(x), { AppError::NotFound => 0, AppError::Db(_) => 1 })?; v",
    )
    .saturating_sub(one_bind);
    let inline_catch_all = effect_fn(
        "let v = catch_all!(fetch(x), { AppError::NotFound => 0, AppError::Db(_) => 1 })?; v",
    )
    .saturating_sub(one_bind);
    let fifty_arms = {
        let arms: String = (0..50)
            .map(|i| format!("{i} => fetch(x + {i})?, "))
            .collect();
        effect_fn(&format!("let a = match x % 64 {{ {arms} _ => 0 }}; a"))
            - effect_fn(&format!(
                "let a = match x % 64 {{ {} _ => 0 }}; a",
                (0..50)
                    .map(|i| format!("{i} => x + {i}, "))
                    .collect::<String>()
            ))
    };
    // An expression statement without `?` is checked for an effect it would drop unrun:
    // `log(x);` is 4 tokens written by the user; the names the checks share come once.
    let one_statement = effect_fn("log(x); x + 1");
    let statement = effect_fn("log(x); log(x); x + 1") - one_statement - 4;
    let statement_prelude = one_statement.saturating_sub(plain + statement + 4);
    // The function the compile-cost generator writes (see scripts/compile-cost).
    let generator_shape = effect_fn(
        "sleep(ms(1))?; let a = f0(x + 1)?; if a > 2_000_000 { fail(AppError::Invalid(a))?; } \
         let (b, c) = par!(leaf(a), { sleep(ms(2))?; a * 2 })?; \
         let d = race!(leaf(a + 1), { sleep(ms(5))?; a + 2 })?; \
         let e = catch!(leaf(a + 3), { AppError::NotFound => 0, AppError::Timeout(_) => 1, })?; \
         a + b + c + d + e",
    );
    vec![
        Measured {
            what: "an #[effect] fn without binds (the fn and its body)",
            tokens: plain,
            budget: 155,
        },
        Measured {
            what: "a body's prelude (once per body with binds)",
            tokens: prelude,
            budget: 110,
        },
        Measured {
            what: "a bind `e?` (beyond `e`)",
            tokens: bind,
            budget: 36,
        },
        Measured {
            what: "a statement `f(x);` (beyond `f(x);`)",
            tokens: statement,
            budget: 27,
        },
        Measured {
            what: "the names statements share (once per body with `f(x);` statements)",
            tokens: statement_prelude,
            budget: 31,
        },
        Measured {
            what: "a 50-arm match with a bind in every arm (beyond the same match without)",
            tokens: fifty_arms,
            budget: 2100,
        },
        Measured {
            what: "par!(a, b) (beyond its input)",
            tokens: clause(clauses::par, "fetch(1), fetch(2)"),
            budget: 165,
        },
        Measured {
            what: "par! with a block branch `{ sleep(d)?; v }`",
            tokens: clause(clauses::par, "fetch(1), { sleep(ms(2))?; 2 }"),
            budget: 345,
        },
        Measured {
            what: "race!(a, b) (beyond its input)",
            tokens: clause(clauses::race, "fetch(1), fetch(2)"),
            budget: 15,
        },
        Measured {
            what: "catch!(e, { 2 arms }) as an effect (beyond its input)",
            tokens: clause(
                |input, fx| catch::catch(input, fx, catch::Form::Partial),
                "fetch(1), { AppError::NotFound => 0, AppError::Db(_) => 1 }",
            ),
            budget: 295,
        },
        Measured {
            what: "catch_all!(e, { 2 arms }) as an effect (beyond its input)",
            tokens: clause(
                |input, fx| catch::catch(input, fx, catch::Form::Total),
                "fetch(1), { AppError::NotFound => 0, AppError::Db(_) => 1 }",
            ),
            budget: 258,
        },
        Measured {
            what: "catch_all!(e, { 2 arms })? in a body (beyond a bind's)",
            tokens: inline_catch_all,
            budget: 76,
        },
        Measured {
            what: "catch!(e, { 2 arms })? in a body (beyond a bind's)",
            tokens: inline_catch,
            budget: 172,
        },
        Measured {
            what: "the compile-cost generator's function, whole",
            tokens: generator_shape,
            budget: 765,
        },
    ]
}

#[test]
fn the_expansion_stays_within_its_token_budgets() {
    let measured = measurements();
    let mut over = Vec::new();
    for Measured {
        what,
        tokens,
        budget,
    } in &measured
    {
        eprintln!("{tokens:>6} tokens (budget {budget:>5})  {what}");
        if tokens > budget {
            over.push(format!(
                "{what}: {tokens} tokens, over its budget of {budget}"
            ));
        }
    }
    assert!(
        over.is_empty(),
        "the macros generate more than their budgets allow (each token costs every user's \
         build; see expansion_size.rs):\n{}",
        over.join("\n")
    );
}
