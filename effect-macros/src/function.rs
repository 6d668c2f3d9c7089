//! `#[effect]` on a function or method: parse, check every rule, expand.

use proc_macro2::TokenStream;
use quote::{quote, ToTokens};
use syn::visit::Visit;
use syn::{
    FnArg, GenericArgument, GenericParam, ItemFn, PathArguments, ReturnType, Signature, Type,
};

use crate::body::{self, BodyTypes};
use crate::errors::Errors;
use crate::facade::Facade;

/// The entry point of `#[effect]`.
pub(crate) fn expand(args: TokenStream, item: TokenStream, fx: &Facade) -> TokenStream {
    let mut errors = Errors::default();
    let instrument = crate::instrument::parse(args, &mut errors);
    let function: ItemFn = match syn::parse2(item.clone()) {
        Ok(function) => function,
        Err(_) if is_declaration(&item) => {
            errors.push(syn::Error::new_spanned(
                first_tokens(&item),
                "#[effect] needs the method's body: this trait method is only declared\n\
                 help: put #[effect] on the method in each `impl`, or give this declaration a default body",
            ));
            return errors.into_compile_errors_with(item);
        }
        Err(_) => {
            errors.push(syn::Error::new_spanned(
                first_tokens(&item),
                "#[effect] applies to a function: `#[effect] fn name(args) -> Effect<A, E> { body }`",
            ));
            return errors.into_compile_errors_with(item);
        }
    };
    let types = check_signature(&function.sig, &mut errors, "#[effect] fn", fx);
    if let Some(instrument) = &instrument {
        instrument.check(&function.sig, &mut errors);
    }
    match (errors.is_empty(), types) {
        (true, Some(types)) => expand_function(function, &types, instrument.as_ref(), fx),
        _ => errors.into_compile_errors_with(stub(&function)),
    }
}

/// Whether `item` is a fn declared without a body (a trait method's signature).
fn is_declaration(item: &TokenStream) -> bool {
    syn::parse2::<syn::TraitItemFn>(item.clone()).is_ok_and(|method| method.default.is_none())
}

/// The first few tokens of an item, for pointing at it without underlining all of it.
fn first_tokens(item: &TokenStream) -> TokenStream {
    item.clone().into_iter().take(2).collect()
}

/// The function with its body replaced, so a rejected function still exists for the IDE and
/// for its callers, and its body's errors do not pile on top of the real one.
pub(crate) fn stub(function: &ItemFn) -> TokenStream {
    let ItemFn {
        attrs, vis, sig, ..
    } = function;
    let mut sig = sig.clone();
    sig.asyncness = None;
    if let ReturnType::Type(_, ty) = &sig.output {
        if effect_arity(ungroup(ty)).is_some_and(|types| types != 2) {
            // `Effect<u32>` would be a second error in the stub: leave the type out.
            sig.output = ReturnType::Default;
        }
    }
    quote! {
        #(#attrs)*
        #[allow(unused_variables)]
        #vis #sig { ::core::panic!("this #[effect] fn did not compile") }
    }
}

