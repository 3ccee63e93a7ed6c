//! Code generation, one file per derive. Expansion trusts `check.rs`: where it relies on a
//! guarantee, the `expect` message names the check that provides it.

pub mod avro_enum;
pub mod codec;
pub mod event;
pub mod record;

use proc_macro2::{Ident, TokenStream};
use quote::{format_ident, quote};

use crate::ast::{Field, Record};
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

/// `AccountOpenedV2`: the Rust name of the view starting at `version`, or the record itself.
pub fn view_ident(record: &Record<'_>, version: u32, latest: u32) -> Ident {
    if version == latest {
        record.ident.clone()
    } else {
        format_ident!("{}V{}", record.ident, version)
    }
}

/// A field's Rust name in the view starting at `version`: its name at that version.
pub fn field_ident(field: &Field, version: u32, latest: u32) -> Ident {
    if version == latest && field.live {
        return field.ident.clone();
    }
    let name = field.name_at(version);
    syn::parse_str::<Ident>(&name).unwrap_or_else(|_| Ident::new_raw(&name, field.span))
}
