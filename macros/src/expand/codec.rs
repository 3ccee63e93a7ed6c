//! Expansion of the binary codec of a record: one decoder per historical shape, reading the
//! fields in the order that shape's schema lists them, and the encoder of the latest shape.
//!
//! A record always decodes into its latest type: the shape of the writer's version is read,
//! then upgraded, so nested records arrive upgraded, as views expect.

use proc_macro2::TokenStream;
use quote::{format_ident, quote, quote_spanned};
use syn::spanned::Spanned;

use crate::ast::Record;
use crate::expand::{field_ident, private, view_ident};

pub fn record(record: &Record<'_>) -> TokenStream {
    let p = private();
    let ident = record.ident;
    let name = ident.to_string();
    let breakpoints = record.breakpoints();
    let latest = *breakpoints.last().expect("breakpoints start with version 1");

    let shape_decoders = breakpoints.iter().map(|&version| {
        let shape = view_ident(record, version, latest);
        let fields: Vec<_> = record.fields.iter().filter(|f| f.present(version)).collect();
        let reads = fields.iter().map(|f| {
            let binding = format_ident!("__{}", f.ident.to_string().trim_start_matches("r#"));
            let ty = f.ty_at(version);
            let name = f.name_at(version);
            let read = quote_spanned! {ty.span()=> <#ty as #p::FieldType>::field_decode::<V>(r) };
            quote! { let #binding = #read.map_err(|e| e.in_field(#name))?; }
        });
        let json = fields.iter().map(|f| {
            let field = field_ident(f, version, latest);
            let ty = f.ty_at(version);
            let name = f.name_at(version);
            quote_spanned! {ty.span()=>
                object.insert(::std::string::String::from(#name), <#ty as #p::FieldType>::field_default_json(&self.#field)?);
            }
        });
        let builds = fields.iter().map(|f| {
            let binding = format_ident!("__{}", f.ident.to_string().trim_start_matches("r#"));
            let field = field_ident(f, version, latest);
            quote! { #field: #binding }
        });
        quote! {
            #[automatically_derived]
            impl #shape {
                #[doc(hidden)]
                #[inline]
                pub fn __strata_decode<const V: u32>(
                    r: &mut #p::Reader<'_>,
                ) -> ::core::result::Result<Self, #p::DecodeError> {
                    #(#reads)*
                    ::core::result::Result::Ok(Self { #(#builds,)* })
                }

                /// This shape in Avro's JSON encoding (unions untagged, as defaults are
                /// written); tests compare it with what other implementations read.
                #[doc(hidden)]
                pub fn __strata_json(&self) -> ::core::result::Result<#p::Value, #p::JsonError> {
                    let mut object = #p::JsonMap::new();
                    #(#json)*
                    ::core::result::Result::Ok(#p::Value::Object(object))
                }
            }
        }
    });

    // The writer's version picks the shape; `V` is a constant, so only one arm remains.
    let arms = breakpoints.iter().rev().map(|&version| {
        let shape = view_ident(record, version, latest);
        if version != latest && automatic_from(record, version) {
            let direct = format_ident!("__strata_decode_direct_from_v{}", version);
            return quote! {
                if V >= #version {
                    return Self::#direct::<V>(r).map_err(|e| e.in_record(#name));
                }
            };
        }
        if version == latest {
            quote! {
                if V >= #version {
                    return #shape::__strata_decode::<V>(r).map_err(|e| e.in_record(#name));
                }
            }
        } else {
            quote! {
                if V >= #version {
                    let view = #shape::__strata_decode::<V>(r).map_err(|e| e.in_record(#name))?;
                    return #p::View::upcast(view)
                        .map_err(|e| #p::DecodeError::upcast(e, r.offset()).in_record(#name));
                }
            }
        }
    });

    let direct = breakpoints
        .iter()
        .filter(|&&v| v != latest && automatic_from(record, v))
        .map(|&version| direct_decoder(record, version, latest));
    let skip_arms = breakpoints.iter().rev().map(|&version| {
        let skips = record.fields.iter().filter(|f| f.present(version)).map(|f| {
            let ty = f.ty_at(version);
            quote_spanned! {ty.span()=> <#ty as #p::FieldType>::field_skip::<V>(r)?; }
        });
        quote! {
            if V >= #version {
                #(#skips)*
                return ::core::result::Result::Ok(());
            }
        }
    });

    let writes = record.fields.iter().filter(|f| f.live).map(|f| {
        let field = &f.ident;
        let ty = &f.ty;
        quote_spanned! {ty.span()=> <#ty as #p::FieldType>::field_encode(&self.#field, out); }
    });

    quote! {
        #(#shape_decoders)*

        #[automatically_derived]
        impl #ident {
            #(#direct)*
        }

        #[automatically_derived]
        impl #p::Decode for #ident {
            #[inline]
            fn decode<const V: u32>(
                r: &mut #p::Reader<'_>,
            ) -> ::core::result::Result<Self, #p::DecodeError> {
                #(#arms)*
                ::core::unreachable!("version 1 is the first shape of every record")
            }

            #[inline]
            fn skip<const V: u32>(r: &mut #p::Reader<'_>) -> ::core::result::Result<(), #p::DecodeError> {
                #(#skip_arms)*
                ::core::unreachable!("version 1 is the first shape of every record")
            }
        }

        #[automatically_derived]
        impl #p::Encode for #ident {
            #[inline]
            fn encode(&self, out: &mut ::std::vec::Vec<u8>) {
                #(#writes)*
            }
        }
    }
}

