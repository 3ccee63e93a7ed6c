//! Expansion of `#[derive(Event)]`: the topic schema of every version, the registration that
//! lets the xtask find the type, and compile-time checks that reach into the variants' records.

use proc_macro2::TokenStream;
use quote::{quote, quote_spanned};
use syn::spanned::Spanned;

use crate::ast::{Event, FOREVER};
use crate::expand::{option_str, private};

pub fn expand(event: &Event<'_>) -> TokenStream {
    let p = private();
    let ident = event.ident;
    let topic = &event.topic;
    let latest = event.version.value;
    let namespace = option_str(event.container.namespace.as_ref());
    let branches = event.variants.iter().map(|v| {
        let ty = &v.ty;
        let since = v.since.value;
        let until = if v.until == FOREVER {
            quote!(u32::MAX)
        } else {
            let u = v.until;
            quote!(#u)
        };
        let schema = quote_spanned! {ty.span()=> <#ty as #p::AvroType>::schema };
        quote! { (#since, #until, #schema as fn(&mut #p::SchemaCx) -> _) }
    });
    // A record may not change after the event's latest version: checked here for the records
    // the enum names; changes in nested records are caught by the history check.
    let record_checks = event.variants.iter().map(|v| {
        let ty = &v.ty;
        let message = format!(
            "a record of `{ident}` declares a change after version {latest}, the event's latest version; raise `version`"
        );
        quote_spanned! {ty.span()=>
            const _: () = ::core::assert!(#p::last_change(<#ty as #p::Record>::CHANGES) <= #latest, #message);
        }
    });
    // Every record of the history builds the latest event: a current one as its variant, a
    // retired one through its upgrade function, bound with its signature at the attribute.
    let from_record = event.variants.iter().map(|v| {
        let ty = &v.ty;
        let body = if v.live {
            let variant = &v.ident;
            quote! { ::core::result::Result::Ok(#ident::#variant(record)) }
        } else {
            let upgrade =
                v.upgrade.as_ref().expect("check::event requires an upgrade on retired variants");
            let path = &upgrade.path;
            quote_spanned! {upgrade.span=>
                let upgrade: fn(#ty) -> ::core::result::Result<#ident, #p::UpcastError> = #path;
                upgrade(record)
            }
        };
        quote! {
            impl #p::FromRecord<#ty> for #ident {
                fn from_record(record: #ty) -> ::core::result::Result<Self, #p::UpcastError> {
                    #body
                }
            }
        }
    });
    // Branch `i` at version `V` is the i-th of the variants present then.
    let decode_arms = event.variants.iter().map(|v| {
        let ty = &v.ty;
        let since = v.since.value;
        let until = v.until;
        quote! {
            if #since <= V && V < #until {
                if i == index {
                    let record = <#ty as #p::Decode>::decode::<V>(r)?;
                    return <Self as #p::FromRecord<#ty>>::from_record(record)
                        .map_err(|e| #p::DecodeError::upcast(e, r.offset()));
                }
                i += 1;
            }
        }
    });
    let windows = event.variants.iter().map(|v| {
        let since = v.since.value;
        let until = v.until;
        quote! { (#since, #until) }
    });
    let live: Vec<_> = event.variants.iter().filter(|v| v.live).collect();
    let encode_arms = live.iter().enumerate().map(|(i, v)| {
        let variant = &v.ident;
        let i = i as i64;
        quote! {
            #ident::#variant(record) => {
                #p::write_long(out, #i);
                #p::Encode::encode(record, out);
            }
        }
    });
    let branch_arms = live.iter().enumerate().map(|(i, v)| {
        let variant = &v.ident;
        quote! { #ident::#variant(_) => #i }
    });
    let record_arms = live.iter().map(|v| {
        let variant = &v.ident;
        quote! { #ident::#variant(record) => #p::Encode::encode(record, out) }
    });
    let json_arms = live.iter().map(|v| {
        let variant = &v.ident;
        quote! { #ident::#variant(record) => #p::AvroType::default_json(record) }
    });
    let breaks = event.container.breaks.iter().map(|b| {
        let v = b.version.value;
        let reason = &b.reason;
        quote! { (#v, #reason) }
    });
    let versions = 1..=latest;
    let decoders = versions
        .map(|v| quote! { #v => ::core::option::Option::Some(<Self as #p::Decode>::decode::<#v>) });
    let record_sources = event.variants.iter().map(|v| {
        let ty = &v.ty;
        quote_spanned! {ty.span()=> <#ty as #p::Record>::SOURCE }
    });
    let rust_name = quote_spanned! {ident.span()=> ::core::concat!(::core::module_path!(), "::", ::core::stringify!(#ident)) };
    let location = quote_spanned! {ident.span()=> #p::SourceLocation { file: ::core::file!(), line: ::core::line!() } };
    let (key_const, key_impl) = match &event.container.key {
        Some(ty) => (
            quote_spanned! {ty.span()=>
                const KEY: ::core::option::Option<#p::KeySchema> =
                    ::core::option::Option::Some(#p::KeySchema::of::<#ty>());
            },
            quote! {
                impl #p::Keyed for #ident {
                    type Key = #ty;
                }

                #p::inventory::submit! {
                    #p::VersionedType::key::<#ident>(
                        ::core::concat!(::core::module_path!(), "::", ::core::stringify!(#ty)),
                        #location,
                    )
                }
            },
        ),
        None => (TokenStream::new(), TokenStream::new()),
    };
    quote! {
        #[automatically_derived]
        #[allow(clippy::all, clippy::pedantic)]
        const _: () = {
            impl #p::Event for #ident {
                const TOPIC: &'static str = #topic;
                const VERSION: u32 = #latest;
                const BREAKS: &'static [(u32, &'static str)] = &[#(#breaks),*];
                #key_const
                fn schema_at(version: u32) -> ::core::result::Result<#p::Schema, #p::SchemaError> {
                    #p::union_schema(#namespace, version, &[#(#branches),*])
                }

                fn to_json(&self) -> ::core::result::Result<#p::Value, #p::JsonError> {
                    match self { #(#json_arms,)* }
                }

                fn decoder(version: u32) -> ::core::option::Option<#p::DecodeFn<Self>> {
                    match version {
                        #(#decoders,)*
                        _ => ::core::option::Option::None,
                    }
                }

                #[inline]
                fn branch(&self) -> usize {
                    match self { #(#branch_arms,)* }
                }

                #[inline]
                fn encode_record(&self, out: &mut ::std::vec::Vec<u8>) {
                    match self { #(#record_arms,)* }
                }
            }

            impl #p::Decode for #ident {
                #[inline]
                fn decode<const V: u32>(
                    r: &mut #p::Reader<'_>,
                ) -> ::core::result::Result<Self, #p::DecodeError> {
                    let windows: &[(u32, u32)] = &[#(#windows),*];
                    let branches = windows.iter().filter(|&&(since, until)| since <= V && V < until).count();
                    let index = r.read_branch(branches)?;
                    let mut i = 0usize;
                    #(#decode_arms)*
                    ::core::unreachable!("read_branch checked the index against the branches")
                }
            }

            impl #p::Encode for #ident {
                #[inline]
                fn encode(&self, out: &mut ::std::vec::Vec<u8>) {
                    match self {
                        #(#encode_arms)*
                    }
                }
            }

            #p::inventory::submit! {
                #p::VersionedType::with_records::<#ident>(#rust_name, #location, &[#(#record_sources),*])
            }

            #key_impl
            #(#record_checks)*
            #(#from_record)*
        };
    }
}
