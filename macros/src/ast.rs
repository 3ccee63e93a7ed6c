//! Our typed view of the input: a record's fields with their whole history, an event's
//! variants with their lifetimes. Derived facts are query methods, not flags set while parsing.
//!
//! Lifetimes are half-open: a field or variant is present from `since` up to, but not
//! including, `until`.

use proc_macro2::Span;
use syn::{Expr, Ident, LitStr, Type};

use crate::attr::{self, Change, Container, ContainerKind, Errors, FnName, Rename, Version};

/// `until` of something never removed.
pub const FOREVER: u32 = u32::MAX;

/// A field of a record over its whole life, live or removed.
pub struct Field {
    /// The Rust name in the latest struct, or the removed field's last name.
    pub ident: Ident,
    /// The latest Avro name.
    pub name: String,
    /// Whether the latest struct has it.
    pub live: bool,
    pub doc: Option<String>,
    pub since: u32,
    pub since_span: Span,
    pub until: u32,
    /// Earlier names, ascending by the version that replaced them.
    pub renames: Vec<Rename>,
    /// Earlier types, ascending by the version that replaced them.
    pub changes: Vec<Change>,
    /// The latest type.
    pub ty: Type,
    /// The default, from `since` on.
    pub default: Option<Expr>,
    /// Computes the value when the field is added.
    pub added_upgrade: Option<FnName>,
    /// Whether `removed(..., discard)` was given.
    pub discard: bool,
    /// `removed(..., upgrade = "f")`: the record step that carries the value forward.
    pub removed_upgrade: Option<FnName>,
    pub span: Span,
}

impl Field {
    pub fn present(&self, version: u32) -> bool {
        self.since <= version && version < self.until
    }

    /// The Avro name at `version`.
    pub fn name_at(&self, version: u32) -> String {
        self.renames
            .iter()
            .find(|r| r.version.value > version)
            .map(|r| r.from.value())
            .unwrap_or_else(|| self.name.clone())
    }

    /// The Rust type at `version`.
    pub fn ty_at(&self, version: u32) -> &Type {
        self.changes.iter().find(|c| c.version.value > version).map(|c| &c.from).unwrap_or(&self.ty)
    }

    /// The type change that takes effect exactly at `version`.
    pub fn change_at(&self, version: u32) -> Option<&Change> {
        self.changes.iter().find(|c| c.version.value == version)
    }

    /// Every version at which this field's presence, name or type changes.
    pub fn breakpoints(&self) -> impl Iterator<Item = u32> + '_ {
        let edges = [self.since, self.until].into_iter().filter(|&v| v > 1 && v != FOREVER);
        edges
            .chain(self.renames.iter().map(|r| r.version.value))
            .chain(self.changes.iter().map(|c| c.version.value))
    }

    /// The distinct types the field has had, each with the first version it applies to.
    pub fn type_segments(&self) -> Vec<(u32, &Type)> {
        let mut out = vec![(self.since, self.ty_at(self.since))];
        for change in &self.changes {
            out.push((change.version.value, self.ty_at(change.version.value)));
        }
        out
    }
}

/// A record: a struct deriving `Record`.
pub struct Record<'a> {
    /// The Avro name at the latest version: strata's `name`, serde's `rename`, or the Rust name.
    pub name: String,
    pub ident: &'a Ident,
    pub vis: &'a syn::Visibility,
    pub container: Container,
    pub doc: Option<String>,
    /// Every field, in schema order: live fields as declared, removed ones spliced in.
    pub fields: Vec<Field>,
}

impl Record<'_> {
    /// The versions at which the record's shape changes, ascending, starting with 1.
    pub fn breakpoints(&self) -> Vec<u32> {
        let mut out: Vec<u32> = std::iter::once(1)
            .chain(self.fields.iter().flat_map(Field::breakpoints))
            .chain(self.container.renames.iter().map(|r| r.version.value))
            .chain(self.container.steps.iter().map(|s| s.version.value))
            .collect();
        out.sort_unstable();
        out.dedup();
        out
    }

    /// The record-level upgrade into `version`, if any: `upgrade(in, with)` or a removed
    /// field's `upgrade`.
    pub fn step_at(&self, version: u32) -> Option<&FnName> {
        self.container.steps.iter().find(|s| s.version.value == version).map(|s| &s.with).or_else(
            || {
                self.fields
                    .iter()
                    .find(|f| f.until == version && f.removed_upgrade.is_some())
                    .and_then(|f| f.removed_upgrade.as_ref())
            },
        )
    }
}