fn expand_function(
    function: ItemFn,
    types: &BodyTypes,
    instrument: Option<&crate::instrument::Instrument>,
    fx: &Facade,
) -> TokenStream {
    let ItemFn {
        attrs,
        vis,
        sig,
        block,
    } = function;
    let mut body = body::compile(block.stmts, types);
    if let Some(instrument) = instrument {
        body = instrument.wrap(&sig, body, &fx.private(proc_macro2::Span::call_site()));
    }
    // `#[inline]` makes the fn's body (its state machine and the frame that erases it) be
    // compiled where the fn is used, as an `async fn`'s state machine is compiled where it
    // is polled: a library of effect fns costs its own build type checking, not code
    // generation for fns nothing in it runs. An `#[inline(..)]` of the user's stays.
    let inline =
        (!attrs.iter().any(|attr| attr.path().is_ident("inline"))).then(|| quote!(#[inline]));
    quote! {
        #(#attrs)* #inline #vis #sig {
            #body
        }
    }
}

/// Checks the signature of an `#[effect]` (or `#[effect::test]`) fn; returns the declared
/// value and error types when the return type is `Effect<A, E>`.
pub(crate) fn check_signature(
    sig: &Signature,
    errors: &mut Errors,
    what: &str,
    fx: &Facade,
) -> Option<BodyTypes> {
    if let Some(token) = &sig.asyncness {
        errors.push(syn::Error::new_spanned(
            token,
            format!("an {what} is not `async`: its body already runs in an async context (`.await` works in it); remove `async`"),
        ));
    }
    if let Some(token) = &sig.constness {
        errors.push(syn::Error::new_spanned(
            token,
            format!("an {what} cannot be `const`: it builds an effect at run time; remove `const`"),
        ));
    }
    for param in &sig.generics.params {
        if let GenericParam::Lifetime(lifetime) = param {
            errors.push(syn::Error::new_spanned(
                lifetime,
                format!("an {what} cannot have lifetime parameters: its effect runs after the call returns, so it owns its arguments; take owned types"),
            ));
        }
    }
    for input in &sig.inputs {
        check_argument(input, errors, what);
    }
    effect_types(sig, errors, what, fx)
}

fn check_argument(input: &FnArg, errors: &mut Errors, what: &str) {
    match input {
        FnArg::Receiver(receiver) => {
            if receiver.reference.is_some() || borrows(&receiver.ty) {
                errors.push(syn::Error::new_spanned(
                    receiver,
                    format!(
                        "an {what} method takes `self` by value: its effect runs later and must own what it uses\n\
                         help: write `self` (call it on a clone, or keep the receiver in an `Arc` and take `self: Arc<Self>`)"
                    ),
                ));
            }
        }
        FnArg::Typed(typed) => {
            if let Some(rc) = not_send(&typed.ty) {
                errors.push(syn::Error::new_spanned(
                    rc,
                    format!(
                        "arguments of an {what} must be `Send`: its effect may run on another thread, and `{}` is not `Send`\n\
                         help: use `std::sync::Arc` instead of `Rc` (and a `Mutex` or `RwLock` inside it instead of a `RefCell`)",
                        pretty(rc)
                    ),
                ));
            } else if borrows(&typed.ty) {
                errors.push(syn::Error::new_spanned(
                    &typed.ty,
                    format!(
                        "arguments of an {what} must be owned (`'static`): its effect runs after the call returns and cannot hold a borrow\n\
                         help: take an owned type, e.g. `String` instead of `&str`, `Vec<T>` instead of `&[T]`, or an `Arc<T>`"
                    ),
                ));
            }
        }
    }
}

/// The part of a type that is certainly not `Send`: an `Rc` (or `rc::Weak`) or a raw pointer.
fn not_send(ty: &Type) -> Option<&Type> {
    struct Finder<'a>(Option<&'a Type>);
    impl<'ast> Visit<'ast> for Finder<'ast> {
        fn visit_type(&mut self, ty: &'ast Type) {
            if self.0.is_some() {
                return;
            }
            let found = match ty {
                Type::Ptr(_) => true,
                Type::Path(path) => {
                    let segments: Vec<String> = path
                        .path
                        .segments
                        .iter()
                        .map(|s| s.ident.to_string())
                        .collect();
                    match segments.as_slice() {
                        [.., last] if last == "Rc" => true,
                        [.., rc, weak] => rc == "rc" && weak == "Weak",
                        _ => false,
                    }
                }
                _ => false,
            };
            if found {
                self.0 = Some(ty);
            } else {
                syn::visit::visit_type(self, ty);
            }
        }
    }
    let mut finder = Finder(None);
    finder.visit_type(ty);
    finder.0
}

/// Whether a type mentions a reference or a lifetime other than `'static`.
fn borrows(ty: &Type) -> bool {
    struct Finder(bool);
    impl<'ast> Visit<'ast> for Finder {
        fn visit_type_reference(&mut self, node: &'ast syn::TypeReference) {
            let is_static = node.lifetime.as_ref().is_some_and(|l| l.ident == "static");
            if !is_static {
                self.0 = true;
            }
            syn::visit::visit_type_reference(self, node);
        }
        fn visit_lifetime(&mut self, lifetime: &'ast syn::Lifetime) {
            if lifetime.ident != "static" {
                self.0 = true;
            }
        }
    }
    let mut finder = Finder(false);
    finder.visit_type(ty);
    finder.0
}

