//! `catch!(B, { PAT => EXPR, .. })`: recovers the typed failures an arm matches; and
//! `catch_all!(B, { PAT => EXPR, .. })`, whose arms must match every failure (the compiler
//! checks it, as for any `match`), so none is left to propagate and the result's error type
//! is free: `Never`, or whatever the arms' binds fail with.
//!
//! Two forms, one meaning. Bound with `?` in a body (`catch!(..)?`, the common form), it is
//! compiled into that body ([`inline`]): the guarded effect's attempt is bound and its
//! failure matched right there, as an `async fn` matches the error of a call. Anywhere else,
//! and when an arm returns (`return` there gives the catch's value), it is an effect of its
//! own ([`catch`]): a body of its own doing the same. Either way an arm's binds bind in the
//! code around it, and a failure no arm matches goes on with its cause unchanged.

use proc_macro2::{Span, TokenStream};
use quote::{quote, ToTokens};
use syn::parse::{ParseStream, Parser};
use syn::visit_mut::VisitMut;
use syn::{braced, Arm, Expr, ExprMacro, ExprTry, Ident, Item, Macro, Token};

use crate::body::{self, hidden, macro_name, parenthesized, Binder, BodyTypes};
use crate::clauses::branch;
use crate::facade::Facade;

/// Which of the two macros: what a failure no arm matches does.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Form {
    /// `catch!`: it propagates, its cause unchanged.
    Partial,
    /// `catch_all!`: there is none; the arms match every failure.
    Total,
}

impl Form {
    fn name(self) -> &'static str {
        match self {
            Form::Partial => "catch",
            Form::Total => "catch_all",
        }
    }

    fn of(mac: &Macro) -> Option<Form> {
        match macro_name(mac).as_str() {
            "catch" => Some(Form::Partial),
            "catch_all" => Some(Form::Total),
            _ => None,
        }
    }
}

/// The parsed input of `catch!(B, { PAT => EXPR, .. })` (or `catch_all!`).
struct Catch {
    guarded: Expr,
    arms: Vec<Arm>,
    brace: Span,
}

