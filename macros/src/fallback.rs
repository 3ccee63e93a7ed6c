//! What to emit for invalid input: the errors, plus impls of the runtime traits, so that code
//! using the type does not bury the real errors under "trait not implemented" ones. The impls
//! are never run: the crate does not compile.

use proc_macro2::TokenStream;
use quote::quote;

use crate::expand::private;

/// Which derive failed, and so which traits to stand in for.
#[derive(Clone, Copy)]
pub enum Derive {
    Record,
    Enum,
    Event,
}

pub fn emit(input: &syn::DeriveInput, error: syn::Error, derive: Derive) -> TokenStream {
    let p = private();
    let ident = &input.ident;
    let error = error.to_compile_error();
    // A generic type cannot get these impls without bounds we cannot know.
    if !input.generics.params.is_empty() {
        return error;
    }
    let codec = quote! {
        impl #p::Decode for #ident {
            fn decode<const V: u32>(_: &mut #p::Reader<'_>) -> ::core::result::Result<Self, #p::DecodeError> {
                ::core::unreachable!()
            }
        }
        impl #p::Encode for #ident {
            fn encode(&self, _: &mut ::std::vec::Vec<u8>) {
                ::core::unreachable!()
            }
        }
    };
    let avro_type = quote! {
        impl #p::AvroType for #ident {
            fn schema(_: &mut #p::SchemaCx) -> ::core::result::Result<#p::Schema, #p::SchemaError> {
                ::core::unreachable!()
            }
            fn default_json(&self) -> ::core::result::Result<#p::Value, #p::JsonError> {
                ::core::unreachable!()
            }
        }
    };
    let impls = match derive {
        Derive::Record => quote! {
            #codec
            #avro_type
            impl #p::Record for #ident {
                const CHANGES: &'static [u32] = &[1];
                fn decoder(_: u32) -> #p::Option<#p::DecodeFn<Self>> {
                    #p::Option::None
                }
            }
        },
        Derive::Enum => quote! { #codec #avro_type },
        Derive::Event => quote! {
            #codec
            impl #p::Event for #ident {
                const TOPIC: &'static str = "";
                const VERSION: u32 = 1;
                fn schema_at(_: u32) -> ::core::result::Result<#p::Schema, #p::SchemaError> {
                    ::core::unreachable!()
                }
                fn decoder(_: u32) -> ::core::option::Option<#p::DecodeFn<Self>> {
                    ::core::unreachable!()
                }
                fn to_json(&self) -> ::core::result::Result<#p::Value, #p::JsonError> {
                    ::core::unreachable!()
                }
                fn branch(&self) -> usize {
                    ::core::unreachable!()
                }
                fn encode_record(&self, _: &mut ::std::vec::Vec<u8>) {
                    ::core::unreachable!()
                }
            }
        },
    };
    quote! {
        #error
        const _: () = { #impls };
    }
}
