//! `#[effect(instrument(..))]`: the arguments, checked, and the span they make, with
//! `#[tracing::instrument]`'s meaning: a span named after the fn (or `name`), at `INFO` (or
//! `level`), recording each argument with `Debug` (but those in `skip`, or all with
//! `skip_all`, and those `fields` names), entered while the effect runs and closed when it
//! ends, however it ends; `err` records a typed failure as an `ERROR` event inside it.

use proc_macro2::{Span, TokenStream, TokenTree};
use quote::{format_ident, quote};
use syn::meta::ParseNestedMeta;
use syn::parse::Parser;
use syn::{FnArg, Ident, LitStr, Pat, Signature};

use crate::errors::Errors;

const EXPECTED: &str = "expected `name = \"..\"`, `target = \"..\"`, `level = \"..\"`, `skip(..)`, `skip_all`, `fields(..)` or `err`";

/// How `err` records a typed failure.
#[derive(Clone, Copy)]
enum Err {
    Display,
    Debug,
}

/// The arguments of `instrument`.
#[derive(Default)]
pub(crate) struct Instrument {
    name: Option<LitStr>,
    target: Option<LitStr>,
    level: Option<Ident>,
    skip: Vec<Ident>,
    skip_all: bool,
    fields: Option<TokenStream>,
    err: Option<Err>,
}

/// The arguments of `#[effect(..)]`: nothing, or `instrument` with its own.
pub(crate) fn parse(args: TokenStream, errors: &mut Errors) -> Option<Instrument> {
    if args.is_empty() {
        return None;
    }
    let mut instrument = None;
    let parser = syn::meta::parser(|meta| {
        if !meta.path.is_ident("instrument") {
            return Err(meta.error(
                "#[effect] takes no arguments but `instrument`: write `#[effect]`, or `#[effect(instrument)]` to run the effect in a span",
            ));
        }
        if instrument.is_some() {
            return Err(meta.error("`instrument` is given twice; give it once"));
        }
        let mut arguments = Instrument::default();
        if !meta.input.is_empty() && !meta.input.peek(syn::Token![,]) {
            meta.parse_nested_meta(|nested| arguments.parse_one(nested))?;
        }
        instrument = Some(arguments);
        Ok(())
    });
    match parser.parse2(args) {
        Ok(()) => instrument,
        Err(error) => {
            errors.push(error);
            None
        }
    }
}

impl Instrument {
    fn parse_one(&mut self, nested: ParseNestedMeta<'_>) -> syn::Result<()> {
        let path = &nested.path;
        let twice = |what: &str| nested.error(format!("`{what}` is given twice; give it once"));
        if path.is_ident("name") {
            if self.name.is_some() {
                return Err(twice("name"));
            }
            self.name = Some(nested.value()?.parse()?);
        } else if path.is_ident("target") {
            if self.target.is_some() {
                return Err(twice("target"));
            }
            self.target = Some(nested.value()?.parse()?);
        } else if path.is_ident("level") {
            if self.level.is_some() {
                return Err(twice("level"));
            }
            let level: LitStr = nested.value()?.parse()?;
            self.level = Some(level_ident(&level)?);
        } else if path.is_ident("skip") {
            nested.parse_nested_meta(|arg| match arg.path.get_ident() {
                Some(ident) => {
                    self.skip.push(ident.clone());
                    Ok(())
                }
                None => {
                    Err(arg.error("`skip` takes the names of the fn's arguments: `skip(a, b)`"))
                }
            })?;
        } else if path.is_ident("skip_all") {
            self.skip_all = true;
        } else if path.is_ident("fields") {
            if self.fields.is_some() {
                return Err(twice("fields"));
            }
            let content;
            syn::parenthesized!(content in nested.input);
            self.fields = Some(content.parse()?);
        } else if path.is_ident("err") {
            if self.err.is_some() {
                return Err(twice("err"));
            }
            self.err = Some(Err::Display);
            if nested.input.peek(syn::token::Paren) {
                nested.parse_nested_meta(|how| {
                    self.err = Some(match () {
                        () if how.path.is_ident("Display") => Err::Display,
                        () if how.path.is_ident("Debug") => Err::Debug,
                        () => return Err(how.error("`err` records with `Display` (the default) or `Debug`: write `err`, `err(Display)` or `err(Debug)`")),
                    });
                    Ok(())
                })?;
            }
        } else {
            return Err(nested.error(format!("unknown `instrument` argument; {EXPECTED}")));
        }
        Ok(())
    }

