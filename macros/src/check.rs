//! Rules that need more than one attribute, one small function per rule. Each pushes errors
//! spanned on the smallest wrong token; expansion runs only when all of them pass.

use quote::ToTokens;
use syn::Type;

use crate::ast::{Event, Field, Record};
use crate::attr::Errors;

pub fn record(record: &Record<'_>, errors: &mut Errors) {
    for field in &record.fields {
        field_lifetime(field, errors);
        no_duplicate_versions(field, errors);
        added_field_has_a_value(record, field, errors);
        removed_field_says_where_its_value_goes(field, errors);
        retype_is_promotion_or_has_upgrade(record, field, errors);
        field_upgrade_not_shadowed_by_record_upgrade(record, field, errors);
        let name_span = if field.live { field.ident.span() } else { field.span };
        avro_name(&field.name, name_span, errors);
        for rename in &field.renames {
            avro_name(&rename.from.value(), rename.from.span(), errors);
        }
    }
    avro_name(&record.name, record.ident.span(), errors);
    removed_field_names_are_free(record, errors);
    record_renames_and_steps(record, errors);
}

/// A rename or retype happens after the field's first version and before its removal.
fn field_lifetime(field: &Field, errors: &mut Errors) {
    if field.until <= field.since {
        errors.at(
            field.span,
            format!(
                "`{}` is removed in version {} but added in version {}: removal comes after",
                field.name, field.until, field.since
            ),
        );
    }
    let versions =
        field.renames.iter().map(|r| r.version).chain(field.changes.iter().map(|c| c.version));
    for version in versions {
        if version.value <= field.since {
            errors.at(
                version.span,
                format!(
                    "`{}` first appears in version {}; a rename or retype takes effect in a later version",
                    field.name, field.since
                ),
            );
        } else if version.value >= field.until {
            errors.at(
                version.span,
                format!(
                    "`{}` is removed in version {}, before this change",
                    field.name, field.until
                ),
            );
        }
    }
}

/// A field is renamed at most once, and retyped at most once, per version.
fn no_duplicate_versions(field: &Field, errors: &mut Errors) {
    for (i, rename) in field.renames.iter().enumerate() {
        if field.renames[..i].iter().any(|r| r.version.value == rename.version.value) {
            errors.at(
                rename.version.span,
                format!("`{}` is renamed twice in version {}", field.name, rename.version.value),
            );
        }
    }
    for (i, change) in field.changes.iter().enumerate() {
        if field.changes[..i].iter().any(|c| c.version.value == change.version.value) {
            errors.at(
                change.version.span,
                format!("`{}` is retyped twice in version {}", field.name, change.version.value),
            );
        }
    }
}

/// A field added after version 1 says what older data becomes: a default (optional fields
/// default to `None`) or an upgrade function, or the record's upgrade for that version.
fn added_field_has_a_value(record: &Record<'_>, field: &Field, errors: &mut Errors) {
    if field.since == 1 || field.default.is_some() || field.added_upgrade.is_some() {
        return;
    }
    if is_option(field.ty_at(field.since)) || record.step_at(field.since).is_some() {
        return;
    }
    errors.at(
        field.since_span,
        format!(
            "`{}` is added in version {} without a value for older data: give it `default = ...` or `upgrade = \"fn\"`",
            field.name, field.since
        ),
    );
}

/// A removed field names the upgrade that carries its value forward, or says `discard`.
fn removed_field_says_where_its_value_goes(field: &Field, errors: &mut Errors) {
    if field.live || field.removed_upgrade.is_some() || field.discard {
        return;
    }
    errors.at(
        field.span,
        format!(
            "removed field `{}` needs `upgrade = \"fn\"` (a record upgrade into version {} that carries its value forward) or `discard` (its value is dropped)",
            field.name, field.until
        ),
    );
}

/// A retype that Avro cannot resolve by itself names an upgrade function.
fn retype_is_promotion_or_has_upgrade(record: &Record<'_>, field: &Field, errors: &mut Errors) {
    for change in &field.changes {
        if change.upgrade.is_some() || record.step_at(change.version.value).is_some() {
            continue;
        }
        let to = field.ty_at(change.version.value);
        if !is_promotion(&change.from, to) {
            errors.at(
                change.version.span,
                format!(
                    "`{}` changes from `{}` to `{}` in version {}, which is not an Avro promotion; name an upgrade function: `upgrade = \"fn\"`",
                    field.name,
                    change.from.to_token_stream(),
                    to.to_token_stream(),
                    change.version.value
                ),
            );
        }
    }
}

