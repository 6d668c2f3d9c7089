//! The body compiler: turns a DSL body (valid Rust, with `?` meaning "bind") into an async
//! block the runtime interprets.
//!
//! - `expr?` binds: runs the effect (or takes the `Result`), gives its value, or returns its
//!   cause from the body, its failure converted to the body's error type with `From`.
//! - `return value` returns the body's success value.
//! - The tail expression is the body's value (`()` without one); a tail or last statement
//!   that never finishes (`panic!(..)`, `return x;`) is left as it is.
//! - Closures, `async` blocks, nested items and nested DSL macros keep their own meaning.
//!
//! The value and error types of a declared body are read through `EffectType` on the
//! declared return type, so aliases and macro-generated return types work, and conversions
//! go through a real `?` in generated code, so a missing `From` gets rustc's own message.

use proc_macro2::{Delimiter, Group, Span, TokenStream, TokenTree};
use quote::{quote, quote_spanned, ToTokens};
use syn::punctuated::Punctuated;
use syn::spanned::Spanned;
use syn::visit_mut::{self, VisitMut};
use syn::{Expr, ExprMacro, ExprReturn, ExprTry, Ident, Item, Macro, Stmt, StmtMacro, Token, Type};

use crate::diverge;
use crate::facade::Facade;
use crate::statement;

/// What the body compiler knows about the effect it builds.
#[derive(Clone)]
pub(crate) struct BodyTypes {
    /// The declared return type (`#[effect] fn .. -> Effect<A, E>`, or an alias of it).
    pub(crate) ret: Option<Type>,
    /// Where the runtime is, as the user's crate names it.
    pub(crate) fx: Facade,
}

impl BodyTypes {
    /// A body whose types are inferred (an `effect_block!`, a `par!` branch).
    pub(crate) fn new(fx: &Facade) -> Self {
        BodyTypes {
            ret: None,
            fx: fx.clone(),
        }
    }

    pub(crate) fn declared(ret: Type, fx: &Facade) -> Self {
        BodyTypes {
            ret: Some(ret),
            ..BodyTypes::new(fx)
        }
    }