    /// Checks what depends on the signature: every name in `skip` is an argument's.
    pub(crate) fn check(&self, sig: &Signature, errors: &mut Errors) {
        let names: Vec<String> = arguments(sig).map(|(name, _)| name.to_string()).collect();
        for skipped in &self.skip {
            if !names.contains(&skipped.to_string()) {
                errors.push(syn::Error::new_spanned(
                    skipped,
                    format!(
                        "`skip({skipped})`: the fn has no argument named `{skipped}`; its arguments are: {}",
                        match names.is_empty() {
                            true => "none".to_string(),
                            false => names.join(", "),
                        }
                    ),
                ));
            }
        }
    }

    /// The fn's body, `body` (tokens giving its effect), run in the span.
    pub(crate) fn wrap(&self, sig: &Signature, body: TokenStream, fx: &TokenStream) -> TokenStream {
        let name = match &self.name {
            Some(name) => name.clone(),
            None => LitStr::new(&sig.ident.to_string(), sig.ident.span()),
        };
        let target = match &self.target {
            Some(target) => quote!(#target),
            None => quote!(::core::module_path!()),
        };
        let level = self
            .level
            .clone()
            .unwrap_or_else(|| Ident::new("INFO", Span::call_site()));
        let named_in_fields = self.fields.as_ref().map(field_names).unwrap_or_default();
        let mut fields: Vec<TokenStream> = arguments(sig)
            .filter(|(name, _)| !self.skip_all && !self.skip.iter().any(|s| s == name))
            .filter(|(name, _)| !named_in_fields.contains(&name.to_string()))
            .map(|(name, value)| quote!(#name = ?#value))
            .collect();
        fields.extend(self.fields.clone().filter(|f| !f.is_empty()));
        let span = quote! {
            #fx::tracing::span!(target: #target, #fx::tracing::Level::#level, #name #(, #fields)*)
        };
        let effect = format_ident!("__effect_instrumented");
        match self.err {
            None => quote! {
                let __effect_span = #span;
                let #effect = { #body };
                #fx::instrumented(#effect, __effect_span)
            },
            Some(how) => {
                let error = match how {
                    Err::Display => quote!(error = %error),
                    Err::Debug => quote!(error = ?error),
                };
                quote! {
                    let __effect_span = #span;
                    let #effect = { #body };
                    #fx::instrumented_err(#effect, __effect_span, |error| {
                        #fx::tracing::event!(target: #target, #fx::tracing::Level::ERROR, #error);
                    })
                }
            }
        }
    }
}

/// `level = ".."` as the name of the `tracing::Level` constant.
fn level_ident(level: &LitStr) -> syn::Result<Ident> {
    let name =
        match level.value().to_ascii_lowercase().as_str() {
            "trace" => "TRACE",
            "debug" => "DEBUG",
            "info" => "INFO",
            "warn" => "WARN",
            "error" => "ERROR",
            _ => return Err(syn::Error::new_spanned(
                level,
                "unknown level: write one of \"trace\", \"debug\", \"info\", \"warn\", \"error\"",
            )),
        };
    Ok(Ident::new(name, level.span()))
}

/// Each argument the span can record: its field name and the expression that reads it
/// (`self`, or the binding of a plain `name: Type` argument; a destructuring pattern records
/// nothing).
fn arguments(sig: &Signature) -> impl Iterator<Item = (Ident, TokenStream)> + '_ {
    sig.inputs.iter().filter_map(|input| match input {
        FnArg::Receiver(receiver) => {
            let token = receiver.self_token;
            Some((Ident::new("self", token.span), quote!(#token)))
        }
        FnArg::Typed(typed) => match &*typed.pat {
            Pat::Ident(binding) => {
                let ident = binding.ident.clone();
                Some((ident.clone(), quote!(#ident)))
            }
            _ => None,
        },
    })
}

/// The names `fields(..)` gives (the first identifier of each comma-separated field): an
/// argument of the same name is left to it, as `#[tracing::instrument]` does.
fn field_names(fields: &TokenStream) -> Vec<String> {
    let mut names = Vec::new();
    let mut at_start = true;
    for token in fields.clone() {
        match &token {
            TokenTree::Punct(punct) if punct.as_char() == ',' => at_start = true,
            TokenTree::Ident(ident) if at_start => {
                names.push(ident.to_string());
                at_start = false;
            }
            _ => at_start = false,
        }
    }
    names
}