/// Whether every step from the shape starting at `version` to the latest is automatic: no
/// user function runs, so the writer's fields can go straight into the latest type.
fn automatic_from(record: &Record<'_>, version: u32) -> bool {
    let later = |v: u32| v > version;
    let no_record_steps =
        record.breakpoints().into_iter().filter(|&v| later(v)).all(|v| record.step_at(v).is_none());
    let no_field_functions = record.fields.iter().all(|f| {
        !(later(f.since) && f.added_upgrade.is_some())
            && f.changes.iter().all(|c| !later(c.version.value) || c.upgrade.is_none())
    });
    no_record_steps && no_field_functions
}

/// Decodes the shape starting at `version` straight into the latest type: renamed fields land
/// in their new place, promoted ones are converted, removed ones are skipped without
/// allocating, added ones take their default. Only for shapes where `automatic_from` holds.
fn direct_decoder(record: &Record<'_>, version: u32, latest: u32) -> proc_macro2::TokenStream {
    let p = private();
    let name = record.ident.to_string();
    let method = format_ident!("__strata_decode_direct_from_v{}", version);
    let reads = record.fields.iter().filter(|f| f.present(version)).map(|f| {
        let ty = f.ty_at(version);
        let field_name = f.name_at(version);
        if !f.live {
            return quote_spanned! {ty.span()=>
                <#ty as #p::FieldType>::field_skip::<V>(r).map_err(|e| e.in_field(#field_name))?;
            };
        }
        let binding = format_ident!("__{}", f.ident.to_string().trim_start_matches("r#"));
        let mut conversions = Vec::new();
        let mut from = version;
        for change in f.changes.iter().filter(|c| c.version.value > version) {
            let to_ty = f.ty_at(change.version.value);
            let to = change.version.value;
            conversions.push(quote_spanned! {to_ty.span()=>
                let #binding = <_ as #p::Promote<#to_ty>>::promote(#binding)
                    .map_err(|e| #p::DecodeError::upcast(e.at_step(#name, #from, #to), r.offset()))?;
            });
            from = to;
        }
        quote_spanned! {ty.span()=>
            let #binding = <#ty as #p::FieldType>::field_decode::<V>(r).map_err(|e| e.in_field(#field_name))?;
            #(#conversions)*
        }
    });
    let builds = record.fields.iter().filter(|f| f.live).map(|f| {
        let field = field_ident(f, latest, latest);
        let value = if f.present(version) {
            let binding = format_ident!("__{}", f.ident.to_string().trim_start_matches("r#"));
            quote! { #binding }
        } else {
            let ty = &f.ty;
            match &f.default {
                Some(default) => quote_spanned! {default.span()=> <#ty as ::core::convert::From<_>>::from(#default) },
                // `check::added_field_has_a_value` lets only optional fields through without a
                // default when no function computes them.
                None => quote! { ::core::option::Option::None },
            }
        };
        quote! { #field: #value }
    });
    quote! {
        #[doc(hidden)]
        #[inline]
        pub fn #method<const V: u32>(
            r: &mut #p::Reader<'_>,
        ) -> ::core::result::Result<Self, #p::DecodeError> {
            #(#reads)*
            ::core::result::Result::Ok(Self { #(#builds,)* })
        }
    }
}
