//! Expansion of `#[derive(Enum)]`: a unit-only Rust enum as an Avro enum whose symbols can be
//! added over versions, with a default symbol for readers that meet an unknown one.

use proc_macro2::TokenStream;
use quote::quote;

use crate::attr::{self, Container, ContainerKind, Errors, Version};
use crate::expand::{define_named, private};

pub struct Symbol {
    pub ident: syn::Ident,
    /// The Avro symbol: serde's `rename`, its `rename_all` rule, or the variant's name.
    pub name: String,
    pub since: u32,
    pub default: bool,
}

pub struct AvroEnum<'a> {
    pub ident: &'a syn::Ident,
    pub name: String,
    pub container: Container,
    pub doc: Option<String>,
    pub symbols: Vec<Symbol>,
}

pub fn parse<'a>(input: &'a syn::DeriveInput, errors: &mut Errors) -> Option<AvroEnum<'a>> {
    let syn::Data::Enum(data) = &input.data else {
        errors.at(input.ident.span(), "`strata::Enum` derives on enums whose variants carry no data; structs derive `strata::Record`");
        return None;
    };
    let container = attr::container(&input.attrs, ContainerKind::Enum, errors);
    let serde = attr::serde(&input.attrs, errors);
    let name = attr::type_name(&container, &serde, &input.ident, errors);
    let mut symbols = Vec::new();
    let mut default_seen = false;
    for variant in &data.variants {
        if !matches!(variant.fields, syn::Fields::Unit) {
            errors.at(
                variant.ident.span(),
                format!("`{}` carries data; an Avro enum's symbols carry none", variant.ident),
            );
            continue;
        }
        let attrs = attr::variant(&variant.attrs, true, errors);
        if let Some(span) = attrs.default {
            if default_seen {
                errors.at(span, "only one symbol can be the default");
            }
            default_seen = true;
        }
        let since = attrs.added.map(|Version { value, .. }| value).unwrap_or(1);
        let symbol = match (attr::serde(&variant.attrs, errors).rename, serde.rename_all) {
            (Some(rename), _) => rename.value(),
            (None, Some(case)) => case.variant(&variant.ident.to_string()),
            (None, None) => variant.ident.to_string(),
        };
        crate::check::avro_name(&symbol, variant.ident.span(), errors);
        symbols.push(Symbol {
            ident: variant.ident.clone(),
            name: symbol,
            since,
            default: attrs.default.is_some(),
        });
    }
    crate::check::avro_name(&name, input.ident.span(), errors);
    if symbols.is_empty() {
        errors.at(input.ident.span(), "an Avro enum needs at least one symbol");
    }
    Some(AvroEnum { ident: &input.ident, name, doc: attr::doc(&input.attrs), container, symbols })
}

pub fn expand(e: &AvroEnum<'_>) -> TokenStream {
    let p = private();
    let ident = e.ident;
    let define = define_named(e.container.namespace.as_ref(), &e.name, &e.container.renames);
    let doc = match &e.doc {
        Some(doc) => quote! { ::core::option::Option::Some(::std::string::String::from(#doc)) },
        None => quote! { ::core::option::Option::None },
    };
    let symbols = e.symbols.iter().map(|s| {
        let symbol = &s.name;
        let since = s.since;
        quote! { (#symbol, #since) }
    });
    let default = match e.symbols.iter().find(|s| s.default) {
        Some(s) => {
            let symbol = &s.name;
            let since = s.since;
            quote! { (version >= #since).then(|| ::std::string::String::from(#symbol)) }
        }
        None => quote! { ::core::option::Option::None },
    };
    let arms = e.symbols.iter().map(|s| {
        let variant = &s.ident;
        let symbol = &s.name;
        quote! { #ident::#variant => #symbol }
    });
    // Symbol `i` at version `V` is the i-th of the symbols present then.
    let decode_arms = e.symbols.iter().map(|s| {
        let variant = &s.ident;
        let since = s.since;
        quote! {
            if #since <= V {
                if i == index {
                    return ::core::result::Result::Ok(#ident::#variant);
                }
                i += 1;
            }
        }
    });
    let sinces = e.symbols.iter().map(|s| s.since);
    let encode_arms = e.symbols.iter().enumerate().map(|(i, s)| {
        let variant = &s.ident;
        let i = i as i64;
        quote! { #ident::#variant => #i }
    });
    quote! {
        #[automatically_derived]
        #[allow(clippy::all, clippy::pedantic)]
        const _: () = {
            impl #p::Decode for #ident {
                #[inline]
                fn decode<const V: u32>(
                    r: &mut #p::Reader<'_>,
                ) -> ::core::result::Result<Self, #p::DecodeError> {
                    let symbols = [#(#sinces),*].iter().filter(|&&since| since <= V).count();
                    let index = r.read_symbol(symbols)?;
                    let mut i = 0usize;
                    #(#decode_arms)*
                    ::core::unreachable!("read_symbol checked the index against the symbols")
                }
            }

            impl #p::Encode for #ident {
                #[inline]
                fn encode(&self, out: &mut ::std::vec::Vec<u8>) {
                    #p::write_long(out, match self { #(#encode_arms,)* });
                }
            }

            impl #p::AvroType for #ident {
                fn schema(cx: &mut #p::SchemaCx) -> ::core::result::Result<#p::Schema, #p::SchemaError> {
                    let version = cx.version();
                    #define
                    let symbols: &[(&str, u32)] = &[#(#symbols),*];
                    let symbols = symbols
                        .iter()
                        .filter(|(_, since)| *since <= version)
                        .map(|(symbol, _)| ::std::string::String::from(*symbol))
                        .collect();
                    ::core::result::Result::Ok(#p::Schema::Enum(::std::boxed::Box::new(#p::EnumSchema {
                        name,
                        aliases,
                        doc: #doc,
                        symbols,
                        default: #default,
                    })))
                }

                fn default_json(&self) -> ::core::result::Result<#p::Value, #p::JsonError> {
                    ::core::result::Result::Ok(#p::Value::from(match self { #(#arms,)* }))
                }
            }
        };
    }
}