    /// `<Ret as EffectType>::Value`, when declared. Every mention of `EffectType` is spanned
    /// at the return type, so a return type that is not an effect is reported once, there.
    fn value(&self) -> Option<TokenStream> {
        let ret = self.ret.as_ref()?;
        let fx = self.fx.private(ret.span());
        Some(quote_spanned!(ret.span()=> <#ret as #fx::EffectType>::Value))
    }

    /// `<Ret as EffectType>::Error`, when declared.
    fn error(&self) -> Option<TokenStream> {
        let ret = self.ret.as_ref()?;
        let fx = self.fx.private(ret.span());
        Some(quote_spanned!(ret.span()=> <#ret as #fx::EffectType>::Error))
    }
}

/// Macros whose bodies are compiled on their own when they expand.
const DSL_MACROS: &[&str] = &[
    "effect",
    "effect_block",
    "par",
    "race",
    "catch",
    "catch_all",
];

/// Macros whose input is `expr, pattern`: the expression binds.
const MATCHES_MACROS: &[&str] = &["matches", "assert_matches", "debug_assert_matches"];

/// Compiles `stmts` into an expression of the declared type (or `Effect<A, E>`).
pub(crate) fn compile(mut stmts: Vec<Stmt>, types: &BodyTypes) -> TokenStream {
    let tail = match stmts.pop() {
        Some(Stmt::Expr(expr, None)) => Some(expr),
        Some(other) => {
            stmts.push(other);
            None
        }
        None => None,
    };
    let last_diverges = tail.is_none() && stmts.last().is_some_and(diverge::stmt);
    compile_with(types, |binder| {
        for stmt in &mut stmts {
            binder.visit_stmt_mut(stmt);
        }
        let ending = match tail {
            Some(mut expr) => {
                let never = diverge::expr(&expr);
                binder.visit_expr_mut(&mut expr);
                if never {
                    // `panic!()`, `return x`, `loop {}`: its type `!` becomes the body's
                    // (wrapped in `Ok(..)` it would make rustc warn about an unreachable
                    // call).
                    expr.into_token_stream()
                } else {
                    success(&expr.to_token_stream(), expr.span(), types)
                }
            }
            None if last_diverges => TokenStream::new(),
            None => {
                // No tail: the value is `()`, and a mismatch points at the last statement.
                let span = stmts.last().map_or_else(Span::call_site, Spanned::span);
                success(&quote_spanned!(span=> ()), span, types)
            }
        };
        quote!(#(#stmts)* #ending)
    })
}

/// Compiles a body whose code `build` writes, with the binder rewriting the user's parts of
/// it: the code of an async block whose output is the body's `Exit`.
pub(crate) fn compile_with(
    types: &BodyTypes,
    build: impl FnOnce(&mut Binder<'_>) -> TokenStream,
) -> TokenStream {
    let mut binder = Binder {
        types,
        first_bind: None,
        checks_statements: false,
    };
    let code = build(&mut binder);
    let prelude = binder.first_bind.map(|_| body_prelude(types));
    let statement_prelude = binder.checks_statements.then(|| statement::prelude(types));
    // The async block, and the call requiring it to be `Send`, are spanned at the first
    // bind, where a value that is not `Send` (a `MutexGuard`, an `Rc`) held across binds is
    // reported, instead of at the attribute. Without binds they are spanned at the return
    // type, so a return type that is not an effect is reported once, there.
    let ret_span = types.ret.as_ref().map(Spanned::span);
    let span = binder
        .first_bind
        .or(ret_span)
        .unwrap_or_else(Span::call_site);
    let body = quote_spanned! {span=>
        async move {
            #prelude
            #statement_prelude
            #code
        }
    };
    let fx = types.fx.private(span);
    // The body's `poll` is named here, so the compiler reaches the body's code from this
    // expansion rather than through the runtime's generic frame (see `dsl::PollBody`).
    let poll = quote_spanned!(span=> ::core::future::Future::poll);
    match &types.ret {
        Some(ret) => {
            let effect = quote_spanned! {span=>
                <#fx::Effect<_, _> as #fx::EffectType>::from_body(#body, #poll)
            };
            let fx = types.fx.private(ret.span());
            quote_spanned!(ret.span()=> <#ret as #fx::EffectType>::from_effect(#effect))
        }
        None => {
            // Mixed-site, so that when nothing settles the block's error type, rustc asks
            // for an annotation on the user's code, not on this call.
            let effect = Ident::new("effect", Span::mixed_site().located_at(span));
            quote_spanned!(span=> #fx::block(#body, #poll).#effect())
        }
    }
}

/// `tokens` in parentheses: a `match` at the start of a statement or of a match arm's value
/// would end there (`a? + 1;`), and a bind goes wherever the user's `?` was.
pub(crate) fn parenthesized(tokens: TokenStream) -> TokenStream {
    let mut group = Group::new(Delimiter::Parenthesis, tokens);
    group.set_span(Span::mixed_site());
    group.into_token_stream()
}

/// What the binds of a body share, written once at its start: the names they use, the traits
/// that settle a bound failure's error type, and (in a declared body) that error type, as a
/// marker value.
fn body_prelude(types: &BodyTypes) -> TokenStream {
    let fx = types.fx.private(Span::mixed_site());
    let [bindable, ready, run] =
        ["__effect_Bindable", "__effect_Ready", "__effect_Run"].map(hidden);
    let shared = quote! {
        #[allow(unused_imports)]
        use #fx::{Bindable as #bindable, Bound::{Ready as #ready, Run as #run}};
    };
    match types.error() {
        Some(error) => {
            let [widen_to, error_type] = ["__effect_WidenTo", "__effect_error_type"].map(hidden);
            quote! {
                #shared
                #[allow(unused_imports)]
                use #fx::{WidenOther as _, WidenSame as _, WidenTo as #widen_to};
                let #error_type = ::core::marker::PhantomData::<fn() -> #error>;
            }
        }
        None => {
            let [widen, ok, err] = ["__effect_Widen", "__effect_Ok", "__effect_Err"].map(hidden);
            quote! {
                #shared
                #[allow(unused_imports)]
                use #fx::{WidenAny as _, Widen as #widen};
                #[allow(unused_imports)]
                use ::core::result::Result::{Ok as #ok, Err as #err};
            }
        }
    }
}

/// `Ok(value)`, checked against the declared value type when there is one.
fn success(value: &TokenStream, span: Span, types: &BodyTypes) -> TokenStream {
    match types.value() {
        Some(declared) => {
            let fx = types.fx.private(span);
            quote_spanned! {span=>
                ::core::result::Result::Ok(#fx::BodyValue::<#declared>::body_value(#value))
            }
        }
        None => quote_spanned! {span=> ::core::result::Result::Ok(#value) },
    }
}

pub(crate) fn macro_name(mac: &Macro) -> String {
    mac.path
        .segments
        .last()
        .map(|s| s.ident.to_string())
        .unwrap_or_default()
}

pub(crate) fn is_dsl_macro(mac: &Macro) -> bool {
    DSL_MACROS.contains(&macro_name(mac).as_str())
}

/// Rewrites a body's binds (`?`) and `return`s.
pub(crate) struct Binder<'a> {
    pub(crate) types: &'a BodyTypes,
    /// The `?` of the first bind, if any.
    first_bind: Option<Span>,
    /// Whether a statement was checked for a dropped effect (see `statement.rs`).
    checks_statements: bool,
}

/// A name of the code the macros write: mixed-site, so no user name can shadow it, and
/// prefixed, so it collides with none either.
pub(crate) fn hidden(name: &str) -> Ident {
    Ident::new(name, Span::mixed_site())
}

/// A name the prelude of a body imports ([`body_prelude`]), written with the user's `span`:
/// rustc reports an expression at the user's tokens only when the first and last of its
/// tokens are the user's (a mixed-site one sends the report to the macro call). An imported
/// name is an item, and items are found from the user's spans as from the macro's.
pub(crate) fn imported_at(name: &str, span: Span) -> Ident {
    Ident::new(name, span)
}

/// The span of the last token of `tokens` (a group's, delimiters included), so generated
/// code can span from the user's first token to their last.
pub(crate) fn last_span(tokens: &impl ToTokens) -> Span {
    tokens
        .to_token_stream()
        .into_iter()
        .last()
        .map_or_else(Span::call_site, |token| token.span())
}

impl Binder<'_> {
    /// A bind: the value of `expr?`, or the body leaves with its failure. The names it uses
    /// are brought in once per body ([`body_prelude`]), so each bind is a few dozen tokens.
    ///
    /// The bound effect's exit is at hand at once for a ready value, else awaited. In a
    /// declared body the bind is then one expression, `WidenTo::new(exit, marker).widen_to()?`:
    /// the `?` is the user's own, a real one, which gives the value or leaves the body with
    /// the failure, so a missing `From` is reported at it (and the expression's type at the
    /// bound expression) as for a plain `?`. In an inferred body (whose error type comes from
    /// its binds) a failure returns the cause, widened when it is `Never`.
    pub(crate) fn bind(&mut self, node: &ExprTry) -> TokenStream {
        let expr = &node.expr;
        let question = node.question_token.span;
        self.first_bind.get_or_insert(question);
        // The trait's path spans the bound expression, from its first token to its last:
        // a value that is not `Bindable` is reported at the path (for the associated types
        // of the result) and at the argument, and both reports, at one place, are one.
        let bindable = imported_at("__effect_Bindable", expr.span());
        let method = Ident::new("into_bind", last_span(expr));
        let into_bind = quote_spanned! {expr.span()=> #bindable::#method(#expr) };
        let [ready, run, exit, bind, value, cause] = [
            "__effect_Ready",
            "__effect_Run",
            "__effect_exit",
            "__effect_bind",
            "__effect_value",
            "__effect_cause",
        ]
        .map(hidden);
        let bound = quote! {
            match #into_bind {
                #ready(#exit) => #exit,
                #run(#bind) => #bind.await,
            }
        };
        if self.types.error().is_some() {
            let [widen_to, method] =
                ["__effect_WidenTo", "widen_to"].map(|name| imported_at(name, expr.span()));
            let error_type = hidden("__effect_error_type");
            let widened = quote_spanned! {expr.span()=>
                #widen_to::new(#bound, #error_type).#method()
            };
            return quote_spanned! {question=> #widened? };
        }
        // The block's error type is inferred: see `Widen`. The widened cause is a block's
        // value, so a mismatch is reported at it alone (at the `?`), not as an argument of
        // `Err`.
        let [ok, err, widen] = ["__effect_Ok", "__effect_Err", "__effect_Widen"]
            .map(|name| imported_at(name, question));
        // Mixed-site, so that when nothing settles the block's error type, rustc asks for an
        // annotation on the user's code (`let e: Effect<_, _> = ..`), not for a turbofish
        // on this call, which would read as one after the user's `?`.
        let method = Ident::new("widen", Span::mixed_site().located_at(question));
        parenthesized(quote_spanned! {question=>
            match #bound {
                #ok(#value) => #value,
                #err(#cause) => return #err({ #widen(#cause).#method() }),
            }
        })
    }

    /// A bind of `effect` (code making an `Effect`) that fails the body with the effect's
    /// cause as it is, without widening or converting it: the body's error type is the
    /// effect's. For code the macros write around the user's (`catch!`'s attempt); it names
    /// everything in full, needing no prelude.
    pub(crate) fn bind_exact(&mut self, effect: TokenStream) -> TokenStream {
        self.bind_generated(effect, false)
    }

    /// A bind of `effect`, code making an `Effect<_, Never>` (`catch_all!`'s attempt), whose
    /// cause (defects, interruptions) fails the body widened to the body's error type, which
    /// is left to the rest of the body and the code around it.
    pub(crate) fn bind_widened(&mut self, effect: TokenStream) -> TokenStream {
        self.bind_generated(effect, true)
    }

    fn bind_generated(&mut self, effect: TokenStream, widen: bool) -> TokenStream {
        let fx = self.types.fx.private(Span::call_site());
        let [exit, bind, value, cause] = [
            "__effect_exit",
            "__effect_bind",
            "__effect_value",
            "__effect_cause",
        ]
        .map(hidden);
        let failure = match widen {
            true => quote!(#cause.widen()),
            false => quote!(#cause),
        };
        parenthesized(quote! {
            match match #fx::Bindable::into_bind(#effect) {
                #fx::Bound::Ready(#exit) => #exit,
                #fx::Bound::Run(#bind) => #bind.await,
            } {
                ::core::result::Result::Ok(#value) => #value,
                ::core::result::Result::Err(#cause) => return ::core::result::Result::Err(#failure),
            }
        })
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

    /// `x.await?`: plain futures are awaited; an effect is refused with a message saying to
    /// bind it with `?` (its `.await` would give the `Exit`, and `?` would nest its cause).
    fn checked_await(&self, node: &mut ExprTry) {
        let Expr::Await(awaited) = &mut *node.expr else {
            return;
        };
        let base = &awaited.base;
        let span = base.span();
        let fx = self.types.fx.private(span);
        let checked = quote_spanned! {span=>
            #fx::AwaitInBody::into_awaited({
                #[allow(unused_imports)]
                use #fx::AwaitedAny as _;
                #fx::AwaitProbe(#base).awaited()
            })
        };
        *awaited.base = Expr::Verbatim(checked);
    }

    /// Binds inside the arguments of an ordinary macro: comma-separated expressions
    /// (`println!("{}", load()?)`, `vec![a?, b?]`), `vec![x?; n]` and `matches!(x?, pat)`.
    /// A `?` the body cannot see as a bind (another macro's own syntax) is reported, not
    /// silently given its plain Rust meaning.
    fn visit_macro_args(&mut self, mac: &mut Macro) {
        if is_dsl_macro(mac) {
            return;
        }
        let name = macro_name(mac);
        let rewritten = if MATCHES_MACROS.contains(&name.as_str()) {
            self.leading_expr(mac.tokens.clone(), Separator::Comma)
        } else if let Some(tokens) = self.expr_list(mac.tokens.clone()) {
            Some(tokens)
        } else if name == "vec" {
            self.leading_expr(mac.tokens.clone(), Separator::Semi)
        } else {
            None
        };
        match rewritten {
            Some(tokens) => mac.tokens = tokens,
            None => {
                if let Some(question) = find_question(mac.tokens.clone()) {
                    let message = format!(
                        "`?` here is not a bind: the input of `{name}!` is not a list of expressions, so the effect body cannot see inside it\n\
                         help: bind first and use the value: `let value = effect?;` before `{name}!(..)`"
                    );
                    let message = syn::LitStr::new(&message, question);
                    mac.tokens = quote!(#message);
                    mac.path = syn::parse_quote_spanned!(question=> ::core::compile_error);
                    mac.bang_token = Token![!](question);
                    mac.delimiter = syn::MacroDelimiter::Paren(syn::token::Paren(question));
                }
            }
        }
    }

    fn expr_list(&mut self, tokens: TokenStream) -> Option<TokenStream> {
        let parser = Punctuated::<Expr, Token![,]>::parse_terminated;
        let mut args = syn::parse::Parser::parse2(parser, tokens).ok()?;
        for arg in args.iter_mut() {
            self.visit_expr_mut(arg);
        }
        Some(args.to_token_stream())
    }

    /// `EXPR <sep> REST`: binds in `EXPR`, keeps `REST` as written.
    fn leading_expr(&mut self, tokens: TokenStream, separator: Separator) -> Option<TokenStream> {
        let parser = |input: syn::parse::ParseStream<'_>| {
            let expr: Expr = input.parse()?;
            let separator_ok = match separator {
                Separator::Comma => input.peek(Token![,]),
                Separator::Semi => input.peek(Token![;]),
            };
            let rest: TokenStream = input.parse()?;
            Ok((expr, separator_ok, rest))
        };
        let (mut expr, separator_ok, rest) = syn::parse::Parser::parse2(parser, tokens).ok()?;
        if !separator_ok {
            return None;
        }
        self.visit_expr_mut(&mut expr);
        Some(quote!(#expr #rest))
    }
}

/// What follows the leading expression of a macro's input.
#[derive(Clone, Copy)]
enum Separator {
    Comma,
    Semi,
}

/// The span of a `?` that reads as a question-mark operator (after an expression-like
/// token) anywhere in `tokens`.
fn find_question(tokens: TokenStream) -> Option<Span> {
    let mut previous_is_operand = false;
    for token in tokens {
        match &token {
            TokenTree::Punct(punct) if punct.as_char() == '?' && previous_is_operand => {
                return Some(punct.span());
            }
            TokenTree::Group(group) => {
                if let Some(span) = find_question(group.stream()) {
                    return Some(span);
                }
            }
            _ => {}
        }
        previous_is_operand = match &token {
            TokenTree::Ident(_) | TokenTree::Literal(_) => true,
            TokenTree::Group(group) => group.delimiter() != proc_macro2::Delimiter::Brace,
            TokenTree::Punct(_) => false,
        };
    }
    None
}

impl VisitMut for Binder<'_> {
    fn visit_expr_mut(&mut self, expr: &mut Expr) {
        match expr {
            // `?` and `return` inside these keep their plain Rust meaning.
            Expr::Closure(_) | Expr::Async(_) | Expr::Const(_) => {}
            Expr::Try(node) => {
                if let Some(inline) = crate::catch::inline(self, node) {
                    *expr = Expr::Verbatim(inline);
                    return;
                }
                self.visit_expr_mut(&mut node.expr);
                self.checked_await(node);
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

    fn visit_stmt_mut(&mut self, stmt: &mut Stmt) {
        let Some(mut expr) = statement::take_checked(stmt) else {
            return visit_mut::visit_stmt_mut(self, stmt);
        };
        let (first, last) = (expr.span(), last_span(&expr));
        self.visit_expr_mut(&mut expr);
        self.checks_statements = true;
        let checked = statement::checked(&expr, first, last);
        *stmt = Stmt::Expr(Expr::Verbatim(checked), None);
    }

    fn visit_stmt_macro_mut(&mut self, node: &mut StmtMacro) {
        self.visit_macro_args(&mut node.mac);
    }

    fn visit_item_mut(&mut self, _: &mut Item) {
        // Nested functions and other items are ordinary Rust.
    }
}
