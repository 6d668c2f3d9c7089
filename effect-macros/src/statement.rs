//! `expr;` in a body: an expression statement that may be an effect is checked for one, as
//! an effect dropped there is never run. The check is written around the statement by the
//! body compiler (see `Binder::visit_stmt_mut`); what it is, and why it keeps every other
//! statement as it was, is told at the runtime's `dsl::StatementValue`.

use proc_macro2::{Delimiter, Group, Span, TokenStream};
use quote::{quote, quote_spanned};
use syn::{Expr, ExprMacro, Ident, Stmt};

use crate::body::{hidden, imported_at, is_dsl_macro, BodyTypes};
use crate::diverge;

/// The names the checked statements of a body share, written once at its start.
pub(crate) fn prelude(types: &BodyTypes) -> TokenStream {
    let fx = types.fx.private(Span::mixed_site());
    let statement_value = hidden("__effect_StatementValue");
    quote! {
        #[allow(unused_imports)]
        use #fx::{
            EffectStatement as _, OtherStatement as _, StatementValue as #statement_value,
        };
    }
}

/// The expression of `stmt`, taken out of it, when the statement is to be checked: an
/// expression statement `expr;` that may drop an effect, or a DSL clause as a statement
/// (`par!(a, b);`). `None`, with `stmt` untouched, for any other.
pub(crate) fn take_checked(stmt: &mut Stmt) -> Option<Expr> {
    match stmt {
        Stmt::Expr(expr, Some(_)) if may_drop_an_effect(expr) => {
            Some(std::mem::replace(expr, Expr::Verbatim(TokenStream::new())))
        }
        Stmt::Macro(node)
            if node.attrs.is_empty() && node.semi_token.is_some() && is_dsl_macro(&node.mac) =>
        {
            Some(Expr::Macro(ExprMacro {
                attrs: Vec::new(),
                mac: node.mac.clone(),
            }))
        }
        _ => None,
    }
}

/// Whether `expr`, the whole of an expression statement `expr;`, may be an effect the
/// statement drops unrun: a call, a method call, a path or a DSL clause. Control flow,
/// assignments, operators, other macros (`println!`) and what never finishes are left as
/// they are: they are not effects, or (an `if` whose branches are effects) too rare to pay
/// for a check.
fn may_drop_an_effect(expr: &Expr) -> bool {
    match expr {
        // An attribute (`#[cfg(..)]`) stays on the statement as written.
        Expr::Call(syn::ExprCall { attrs, .. })
        | Expr::MethodCall(syn::ExprMethodCall { attrs, .. })
        | Expr::Path(syn::ExprPath { attrs, .. })
        | Expr::Macro(ExprMacro { attrs, .. })
            if !attrs.is_empty() =>
        {
            false
        }
        Expr::Call(_) | Expr::MethodCall(_) | Expr::Path(_) => !diverge::expr(expr),
        Expr::Macro(node) => is_dsl_macro(&node.mac),
        _ => false,
    }
}

/// `expr;` (its binds already compiled), checked for an effect it would drop unrun, which
/// is reported at `expr` (see the runtime's `dsl::StatementValue`). A value of any other
/// type is the statement's value as before: its temporaries and it are dropped as before,
/// and a `#[must_use]` type is still reported unused, at `expr` (a `#[must_use]` on a
/// called fn, not on its type, is not: the call is the check's). The path and the call
/// span from the user's first token (`first`) to their last (`last`), so a report is at
/// the whole of `expr`, once.
pub(crate) fn checked(expr: &Expr, first: Span, last: Span) -> TokenStream {
    let trait_path = imported_at("__effect_StatementValue", first);
    let discard = Ident::new("discard", last);
    let value = hidden("__effect_value");
    let kind = Ident::new("__effect_kind", Span::mixed_site());
    let arm = quote!(#value => ((&#value).#kind(), #value));
    let mut arms = Group::new(Delimiter::Brace, arm);
    arms.set_span(last);
    let mut args = Group::new(
        Delimiter::Parenthesis,
        quote_spanned!(first=> match #expr #arms),
    );
    args.set_span(last);
    quote! {
        #[allow(unreachable_code)]
        #trait_path::#discard #args;
    }
}