/// A type as a person would write it (`Result<u32, String>`, not `Result < u32 , String >`).
fn pretty(ty: &Type) -> String {
    let text = ty.to_token_stream().to_string();
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        let next = chars.peek().copied();
        let glue = c == ' '
            && (matches!(next, Some('<' | '>' | ',' | ')' | ']'))
                || out.ends_with(['<', '(', '[', '&']));
        if !glue {
            out.push(c);
        }
    }
    out
}

/// The declared return type, when it can be an effect: `Effect<A, E>`, or a path that may
/// be an alias of it (checked by the compiler through `EffectType`, at the return type).
/// Types that are plainly not effects are refused here, with the fix.
fn effect_types(
    sig: &Signature,
    errors: &mut Errors,
    what: &str,
    fx: &Facade,
) -> Option<BodyTypes> {
    let help = format!("an {what} returns `Effect<A, E>`: write `-> Effect<Value, Error>`");
    let declared = match &sig.output {
        ReturnType::Default => {
            let name = &sig.ident;
            let mut params = TokenStream::new();
            sig.paren_token.surround(&mut params, |_| {});
            errors.push(syn::Error::new_spanned(
                quote!(#name #params),
                format!("missing return type; {help}"),
            ));
            return None;
        }
        ReturnType::Type(_, ty) => ty,
    };
    let ty = ungroup(declared);
    let found = || {
        syn::Error::new_spanned(
            ty,
            format!("expected `Effect<A, E>`, found `{}`; {help}", pretty(ty)),
        )
    };
    let Type::Path(path) = ty else {
        errors.push(found());
        return None;
    };
    let Some(last) = path.path.segments.last() else {
        errors.push(found());
        return None;
    };
    if let Some(types) = effect_arity(ty) {
        if types != 2 {
            errors.push(syn::Error::new_spanned(
                ty,
                format!("`Effect` takes two types, the value and the error; {help}"),
            ));
            return None;
        }
    } else if NOT_EFFECTS.iter().any(|name| last.ident == name) && path.qself.is_none() {
        errors.push(found());
        return None;
    }
    Some(BodyTypes::declared(ty.clone(), fx))
}

/// `A` and `E` of a return type written `Effect<A, E>`.
pub(crate) fn effect_args(ty: &Type) -> Option<(Type, Type)> {
    let Type::Path(path) = ungroup(ty) else {
        return None;
    };
    let last = path.path.segments.last()?;
    if last.ident != "Effect" {
        return None;
    }
    let PathArguments::AngleBracketed(args) = &last.arguments else {
        return None;
    };
    let mut types = args.args.iter().filter_map(|arg| match arg {
        GenericArgument::Type(ty) => Some(ty.clone()),
        _ => None,
    });
    match (types.next(), types.next(), types.next()) {
        (Some(value), Some(error), None) => Some((value, error)),
        _ => None,
    }
}

/// How many types `Effect<..>` is given, when `ty` is a path ending in `Effect`.
fn effect_arity(ty: &Type) -> Option<usize> {
    let Type::Path(path) = ty else { return None };
    let last = path.path.segments.last()?;
    if last.ident != "Effect" {
        return None;
    }
    Some(match &last.arguments {
        PathArguments::AngleBracketed(args) => args
            .args
            .iter()
            .filter(|arg| matches!(arg, GenericArgument::Type(_)))
            .count(),
        _ => 0,
    })
}

/// Return types that are certainly not effects (an alias of `Effect` is any other path).
const NOT_EFFECTS: &[&str] = &[
    "Result",
    "Option",
    "Vec",
    "String",
    "Box",
    "Pin",
    "Future",
    "JoinHandle",
    "bool",
    "char",
    "str",
    "u8",
    "u16",
    "u32",
    "u64",
    "u128",
    "usize",
    "i8",
    "i16",
    "i32",
    "i64",
    "i128",
    "isize",
    "f32",
    "f64",
];

/// A type without the invisible groups a `$ret:ty` macro fragment wraps it in, or parens.
fn ungroup(ty: &Type) -> &Type {
    match ty {
        Type::Group(group) => ungroup(&group.elem),
        Type::Paren(paren) => ungroup(&paren.elem),
        other => other,
    }
}
