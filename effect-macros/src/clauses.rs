//! The expression macros: `effect_block!`, `par!`, `race!` and `catch!`.

use proc_macro2::{Span, TokenStream};
use quote::{quote, quote_spanned};
use syn::parse::{Parse, ParseStream, Parser};
use syn::punctuated::Punctuated;
use syn::spanned::Spanned;
use syn::{braced, Arm, Block, Expr, Ident, Token};

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
fn branch(expr: Expr, fx: &Facade) -> TokenStream {
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

/// The parsed input of `catch!(B, { PAT => EXPR, .. })`.
struct Catch {
    guarded: Expr,
    arms: Vec<Arm>,
    brace: Span,
}

impl Parse for Catch {
    fn parse(input: ParseStream<'_>) -> syn::Result<Self> {
        let usage =
            "catch! takes an effect and braced arms: `catch!(effect, { Pattern => value, .. })`";
        if input.is_empty() {
            return Err(syn::Error::new(Span::call_site(), usage));
        }
        let guarded: Expr = input.parse()?;
        if input.is_empty() {
            return Err(syn::Error::new_spanned(
                &guarded,
                format!("missing arms after the effect; {usage}"),
            ));
        }
        input.parse::<Token![,]>()?;
        if !input.peek(syn::token::Brace) {
            return Err(input.error(format!("expected `{{` with the recovery arms; {usage}")));
        }
        let content;
        let brace = braced!(content in input);
        let mut arms = Vec::new();
        while !content.is_empty() {
            let arm: Arm = content.parse().map_err(|e| {
                syn::Error::new(
                    e.span(),
                    format!("expected a match arm `Pattern => value` ({e}); {usage}"),
                )
            })?;
            arms.push(arm);
        }
        let _trailing: Option<Token![,]> = input.parse()?;
        if !input.is_empty() {
            return Err(input.error(format!("unexpected tokens after the arms; {usage}")));
        }
        Ok(Catch {
            guarded,
            arms,
            brace: brace.span.join(),
        })
    }
}

/// `catch!(B, { PAT => EXPR, .. })`: recovers the failures an arm matches.
pub(crate) fn catch(input: TokenStream, fx: &Facade) -> TokenStream {
    let Catch {
        guarded,
        arms,
        brace,
    } = match syn::parse2::<Catch>(input) {
        Ok(catch) => catch,
        Err(error) => return error.to_compile_error(),
    };
    if arms.is_empty() {
        return syn::Error::new(
            brace,
            "catch! without arms recovers nothing; add `Pattern => value` arms, or bind the effect directly",
        )
        .to_compile_error();
    }
    let guarded = branch(guarded, fx);
    let error = Ident::new("__effect_error", Span::mixed_site());
    let unmatched = Ident::new("__effect_unmatched", Span::mixed_site());
    let effect = Ident::new("__effect_guarded", Span::mixed_site());
    let like = body::ValueLike::new();
    let arms = arms.into_iter().map(|arm| {
        let Arm {
            attrs,
            pat,
            guard,
            body,
            ..
        } = arm;
        let guard = guard.map(|(if_token, cond)| quote!(#if_token #cond));
        let recovery = body::compile_expr(*body, &BodyTypes::like(like.clone(), fx));
        quote! { #(#attrs)* #pat #guard => ::core::result::Result::Ok(#recovery), }
    });
    let declare = like.declare(&effect, fx);
    let fx = fx.private(Span::call_site());
    // An arm's value is checked against the guarded effect's value type, so a wrong one is
    // reported at that value rather than at the whole `catch!`.
    quote! {
        match #guarded {
            #effect => {
                #declare
                #fx::catch_match(#effect, move |#error| match #error {
                    #(#arms)*
                    #[allow(unreachable_patterns)]
                    #unmatched => ::core::result::Result::Err(#unmatched),
                })
            }
        }
    }
}
