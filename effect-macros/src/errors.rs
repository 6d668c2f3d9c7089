//! Collecting every error of one macro call, so the user sees all of them at once.

use proc_macro2::TokenStream;
use quote::quote;

#[derive(Default)]
pub(crate) struct Errors(Option<syn::Error>);

impl Errors {
    pub(crate) fn push(&mut self, error: syn::Error) {
        match &mut self.0 {
            Some(all) => all.combine(error),
            None => self.0 = Some(error),
        }
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.0.is_none()
    }

    /// The errors as `compile_error!`s, after `item` (which keeps existing for the IDE).
    pub(crate) fn into_compile_errors_with(self, item: TokenStream) -> TokenStream {
        let errors = self.0.map(|e| e.to_compile_error());
        quote!(#item #errors)
    }
}
