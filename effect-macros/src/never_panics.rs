//! The macros never panic: fed thousands of malformed, truncated and mutated inputs, every
//! entry point returns code or `compile_error!`s.

use proc_macro2::{TokenStream, TokenTree};
use std::panic::{catch_unwind, AssertUnwindSafe};

use crate::facade::Facade;
use crate::{catch, clauses, function, main_attr, test_attr};

/// Well-formed inputs to mutate, one per entry point.
const FUNCTIONS: &[&str] = &[
    "fn dashboard(id: u64) -> Effect<Dashboard, AppError> { let user = load_user(id)?; \
     let (orders, prefs) = par!(load_orders(id), load_prefs(id))?; \
     let ad = race!(ads_primary(), { sleep(ms(50))?; Ad::none() })?; \
     let profile = catch!(load_profile(id), { AppError::NotFound => Profile::guest(), }) ?; \
     if user.vip { return Dashboard::vip(user); } for i in 0..3 { log(i)?; } \
     Dashboard { user, orders, prefs, ad, profile } }",
    "pub async fn f<'a, T: Clone>(self, x: &'a T) -> Result<T, E> where T: Send { x.clone() }",
];
/// Arguments of `#[effect::test]` and `#[effect::main]` to mutate, with a function to put
/// them on.
const ENTRY_ARGUMENTS: &[&str] = &[
    "flavor = \"multi_thread\", worker_threads = 2",
    "worker_threads = 99999999999999999999999, flavor = current_thread, x::y = -1, z(1), w",
];
const ENTRY_FUNCTION: &str =
    "fn runs(clock: TestClock) -> Effect<(), AppError> { clock.advance(secs(1)).await; }";
const BLOCKS: &[&str] =
    &["let x = a()?; match x { Some(v) => v?, None => return 1 } loop { break b()?; }"];
const BRANCHES: &[&str] = &["a(), { b()?; c }, d.map(|x| x?)"];
const CATCHES: &[&str] = &["load(id), { AppError::NotFound => guest(), AppError::Db(m) if m.len() > 2 => retry()?, _ => 0 }"];

fn tokens(text: &str) -> Vec<TokenTree> {
    text.parse::<TokenStream>()
        .expect("seed inputs tokenize")
        .into_iter()
        .collect()
}

/// A small deterministic generator (xorshift), so failures reproduce.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

/// Deletes, duplicates or swaps top-level tokens, or recurses into a group.
fn mutate(tokens: &[TokenTree], rng: &mut Rng) -> TokenStream {
    let mut out: Vec<TokenTree> = tokens.to_vec();
    for _ in 0..=rng.below(3) {
        if out.is_empty() {
            break;
        }
        let i = rng.below(out.len());
        match rng.below(5) {
            0 => {
                out.remove(i);
            }
            1 => {
                let copy = out[i].clone();
                out.insert(i, copy);
            }
            2 => {
                let j = rng.below(out.len());
                out.swap(i, j);
            }
            3 => out.truncate(i),
            _ => {
                if let TokenTree::Group(group) = &out[i] {
                    let inner: Vec<TokenTree> = group.stream().into_iter().collect();
                    let mut mutated =
                        proc_macro2::Group::new(group.delimiter(), mutate(&inner, rng));
                    mutated.set_span(group.span());
                    out[i] = TokenTree::Group(mutated);
                }
            }
        }
    }
    out.into_iter().collect()
}

type Entry = fn(TokenStream) -> TokenStream;

fn entries() -> Vec<(&'static str, &'static [&'static str], Entry)> {
    vec![
        ("#[effect]", FUNCTIONS, |item| {
            function::expand(TokenStream::new(), item, &Facade::default())
        }),
        ("#[effect::test]", FUNCTIONS, |item| {
            test_attr::expand(TokenStream::new(), item, &Facade::default())
        }),
        ("#[effect::main]", FUNCTIONS, |item| {
            main_attr::expand(TokenStream::new(), item, &Facade::default())
        }),
        ("#[effect::test(..)]", ENTRY_ARGUMENTS, |args| {
            test_attr::expand(
                args,
                ENTRY_FUNCTION.parse().unwrap_or_default(),
                &Facade::default(),
            )
        }),
        ("#[effect::main(..)]", ENTRY_ARGUMENTS, |args| {
            main_attr::expand(
                args,
                ENTRY_FUNCTION.parse().unwrap_or_default(),
                &Facade::default(),
            )
        }),
        ("effect_block!", BLOCKS, |input| {
            clauses::effect_block(input, &Facade::default())
        }),
        ("par!", BRANCHES, |input| {
            clauses::par(input, &Facade::default())
        }),
        ("race!", BRANCHES, |input| {
            clauses::race(input, &Facade::default())
        }),
        ("catch!", CATCHES, |input| {
            catch::catch(input, &Facade::default(), catch::Form::Partial)
        }),
        ("catch_all!", CATCHES, |input| {
            catch::catch(input, &Facade::default(), catch::Form::Total)
        }),
    ]
}

#[test]
fn no_entry_point_panics_on_ten_thousand_mutated_inputs() {
    let mut rng = Rng(0x5eed_cafe_f00d_d00d);
    let mut cases = 0;
    for (name, seeds, entry) in entries() {
        for seed in seeds {
            let seed = tokens(seed);
            for _ in 0..2_000 {
                let input = mutate(&seed, &mut rng);
                let shown = input.to_string();
                let result = catch_unwind(AssertUnwindSafe(|| entry(input)));
                assert!(result.is_ok(), "{name} panicked on: {shown}");
                cases += 1;
            }
        }
    }
    assert!(cases >= 10_000, "only {cases} cases");
    println!("{cases} mutated inputs, no panic");
}

#[test]
fn no_entry_point_panics_on_truncations_and_arguments() {
    for (name, seeds, entry) in entries() {
        for seed in seeds {
            let seed = tokens(seed);
            for len in 0..=seed.len() {
                let input: TokenStream = seed[..len].iter().cloned().collect();
                let shown = input.to_string();
                assert!(
                    catch_unwind(AssertUnwindSafe(|| entry(input))).is_ok(),
                    "{name} panicked on: {shown}"
                );
            }
        }
    }
    for args in [
        "",
        "x",
        "flavor = \"multi_thread\"",
        "(",
        "#",
        "flavor =",
        "= 2",
        "worker_threads = 0",
        "worker_threads = 2.5",
        "flavor = \"multi_thread\", flavor = \"multi_thread\"",
        ",,",
    ] {
        let args: TokenStream = args.parse().unwrap_or_default();
        let item: TokenStream = FUNCTIONS[0].parse().unwrap();
        assert!(catch_unwind(AssertUnwindSafe(|| function::expand(
            args.clone(),
            item.clone(),
            &Facade::default()
        )))
        .is_ok());
        assert!(catch_unwind(AssertUnwindSafe(|| test_attr::expand(
            args.clone(),
            item.clone(),
            &Facade::default()
        )))
        .is_ok());
        assert!(catch_unwind(AssertUnwindSafe(|| main_attr::expand(
            args.clone(),
            item.clone(),
            &Facade::default()
        )))
        .is_ok());
    }
}

#[test]
fn malformed_inputs_give_compile_errors() {
    let expanded = clauses::par(TokenStream::new(), &Facade::default()).to_string();
    assert!(expanded.contains("compile_error"), "{expanded}");
    let expanded = function::expand(
        TokenStream::new(),
        "struct S;".parse().unwrap(),
        &Facade::default(),
    )
    .to_string();
    assert!(
        expanded.contains("compile_error") && expanded.contains("struct S"),
        "{expanded}"
    );
}