/// Where a record upgrade builds a whole version, field upgrades into it would never run.
fn field_upgrade_not_shadowed_by_record_upgrade(
    record: &Record<'_>,
    field: &Field,
    errors: &mut Errors,
) {
    let field_upgrades = field.added_upgrade.iter().map(|f| (field.since, f)).chain(
        field.changes.iter().filter_map(|c| c.upgrade.as_ref().map(|f| (c.version.value, f))),
    );
    for (version, upgrade) in field_upgrades {
        if let Some(step) = record.step_at(version) {
            errors.at(
                upgrade.span,
                format!(
                    "version {version} of `{}` is built by the record upgrade `{}`; this field upgrade would never run",
                    record.ident,
                    step.path.to_token_stream()
                ),
            );
        }
    }
}

/// A removed field's name is not used by a live field while both exist.
fn removed_field_names_are_free(record: &Record<'_>, errors: &mut Errors) {
    for (i, field) in record.fields.iter().enumerate() {
        for other in &record.fields[..i] {
            let overlap = field.since < other.until && other.since < field.until;
            if overlap && field.name == other.name {
                errors.at(
                    field.span,
                    format!("two fields are named `{}` while both exist", field.name),
                );
            }
        }
    }
}

/// Record renames and record upgrades take effect from version 2 on, once per version.
fn record_renames_and_steps(record: &Record<'_>, errors: &mut Errors) {
    let versions = record
        .container
        .renames
        .iter()
        .map(|r| (r.version, "renamed"))
        .chain(record.container.steps.iter().map(|s| (s.version, "upgraded")));
    let mut seen: Vec<(u32, &str)> = Vec::new();
    for (version, what) in versions {
        if version.value == 1 {
            errors.at(
                version.span,
                "version 1 is the first; a change takes effect in version 2 or later",
            );
        }
        if seen.contains(&(version.value, what)) {
            errors.at(
                version.span,
                format!("`{}` is {what} twice in version {}", record.ident, version.value),
            );
        }
        seen.push((version.value, what));
    }
    for rename in &record.container.renames {
        avro_name(&rename.from.value(), rename.from.span(), errors);
    }
}

/// Avro names start with a letter or `_` and continue with letters, digits and `_`.
pub fn avro_name(name: &str, span: proc_macro2::Span, errors: &mut Errors) {
    let mut chars = name.chars();
    let valid = chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_');
    if !valid {
        errors.at(span, format!("`{name}` is not a valid Avro name: use letters, digits and `_`, not starting with a digit"));
    }
}

pub fn event(event: &Event<'_>, errors: &mut Errors) {
    let latest = event.version.value;
    topic_name(event, errors);
    declared_breaks(event, errors);
    for variant in &event.variants {
        // A variant's versions lie within the event's.
        if variant.since.value > latest {
            errors.at(
                variant.since.span,
                format!(
                    "`{}` is added in version {}, after the latest version {latest}",
                    variant.ident, variant.since.value
                ),
            );
        }
        if !variant.live {
            if variant.until > latest {
                errors.at(
                    variant.span,
                    format!(
                        "`{}` is retired in version {}, after the latest version {latest}",
                        variant.ident, variant.until
                    ),
                );
            }
            if variant.until <= variant.since.value {
                errors.at(
                    variant.span,
                    format!(
                        "`{}` is retired in version {} but added in version {}",
                        variant.ident, variant.until, variant.since.value
                    ),
                );
            }
            if variant.upgrade.is_none() {
                errors.at(
                    variant.span,
                    format!("retired variant `{}` needs `upgrade = \"fn\"` mapping its record into a current event", variant.ident),
                );
            }
        }
    }
    // A union holds each named type once, and every version has at least one event.
    for (i, variant) in event.variants.iter().enumerate() {
        for other in &event.variants[..i] {
            let overlap = variant.since.value < other.until && other.since.value < variant.until;
            if overlap
                && variant.ty.to_token_stream().to_string()
                    == other.ty.to_token_stream().to_string()
            {
                errors.at(
                    variant.span,
                    format!(
                        "`{}` and `{}` carry the same record; a union holds each record once",
                        other.ident, variant.ident
                    ),
                );
            }
            if variant.ident == other.ident {
                errors.at(variant.span, format!("two variants are named `{}`", variant.ident));
            }
        }
    }
    for version in 1..=latest {
        if !event.variants.iter().any(|v| v.since.value <= version && version < v.until) {
            errors.at(
                event.version.span,
                format!("version {version} of `{}` has no events", event.ident),
            );
        }
    }
}

