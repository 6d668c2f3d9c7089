//! The expression macros: `effect_block!`, `par!` and `race!` (`catch!` is in `catch.rs`).

use proc_macro2::{Span, TokenStream};
use quote::{quote, quote_spanned};
use syn::parse::Parser;
use syn::punctuated::Punctuated;
use syn::spanned::Spanned;
use syn::{Block, Expr, Ident, Token};

use crate::body::{self, BodyTypes};
use crate::facade::Facade;

/// The most branches `par!` takes: `zip_par` is implemented for tuples up to this size.
const MAX_PAR_BRANCHES: usize = 12;

/// `effect_block! { BODY }`.
pub(crate) fn effect_block(input: TokenStream, fx: &Facade) -> TokenStream {
    match Parser::parse2(Block::parse_within, input) {
        Ok(stmts) => body::compile(stmts, &BodyTypes::new(fx)),
        Err(error) => error.to_compile_error(),
    }
}

fn branches(input: TokenStream) -> syn::Result<Vec<Expr>> {
    let parsed = Parser::parse2(Punctuated::<Expr, Token![,]>::parse_terminated, input)?;
    Ok(parsed.into_iter().collect())
}

/// A branch: an inline `{ BODY }` is an effect block; anything else is an effect expression.
pub(crate) fn branch(expr: Expr, fx: &Facade) -> TokenStream {
    match expr {
        Expr::Block(block) if block.attrs.is_empty() && block.label.is_none() => {
            body::compile(block.block.stmts, &BodyTypes::new(fx))
        }
        other => {
            let span = other.span();
            quote_spanned!(span=> #other)
        }
    }
}

/// `par!(B1, B2, ..)`: `zip_par` of the branches.
pub(crate) fn par(input: TokenStream, fx: &Facade) -> TokenStream {
    let branches = match branches(input) {
        Ok(branches) => branches,
        Err(error) => return error.to_compile_error(),
    };
    match branches.len() {
        0 => syn::Error::new(
            Span::call_site(),
            "par! needs at least two branches to run in parallel: `par!(first, second)`",
        )
        .to_compile_error(),
        1 => syn::Error::new_spanned(
            &branches[0],
            "par! with a single branch runs nothing in parallel; bind the branch directly: `branch?`",
        )
        .to_compile_error(),
        n if n > MAX_PAR_BRANCHES => syn::Error::new_spanned(
            &branches[MAX_PAR_BRANCHES],
            format!("par! takes at most {MAX_PAR_BRANCHES} branches; for more, collect the effects into a `Vec` and use `zip_par(effects)`"),
        )
        .to_compile_error(),
        _ => zip_branches(branches, fx),
    }
}

/// `zip_par` of two or more branches. Every branch after the first goes through a local
/// `same_error(&first, branch)`, so a branch failing with another error type is reported at
/// that branch, as "expected `Effect<_, FirstError>`, found `Effect<_, ItsError>`", instead
/// of as a missing `ZipPar` impl for the whole tuple. The branches are evaluated outside the
/// block declaring that fn, so it cannot shadow anything they name.
fn zip_branches(branches: Vec<Expr>, fx: &Facade) -> TokenStream {
    let spans: Vec<Span> = branches.iter().map(Spanned::span).collect();
    let names: Vec<Ident> = (0..branches.len())
        .map(|i| Ident::new(&format!("__effect_branch{i}"), Span::mixed_site()))
        .collect();
    let same_error = Ident::new("same_error", Span::mixed_site());
    let first = &names[0];
    let first_at = Ident::new(&first.to_string(), Span::mixed_site().located_at(spans[0]));
    let is_effect = Ident::new("is_effect", Span::mixed_site().located_at(spans[0]));
    let aligned = names.iter().zip(&spans).skip(1).map(|(name, span)| {
        // Located at the branch (hygiene unchanged), so a mismatch underlines the branch.
        let at_branch = Ident::new(&name.to_string(), Span::mixed_site().located_at(*span));
        let check = Ident::new("same_error", Span::mixed_site().located_at(*span));
        quote_spanned!(*span=> let #name = #check(&#first, #at_branch);)
    });
    let branches = branches.into_iter().map(|expr| branch(expr, fx));
    let fx = fx.private(Span::call_site());
    quote! {
        match (#(#branches,)*) {
            (#(#names,)*) => {
                fn is_effect<A, E>(effect: #fx::Effect<A, E>) -> #fx::Effect<A, E> {
                    effect
                }
                let #first = #is_effect(#first_at);
                fn #same_error<A, B, E>(
                    _: &#fx::Effect<A, E>,
                    branch: #fx::Effect<B, E>,
                ) -> #fx::Effect<B, E> {
                    branch
                }
                #(#aligned)*
                #fx::zip_par((#(#names,)*))
            }
        }
    }
}

/// `race!(B1, B2, ..)`: `race` of the branches.
pub(crate) fn race(input: TokenStream, fx: &Facade) -> TokenStream {
    let branches = match branches(input) {
        Ok(branches) => branches,
        Err(error) => return error.to_compile_error(),
    };
    if branches.is_empty() {
        return syn::Error::new(
            Span::call_site(),
            "race! needs at least one branch: `race!(primary, backup)`",
        )
        .to_compile_error();
    }
    let branches = branches.into_iter().map(|expr| branch(expr, fx));
    let fx = fx.private(Span::call_site());
    quote!(#fx::race([#(#branches),*]))
}
