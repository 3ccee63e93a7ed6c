//! Parsing of `#[strata(...)]` attributes into plain structs, one `Option` per key.
//!
//! Each keyword's spelling is defined once, in `kw`. Errors are collected, not returned at the
//! first one, so a user sees every mistake in one compile.

use proc_macro2::Span;
use syn::meta::ParseNestedMeta;
use syn::spanned::Spanned;
use syn::{Attribute, Expr, Ident, LitInt, LitStr, Type};

use crate::case::Case;

/// The spelling of every key.
pub mod kw {
    pub const STRATA: &str = "strata";
    pub const TOPIC: &str = "topic";
    pub const NAMESPACE: &str = "namespace";
    pub const VERSION: &str = "version";
    pub const NAME: &str = "name";
    pub const ADDED: &str = "added";
    pub const RENAMED: &str = "renamed";
    pub const CHANGED: &str = "changed";
    pub const REMOVED: &str = "removed";
    pub const RETIRED: &str = "retired";
    pub const BREAKS: &str = "breaks";
    pub const REASON: &str = "reason";
    pub const UPGRADE: &str = "upgrade";
    pub const DEFAULT: &str = "default";
    pub const DISCARD: &str = "discard";
    pub const FIELD: &str = "field";
    pub const VARIANT: &str = "variant";
    pub const TY: &str = "ty";
    pub const IN: &str = "in";
    pub const FROM: &str = "from";
    pub const WITH: &str = "with";
    pub const AFTER: &str = "after";
    pub const STATE: &str = "state";
    pub const KEY: &str = "key";
}

/// Collects errors; everything is reported at one checkpoint.
#[derive(Default)]
pub struct Errors(Vec<syn::Error>);

impl Errors {
    /// How many errors so far, to tell whether a step added any.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn push(&mut self, error: syn::Error) {
        self.0.push(error);
    }

    pub fn at(&mut self, span: Span, message: impl std::fmt::Display) {
        self.0.push(syn::Error::new(span, message));
    }

    pub fn finish(self) -> Result<(), syn::Error> {
        let mut errors = self.0.into_iter();
        let Some(mut first) = errors.next() else { return Ok(()) };
        for e in errors {
            first.combine(e);
        }
        Err(first)
    }
}

/// A version number with the span of its literal, so errors underline it.
#[derive(Clone, Copy, Debug)]
pub struct Version {
    pub value: u32,
    pub span: Span,
}

/// An identifier named by a string literal (an upgrade function), spanned on the literal so a
/// wrong signature is reported at the attribute.
#[derive(Clone)]
pub struct FnName {
    pub path: syn::Path,
    pub span: Span,
}

/// `renamed(from = "old", in = N)`: the name before version N.
#[derive(Clone)]
pub struct Rename {
    /// The name before `version`.
    pub from: LitStr,
    /// The first version with the new name.
    pub version: Version,
}

/// `changed(in = N, from = "T", upgrade = "f")`: the type before version N.
#[derive(Clone)]
pub struct Change {
    /// The first version with the new type.
    pub version: Version,
    /// The type before it.
    pub from: Type,
    /// Computes the new value from the previous version's view, when Avro cannot.
    pub upgrade: Option<FnName>,
}

/// `added(in = N, default = expr, upgrade = "f")` on a field.
#[derive(Clone, Default)]
pub struct Added {
    /// The first version with the field.
    pub version: Option<Version>,
    /// The value older data gets, and the Avro default.
    pub default: Option<Expr>,
    /// Computes the value from the previous version's view.
    pub upgrade: Option<FnName>,
}

/// `removed(field = "x", ty = "T", in = N, ...)` on a record: a field absent from the latest
/// Rust struct, declared so older schemas can still be generated.
#[derive(Clone)]
pub struct Removed {
    /// The field's last name.
    pub field: LitStr,
    /// Its Rust type while it existed.
    pub ty: Type,
    /// The first version without it.
    pub version: Version,
    /// The first version with it (1 when absent).
    pub added: Option<Version>,
    /// Its default while it existed.
    pub default: Option<Expr>,
    /// The field it followed in the schema (the end when absent).
    pub after: Option<LitStr>,
    /// The record upgrade from the version before removal, which carries the value forward.
    pub upgrade: Option<FnName>,
    /// Its value is dropped on upgrade, explicitly.
    pub discard: bool,
    pub span: Span,
}

