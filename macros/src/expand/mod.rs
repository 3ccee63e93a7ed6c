//! Code generation, one file per derive. Expansion trusts `check.rs`: where it relies on a
//! guarantee, the `expect` message names the check that provides it.

pub mod avro_enum;
pub mod codec;
pub mod event;
pub mod record;

use proc_macro2::TokenStream;
use quote::quote;

use crate::attr::Rename;

/// The runtime's support module for generated code.
pub fn private() -> TokenStream {
    quote! { ::strata::__private_v0 }
}

/// Statements claiming a named type's name in `cx`: they bind `name` and `aliases`, or return
/// a reference when the document already defines the type.
pub fn define_named(
    namespace: Option<&syn::LitStr>,
    name: &str,
    renames: &[Rename],
) -> TokenStream {
    let p = private();
    let mut renames: Vec<&Rename> = renames.iter().collect();
    renames.sort_by_key(|r| r.version.value);
    let renames = renames.iter().map(|r| {
        let from = &r.from;
        let v = r.version.value;
        quote! { (#from, #v) }
    });
    let namespace = option_str(namespace);
    quote! {
        let (name, aliases) = match #p::define_named(cx, #namespace, #name, &[#(#renames),*]) {
            ::core::result::Result::Ok(claimed) => claimed,
            ::core::result::Result::Err(reference) => return ::core::result::Result::Ok(reference),
        };
    }
}

/// `Some("x")` or `None`, for optional string literals.
pub fn option_str(value: Option<&syn::LitStr>) -> TokenStream {
    match value {
        Some(s) => quote! { ::core::option::Option::Some(#s) },
        None => quote! { ::core::option::Option::None },
    }
}