/// A declared break names a version from 2 to the latest, once, and says why.
fn declared_breaks(event: &Event<'_>, errors: &mut Errors) {
    let latest = event.version.value;
    for (i, b) in event.container.breaks.iter().enumerate() {
        let v = b.version.value;
        if v < 2 || v > latest {
            errors.at(b.version.span, format!("a break is declared in version {v}, but versions 2 to {latest} are the ones that can break"));
        }
        if event.container.breaks[..i].iter().any(|o| o.version.value == v) {
            errors.at(b.version.span, format!("a break in version {v} is declared twice"));
        }
        if b.reason.value().trim().is_empty() {
            errors.at(b.reason.span(), "a declared break says why: `reason = \"...\"`");
        }
    }
}

/// Kafka topic names are 1 to 249 of `[a-zA-Z0-9._-]`.
fn topic_name(event: &Event<'_>, errors: &mut Errors) {
    let topic = event.topic.value();
    let valid = !topic.is_empty()
        && topic.len() <= 249
        && topic != "."
        && topic != ".."
        && topic.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
    if !valid {
        errors.at(event.topic.span(), format!("`{topic}` is not a valid Kafka topic name: 1 to 249 of letters, digits, `.`, `_` and `-`"));
    }
}

pub fn is_option(ty: &Type) -> bool {
    last_segment(ty).is_some_and(|s| s.ident == "Option")
}

fn last_segment(ty: &Type) -> Option<&syn::PathSegment> {
    match ty {
        Type::Path(p) if p.qself.is_none() => p.path.segments.last(),
        Type::Group(g) => last_segment(&g.elem),
        Type::Paren(p) => last_segment(&p.elem),
        _ => None,
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Primitive {
    Int,
    Long,
    Float,
    Double,
    String,
    Bytes,
}

fn primitive(ty: &Type) -> Option<Primitive> {
    let segment = last_segment(ty)?;
    let name = segment.ident.to_string();
    Some(match name.as_str() {
        "i8" | "i16" | "i32" | "u8" | "u16" => Primitive::Int,
        "i64" | "u32" => Primitive::Long,
        "f32" => Primitive::Float,
        "f64" => Primitive::Double,
        "String" => Primitive::String,
        "Vec" => match &segment.arguments {
            syn::PathArguments::AngleBracketed(args) if args.args.len() == 1 => match &args.args[0]
            {
                syn::GenericArgument::Type(inner)
                    if last_segment(inner).is_some_and(|s| s.ident == "u8") =>
                {
                    Primitive::Bytes
                }
                _ => return None,
            },
            _ => return None,
        },
        _ => return None,
    })
}

/// Whether Avro resolves `from` into `to` by itself: its promotions, the same Avro type
/// under another Rust type, or a value becoming optional.
pub fn is_promotion(from: &Type, to: &Type) -> bool {
    use Primitive::*;
    if let Some(inner) = option_inner(to)
        && inner.to_token_stream().to_string() == from.to_token_stream().to_string()
    {
        return true;
    }
    let (Some(a), Some(b)) = (primitive(from), primitive(to)) else { return false };
    a == b
        || matches!(
            (a, b),
            (Int, Long | Float | Double)
                | (Long, Float | Double)
                | (Float, Double)
                | (String, Bytes)
                | (Bytes, String)
        )
}

fn option_inner(ty: &Type) -> Option<&Type> {
    let segment = last_segment(ty).filter(|s| s.ident == "Option")?;
    match &segment.arguments {
        syn::PathArguments::AngleBracketed(args) if args.args.len() == 1 => match &args.args[0] {
            syn::GenericArgument::Type(inner) => Some(inner),
            _ => None,
        },
        _ => None,
    }
}