/// `upgrade(in = N, with = "f")` on a record: the whole step into version N is user code.
#[derive(Clone)]
pub struct Step {
    pub version: Version,
    pub with: FnName,
}

/// `retired(variant = "V", ty = "T", in = N, ...)` on an event enum.
#[derive(Clone)]
pub struct Retired {
    /// The variant's name.
    pub variant: LitStr,
    /// The record it carried.
    pub ty: Type,
    /// The first version without it.
    pub version: Version,
    /// The first version with it (1 when absent).
    pub added: Option<Version>,
    /// The variant it followed in the union (the end when absent).
    pub after: Option<LitStr>,
    /// Maps the retired record into a current event.
    pub upgrade: Option<FnName>,
    pub span: Span,
}

/// `breaks(in = N, reason = "...")` on an event enum.
#[derive(Clone)]
pub struct Break {
    /// The version that breaks.
    pub version: Version,
    /// Why, for the reports.
    pub reason: LitStr,
}

/// Container options of `#[derive(Record)]`, `#[derive(Enum)]` and `#[derive(Event)]`.
#[derive(Default)]
pub struct Container {
    /// `topic = "..."` (events): the Kafka topic.
    pub topic: Option<LitStr>,
    /// `namespace = "..."`: the Avro namespace.
    pub namespace: Option<LitStr>,
    /// `version = N` (events): the latest version.
    pub version: Option<Version>,
    /// `name = "..."`: the Avro name, when it is not the Rust name.
    pub name: Option<LitStr>,
    /// `renamed(from, in)` (records, enums): earlier Avro names.
    pub renames: Vec<Rename>,
    /// `removed(...)` (records): fields gone from the latest struct.
    pub removed: Vec<Removed>,
    /// `upgrade(in, with)` (records): user-written steps.
    pub steps: Vec<Step>,
    /// `retired(...)` (events): variants gone from the latest enum.
    pub retired: Vec<Retired>,
    /// `breaks(in = N, reason = "...")` (events): versions that deliberately break Avro
    /// compatibility with the one before, read through upgrade functions.
    pub breaks: Vec<Break>,
    /// `state` (records): a state type whose history is locked in `schemas/` like an event's.
    pub state: Option<Span>,
    /// `key = Type` (events): the topic's Avro key type.
    pub key: Option<syn::Type>,
}

/// Options of a record field.
#[derive(Default)]
pub struct FieldAttrs {
    /// `added(...)`.
    pub added: Option<Added>,
    /// `default = expr`: the field's default from its first version on.
    pub default: Option<Expr>,
    /// `renamed(from, in)`.
    pub renames: Vec<Rename>,
    /// `changed(in, from, upgrade)`.
    pub changes: Vec<Change>,
}

/// Options of an event variant or an enum symbol.
#[derive(Default)]
pub struct VariantAttrs {
    /// `added = N`: the first version with it.
    pub added: Option<Version>,
    /// `default` (enum symbols): the symbol readers use for unknown symbols.
    pub default: Option<Span>,
}

/// What a container is: some keys only apply to some derives.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum ContainerKind {
    Event,
    Record,
    Enum,
}

fn unknown(meta: &ParseNestedMeta<'_>, allowed: &[&str]) -> syn::Error {
    let key = meta.path.get_ident().map(ToString::to_string).unwrap_or_default();
    meta.error(format!(
        "unknown key `{key}`; expected one of: {}",
        allowed.iter().map(|k| format!("`{k}`")).collect::<Vec<_>>().join(", ")
    ))
}

fn is(meta: &ParseNestedMeta<'_>, key: &str) -> bool {
    meta.path.is_ident(key)
}

