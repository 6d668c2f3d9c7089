//! The procedural macros of effectkit: the DSL. Use them through the facade, the
//! `effectkit` package (imported as `effect`), which re-exports and documents them.
//!
//! Each macro is a small compiler: parse the input into syn's model, check every rule
//! (collecting all errors, each pointing at the user's tokens and saying what to write), and
//! expand into calls of the runtime through the facade's hidden `__private` module, named as
//! the calling crate names the facade (`::effect::__private`, or `::my_fx::__private` for a
//! renamed dependency; see `facade.rs`). No entry point panics: every input gives code or
//! `compile_error!`s.

mod body;
mod catch;
mod clauses;
mod diverge;
mod entry;
mod errors;
mod facade;
mod function;
mod instrument;
mod main_attr;
mod statement;
mod test_attr;

use proc_macro::TokenStream;

use facade::Facade;

/// Expands one macro call with the facade's name, resolved once for it. When the facade is
/// not a dependency, the output is the error after `fallback` (the item, its body replaced).
fn with_facade(
    expand: impl FnOnce(&Facade) -> proc_macro2::TokenStream,
    fallback: impl FnOnce() -> proc_macro2::TokenStream,
) -> TokenStream {
    match Facade::resolve() {
        Ok(fx) => expand(&fx),
        Err(error) => facade::missing(error, fallback()),
    }
    .into()
}

/// An attribute's item with its body replaced by `stub`, when it is a fn; nothing otherwise.
fn stub_of(
    item: TokenStream,
    stub: fn(&syn::ItemFn) -> proc_macro2::TokenStream,
) -> proc_macro2::TokenStream {
    match syn::parse::<syn::ItemFn>(item) {
        Ok(function) => stub(&function),
        Err(_) => proc_macro2::TokenStream::new(),
    }
}

/// `#[effect] fn name(args) -> Effect<A, E> { BODY }`: see the `effect` crate.
#[proc_macro_attribute]
pub fn effect(args: TokenStream, item: TokenStream) -> TokenStream {
    let copy = item.clone();
    with_facade(
        |fx| function::expand(args.into(), item.into(), fx),
        || stub_of(copy, function::stub),
    )
}

/// `effect_block! { BODY }`: see the `effect` crate.
#[proc_macro]
pub fn effect_block(input: TokenStream) -> TokenStream {
    with_facade(
        |fx| clauses::effect_block(input.into(), fx),
        Default::default,
    )
}

/// `par!(B1, B2, ..)`: see the `effect` crate.
#[proc_macro]
pub fn par(input: TokenStream) -> TokenStream {
    with_facade(|fx| clauses::par(input.into(), fx), Default::default)
}

/// `race!(B1, B2, ..)`: see the `effect` crate.
#[proc_macro]
pub fn race(input: TokenStream) -> TokenStream {
    with_facade(|fx| clauses::race(input.into(), fx), Default::default)
}

/// `catch!(B, { PAT => EXPR, .. })`: see the `effect` crate.
#[proc_macro]
pub fn catch(input: TokenStream) -> TokenStream {
    with_facade(
        |fx| catch::catch(input.into(), fx, catch::Form::Partial),
        Default::default,
    )
}

/// `catch_all!(B, { PAT => EXPR, .. })`: see the `effect` crate.
#[proc_macro]
pub fn catch_all(input: TokenStream) -> TokenStream {
    with_facade(
        |fx| catch::catch(input.into(), fx, catch::Form::Total),
        Default::default,
    )
}

/// `#[effect::test]`: see the `effect` crate.
#[proc_macro_attribute]
pub fn test(args: TokenStream, item: TokenStream) -> TokenStream {
    let copy = item.clone();
    with_facade(
        |fx| test_attr::expand(args.into(), item.into(), fx),
        || stub_of(copy, function::stub),
    )
}

/// `#[effect::main]`: see the `effect` crate.
#[proc_macro_attribute]
pub fn main(args: TokenStream, item: TokenStream) -> TokenStream {
    let copy = item.clone();
    with_facade(
        |fx| main_attr::expand(args.into(), item.into(), fx),
        || stub_of(copy, main_attr::stub),
    )
}

#[cfg(test)]
mod expansion_size;
#[cfg(test)]
mod never_panics;
