//! The body compiler: turns a DSL body (valid Rust, with `?` meaning "bind") into an async
//! block the runtime interprets.
//!
//! - `expr?` binds: runs the effect (or takes the `Result`), gives its value, or returns its
//!   cause from the body, converted to the body's error type.
//! - `return value` returns the body's success value.
//! - The tail expression is the body's value (`()` without one).
//! - Closures, `async` blocks, nested items and nested DSL macros keep their own meaning.

use proc_macro2::{Span, TokenStream};
use quote::{quote, quote_spanned, ToTokens};
use syn::punctuated::Punctuated;
use syn::spanned::Spanned;
use syn::visit_mut::{self, VisitMut};
use syn::{Expr, ExprMacro, ExprReturn, ExprTry, Ident, Item, Macro, Stmt, StmtMacro, Token, Type};

/// What the body compiler knows about the effect it builds.
#[derive(Default, Clone)]
pub(crate) struct BodyTypes {
    /// The success type, when declared (`#[effect] fn .. -> Effect<A, E>`).
    pub(crate) value: Option<Type>,
    /// The error type, when declared; binds convert their error into it with `From`.
    pub(crate) error: Option<Type>,
}

/// Macros whose bodies are compiled on their own when they expand.
const DSL_MACROS: &[&str] = &["effect", "effect_block", "par", "race", "catch"];

/// Compiles `stmts` into an expression of type `Effect<A, E>`.
pub(crate) fn compile(mut stmts: Vec<Stmt>, types: &BodyTypes) -> TokenStream {
    let tail = match stmts.last() {
        Some(Stmt::Expr(_, None)) => match stmts.pop() {
            Some(Stmt::Expr(expr, None)) => Some(expr),
            _ => None,
        },
        _ => None,
    };
    let mut binder = Binder { types };
    for stmt in &mut stmts {
        binder.visit_stmt_mut(stmt);
    }
    let value = match tail {
        Some(mut expr) if diverges(&expr) => {
            // `panic!()`, `loop {}`, ...: its type `!` coerces to the value type, but a trait
            // check would see `()`, so it is passed as it is.
            binder.visit_expr_mut(&mut expr);
            let value = &types.value;
            let value = value
                .as_ref()
                .map(|ty| quote!(#ty))
                .unwrap_or_else(|| quote!(_));
            quote!(::core::result::Result::Ok::<#value, _>(#expr))
        }
        Some(mut expr) => {
            binder.visit_expr_mut(&mut expr);
            success(&expr.to_token_stream(), expr.span(), types)
        }
        None => success(&quote!(()), Span::call_site(), types),
    };
    quote! {
        ::effect::__private::body(async move {
            #(#stmts)*
            #value
        })
    }
}

/// Compiles a single expression as a body (a `catch!` arm, a `par!` branch block).
pub(crate) fn compile_expr(expr: Expr, types: &BodyTypes) -> TokenStream {
    match expr {
        Expr::Block(block) if block.attrs.is_empty() && block.label.is_none() => {
            compile(block.block.stmts, types)
        }
        other => compile(vec![Stmt::Expr(other, None)], types),
    }
}

/// Whether a tail expression obviously never produces a value.
fn diverges(expr: &Expr) -> bool {
    const DIVERGING_MACROS: &[&str] = &["panic", "unreachable", "todo", "unimplemented"];
    match expr {
        Expr::Macro(node) => node
            .mac
            .path
            .segments
            .last()
            .is_some_and(|s| DIVERGING_MACROS.contains(&s.ident.to_string().as_str())),
        Expr::Loop(_) | Expr::Return(_) | Expr::Break(_) | Expr::Continue(_) => true,
        _ => false,
    }
}

/// `Ok(value)`, checked against the declared value type when there is one.
fn success(value: &TokenStream, span: Span, types: &BodyTypes) -> TokenStream {
    match &types.value {
        Some(declared) => quote_spanned! {span=>
            ::core::result::Result::Ok(<_ as ::effect::__private::TailValue<#declared>>::tail_value(#value))
        },
        None => quote_spanned! {span=> ::core::result::Result::Ok(#value) },
    }
}

struct Binder<'a> {
    types: &'a BodyTypes,
}

impl Binder<'_> {
    fn bind(&self, node: &ExprTry) -> TokenStream {
        let expr = &node.expr;
        let question = node.question_token.span;
        let exit = Ident::new("__effect_exit", Span::mixed_site());
        let bind = Ident::new("__effect_bind", Span::mixed_site());
        let value = Ident::new("__effect_value", Span::mixed_site());
        let cause = Ident::new("__effect_cause", Span::mixed_site());
        let target = match &self.types.error {
            Some(error) => quote!(#error),
            None => quote!(_),
        };
        let into_bind = quote_spanned! {expr.span()=> ::effect::__private::into_bind(#expr) };
        let lift = quote_spanned! {question=>
            {
                #[allow(unused_imports)]
                use ::effect::__private::{LiftFrom as _, LiftSame as _};
                (&mut ::effect::__private::Lift::<_, #target>::new(#cause)).lift()
            }
        };
        quote! {
            match match #into_bind {
                ::effect::__private::Bound::Ready(#exit) => #exit,
                ::effect::__private::Bound::Run(#bind) => #bind.await,
            } {
                ::core::result::Result::Ok(#value) => #value,
                ::core::result::Result::Err(#cause) => return ::core::result::Result::Err(#lift),
            }
        }
    }

    fn early_return(&self, node: &ExprReturn) -> TokenStream {
        let span = node.return_token.span;
        let value = match &node.expr {
            Some(expr) => expr.to_token_stream(),
            None => quote!(()),
        };
        let ok = success(&value, span, self.types);
        quote_spanned! {span=> return #ok }
    }

    /// Binds inside the arguments of an ordinary macro (`println!("{}", load()?)`,
    /// `vec![a?, b?]`), when its arguments are comma-separated expressions.
    fn visit_macro_args(&mut self, mac: &mut Macro) {
        let name = mac
            .path
            .segments
            .last()
            .map(|s| s.ident.to_string())
            .unwrap_or_default();
        if DSL_MACROS.contains(&name.as_str()) {
            return;
        }
        let parser = Punctuated::<Expr, Token![,]>::parse_terminated;
        let Ok(mut args) = syn::parse::Parser::parse2(parser, mac.tokens.clone()) else {
            return;
        };
        let before = args.to_token_stream().to_string();
        for arg in args.iter_mut() {
            self.visit_expr_mut(arg);
        }
        if args.to_token_stream().to_string() != before {
            mac.tokens = args.to_token_stream();
        }
    }
}

impl VisitMut for Binder<'_> {
    fn visit_expr_mut(&mut self, expr: &mut Expr) {
        match expr {
            // `?` and `return` inside these keep their plain Rust meaning.
            Expr::Closure(_) | Expr::Async(_) | Expr::Const(_) => {}
            Expr::Try(node) => {
                self.visit_expr_mut(&mut node.expr);
                *expr = Expr::Verbatim(self.bind(node));
            }
            Expr::Return(node) => {
                if let Some(inner) = &mut node.expr {
                    self.visit_expr_mut(inner);
                }
                *expr = Expr::Verbatim(self.early_return(node));
            }
            Expr::Macro(ExprMacro { mac, .. }) => self.visit_macro_args(mac),
            _ => visit_mut::visit_expr_mut(self, expr),
        }
    }

    fn visit_stmt_macro_mut(&mut self, node: &mut StmtMacro) {
        self.visit_macro_args(&mut node.mac);
    }

    fn visit_item_mut(&mut self, _: &mut Item) {
        // Nested functions and other items are ordinary Rust.
    }
}
