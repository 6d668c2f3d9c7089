//! The procedural macros of `effect`: the DSL. Use them through the `effect` crate, which
//! documents them.
//!
//! Each macro is a small compiler: parse the input into syn's model, check every rule
//! (collecting all errors, each pointing at the user's tokens and saying what to write), and
//! expand into calls of the runtime through `::effect::__private`. No entry point panics:
//! every input gives code or `compile_error!`s.

mod body;
mod clauses;
mod diverge;
mod entry;
mod errors;
mod function;
mod main_attr;
mod test_attr;

use proc_macro::TokenStream;

/// `#[effect] fn name(args) -> Effect<A, E> { BODY }`: see the `effect` crate.
#[proc_macro_attribute]
pub fn effect(args: TokenStream, item: TokenStream) -> TokenStream {
    function::expand(args.into(), item.into()).into()
}

/// `effect_block! { BODY }`: see the `effect` crate.
#[proc_macro]
pub fn effect_block(input: TokenStream) -> TokenStream {
    clauses::effect_block(input.into()).into()
}

/// `par!(B1, B2, ..)`: see the `effect` crate.
#[proc_macro]
pub fn par(input: TokenStream) -> TokenStream {
    clauses::par(input.into()).into()
}

/// `race!(B1, B2, ..)`: see the `effect` crate.
#[proc_macro]
pub fn race(input: TokenStream) -> TokenStream {
    clauses::race(input.into()).into()
}

/// `catch!(B, { PAT => EXPR, .. })`: see the `effect` crate.
#[proc_macro]
pub fn catch(input: TokenStream) -> TokenStream {
    clauses::catch(input.into()).into()
}

/// `#[effect::test]`: see the `effect` crate.
#[proc_macro_attribute]
pub fn test(args: TokenStream, item: TokenStream) -> TokenStream {
    test_attr::expand(args.into(), item.into()).into()
}

/// `#[effect::main]`: see the `effect` crate.
#[proc_macro_attribute]
pub fn main(args: TokenStream, item: TokenStream) -> TokenStream {
    main_attr::expand(args.into(), item.into()).into()
}

#[cfg(test)]
mod never_panics;
