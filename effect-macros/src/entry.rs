//! What `#[effect::test]` and `#[effect::main]` share: their runtime arguments
//! (`flavor = "multi_thread", worker_threads = 2`, as `#[tokio::test]` takes them), and the
//! `Effect<(), E>` they run, whose failures they render with `E`'s `Debug`.

use proc_macro2::{Literal, Span, TokenStream};
use quote::{quote, quote_spanned};
use syn::parse::Parser;
use syn::punctuated::Punctuated;
use syn::spanned::Spanned;
use syn::{Expr, ExprLit, ItemFn, Lit, Meta, MetaNameValue, ReturnType, Signature, Token, Type};

use crate::body::BodyTypes;
use crate::errors::Errors;
use crate::facade::Facade;
use crate::function::check_signature;
use crate::function::effect_args;

/// The tokio runtime an entry point asks for.
#[derive(Clone, Copy)]
pub(crate) enum Flavor {
    CurrentThread,
    MultiThread { worker_threads: Option<usize> },
}

/// An entry-point attribute: its name as the user writes it, the function it applies to, and
/// the runtime it runs on without arguments.
#[derive(Clone, Copy)]
pub(crate) struct Attribute {
    /// `#[effect::test]` or `#[effect::main]`.
    pub(crate) name: &'static str,
    /// The function it applies to, as the user would write it.
    pub(crate) shape: &'static str,
    pub(crate) default_flavor: Flavor,
}

/// The function an entry-point attribute is on; `None`, with the error, on any other item.
pub(crate) fn parse_function(
    item: &TokenStream,
    attribute: Attribute,
    errors: &mut Errors,
) -> Option<ItemFn> {
    match syn::parse2(item.clone()) {
        Ok(function) => Some(function),
        Err(_) => {
            let first_tokens: TokenStream = item.clone().into_iter().take(2).collect();
            errors.push(syn::Error::new_spanned(
                first_tokens,
                format!(
                    "{} applies to a function: `{}`",
                    attribute.name, attribute.shape
                ),
            ));
            None
        }
    }
}

/// What to write, for every message about the arguments.
const ARGUMENTS_HELP: &str = "help: the arguments are `flavor = \"current_thread\"` or \
     `flavor = \"multi_thread\"`, and `worker_threads = N` (with \"multi_thread\")";

/// Parses `flavor = "..", worker_threads = N`; every mistake goes into `errors` (and the
/// attribute's default stands in for what was wrong).
pub(crate) fn parse_flavor(args: TokenStream, attribute: Attribute, errors: &mut Errors) -> Flavor {
    let parser = Punctuated::<Meta, Token![,]>::parse_terminated;
    let metas = match parser.parse2(args) {
        Ok(metas) => metas,
        Err(error) => {
            errors.push(syn::Error::new(
                error.span(),
                format!(
                    "malformed arguments of {}: {error}\n{ARGUMENTS_HELP}",
                    attribute.name
                ),
            ));
            return attribute.default_flavor;
        }
    };
    // Each key once given holds `Some`, with `None` inside when its value was wrong (that
    // error is reported already, and nothing more is said about the key).
    let mut flavor: Option<Option<Flavor>> = None;
    let mut workers: Option<Option<(usize, &MetaNameValue)>> = None;
    for meta in &metas {
        let Meta::NameValue(arg) = meta else {
            errors.push(unknown_argument(meta.path(), meta, attribute));
            continue;
        };
        let key = arg.path.get_ident().map(ToString::to_string);
        let given_before = match key.as_deref() {
            Some("flavor") => flavor.is_some(),
            Some("worker_threads") => workers.is_some(),
            _ => {
                errors.push(unknown_argument(&arg.path, meta, attribute));
                continue;
            }
        };
        if given_before {
            errors.push(syn::Error::new_spanned(
                arg,
                format!(
                    "`{}` is given twice\nhelp: give each argument once; remove this one",
                    key.unwrap_or_default()
                ),
            ));
        } else if key.as_deref() == Some("flavor") {
            flavor = Some(keep_ok(parse_flavor_name(&arg.value), errors));
        } else {
            let count = keep_ok(parse_worker_threads(&arg.value), errors);
            workers = Some(count.map(|count| (count, arg)));
        }
    }
    match (flavor, workers) {
        (Some(None), _) => attribute.default_flavor,
        (flavor, Some(Some((count, arg)))) => {
            with_worker_threads(flavor.flatten(), count, arg, attribute, errors)
        }
        (flavor, _) => flavor.flatten().unwrap_or(attribute.default_flavor),
    }
}