fn lit_str(meta: &ParseNestedMeta<'_>) -> syn::Result<LitStr> {
    meta.value()?.parse()
}

fn version(meta: &ParseNestedMeta<'_>) -> syn::Result<Version> {
    match meta.value()?.parse::<syn::Lit>()? {
        syn::Lit::Int(lit) => parse_version(&lit),
        other => {
            Err(syn::Error::new(other.span(), "a version is a positive whole number, such as `2`"))
        }
    }
}

fn parse_version(lit: &LitInt) -> syn::Result<Version> {
    let value: u32 = lit.base10_parse().map_err(|_| {
        syn::Error::new(lit.span(), "a version is a positive whole number, such as `2`")
    })?;
    if value == 0 {
        return Err(syn::Error::new(lit.span(), "versions start at 1"));
    }
    Ok(Version { value, span: lit.span() })
}

fn ty(meta: &ParseNestedMeta<'_>) -> syn::Result<Type> {
    let lit: LitStr = meta.value()?.parse()?;
    lit.parse::<Type>().map_err(|e| {
        syn::Error::new(lit.span(), format!("`{}` is not a Rust type: {e}", lit.value()))
    })
}

fn fn_name(meta: &ParseNestedMeta<'_>) -> syn::Result<FnName> {
    let lit: LitStr = meta.value()?.parse()?;
    let mut path: syn::Path = lit.parse().map_err(|_| {
        syn::Error::new(lit.span(), format!("`{}` is not a function path", lit.value()))
    })?;
    // Respan every segment on the literal so type errors land on the attribute.
    for segment in &mut path.segments {
        segment.ident.set_span(lit.span());
    }
    Ok(FnName { path, span: lit.span() })
}

fn expr(meta: &ParseNestedMeta<'_>) -> syn::Result<Expr> {
    meta.value()?.parse()
}

fn required<T>(
    value: Option<T>,
    span: Span,
    what: &str,
    key: &str,
    errors: &mut Errors,
) -> Option<T> {
    if value.is_none() {
        errors.at(span, format!("`{what}` needs `{key} = ...`"));
    }
    value
}

