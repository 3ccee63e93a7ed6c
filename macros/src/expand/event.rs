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
    let rust_name = quote_spanned! {ident.span()=> ::core::concat!(::core::module_path!(), "::", ::core::stringify!(#ident)) };
    let location = quote_spanned! {ident.span()=> #p::SourceLocation { file: ::core::file!(), line: ::core::line!() } };
    quote! {
        #[automatically_derived]
        #[allow(clippy::all, clippy::pedantic)]
        const _: () = {
            impl #p::Event for #ident {
                const TOPIC: &'static str = #topic;
                const VERSION: u32 = #latest;
                fn schema_at(version: u32) -> ::core::result::Result<#p::Schema, #p::SchemaError> {
                    #p::union_schema(#namespace, version, &[#(#branches),*])
                }
            }

            #p::inventory::submit! {
                #p::EventType::of::<#ident>(#rust_name, #location)
            }

            #(#record_checks)*
            #(#from_record)*
        };
    }
}