pub fn record<'a>(input: &'a syn::DeriveInput, errors: &mut Errors) -> Option<Record<'a>> {
    let syn::Data::Struct(data) = &input.data else {
        errors.at(input.ident.span(), "`strata::Record` derives on structs with named fields; unit-only enums derive `strata::Enum`");
        return None;
    };
    let syn::Fields::Named(named) = &data.fields else {
        errors.at(
            input.ident.span(),
            "`strata::Record` needs named fields: an Avro record's fields have names",
        );
        return None;
    };
    if !input.generics.params.is_empty() {
        errors.at(
            input
                .generics
                .params
                .first()
                .map(syn::spanned::Spanned::span)
                .unwrap_or(input.ident.span()),
            "generic records are not supported: a record's schema must be one fixed type",
        );
        return None;
    }
    let container = attr::container(&input.attrs, ContainerKind::Record, errors);
    let serde = attr::serde(&input.attrs, errors);
    let name = attr::type_name(&container, &serde, &input.ident, errors);
    let mut fields = Vec::new();
    for field in &named.named {
        let ident = field.ident.clone().expect("named fields have idents");
        let attrs = attr::field(&field.attrs, errors);
        let mut renames = attrs.renames;
        renames.sort_by_key(|r| r.version.value);
        let mut changes = attrs.changes;
        changes.sort_by_key(|c| c.version.value);
        let added = attrs.added.unwrap_or_default();
        if let (Some(_), Some(d)) = (&added.default, &attrs.default) {
            errors.push(syn::Error::new_spanned(
                d,
                "the default is given twice: keep the one in `added(...)`",
            ));
        }
        let since = added.version.map(|v| v.value).unwrap_or(1);
        let since_span = added.version.map(|v| v.span).unwrap_or_else(|| ident.span());
        let rust_name = ident.to_string().trim_start_matches("r#").to_owned();
        let field_serde = attr::serde(&field.attrs, errors);
        let avro_name = match (field_serde.rename, serde.rename_all) {
            (Some(rename), _) => rename.value(),
            (None, Some(case)) => case.field(&rust_name),
            (None, None) => rust_name,
        };
        fields.push(Field {
            name: avro_name,
            ident,
            live: true,
            doc: attr::doc(&field.attrs),
            since,
            since_span,
            until: FOREVER,
            renames,
            changes,
            ty: field.ty.clone(),
            default: added.default.or(attrs.default),
            added_upgrade: added.upgrade,
            discard: false,
            removed_upgrade: None,
            span: syn::spanned::Spanned::span(field),
        });
    }
    for removed in &container.removed {
        let name = removed.field.value();
        let Ok(ident) = syn::parse_str::<Ident>(&name) else {
            errors.at(removed.field.span(), format!("`{name}` is not a valid field name"));
            continue;
        };
        let since = removed.added.map(|v| v.value).unwrap_or(1);
        let field = Field {
            ident,
            name,
            live: false,
            doc: None,
            since,
            since_span: removed.added.map(|v| v.span).unwrap_or(removed.span),
            until: removed.version.value,
            renames: Vec::new(),
            changes: Vec::new(),
            ty: removed.ty.clone(),
            default: removed.default.clone(),
            added_upgrade: None,
            discard: removed.discard,
            removed_upgrade: removed.upgrade.clone(),
            span: removed.span,
        };
        let position = position_after(
            &fields,
            removed.after.as_ref(),
            |f| f.name.clone(),
            "field",
            input,
            errors,
        );
        fields.insert(position, field);
    }
    Some(Record {
        name,
        ident: &input.ident,
        vis: &input.vis,
        doc: attr::doc(&input.attrs),
        container,
        fields,
    })
}

