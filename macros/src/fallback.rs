//! What to emit for invalid input: the errors, plus impls of the runtime traits, so that code
//! using the type does not bury the real errors under "trait not implemented" ones. The impls
//! are never run: the crate does not compile.

use proc_macro2::TokenStream;
use quote::quote;

use crate::expand::private;

pub fn record(input: &syn::DeriveInput, error: syn::Error) -> TokenStream {
    let p = private();
    let ident = &input.ident;
    let error = error.to_compile_error();
    if !input.generics.params.is_empty() {
        return error;
    }
    quote! {
        #error
        const _: () = {
            impl #p::AvroType for #ident {
                fn schema(_: &mut #p::SchemaCx) -> ::core::result::Result<#p::Schema, #p::SchemaError> {
                    ::core::unreachable!()
                }
                fn default_json(&self) -> ::core::result::Result<#p::Value, ::std::string::String> {
                    ::core::unreachable!()
                }
            }
            impl #p::Record for #ident {
                const CHANGES: &'static [u32] = &[1];
            }
        };
    }
}

pub fn avro_enum(input: &syn::DeriveInput, error: syn::Error) -> TokenStream {
    let p = private();
    let ident = &input.ident;
    let error = error.to_compile_error();
    if !input.generics.params.is_empty() {
        return error;
    }
    quote! {
        #error
        const _: () = {
            impl #p::AvroType for #ident {
                fn schema(_: &mut #p::SchemaCx) -> ::core::result::Result<#p::Schema, #p::SchemaError> {
                    ::core::unreachable!()
                }
                fn default_json(&self) -> ::core::result::Result<#p::Value, ::std::string::String> {
                    ::core::unreachable!()
                }
            }
        };
    }
}

pub fn event(input: &syn::DeriveInput, error: syn::Error) -> TokenStream {
    let p = private();
    let ident = &input.ident;
    let error = error.to_compile_error();
    if !input.generics.params.is_empty() {
        return error;
    }
    quote! {
        #error
        const _: () = {
            impl #p::Event for #ident {
                const TOPIC: &'static str = "";
                const VERSION: u32 = 1;
                fn schema_at(_: u32) -> ::core::result::Result<#p::Schema, #p::SchemaError> {
                    ::core::unreachable!()
                }
            }
        };
    }
}
