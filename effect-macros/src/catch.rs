//! `catch!(B, { PAT => EXPR, .. })`: recovers the typed failures an arm matches.
//!
//! Two forms, one meaning. Bound with `?` in a body (`catch!(..)?`, the common form), it is
//! compiled into that body ([`inline`]): the guarded effect's attempt is bound and its
//! failure matched right there, as an `async fn` matches the error of a call. Anywhere else,
//! and when an arm returns (`return` there gives the catch's value), it is an effect of its
//! own ([`catch`]): a body of its own doing the same. Either way an arm's binds bind in the
//! code around it, and a failure no arm matches goes on with its cause unchanged.

use proc_macro2::{Span, TokenStream};
use quote::{quote, ToTokens};
use syn::parse::{Parse, ParseStream};
use syn::visit_mut::VisitMut;
use syn::{braced, Arm, Expr, ExprMacro, ExprTry, Ident, Item, Macro, Token};

use crate::body::{self, hidden, macro_name, parenthesized, Binder, BodyTypes};
use crate::clauses::branch;
use crate::facade::Facade;

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
///
/// It is one body: it binds the guarded effect's attempt (a value, or its first typed
/// failure with the rest of its cause), and matches that failure with the user's arms, which
/// are code of this body like any other (an arm's `?` binds in it, its `return` gives the
/// catch's value). A failure no arm matches fails the body with the cause unchanged.
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
    let effect = Ident::new("__effect_guarded", Span::mixed_site());
    let caught = Ident::new("__effect_caught", Span::mixed_site());
    let value = Ident::new("__effect_value", Span::mixed_site());
    let error = Ident::new("__effect_error", Span::mixed_site());
    let rethrow = Ident::new("__effect_rethrow", Span::mixed_site());
    let unmatched = Ident::new("__effect_unmatched", Span::mixed_site());
    let private = fx.private(Span::call_site());
    let body = body::compile_with(&BodyTypes::new(fx), |binder| {
        // The attempt's failure (a defect, an interruption) and a failure no arm matches
        // leave with the guarded effect's cause as it is: the catch's error type is the
        // guarded effect's.
        let attempt = binder.bind_exact(quote!(#private::catch_attempt(#effect)));
        let arms = arms.into_iter().map(|mut arm| {
            if let Some((_, guard)) = &mut arm.guard {
                binder.visit_expr_mut(guard);
            }
            binder.visit_expr_mut(&mut arm.body);
            // Each arm ends with a comma (the last one may be written without one). Printed
            // as an arm, so syn puts a body that starts with a bind's `match` in parentheses.
            arm.comma = Some(Token![,](arm.fat_arrow_token.spans[0]));
            arm.into_token_stream()
        });
        let arms: Vec<TokenStream> = arms.collect();
        quote! {
            let #caught = match #attempt {
                ::core::result::Result::Ok(#value) => {
                    return ::core::result::Result::Ok(#value);
                }
                ::core::result::Result::Err(#caught) => #caught,
            };
            let (#error, #rethrow) = #caught.into_parts();
            // A statement, so the lint can be allowed: when every arm returns, `Ok(..)` is
            // never called.
            #[allow(unreachable_code)]
            return ::core::result::Result::Ok(match #error {
                #(#arms)*
                #[allow(unreachable_patterns)]
                #unmatched => {
                    return ::core::result::Result::Err(#rethrow.into_cause(#unmatched));
                }
            });
        }
    });
    quote! {
        match #guarded {
            #effect => #body,
        }
    }
}

/// `catch!(B, { arms })?` in a body, compiled into the body itself: the guarded effect's
/// attempt is bound, and its failure matched with the arms right there, as an `async fn`
/// matches the error of a call. No body or allocation of its own, and what it does is what
/// the `catch!` effect bound with `?` does: its value, an arm's (whose binds bind here),
/// or the failure, unmatched, leaving the body through the `?` (converted with `From` as
/// any bound failure). `None` leaves it to the `catch!` macro: malformed input (which
/// the macro reports), or an arm that returns (`return` there gives the catch's value,
/// not the body's).
pub(crate) fn inline(binder: &mut Binder<'_>, node: &ExprTry) -> Option<TokenStream> {
    let Expr::Macro(ExprMacro { mac, .. }) = &*node.expr else {
        return None;
    };
    if macro_name(mac) != "catch" {
        return None;
    }
    let catch: Catch = syn::parse2(mac.tokens.clone()).ok()?;
    let arm_returns = |arm: &Arm| {
        returns(&arm.body) || arm.guard.as_ref().is_some_and(|(_, guard)| returns(guard))
    };
    if catch.arms.is_empty() || catch.arms.iter().any(arm_returns) {
        return None;
    }
    let question = node.question_token;
    let fx = binder.types.fx.private(Span::call_site());
    let guarded = branch(catch.guarded, &binder.types.fx);
    let bind_of = |binder: &mut Binder<'_>, effect: TokenStream| {
        let node = ExprTry {
            attrs: Vec::new(),
            expr: Box::new(Expr::Verbatim(effect)),
            question_token: question,
        };
        binder.bind(&node)
    };
    let attempt = bind_of(binder, quote!(#fx::catch_attempt(#guarded)));
    let [value, caught, rethrow, unmatched] = [
        "__effect_value",
        "__effect_caught",
        "__effect_rethrow",
        "__effect_unmatched",
    ]
    .map(hidden);
    // The failure the arms match, reported at `catch!` when a pattern does not fit it. A
    // mixed-site span would be reported at the attribute, so it has the user's; its name
    // is one no user code writes.
    let error = Ident::new("__effect_error", mac_span(mac));
    let rethrown = bind_of(binder, quote!(#rethrow.fail(#unmatched)));
    // The catch's value leaves a labeled block: the guarded effect's value first, so each
    // arm's value is checked against its type, and a wrong one is reported at that value.
    let label = syn::Lifetime::new("'__effect_catch", Span::mixed_site());
    let arms: Vec<TokenStream> = catch
        .arms
        .into_iter()
        .map(|mut arm| {
            if let Some((_, guard)) = &mut arm.guard {
                binder.visit_expr_mut(guard);
            }
            binder.visit_expr_mut(&mut arm.body);
            let syn::Arm {
                attrs,
                pat,
                guard,
                fat_arrow_token,
                body,
                ..
            } = arm;
            let guard = guard.map(|(if_token, cond)| quote!(#if_token #cond));
            // An arm that diverges (`panic!(..)`) leaves no value to break with.
            quote! {
                #[allow(unreachable_code)]
                #(#attrs)* #pat #guard #fat_arrow_token break #label #body,
            }
        })
        .collect();
    Some(parenthesized(quote! {
        #label: {
            let #caught = match #attempt {
                ::core::result::Result::Ok(#value) => break #label #value,
                ::core::result::Result::Err(#caught) => #caught,
            };
            let (#error, #rethrow) = #caught.into_parts();
            match #error {
                #(#arms)*
                #[allow(unreachable_patterns)]
                #unmatched => #rethrown,
            }
        }
    }))
}

/// Where a macro call is written: its path's first token.
fn mac_span(mac: &Macro) -> Span {
    mac.path
        .segments
        .first()
        .map_or_else(Span::call_site, |segment| segment.ident.span())
}

/// Whether `expr` holds a `return` of its own (not one inside a closure, an async block or
/// an item).
fn returns(expr: &Expr) -> bool {
    struct Finder(bool);
    impl<'ast> syn::visit::Visit<'ast> for Finder {
        fn visit_expr(&mut self, expr: &'ast Expr) {
            match expr {
                Expr::Closure(_) | Expr::Async(_) | Expr::Const(_) => {}
                Expr::Return(_) => self.0 = true,
                _ => syn::visit::visit_expr(self, expr),
            }
        }

        fn visit_item(&mut self, _: &'ast Item) {}
    }
    let mut finder = Finder(false);
    syn::visit::Visit::visit_expr(&mut finder, expr);
    finder.0
}