fn keep_ok<T>(result: syn::Result<T>, errors: &mut Errors) -> Option<T> {
    result.map_err(|error| errors.push(error)).ok()
}

/// The runtime of `flavor` (as written, or the attribute's default) sized by
/// `worker_threads = count`, which only a multi-thread one takes.
fn with_worker_threads(
    flavor: Option<Flavor>,
    count: usize,
    arg: &MetaNameValue,
    attribute: Attribute,
    errors: &mut Errors,
) -> Flavor {
    let why = match flavor.unwrap_or(attribute.default_flavor) {
        Flavor::MultiThread { .. } => {
            return Flavor::MultiThread {
                worker_threads: Some(count),
            }
        }
        Flavor::CurrentThread if flavor.is_some() => {
            "but `flavor = \"current_thread\"` asks for a single thread".to_string()
        }
        Flavor::CurrentThread => format!(
            "and {} runs on the current thread by default",
            attribute.name
        ),
    };
    errors.push(syn::Error::new_spanned(
        arg,
        format!(
            "`worker_threads` sizes the multi-thread runtime, {why}\n\
             help: write `flavor = \"multi_thread\", worker_threads = {count}`, or remove `worker_threads`"
        ),
    ));
    Flavor::CurrentThread
}

fn unknown_argument(path: &syn::Path, meta: &Meta, attribute: Attribute) -> syn::Error {
    let written = quote!(#path).to_string().replace(' ', "");
    let message = if written == "start_paused" && attribute.name == "#[effect::test]" {
        format!(
            "unknown argument `start_paused`: an {} fn already runs on virtual time, its \
             `clock: TestClock` moves only when the test advances it; remove `start_paused`",
            attribute.name
        )
    } else {
        format!(
            "unknown argument `{written}` of {}\n{ARGUMENTS_HELP}",
            attribute.name
        )
    };
    syn::Error::new_spanned(meta, message)
}

fn parse_flavor_name(value: &Expr) -> syn::Result<Flavor> {
    let help = "help: write `flavor = \"current_thread\"` or `flavor = \"multi_thread\"`";
    let Expr::Lit(ExprLit {
        lit: Lit::Str(name),
        ..
    }) = value
    else {
        return Err(syn::Error::new_spanned(
            value,
            format!("the flavor is a string\n{help}"),
        ));
    };
    match name.value().as_str() {
        "current_thread" => Ok(Flavor::CurrentThread),
        "multi_thread" => Ok(Flavor::MultiThread {
            worker_threads: None,
        }),
        other => Err(syn::Error::new_spanned(
            name,
            format!("unknown flavor `{other:?}`\n{help}"),
        )),
    }
}

fn parse_worker_threads(value: &Expr) -> syn::Result<usize> {
    let help = "help: write a count of threads, e.g. `worker_threads = 2`";
    let Expr::Lit(ExprLit {
        lit: Lit::Int(count),
        ..
    }) = value
    else {
        return Err(syn::Error::new_spanned(
            value,
            format!("`worker_threads` is a whole number of threads\n{help}"),
        ));
    };
    match count.base10_parse::<usize>() {
        Ok(0) => Err(syn::Error::new_spanned(
            count,
            "a runtime needs at least one worker thread\nhelp: write `worker_threads = 1` or more",
        )),
        Ok(count) => Ok(count),
        Err(_) => Err(syn::Error::new_spanned(
            count,
            format!("`worker_threads` is too large\n{help}"),
        )),
    }
}

/// The runtime's expression for the generated code.
pub(crate) fn runtime_expr(flavor: Flavor, fx: &Facade) -> TokenStream {
    let fx = fx.private(Span::call_site());
    match flavor {
        Flavor::CurrentThread => quote!(#fx::EntryRuntime::CurrentThread),
        Flavor::MultiThread { worker_threads } => {
            let workers = match worker_threads {
                Some(count) => {
                    let count = Literal::usize_unsuffixed(count);
                    quote!(::core::option::Option::Some(#count))
                }
                None => quote!(::core::option::Option::None),
            };
            quote!(#fx::EntryRuntime::MultiThread { worker_threads: #workers })
        }
    }
}

/// Checks an entry point's signature as [`check_signature`] does an `#[effect]` fn's, that
/// it is not generic, and its `Effect<A, E>`: the value `A` must be `()`, as nothing would
/// read any other. Returns the body's types and `E`.
pub(crate) fn check_entry_signature(
    sig: &Signature,
    attribute: Attribute,
    errors: &mut Errors,
    fx: &Facade,
) -> Option<(BodyTypes, Type)> {
    let what = format!("{} fn", attribute.name);
    if !sig.generics.params.is_empty() {
        errors.push(syn::Error::new_spanned(
            &sig.generics,
            format!("an {what} cannot be generic: it is called with no types to choose\nhelp: remove the generic parameters"),
        ));
    }
    if let ReturnType::Default = sig.output {
        // Said here, as `Effect<(), E>`; the rest is checked on the signature as if it
        // declared one, so `check_signature` does not ask for an `Effect<Value, Error>`.
        let name = &sig.ident;
        let mut params = TokenStream::new();
        sig.paren_token.surround(&mut params, |_| {});
        errors.push(syn::Error::new_spanned(
            quote!(#name #params),
            format!("missing return type; an {what} returns `Effect<(), E>`\nhelp: write `-> Effect<(), Error>`"),
        ));
        let mut declared = sig.clone();
        declared.output = syn::parse_quote!(-> Effect<(), ()>);
        check_signature(&declared, errors, &what, fx);
        return None;
    }
    let types = check_signature(sig, errors, &what, fx)?;
    let ret = types.ret.as_ref()?;
    let Some((value, error)) = effect_args(ret) else {
        errors.push(syn::Error::new_spanned(
            ret,
            format!("an {what} returns `Effect<(), E>`, written out\nhelp: write `-> Effect<(), Error>`"),
        ));
        return None;
    };
    let is_unit = matches!(&value, Type::Tuple(tuple) if tuple.elems.is_empty());
    if !is_unit {
        errors.push(syn::Error::new_spanned(
            &value,
            format!(
                "an {what} returns `Effect<(), E>`: its value is unused\n\
                 help: write `Effect<(), E>`, and assert on the value in the body"
            ),
        ));
    }
    Some((types, error))
}

/// `<E as Debug>::fmt`, written at the user's `E`: the runtime renders failures with it, so
/// an `E` that is not `Debug` is reported at the user's tokens by rustc's own message.
pub(crate) fn render_error(error: &Type) -> TokenStream {
    quote_spanned!(error.span()=> <#error as ::core::fmt::Debug>::fmt)
}

#[cfg(test)]
mod tests {
    use proc_macro2::TokenStream;

    use crate::facade::Facade;
    use crate::{main_attr, test_attr};

    /// `#[effect::test]` renders failures with the same `<E as Debug>::fmt` at the user's `E`
    /// as `#[effect::main]`, whose ui case (`main_error_not_debug`) shows rustc's message for
    /// an `E` that is not `Debug`. (trybuild builds its cases without the test harness, where
    /// a `#[test]` fn is removed before type checking, so no ui case can show the test's.)
    #[test]
    fn both_entry_points_render_failures_with_the_users_debug() {
        let renderer = "< AppError as :: core :: fmt :: Debug > :: fmt";
        let item: TokenStream = "fn runs() -> Effect<(), AppError> {}".parse().unwrap();
        for expanded in [
            test_attr::expand(TokenStream::new(), item.clone(), &Facade::default()),
            main_attr::expand(TokenStream::new(), item, &Facade::default()),
        ] {
            let expanded = expanded.to_string();
            assert!(expanded.contains(renderer), "{expanded}");
            assert!(!expanded.contains("compile_error"), "{expanded}");
        }
    }
}