impl Catch {
    fn parse(input: ParseStream<'_>, form: Form) -> syn::Result<Self> {
        let name = form.name();
        let usage = format!(
            "{name}! takes an effect and braced arms: `{name}!(effect, {{ Pattern => value, .. }})`"
        );
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

/// `catch!(B, { PAT => EXPR, .. })`: recovers the failures an arm matches (`catch_all!`:
/// every failure, matched by arms that cover them all).
///
/// It is one body: it binds the guarded effect's attempt (a value, or its first typed
/// failure with the rest of its cause), and matches that failure with the user's arms, which
/// are code of this body like any other (an arm's `?` binds in it, its `return` gives the
/// catch's value). A failure no arm matches fails the body with the cause unchanged; with
/// `catch_all!` there is none, and the arms' match is left without a fallback for the
/// compiler to check.
pub(crate) fn catch(input: TokenStream, fx: &Facade, form: Form) -> TokenStream {
    let Catch {
        guarded,
        arms,
        brace,
    } = match Parser::parse2(|input: ParseStream<'_>| Catch::parse(input, form), input) {
        Ok(catch) => catch,
        Err(error) => return error.to_compile_error(),
    };
    if arms.is_empty() {
        return syn::Error::new(
            brace,
            format!(
                "{}! without arms recovers nothing; add `Pattern => value` arms, or bind the effect directly",
                form.name()
            ),
        )
        .to_compile_error();
    }
    let guarded = branch(guarded, fx);
    let [effect, caught, value, rethrow, unmatched] = [
        "__effect_guarded",
        "__effect_caught",
        "__effect_value",
        "__effect_rethrow",
        "__effect_unmatched",
    ]
    .map(hidden);
    let private = fx.private(Span::call_site());
    let body = body::compile_with(&BodyTypes::new(fx), |binder| {
        // How the failure the arms match is had, and what follows the arms.
        let (attempt, error, split, fallback) = match form {
            // The attempt's failure (a defect, an interruption) and a failure no arm
            // matches leave with the guarded effect's cause as it is: the catch's error
            // type is the guarded effect's.
            Form::Partial => {
                let attempt = binder.bind_exact(quote!(#private::catch_attempt(#effect)));
                let error = hidden("__effect_error");
                let split = quote!(let (#error, #rethrow) = #caught.into_parts(););
                let fallback = quote! {
                    #[allow(unreachable_patterns)]
                    #unmatched => {
                        return ::core::result::Result::Err(#rethrow.into_cause(#unmatched));
                    }
                };
                (attempt, error, split, fallback)
            }
            // The attempt fails only with a cause holding no typed failure, widened to the
            // body's error type, which is left to the arms' binds and the code around. No
            // arm follows the user's: the match is spanned at them, so a failure they do not
            // cover is reported there ("non-exhaustive patterns: `Down` not covered").
            Form::Total => {
                let attempt = binder.bind_widened(quote!(#private::catch_all_attempt(#effect)));
                let error = Ident::new("__effect_error", brace);
                let split = quote!(let #error = #caught;);
                (attempt, error, split, TokenStream::new())
            }
        };
        let arms = body_arms(binder, arms);
        quote! {
            let #caught = match #attempt {
                ::core::result::Result::Ok(#value) => {
                    return ::core::result::Result::Ok(#value);
                }
                ::core::result::Result::Err(#caught) => #caught,
            };
            #split
            // A statement, so the lint can be allowed: when every arm returns, `Ok(..)` is
            // never called.
            #[allow(unreachable_code)]
            return ::core::result::Result::Ok(match #error {
                #(#arms)*
                #fallback
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
    let form = Form::of(mac)?;
    let parser = |input: ParseStream<'_>| Catch::parse(input, form);
    let catch: Catch = Parser::parse2(parser, mac.tokens.clone()).ok()?;
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
    if form == Form::Total {
        let attempt = bind_of(binder, quote!(#fx::catch_all_attempt(#guarded)));
        return Some(inline_total(binder, attempt, catch.arms, catch.brace));
    }
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
    let label = catch_label();
    let arms = break_arms(binder, catch.arms, &label);
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

/// `catch_all!(B, { arms })?` in a body: as `catch!(..)?`, without the arm for an unmatched
/// failure; `attempt` is the bind of the guarded effect's attempt, which fails only with a
/// cause holding no typed failure. The user's arms are the arms of a plain `match` (no
/// attribute or `break` of ours in them), spanned at the user's arms, so a failure they do
/// not cover is reported there, with rustc's suggestion placed after the last of them.
fn inline_total(
    binder: &mut Binder<'_>,
    attempt: TokenStream,
    arms: Vec<Arm>,
    brace: Span,
) -> TokenStream {
    let value = hidden("__effect_value");
    let error = Ident::new("__effect_error", brace);
    let arms = body_arms(binder, arms);
    parenthesized(quote! {
        match #attempt {
            ::core::result::Result::Ok(#value) => #value,
            ::core::result::Result::Err(#error) => match #error {
                #(#arms)*
            },
        }
    })
}

/// The user's arms, compiled as code of the body (an arm's `?` binds in it), each ending
/// with a comma.
fn body_arms(binder: &mut Binder<'_>, arms: Vec<Arm>) -> Vec<TokenStream> {
    arms.into_iter()
        .map(|mut arm| {
            if let Some((_, guard)) = &mut arm.guard {
                binder.visit_expr_mut(guard);
            }
            binder.visit_expr_mut(&mut arm.body);
            // The last arm may be written without a comma. Printed as an arm, so syn puts
            // a body that starts with a bind's `match` in parentheses.
            arm.comma = Some(Token![,](arm.fat_arrow_token.spans[0]));
            arm.into_token_stream()
        })
        .collect()
}

/// The label of the block an inline catch's value leaves.
fn catch_label() -> syn::Lifetime {
    syn::Lifetime::new("'__effect_catch", Span::mixed_site())
}

/// The user's arms, compiled as code of the body, each leaving the catch's block with its
/// value: the guarded effect's value leaves it first, so each arm's value is checked against
/// its type, and a wrong one is reported at that value.
fn break_arms(binder: &mut Binder<'_>, arms: Vec<Arm>, label: &syn::Lifetime) -> Vec<TokenStream> {
    arms.into_iter()
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
        .collect()
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
