//! Where generated code finds the runtime: the facade crate, under the name the user's crate
//! gives it. Resolved once per macro call, at the entry point, and passed down.
//!
//! The facade's package is `effectkit` and its library is named `effect`. In the user's code
//! the facade is called:
//! - `effect` for a plain dependency (`effectkit = "0.1"`): cargo names a dependency that is
//!   not renamed after its library, not its key;
//! - the key of a renamed dependency (`my_fx = { package = "effectkit", .. }`): `my_fx`;
//! - `effect` inside the facade package (`FoundCrate::Itself` for its library, examples and
//!   doctests; its own name for its integration tests): they link the library as `effect`, and
//!   the library itself declares `extern crate self as effect;`.
//!
//! A manifest that does not depend on the facade (a crate depending on the macro crate alone)
//! is a compile error saying what to add. Without a manifest to read (a build not driven by
//! cargo) the conventional name `effect` is assumed.
//!
//! One case cannot be told apart from a plain dependency: renaming the package to its own
//! name (`effectkit = { package = "effectkit", .. }`) makes cargo call it `effectkit`, which
//! this reads as the plain dependency's `effect`. Nobody needs to write that.

use proc_macro2::{Span, TokenStream};
use proc_macro_crate::{crate_name, Error, FoundCrate};
use quote::quote_spanned;
use syn::Ident;

/// The facade's package name, as a dependency names it in Cargo.toml.
const PACKAGE: &str = "effectkit";

/// The facade's library name: how code names an unrenamed dependency on it.
const LIBRARY: &str = "effect";

/// The facade crate as the code being expanded names it.
#[derive(Clone)]
pub(crate) struct Facade {
    name: String,
}

impl Default for Facade {
    /// The facade under its library name, `effect`.
    fn default() -> Self {
        Facade {
            name: LIBRARY.to_string(),
        }
    }
}

impl Facade {
    /// Reads the calling crate's manifest (`CARGO_MANIFEST_DIR`) for the facade's name there.
    pub(crate) fn resolve() -> Result<Facade, syn::Error> {
        from_lookup(crate_name(PACKAGE))
    }

    /// `::name::__private`, spanned at `span` (generated code names everything through it).
    pub(crate) fn private(&self, span: Span) -> TokenStream {
        let name = Ident::new(&self.name, span);
        quote_spanned!(span=> ::#name::__private)
    }
}

/// The facade for what `proc-macro-crate` found in the manifest.
fn from_lookup(found: Result<FoundCrate, Error>) -> Result<Facade, syn::Error> {
    let name = match found {
        Ok(FoundCrate::Itself) => return Ok(Facade::default()),
        Ok(FoundCrate::Name(name)) if name == PACKAGE => return Ok(Facade::default()),
        Ok(FoundCrate::Name(name)) => name,
        Err(Error::CrateNotFound { path, .. }) => {
            return Err(syn::Error::new(
                Span::call_site(),
                format!(
                    "the effect DSL needs the `{PACKAGE}` crate, which is not a dependency of this crate\n\
                     help: add it to [dependencies] in {}: `{PACKAGE} = \"{}\"` (the DSL's code runs on its runtime; `{}` alone is not enough)",
                    path.display(),
                    env!("CARGO_PKG_VERSION"),
                    env!("CARGO_PKG_NAME"),
                ),
            ));
        }
        Err(_) => return Ok(Facade::default()),
    };
    match syn::parse_str::<Ident>(&name) {
        Ok(_) => Ok(Facade { name }),
        Err(_) => Err(syn::Error::new(
            Span::call_site(),
            format!(
                "the `{PACKAGE}` dependency is renamed to `{name}`, which generated code cannot name\n\
                 help: rename it to an identifier that is not a keyword, e.g. `fx = {{ package = \"{PACKAGE}\", .. }}`"
            ),
        )),
    }
}

/// The output of a macro call whose facade could not be found: the error, after `item` (the
/// user's fn with its body replaced, or nothing), so the one mistake is not buried under
/// every path of the expansion failing to resolve.
pub(crate) fn missing(error: syn::Error, item: TokenStream) -> TokenStream {
    let error = error.to_compile_error();
    quote::quote!(#item #error)
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use super::*;

    fn path_of(found: Result<FoundCrate, Error>) -> String {
        match from_lookup(found) {
            Ok(facade) => facade.private(Span::call_site()).to_string(),
            Err(error) => format!("error: {error}"),
        }
    }

    #[test]
    fn a_plain_dependency_is_named_by_the_library() {
        let found = Ok(FoundCrate::Name("effectkit".to_string()));
        assert_eq!(path_of(found), ":: effect :: __private");
    }

    #[test]
    fn a_renamed_dependency_is_named_by_its_key() {
        let found = Ok(FoundCrate::Name("my_fx".to_string()));
        assert_eq!(path_of(found), ":: my_fx :: __private");
    }

    #[test]
    fn the_facade_names_itself_by_the_library() {
        assert_eq!(path_of(Ok(FoundCrate::Itself)), ":: effect :: __private");
    }

    #[test]
    fn a_crate_without_the_facade_is_told_what_to_add() {
        let found = Err(Error::CrateNotFound {
            crate_name: PACKAGE.to_string(),
            path: PathBuf::from("/app/Cargo.toml"),
        });
        let message = path_of(found);
        assert!(message.starts_with("error: the effect DSL needs the `effectkit` crate"));
        assert!(message.contains("add it to [dependencies] in /app/Cargo.toml: `effectkit = \""));
    }

    #[test]
    fn a_build_without_a_manifest_assumes_the_library_name() {
        let found = Err(Error::CargoManifestDirNotSet);
        assert_eq!(path_of(found), ":: effect :: __private");
    }

    #[test]
    fn a_rename_that_is_not_an_identifier_is_reported() {
        let found = Ok(FoundCrate::Name("async".to_string()));
        assert!(
            path_of(found).starts_with("error: the `effectkit` dependency is renamed to `async`")
        );
    }
}
