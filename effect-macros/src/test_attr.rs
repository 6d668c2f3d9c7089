//! `#[effect::test]`: a test whose body is an effect body, run with a `TestClock` on the
//! runtime its arguments ask for (current-thread by default).

use proc_macro2::TokenStream;
use quote::quote;
use syn::{FnArg, ItemFn, Pat};

use crate::body;
use crate::entry::{self, Attribute, Flavor};
use crate::errors::Errors;
use crate::facade::Facade;
use crate::function::stub;

const TEST: Attribute = Attribute {
    name: "#[effect::test]",
    shape: "#[effect::test] fn name() -> Effect<(), E> { body }",
    default_flavor: Flavor::CurrentThread,
};

pub(crate) fn expand(args: TokenStream, item: TokenStream, fx: &Facade) -> TokenStream {
    let mut errors = Errors::default();
    let flavor = entry::parse_flavor(args, TEST, &mut errors);
    let Some(function) = entry::parse_function(&item, TEST, &mut errors) else {
        return errors.into_compile_errors_with(item);
    };
    let clock = match function.sig.inputs.len() {
        0 => None,
        1 => match &function.sig.inputs[0] {
            FnArg::Typed(typed) => Some((typed.pat.clone(), typed.ty.clone())),
            FnArg::Receiver(receiver) => {
                errors.push(syn::Error::new_spanned(
                    receiver,
                    "an #[effect::test] fn is not a method",
                ));
                None
            }
        },
        _ => {
            errors.push(syn::Error::new_spanned(
                &function.sig.inputs,
                "an #[effect::test] fn takes no arguments, or one: the test's clock, `clock: TestClock`",
            ));
            None
        }
    };
    let checked = entry::check_entry_signature(&function.sig, TEST, &mut errors, fx);
    let (true, Some((types, error))) = (errors.is_empty(), checked) else {
        return errors.into_compile_errors_with(stub(&function));
    };
    let ItemFn {
        attrs, sig, block, ..
    } = function;
    let name = &sig.ident;
    let clock_param = match clock {
        Some((pat, ty)) => quote!(#pat: #ty),
        None => {
            let ignored = Pat::Wild(syn::PatWild {
                attrs: Vec::new(),
                underscore_token: Default::default(),
            });
            let fx = fx.private(proc_macro2::Span::call_site());
            quote!(#ignored: #fx::TestClock)
        }
    };
    let runtime = entry::runtime_expr(flavor, fx);
    let render = entry::render_error(&error);
    let body = body::compile(block.stmts, &types);
    let fx = fx.private(proc_macro2::Span::call_site());
    quote! {
        #[::core::prelude::v1::test]
        #(#attrs)*
        fn #name() {
            #fx::run_test(
                ::core::stringify!(#name),
                #runtime,
                #render,
                |#clock_param| -> #fx::Effect<(), #error> {
                    #body
                },
            );
        }
    }
}
