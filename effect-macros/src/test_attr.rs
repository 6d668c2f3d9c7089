//! `#[effect::test]`: a test whose body is an effect body, run with a `TestClock`.

use proc_macro2::TokenStream;
use quote::quote;
use syn::{FnArg, ItemFn, Pat};

use crate::body;
use crate::errors::Errors;
use crate::function::{check_signature, stub};

pub(crate) fn expand(args: TokenStream, item: TokenStream) -> TokenStream {
    let mut errors = Errors::default();
    if !args.is_empty() {
        errors.push(syn::Error::new_spanned(
            &args,
            "#[effect::test] takes no arguments; write `#[effect::test]` alone",
        ));
    }
    let function: ItemFn = match syn::parse2(item.clone()) {
        Ok(function) => function,
        Err(_) => {
            errors.push(syn::Error::new_spanned(
                item.clone().into_iter().take(2).collect::<TokenStream>(),
                "#[effect::test] applies to a function: `#[effect::test] fn name() -> Effect<(), E> { body }`",
            ));
            return errors.into_compile_errors_with(item);
        }
    };
    if !function.sig.generics.params.is_empty() {
        errors.push(syn::Error::new_spanned(
            &function.sig.generics,
            "an #[effect::test] fn cannot be generic",
        ));
    }
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
    let types = check_signature(&function.sig, &mut errors, "#[effect::test] fn");
    let (true, Some(types)) = (errors.is_empty(), types) else {
        return errors.into_compile_errors_with(stub(&function));
    };
    let ItemFn {
        attrs, sig, block, ..
    } = function;
    let name = &sig.ident;
    let ret = &types.ret;
    let clock_param = match clock {
        Some((pat, ty)) => quote!(#pat: #ty),
        None => {
            let ignored = Pat::Wild(syn::PatWild {
                attrs: Vec::new(),
                underscore_token: Default::default(),
            });
            quote!(#ignored: ::effect::TestClock)
        }
    };
    let body = body::compile(block.stmts, &types);
    quote! {
        #[::core::prelude::v1::test]
        #(#attrs)*
        fn #name() {
            ::effect::__private::run_test(::core::stringify!(#name), |#clock_param| -> #ret {
                #body
            });
        }
    }
}
