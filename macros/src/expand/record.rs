//! Expansion of `#[derive(Record)]`: the typed views of every historical shape, the upgrade
//! steps between them, the schema at any version, and the `Record` and `View` impls.

use proc_macro2::{Ident, TokenStream};
use quote::{format_ident, quote, quote_spanned};
use syn::spanned::Spanned;

use crate::ast::{FOREVER, Field, Record};
use crate::expand::{define_named, field_ident, private, view_ident};

pub fn expand(record: &Record<'_>) -> TokenStream {
    let breakpoints = record.breakpoints();
    let latest = *breakpoints.last().expect("breakpoints start with version 1");
    let p = private();
    let ident = record.ident;

    let views = breakpoints.windows(2).map(|pair| view(record, pair[0], pair[1], latest));
    let latest_alias = latest_alias(record, latest);
    let latest_view = view_impl(record, ident, latest);
    let schema = schema_fn(record);
    let default_json = default_json_fn(record);
    let changes = &breakpoints;
    let codec = crate::expand::codec::record(record);
    let state = state_registration(record);
    let avro_name = &record.name;
    let file = quote_spanned! {ident.span()=> ::core::file!() };
    let line = quote_spanned! {ident.span()=> ::core::line!() };
    // The decoder of each version's data: the shape that version had, upgraded to the latest.
    let decoder_arms = breakpoints.iter().enumerate().map(|(i, &start)| {
        let decode = quote! { #p::Option::Some(<#ident as #p::Decode>::decode::<#start>) };
        match breakpoints.get(i + 1) {
            Some(&next) => {
                let end = next - 1;
                quote! { #start..=#end => #decode, }
            }
            None => quote! { #start => #decode, },
        }
    });
    let field_lines = record.fields.iter().filter(|f| f.live).map(|f| {
        let name = &f.name;
        let line = quote_spanned! {f.ident.span()=> ::core::line!() };
        quote! { (#name, #line) }
    });

    quote! {
        #(#views)*
        #latest_alias

        #[automatically_derived]
        #[allow(clippy::all, clippy::pedantic)]
        const _: () = {
            #latest_view

            impl #p::AvroType for #ident {
                #schema
                #default_json
            }

            impl #p::Record for #ident {
                const CHANGES: &'static [u32] = &[#(#changes),*];
                const SOURCE: #p::RecordSource = #p::RecordSource {
                    name: #avro_name,
                    file: #file,
                    line: #line,
                    fields: &[#(#field_lines),*],
                };

                fn decoder(version: u32) -> #p::Option<#p::DecodeFn<Self>> {
                    match version {
                        #(#decoder_arms)*
                        _ => #p::Option::None,
                    }
                }
            }

            #codec

            #p::inventory::submit! { <#ident as #p::Record>::SOURCE }

            #state
        };
    }
}

/// A state type (`#[strata(state)]`) registers its history, to be locked in `schemas/` like an
/// event type's.
fn state_registration(record: &Record<'_>) -> TokenStream {
    let Some(span) = record.container.state else { return TokenStream::new() };
    let p = private();
    let ident = record.ident;
    let full_name = match &record.container.namespace {
        Some(namespace) => format!("{}.{}", namespace.value(), record.name),
        None => record.name.clone(),
    };
    let rust_name = quote_spanned! {span=> ::core::concat!(::core::module_path!(), "::", ::core::stringify!(#ident)) };
    let location = quote_spanned! {ident.span()=> #p::SourceLocation { file: ::core::file!(), line: ::core::line!() } };
    quote! {
        #p::inventory::submit! {
            #p::VersionedType::state::<#ident>(#rust_name, #full_name, #location, &[<#ident as #p::Record>::SOURCE])
        }
    }
}

/// `AccountOpenedV3`, an alias of the record while 3 is its latest shape: the name that shape
/// keeps as a view once a later version changes the record. An upgrade function written
/// against it (`fn(AccountOpenedV2) -> Result<AccountOpenedV3, _>`) then needs no rewrite.
fn latest_alias(record: &Record<'_>, latest: u32) -> TokenStream {
    if latest == 1 {
        return TokenStream::new();
    }
    let vis = record.vis;
    let ident = record.ident;
    let alias = format_ident!("{}V{}", ident, latest);
    let doc = format!(
        "`{ident}` as it is since version {latest}, its latest shape, under the name the shape keeps as a view when a later version changes `{ident}`: upgrade functions that return it need no rewrite then."
    );
    quote! {
        #[doc = #doc]
        #[allow(dead_code)]
        #vis type #alias = #ident;
    }
}

fn view(record: &Record<'_>, version: u32, next: u32, latest: u32) -> TokenStream {
    let p = private();
    let vis = record.vis;
    let ident = view_ident(record, version, latest);
    let next_ident = view_ident(record, next, latest);
    let record_ident = record.ident;
    let doc = format!(
        "`{record_ident}` as it was from version {version} up to version {next}: a typed view generated by `strata::Record`."
    );
    let present: Vec<&Field> = record.fields.iter().filter(|f| f.present(version)).collect();
    let field_defs = present.iter().map(|f| {
        let name = field_ident(f, version, latest);
        let ty = f.ty_at(version);
        let doc = f.doc.iter();
        quote! { #(#[doc = #doc])* pub #name: #ty }
    });
    let upgrade = upgrade_body(record, version, next, latest);
    let next_doc = format!("Upgrades to the shape of version {next}.");
    let view_impl = view_impl(record, &ident, latest);
    quote! {
        #[doc = #doc]
        #[derive(Debug, Clone, PartialEq)]
        #vis struct #ident {
            #(#field_defs,)*
        }

        #[automatically_derived]
        #[allow(clippy::all, clippy::pedantic)]
        impl #ident {
            #[doc = #next_doc]
            pub fn upgrade(self) -> ::core::result::Result<#next_ident, #p::UpcastError> {
                let step = || -> ::core::result::Result<#next_ident, #p::UpcastError> { #upgrade };
                step().map_err(|e| e.at_step(::core::stringify!(#record_ident), #version, #next))
            }
        }

        #[automatically_derived]
        const _: () = { #view_impl };
    }
}

fn view_impl(record: &Record<'_>, ident: &Ident, latest: u32) -> TokenStream {
    let p = private();
    let record_ident = record.ident;
    let version = if ident == record_ident {
        latest
    } else {
        ident
            .to_string()
            .rsplit_once('V')
            .and_then(|(_, v)| v.parse().ok())
            .expect("view names end in V<version>")
    };
    let upcast = if ident == record_ident {
        quote! { ::core::result::Result::Ok(self) }
    } else {
        quote! { #p::View::upcast(self.upgrade()?) }
    };
    quote! {
        impl #p::View for #ident {
            type Latest = #record_ident;
            const VERSION: u32 = #version;
            fn upcast(self) -> ::core::result::Result<#record_ident, #p::UpcastError> {
                #upcast
            }
        }
    }
}

/// The body of the step from the view at `version` to the one at `next`.
fn upgrade_body(record: &Record<'_>, version: u32, next: u32, latest: u32) -> TokenStream {
    let p = private();
    let this = view_ident(record, version, latest);
    let next_ident = view_ident(record, next, latest);
    if let Some(step) = record.step_at(next) {
        let path = &step.path;
        return quote_spanned! {step.span=>
            let upgrade: fn(#this) -> ::core::result::Result<#next_ident, #p::UpcastError> = #path;
            upgrade(self)
        };
    }
    let mut computed = Vec::new();
    let mut moved = Vec::new();
    let mut built = Vec::new();
    for field in &record.fields {
        let before = field.present(version);
        let after = field.present(next);
        let binding = format_ident!("__{}", field.ident.to_string().trim_start_matches("r#"));
        if before {
            let old = field_ident(field, version, latest);
            if after {
                moved.push(quote! { #old: #binding });
            } else {
                moved.push(quote! { #old: _ });
            }
        }
        if !after {
            continue;
        }
        let new = field_ident(field, next, latest);
        let ty = field.ty_at(next);
        // Values computed from `&self` are bound before `self` is taken apart.
        let computed_binding =
            format_ident!("__new_{}", field.ident.to_string().trim_start_matches("r#"));
        let value = if !before {
            added_value(field, &this, ty)
        } else if let Some(change) = field.change_at(next) {
            match &change.upgrade {
                Some(f) => {
                    let path = &f.path;
                    computed.push(quote_spanned! {f.span=>
                        let #computed_binding = {
                            let upgrade: fn(&#this) -> ::core::result::Result<#ty, #p::UpcastError> = #path;
                            upgrade(&self)?
                        };
                    });
                    quote! { #computed_binding }
                }
                None => quote_spanned! {ty.span()=> <_ as #p::Promote<#ty>>::promote(#binding)? },
            }
        } else {
            quote! { #binding }
        };
        if !before && field.added_upgrade.is_some() {
            computed.push(quote! { let #computed_binding = #value; });
            built.push(quote! { #new: #computed_binding });
        } else {
            built.push(quote! { #new: #value });
        }
    }
    quote! {
        #(#computed)*
        let #this { #(#moved,)* } = self;
        ::core::result::Result::Ok(#next_ident { #(#built,)* })
    }
}

/// The value of a field that appears at this step: computed, defaulted, or `None`.
fn added_value(field: &Field, this: &Ident, ty: &syn::Type) -> TokenStream {
    let p = private();
    if let Some(f) = &field.added_upgrade {
        let path = &f.path;
        return quote_spanned! {f.span=>
            {
                let upgrade: fn(&#this) -> ::core::result::Result<#ty, #p::UpcastError> = #path;
                upgrade(&self)?
            }
        };
    }
    match &field.default {
        Some(default) => {
            quote_spanned! {default.span()=> <#ty as ::core::convert::From<_>>::from(#default) }
        }
        // `check::added_field_has_a_value` lets only optional fields through without a value.
        None => quote! { ::core::option::Option::None },
    }
}

fn schema_fn(record: &Record<'_>) -> TokenStream {
    let p = private();
    let ident = record.ident;
    let define =
        define_named(record.container.namespace.as_ref(), &record.name, &record.container.renames);
    let doc = match &record.doc {
        Some(doc) => quote! { ::core::option::Option::Some(::std::string::String::from(#doc)) },
        None => quote! { ::core::option::Option::None },
    };
    let fields = record.fields.iter().map(|field| {
        let renames = field.renames.iter().map(|r| {
            let from = &r.from;
            let v = r.version.value;
            quote! { (#from, #v) }
        });
        let name = &field.name;
        let field_doc = match &field.doc {
            Some(doc) => quote! { ::core::option::Option::Some(#doc) },
            None => quote! { ::core::option::Option::None },
        };
        let (since, until) = (field.since, field.until);
        let until = if until == FOREVER { quote!(u32::MAX) } else { quote!(#until) };
        let segments = field.type_segments();
        // The type, and the default in that type, in force at `version`.
        let mut arms = Vec::new();
        for (i, (from, ty)) in segments.iter().enumerate() {
            let schema = quote_spanned! {ty.span()=> <#ty as #p::FieldType>::field_schema };
            let default = match &field.default {
                Some(default) => quote_spanned! {default.span()=>
                    ::core::option::Option::Some(|| #p::FieldType::field_default_json(
                        &<#ty as ::core::convert::From<_>>::from(#default)
                    ))
                },
                None => quote! { ::core::option::Option::None },
            };
            let condition = match segments.get(i + 1) {
                Some((until, _)) => quote! { version >= #from && version < #until },
                None => quote! { true },
            };
            let implicit = quote_spanned! {ty.span()=> <#ty as #p::FieldType>::field_implicit_default };
            arms.push(quote! { if #condition { (#schema as fn(&mut #p::SchemaCx) -> _, #default, #implicit as fn() -> _) } });
        }
        quote! {
            {
                const SPEC: #p::FieldSpec = #p::FieldSpec {
                    name: #name,
                    renames: &[#(#renames),*],
                    doc: #field_doc,
                    since: #since,
                    until: #until,
                };
                if SPEC.present(version) {
                    let (schema, default, implicit): (
                        fn(&mut #p::SchemaCx) -> ::core::result::Result<#p::Schema, #p::SchemaError>,
                        ::core::option::Option<fn() -> ::core::result::Result<#p::Value, #p::JsonError>>,
                        fn() -> ::core::option::Option<#p::Value>,
                    ) = #(#arms else)* { ::core::unreachable!() };
                    fields.push(#p::field(cx, &SPEC, schema, default, implicit)?);
                }
            }
        }
    });
    quote! {
        fn schema(cx: &mut #p::SchemaCx) -> ::core::result::Result<#p::Schema, #p::SchemaError> {
            let version = cx.version();
            #define
            let namespace = name.namespace.clone();
            cx.in_namespace(namespace.as_deref(), |cx| {
                cx.within(::core::stringify!(#ident), |cx| {
                    let mut fields = ::std::vec::Vec::new();
                    #(#fields)*
                    ::core::result::Result::Ok(#p::Schema::Record(::std::boxed::Box::new(#p::RecordSchema {
                        name,
                        aliases,
                        doc: #doc,
                        fields,
                    })))
                })
            })
        }
    }
}

fn default_json_fn(record: &Record<'_>) -> TokenStream {
    let p = private();
    let entries = record.fields.iter().filter(|f| f.live).map(|f| {
        let ident = &f.ident;
        let name = &f.name;
        let ty = &f.ty;
        let value =
            quote_spanned! {ty.span()=> <#ty as #p::FieldType>::field_default_json(&self.#ident)? };
        quote! { object.insert(::std::string::String::from(#name), #value); }
    });
    quote! {
        fn default_json(&self) -> ::core::result::Result<#p::Value, #p::JsonError> {
            let mut object = #p::JsonMap::new();
            #(#entries)*
            ::core::result::Result::Ok(#p::Value::Object(object))
        }
    }
}
