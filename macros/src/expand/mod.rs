//! Code generation, one file per derive. Expansion trusts `check.rs`: where it relies on a
//! guarantee, the `expect` message names the check that provides it.

pub mod avro_enum;
pub mod event;
pub mod record;

use proc_macro2::TokenStream;
use quote::quote;

use crate::attr::Rename;

/// The runtime's support module for generated code.
pub fn private() -> TokenStream {
    quote! { ::strata::__private_v0 }
}

/// An expression giving `(name, aliases)` of a named type at `version`.
pub fn type_name_fn(name: &str, renames: &[Rename]) -> TokenStream {
    let p = private();
    let mut renames: Vec<&Rename> = renames.iter().collect();
    renames.sort_by_key(|r| r.version.value);
    let renames = renames.iter().map(|r| {
        let from = &r.from;
        let v = r.version.value;
        quote! { (#from, #v) }
    });
    quote! { #p::type_name_at(#name, &[#(#renames),*], version) }
}

/// `Some("x")` or `None`, for optional string literals.
pub fn option_str(value: Option<&syn::LitStr>) -> TokenStream {
    match value {
        Some(s) => quote! { ::core::option::Option::Some(#s) },
        None => quote! { ::core::option::Option::None },
    }
}
