//! `#[effect::main]`: a program whose `main` body is an effect body, run on a tokio runtime
//! (multi-thread by default) with the live clock; a failure is reported on stderr and exits
//! the process with code 1.
//!
//! The function may have any name: named `main`, it is the binary's entry point; named
//! otherwise, calling it runs the program and ends the process, like `main` would.

use proc_macro2::TokenStream;
use quote::quote;
use syn::ItemFn;

use crate::body;
use crate::entry::{self, Attribute, Flavor};
use crate::errors::Errors;
use crate::facade::Facade;

const MAIN: Attribute = Attribute {
    name: "#[effect::main]",
    shape: "#[effect::main] fn main() -> Effect<(), E> { body }",
    default_flavor: Flavor::MultiThread {
        worker_threads: None,
    },
};

pub(crate) fn expand(args: TokenStream, item: TokenStream, fx: &Facade) -> TokenStream {
    let mut errors = Errors::default();
    let flavor = entry::parse_flavor(args, MAIN, &mut errors);
    let Some(function) = entry::parse_function(&item, MAIN, &mut errors) else {
        return errors.into_compile_errors_with(item);
    };
    let sig = &function.sig;
    if !sig.inputs.is_empty() {
        errors.push(syn::Error::new_spanned(
            &sig.inputs,
            "an #[effect::main] fn takes no arguments\n\
             help: remove them, and read the command line in the body with `std::env::args()`",
        ));
    }
    let checked = entry::check_entry_signature(sig, MAIN, &mut errors, fx);
    let (true, Some((types, error))) = (errors.is_empty(), checked) else {
        return errors.into_compile_errors_with(stub(&function));
    };
    let ItemFn {
        attrs,
        vis,
        sig,
        block,
    } = function;
    let name = &sig.ident;
    let runtime = entry::runtime_expr(flavor, fx);
    let render = entry::render_error(&error);
    let body = body::compile(block.stmts, &types);
    let fx = fx.private(proc_macro2::Span::call_site());
    quote! {
        #(#attrs)*
        #vis fn #name() {
            ::std::process::exit(#fx::run_main(
                #runtime,
                #render,
                || -> #fx::Effect<(), #error> {
                    #body
                },
            ))
        }
    }
}

/// A rejected `main` as the plain `fn main()` a binary needs, so its mistakes are reported
/// once, by the macro, and not again as an invalid `main` signature.
pub(crate) fn stub(function: &ItemFn) -> TokenStream {
    let ItemFn {
        attrs, vis, sig, ..
    } = function;
    let name = &sig.ident;
    quote! {
        #(#attrs)*
        #vis fn #name() { ::core::panic!("this #[effect::main] fn did not compile") }
    }
}