/// Runs `each` on every key of every `#[strata(...)]` attribute, collecting errors.
fn for_each_key(
    attrs: &[Attribute],
    errors: &mut Errors,
    mut each: impl FnMut(&ParseNestedMeta<'_>) -> syn::Result<()>,
) {
    for attr in attrs.iter().filter(|a| a.path().is_ident(kw::STRATA)) {
        if let Err(e) = attr.parse_nested_meta(|meta| each(&meta)) {
            errors.push(e);
        }
    }
}

/// Reports a key given twice.
fn set_once<T>(
    slot: &mut Option<T>,
    value: T,
    meta: &ParseNestedMeta<'_>,
    key: &str,
) -> syn::Result<()> {
    if slot.is_some() {
        return Err(meta.error(format!("`{key}` is given twice")));
    }
    *slot = Some(value);
    Ok(())
}

pub fn container(attrs: &[Attribute], kind: ContainerKind, errors: &mut Errors) -> Container {
    let mut out = Container::default();
    let allowed: &[&str] = match kind {
        ContainerKind::Event => {
            &[kw::TOPIC, kw::NAMESPACE, kw::VERSION, kw::KEY, kw::RETIRED, kw::BREAKS]
        }
        ContainerKind::Record => {
            &[kw::NAME, kw::NAMESPACE, kw::RENAMED, kw::REMOVED, kw::UPGRADE, kw::STATE]
        }
        ContainerKind::Enum => &[kw::NAME, kw::NAMESPACE, kw::RENAMED],
    };
    for_each_key(attrs, errors, |meta| {
        let key = meta.path.get_ident().map(ToString::to_string).unwrap_or_default();
        if !allowed.contains(&key.as_str()) {
            return Err(unknown(meta, allowed));
        }
        if is(meta, kw::TOPIC) {
            set_once(&mut out.topic, lit_str(meta)?, meta, kw::TOPIC)
        } else if is(meta, kw::NAMESPACE) {
            set_once(&mut out.namespace, lit_str(meta)?, meta, kw::NAMESPACE)
        } else if is(meta, kw::VERSION) {
            set_once(&mut out.version, version(meta)?, meta, kw::VERSION)
        } else if is(meta, kw::NAME) {
            set_once(&mut out.name, lit_str(meta)?, meta, kw::NAME)
        } else if is(meta, kw::RENAMED) {
            out.renames.push(rename(meta)?);
            Ok(())
        } else if is(meta, kw::REMOVED) {
            out.removed.push(removed(meta)?);
            Ok(())
        } else if is(meta, kw::UPGRADE) {
            out.steps.push(step(meta)?);
            Ok(())
        } else if is(meta, kw::BREAKS) {
            out.breaks.push(breaks(meta)?);
            Ok(())
        } else if is(meta, kw::STATE) {
            set_once(&mut out.state, key_span(meta), meta, kw::STATE)
        } else if is(meta, kw::KEY) {
            let ty: syn::Type = meta.value()?.parse().map_err(|e| {
                syn::Error::new(
                    e.span(),
                    "`key` takes the key's type: `key = String`, `key = i64` or a record's type",
                )
            })?;
            set_once(&mut out.key, ty, meta, kw::KEY)
        } else {
            out.retired.push(retired(meta)?);
            Ok(())
        }
    });
    out
}

pub fn field(attrs: &[Attribute], errors: &mut Errors) -> FieldAttrs {
    let mut out = FieldAttrs::default();
    let allowed = &[kw::ADDED, kw::DEFAULT, kw::RENAMED, kw::CHANGED];
    for_each_key(attrs, errors, |meta| {
        if is(meta, kw::ADDED) {
            let added = added(meta)?;
            set_once(&mut out.added, added, meta, kw::ADDED)
        } else if is(meta, kw::DEFAULT) {
            set_once(&mut out.default, expr(meta)?, meta, kw::DEFAULT)
        } else if is(meta, kw::RENAMED) {
            out.renames.push(rename(meta)?);
            Ok(())
        } else if is(meta, kw::CHANGED) {
            out.changes.push(change(meta)?);
            Ok(())
        } else {
            Err(unknown(meta, allowed))
        }
    });
    out
}

pub fn variant(attrs: &[Attribute], symbols: bool, errors: &mut Errors) -> VariantAttrs {
    let mut out = VariantAttrs::default();
    let allowed: &[&str] = if symbols { &[kw::ADDED, kw::DEFAULT] } else { &[kw::ADDED] };
    for_each_key(attrs, errors, |meta| {
        if is(meta, kw::ADDED) {
            set_once(&mut out.added, version(meta)?, meta, kw::ADDED)
        } else if symbols && is(meta, kw::DEFAULT) {
            let span = meta.path.get_ident().map(Ident::span).unwrap_or_else(Span::call_site);
            set_once(&mut out.default, span, meta, kw::DEFAULT)
        } else {
            Err(unknown(meta, allowed))
        }
    });
    out
}

fn key_span(meta: &ParseNestedMeta<'_>) -> Span {
    meta.path.get_ident().map(Ident::span).unwrap_or_else(Span::call_site)
}

fn rename(meta: &ParseNestedMeta<'_>) -> syn::Result<Rename> {
    let span = key_span(meta);
    let (mut from, mut version_) = (None, None);
    meta.parse_nested_meta(|inner| {
        if is(&inner, kw::FROM) {
            set_once(&mut from, lit_str(&inner)?, &inner, kw::FROM)
        } else if is(&inner, kw::IN) {
            set_once(&mut version_, version(&inner)?, &inner, kw::IN)
        } else {
            Err(unknown(&inner, &[kw::FROM, kw::IN]))
        }
    })?;
    let mut errors = Errors::default();
    let from = required(from, span, kw::RENAMED, kw::FROM, &mut errors);
    let version_ = required(version_, span, kw::RENAMED, kw::IN, &mut errors);
    errors.finish()?;
    Ok(Rename { from: from.expect("checked above"), version: version_.expect("checked above") })
}

fn change(meta: &ParseNestedMeta<'_>) -> syn::Result<Change> {
    let span = key_span(meta);
    let (mut version_, mut from, mut upgrade) = (None, None, None);
    meta.parse_nested_meta(|inner| {
        if is(&inner, kw::IN) {
            set_once(&mut version_, version(&inner)?, &inner, kw::IN)
        } else if is(&inner, kw::FROM) {
            set_once(&mut from, ty(&inner)?, &inner, kw::FROM)
        } else if is(&inner, kw::UPGRADE) {
            set_once(&mut upgrade, fn_name(&inner)?, &inner, kw::UPGRADE)
        } else {
            Err(unknown(&inner, &[kw::IN, kw::FROM, kw::UPGRADE]))
        }
    })?;
    let mut errors = Errors::default();
    let from = required(from, span, kw::CHANGED, kw::FROM, &mut errors);
    let version_ = required(version_, span, kw::CHANGED, kw::IN, &mut errors);
    errors.finish()?;
    Ok(Change {
        version: version_.expect("checked above"),
        from: from.expect("checked above"),
        upgrade,
    })
}

fn added(meta: &ParseNestedMeta<'_>) -> syn::Result<Added> {
    let mut out = Added::default();
    meta.parse_nested_meta(|inner| {
        if is(&inner, kw::IN) {
            set_once(&mut out.version, version(&inner)?, &inner, kw::IN)
        } else if is(&inner, kw::DEFAULT) {
            set_once(&mut out.default, expr(&inner)?, &inner, kw::DEFAULT)
        } else if is(&inner, kw::UPGRADE) {
            set_once(&mut out.upgrade, fn_name(&inner)?, &inner, kw::UPGRADE)
        } else {
            Err(unknown(&inner, &[kw::IN, kw::DEFAULT, kw::UPGRADE]))
        }
    })?;
    if out.version.is_none() {
        return Err(syn::Error::new(
            key_span(meta),
            "`added` needs `in = N`: the first version with the field",
        ));
    }
    Ok(out)
}

fn removed(meta: &ParseNestedMeta<'_>) -> syn::Result<Removed> {
    let span = key_span(meta);
    let (mut field, mut ty_, mut version_, mut added, mut default, mut after, mut upgrade) =
        (None, None, None, None, None, None, None);
    let mut discard = false;
    meta.parse_nested_meta(|inner| {
        if is(&inner, kw::FIELD) {
            set_once(&mut field, lit_str(&inner)?, &inner, kw::FIELD)
        } else if is(&inner, kw::TY) {
            set_once(&mut ty_, ty(&inner)?, &inner, kw::TY)
        } else if is(&inner, kw::IN) {
            set_once(&mut version_, version(&inner)?, &inner, kw::IN)
        } else if is(&inner, kw::ADDED) {
            set_once(&mut added, version(&inner)?, &inner, kw::ADDED)
        } else if is(&inner, kw::DEFAULT) {
            set_once(&mut default, expr(&inner)?, &inner, kw::DEFAULT)
        } else if is(&inner, kw::AFTER) {
            set_once(&mut after, lit_str(&inner)?, &inner, kw::AFTER)
        } else if is(&inner, kw::UPGRADE) {
            set_once(&mut upgrade, fn_name(&inner)?, &inner, kw::UPGRADE)
        } else if is(&inner, kw::DISCARD) {
            discard = true;
            Ok(())
        } else {
            Err(unknown(
                &inner,
                &[
                    kw::FIELD,
                    kw::TY,
                    kw::IN,
                    kw::ADDED,
                    kw::DEFAULT,
                    kw::AFTER,
                    kw::UPGRADE,
                    kw::DISCARD,
                ],
            ))
        }
    })?;
    let mut errors = Errors::default();
    let field = required(field, span, kw::REMOVED, kw::FIELD, &mut errors);
    let ty_ = required(ty_, span, kw::REMOVED, kw::TY, &mut errors);
    let version_ = required(version_, span, kw::REMOVED, kw::IN, &mut errors);
    errors.finish()?;
    Ok(Removed {
        field: field.expect("checked above"),
        ty: ty_.expect("checked above"),
        version: version_.expect("checked above"),
        added,
        default,
        after,
        upgrade,
        discard,
        span,
    })
}

fn step(meta: &ParseNestedMeta<'_>) -> syn::Result<Step> {
    let span = key_span(meta);
    let (mut version_, mut with) = (None, None);
    meta.parse_nested_meta(|inner| {
        if is(&inner, kw::IN) {
            set_once(&mut version_, version(&inner)?, &inner, kw::IN)
        } else if is(&inner, kw::WITH) {
            set_once(&mut with, fn_name(&inner)?, &inner, kw::WITH)
        } else {
            Err(unknown(&inner, &[kw::IN, kw::WITH]))
        }
    })?;
    let mut errors = Errors::default();
    let version_ = required(version_, span, kw::UPGRADE, kw::IN, &mut errors);
    let with = required(with, span, kw::UPGRADE, kw::WITH, &mut errors);
    errors.finish()?;
    Ok(Step { version: version_.expect("checked above"), with: with.expect("checked above") })
}

fn breaks(meta: &ParseNestedMeta<'_>) -> syn::Result<Break> {
    let span = key_span(meta);
    let (mut version_, mut reason) = (None, None);
    meta.parse_nested_meta(|inner| {
        if is(&inner, kw::IN) {
            set_once(&mut version_, version(&inner)?, &inner, kw::IN)
        } else if is(&inner, kw::REASON) {
            set_once(&mut reason, lit_str(&inner)?, &inner, kw::REASON)
        } else {
            Err(unknown(&inner, &[kw::IN, kw::REASON]))
        }
    })?;
    let mut errors = Errors::default();
    let version_ = required(version_, span, kw::BREAKS, kw::IN, &mut errors);
    let reason = required(reason, span, kw::BREAKS, kw::REASON, &mut errors);
    errors.finish()?;
    Ok(Break { version: version_.expect("checked above"), reason: reason.expect("checked above") })
}

fn retired(meta: &ParseNestedMeta<'_>) -> syn::Result<Retired> {
    let span = key_span(meta);
    let (mut variant, mut ty_, mut version_, mut added, mut after, mut upgrade) =
        (None, None, None, None, None, None);
    meta.parse_nested_meta(|inner| {
        if is(&inner, kw::VARIANT) {
            set_once(&mut variant, lit_str(&inner)?, &inner, kw::VARIANT)
        } else if is(&inner, kw::TY) {
            set_once(&mut ty_, ty(&inner)?, &inner, kw::TY)
        } else if is(&inner, kw::IN) {
            set_once(&mut version_, version(&inner)?, &inner, kw::IN)
        } else if is(&inner, kw::ADDED) {
            set_once(&mut added, version(&inner)?, &inner, kw::ADDED)
        } else if is(&inner, kw::AFTER) {
            set_once(&mut after, lit_str(&inner)?, &inner, kw::AFTER)
        } else if is(&inner, kw::UPGRADE) {
            set_once(&mut upgrade, fn_name(&inner)?, &inner, kw::UPGRADE)
        } else {
            Err(unknown(&inner, &[kw::VARIANT, kw::TY, kw::IN, kw::ADDED, kw::AFTER, kw::UPGRADE]))
        }
    })?;
    let mut errors = Errors::default();
    let variant = required(variant, span, kw::RETIRED, kw::VARIANT, &mut errors);
    let ty_ = required(ty_, span, kw::RETIRED, kw::TY, &mut errors);
    let version_ = required(version_, span, kw::RETIRED, kw::IN, &mut errors);
    errors.finish()?;
    Ok(Retired {
        variant: variant.expect("checked above"),
        ty: ty_.expect("checked above"),
        version: version_.expect("checked above"),
        added,
        after,
        upgrade,
        span,
    })
}

/// The `///` comments of an item, joined, for the schema's `doc`.
pub fn doc(attrs: &[Attribute]) -> Option<String> {
    let lines: Vec<String> = attrs
        .iter()
        .filter(|a| a.path().is_ident("doc"))
        .filter_map(|a| match &a.meta {
            syn::Meta::NameValue(nv) => match &nv.value {
                Expr::Lit(syn::ExprLit { lit: syn::Lit::Str(s), .. }) => Some(s.value()),
                _ => None,
            },
            _ => None,
        })
        .map(|line| line.strip_prefix(' ').unwrap_or(&line).trim_end().to_owned())
        .collect();
    let text = lines.join("\n").trim().to_owned();
    (!text.is_empty()).then_some(text)
}

/// What strata reads of `#[serde(...)]`: the names serde uses, so that the Avro names and the
/// serde names of a type cannot drift apart. Everything else in it is serde's business.
#[derive(Default)]
pub struct Serde {
    /// `rename = "..."`.
    pub rename: Option<LitStr>,
    /// `rename_all = "..."`.
    pub rename_all: Option<Case>,
}

pub fn serde(attrs: &[Attribute], errors: &mut Errors) -> Serde {
    use syn::punctuated::Punctuated;
    let mut out = Serde::default();
    for attr in attrs.iter().filter(|a| a.path().is_ident("serde")) {
        // serde reports its own syntax errors.
        let Ok(list) =
            attr.parse_args_with(Punctuated::<syn::Meta, syn::Token![,]>::parse_terminated)
        else {
            continue;
        };
        for meta in list {
            let key = if meta.path().is_ident("rename") {
                "rename"
            } else if meta.path().is_ident("rename_all") {
                "rename_all"
            } else {
                continue;
            };
            let Some(name) = serde_name(&meta, errors) else { continue };
            if key == "rename" {
                out.rename = Some(name);
            } else {
                match Case::parse(&name.value()) {
                    Some(case) => out.rename_all = Some(case),
                    None => errors.at(
                        name.span(),
                        format!(
                            "unknown `rename_all` rule `{}`; expected one of: {}",
                            name.value(),
                            crate::case::RULES
                                .iter()
                                .map(|(r, _)| format!("`{r}`"))
                                .collect::<Vec<_>>()
                                .join(", ")
                        ),
                    ),
                }
            }
        }
    }
    out
}

/// The name of `rename = "x"`, or of `rename(serialize = "x", deserialize = "x")` when both
/// agree: an Avro type has one name for writing and reading.
fn serde_name(meta: &syn::Meta, errors: &mut Errors) -> Option<LitStr> {
    let lit = |expr: &Expr| match expr {
        Expr::Lit(syn::ExprLit { lit: syn::Lit::Str(s), .. }) => Some(s.clone()),
        _ => None,
    };
    match meta {
        syn::Meta::NameValue(nv) => lit(&nv.value),
        syn::Meta::List(list) => {
            use syn::punctuated::Punctuated;
            let inner = list
                .parse_args_with(Punctuated::<syn::MetaNameValue, syn::Token![,]>::parse_terminated)
                .ok()?;
            let names: Vec<LitStr> = inner.iter().filter_map(|nv| lit(&nv.value)).collect();
            if names.windows(2).any(|w| w[0].value() != w[1].value()) {
                errors.at(list.span(), "serde serializes and deserializes this under different names; an Avro name is one name");
                return None;
            }
            names.into_iter().next()
        }
        syn::Meta::Path(_) => None,
    }
}

/// The Avro name of a record or enum: strata's `name`, or serde's `rename`, which must agree.
pub fn type_name(
    container: &Container,
    serde: &Serde,
    ident: &Ident,
    errors: &mut Errors,
) -> String {
    match (&container.name, &serde.rename) {
        (Some(ours), Some(theirs)) if ours.value() != theirs.value() => {
            errors.at(
                ours.span(),
                format!(
                    "`name = \"{}\"` contradicts `#[serde(rename = \"{}\")]`; give one name",
                    ours.value(),
                    theirs.value()
                ),
            );
            ours.value()
        }
        (Some(name), _) | (None, Some(name)) => name.value(),
        (None, None) => ident.to_string(),
    }
}