/// A variant of an event enum over its whole life, live or retired.
pub struct Variant {
    pub ident: Ident,
    pub ty: Type,
    pub since: Version,
    pub until: u32,
    pub live: bool,
    pub upgrade: Option<FnName>,
    pub span: Span,
}

/// An event enum deriving `Event`.
pub struct Event<'a> {
    pub ident: &'a Ident,
    pub container: Container,
    pub topic: LitStr,
    pub version: Version,
    /// Every variant in union order: live ones as declared, retired ones spliced in.
    pub variants: Vec<Variant>,
}

pub fn event<'a>(input: &'a syn::DeriveInput, errors: &mut Errors) -> Option<Event<'a>> {
    let syn::Data::Enum(data) = &input.data else {
        errors.at(input.ident.span(), "`strata::Event` derives on an enum of the aggregate's events, one variant per event record");
        return None;
    };
    if !input.generics.params.is_empty() {
        errors.at(input.ident.span(), "generic event enums are not supported");
        return None;
    }
    let before = errors.len();
    let container = attr::container(&input.attrs, ContainerKind::Event, errors);
    // A key that failed to parse was reported already; do not also call it missing.
    let attrs_parsed = errors.len() == before;
    let mut variants = Vec::new();
    for variant in &data.variants {
        let attrs = attr::variant(&variant.attrs, false, errors);
        let ty = match &variant.fields {
            syn::Fields::Unnamed(f) if f.unnamed.len() == 1 => f.unnamed[0].ty.clone(),
            _ => {
                errors.at(
                    variant.ident.span(),
                    format!(
                        "variant `{}` must carry exactly one record, as in `{}(MyRecord)`",
                        variant.ident, variant.ident
                    ),
                );
                continue;
            }
        };
        variants.push(Variant {
            ident: variant.ident.clone(),
            ty,
            since: attrs.added.unwrap_or(Version { value: 1, span: variant.ident.span() }),
            until: FOREVER,
            live: true,
            upgrade: None,
            span: variant.ident.span(),
        });
    }
    for retired in &container.retired {
        let Ok(ident) = syn::parse_str::<Ident>(&retired.variant.value()) else {
            errors.at(
                retired.variant.span(),
                format!("`{}` is not a valid variant name", retired.variant.value()),
            );
            continue;
        };
        let variant = Variant {
            ident,
            ty: retired.ty.clone(),
            since: retired.added.unwrap_or(Version { value: 1, span: retired.span }),
            until: retired.version.value,
            live: false,
            upgrade: retired.upgrade.clone(),
            span: retired.span,
        };
        let position = position_after(
            &variants,
            retired.after.as_ref(),
            |v| v.ident.to_string(),
            "variant",
            input,
            errors,
        );
        variants.insert(position, variant);
    }
    let topic = container.topic.clone();
    let version = container.version;
    if topic.is_none() && attrs_parsed {
        errors.at(input.ident.span(), "`strata::Event` needs `#[strata(topic = \"...\")]`: the topic holding the aggregate's events");
    }
    if version.is_none() && attrs_parsed {
        errors.at(input.ident.span(), "`strata::Event` needs `#[strata(version = N)]`: the latest version, which is the subject's latest version");
    }
    Some(Event { ident: &input.ident, container, topic: topic?, version: version?, variants })
}

/// Where a removed field or retired variant goes: right after the one `after` names, or last.
fn position_after<T>(
    items: &[T],
    after: Option<&LitStr>,
    name_of: impl Fn(&T) -> String,
    what: &str,
    input: &syn::DeriveInput,
    errors: &mut Errors,
) -> usize {
    let Some(after) = after else { return items.len() };
    match items.iter().position(|item| name_of(item) == after.value()) {
        Some(i) => i + 1,
        None => {
            let message =
                format!("`after = \"{}\"` names no {what} of `{}`", after.value(), input.ident);
            errors.at(after.span(), message);
            items.len()
        }
    }
}
