//! The differences between a published schema and a derived one, as lines naming the record,
//! field and attribute, and the fields and branches that moved (with the hint that settles each).

use serde_json::Value;

/// The differences between a published schema and a derived one, as readable lines naming
/// the record, field and attribute, such as
/// ``AccountOpened.currency: `default` was `"EUR"`, is now `"USD"` ``.
pub fn diff(published: &Value, derived: &Value) -> Vec<String> {
    Diff::of(published, derived).lines
}

/// The differences, with the fields and union branches that moved.
#[derive(Default)]
pub(super) struct Diff {
    pub(super) lines: Vec<String>,
    pub(super) moved: Vec<Moved>,
}

/// A field or union branch at another place than in the published version: what a removed
/// field or retired variant without `after` looks like.
pub(super) struct Moved {
    /// The record, or the union's place.
    within: String,
    /// The field or branch.
    item: String,
    /// What it stood after in the published version (none: it stood first).
    after: Option<String>,
    /// A union branch rather than a field.
    branch: bool,
}

impl Moved {
    pub(super) fn hint(&self) -> String {
        let item = &self.item;
        let within = &self.within;
        match (&self.after, self.branch) {
            (Some(after), false) => format!(
                "`{item}` stood after `{after}` in `{within}`: if `{item}` was removed, declare its place with `after = \"{after}\"` in `removed(field = \"{item}\", ...)`"
            ),
            (None, false) => format!(
                "`{item}` stood first in `{within}`: a removed field goes after the one `after` names, so declare it after the field that now comes first and keep that order"
            ),
            (Some(after), true) => format!(
                "the branch `{item}` stood after `{after}` in the union: if its variant was retired, declare its place with `after = \"<the variant of {after}>\"` in `retired(variant = ..., ty = \"{item}\", ...)`"
            ),
            (None, true) => format!(
                "the branch `{item}` stood first in the union: a retired variant goes after the one `after` names"
            ),
        }
    }
}

impl Diff {
    pub(super) fn of(published: &Value, derived: &Value) -> Self {
        let mut diff = Diff::default();
        diff.at("", published, derived);
        diff
    }

    fn at(&mut self, path: &str, old: &Value, new: &Value) {
        if old == new {
            return;
        }
        let here = display_path(path).to_owned();
        match (old, new) {
            (Value::Object(a), Value::Object(b)) => {
                let path = type_path(path, a);
                let keys: std::collections::BTreeSet<&String> = a.keys().chain(b.keys()).collect();
                for key in keys {
                    match (a.get(key), b.get(key)) {
                        (Some(x), Some(y)) if key == "fields" => self.fields(&path, x, y),
                        (Some(x), Some(y))
                            if key == "type" || key == "items" || key == "values" =>
                        {
                            self.at(&path, x, y)
                        }
                        _ => self.attribute(&path, key, a.get(key), b.get(key)),
                    }
                }
            }
            (Value::Array(a), Value::Array(b)) => {
                // A union: its branches are compared by position, named ones reported by name.
                let old_names: Vec<String> = a.iter().map(branch_name).collect();
                let new_names: Vec<String> = b.iter().map(branch_name).collect();
                if old_names != new_names {
                    self.lines.push(format!(
                        "{here}: union branches were [{}], are now [{}]",
                        old_names.join(", "),
                        new_names.join(", ")
                    ));
                    self.reordered(&here, &old_names, &new_names, true);
                } else {
                    for (x, y) in a.iter().zip(b) {
                        self.at(path, x, y);
                    }
                }
            }
            _ => self.lines.push(format!("{here}: type was `{old}`, is now `{new}`")),
        }
    }

    fn attribute(&mut self, path: &str, key: &str, old: Option<&Value>, new: Option<&Value>) {
        let path = display_path(path);
        match (old, new) {
            (Some(x), Some(y)) if x != y => {
                self.lines.push(format!("{path}: `{key}` was `{x}`, is now `{y}`"))
            }
            (Some(x), None) => self.lines.push(format!("{path}: `{key}` `{x}` was removed")),
            (None, Some(y)) => self.lines.push(format!("{path}: `{key}` `{y}` was added")),
            _ => {}
        }
    }

    fn fields(&mut self, record: &str, old: &Value, new: &Value) {
        let (Some(old), Some(new)) = (old.as_array(), new.as_array()) else {
            return self.lines.push(format!("{record}: `fields` is not an array"));
        };
        let old_names: Vec<String> = old.iter().map(field_name).collect();
        let new_names: Vec<String> = new.iter().map(field_name).collect();
        for field in old {
            let name = field_name(field);
            let path = format!("{record}.{name}");
            match new.iter().find(|f| field_name(f) == name) {
                None => self.lines.push(format!("{path}: the field was removed")),
                Some(now) => self.field(&path, field, now),
            }
        }
        for field in new {
            if !old_names.contains(&field_name(field)) {
                self.lines.push(format!("{record}.{}: the field was added", field_name(field)));
            }
        }
        let common_old: Vec<String> =
            old_names.iter().filter(|n| new_names.contains(n)).cloned().collect();
        let common_new: Vec<String> =
            new_names.iter().filter(|n| old_names.contains(n)).cloned().collect();
        if common_old != common_new {
            let line = self.lines.len();
            self.lines.push(format!("{record}: the fields were reordered"));
            if let Some(moved) = self.reordered(record, &common_old, &common_new, false) {
                self.lines[line] = format!(
                    "{record}: the fields were reordered: `{}` stood {}",
                    moved.item,
                    moved.after.as_ref().map_or("first".into(), |a| format!("after `{a}`"))
                );
            }
        }
    }

    fn field(&mut self, path: &str, old: &Value, new: &Value) {
        let (Some(a), Some(b)) = (old.as_object(), new.as_object()) else { return };
        let keys: std::collections::BTreeSet<&String> = a.keys().chain(b.keys()).collect();
        for key in keys {
            match (a.get(key), b.get(key)) {
                (Some(x), Some(y)) if key == "type" => self.at(path, x, y),
                _ => self.attribute(path, key, a.get(key), b.get(key)),
            }
        }
    }

    /// Finds the one item whose move explains a reordering of the same items, and records it.
    fn reordered(
        &mut self,
        within: &str,
        old: &[String],
        new: &[String],
        branch: bool,
    ) -> Option<&Moved> {
        let mut sorted_old = old.to_vec();
        let mut sorted_new = new.to_vec();
        sorted_old.sort();
        sorted_new.sort();
        if sorted_old != sorted_new {
            return None;
        }
        let without = |items: &[String], item: &String| -> Vec<String> {
            items.iter().filter(|i| *i != item).cloned().collect()
        };
        // The item that stands elsewhere: removed from both orders, the rest agree. Of two
        // neighbours that swapped, the later one in the derived order is the one that moved.
        let item = new.iter().rev().find(|item| without(old, item) == without(new, item))?;
        let at = old.iter().position(|i| i == item)?;
        self.moved.push(Moved {
            within: within.to_owned(),
            item: item.clone(),
            after: at.checked_sub(1).map(|i| old[i].clone()),
            branch,
        });
        self.moved.last()
    }
}

/// Where doc comments differ between two schemas that are the same version: the record or
/// `record.field` of each.
pub(super) fn docs_at(path: &str, old: &Value, new: &Value, out: &mut Vec<String>) {
    match (old, new) {
        (Value::Object(a), Value::Object(b)) => {
            let path = type_path(path, a);
            if a.get("doc") != b.get("doc") {
                out.push(display_path(&path).to_owned());
            }
            if let (Some(x), Some(y)) = (
                a.get("fields").and_then(Value::as_array),
                b.get("fields").and_then(Value::as_array),
            ) {
                for (x, y) in x.iter().zip(y) {
                    let field = format!("{path}.{}", field_name(x));
                    if x.get("doc") != y.get("doc") {
                        out.push(field.clone());
                    }
                    if let (Some(x), Some(y)) = (x.get("type"), y.get("type")) {
                        docs_at(&field, x, y, out);
                    }
                }
            }
            for key in ["type", "items", "values"] {
                if let (Some(x), Some(y)) = (a.get(key), b.get(key)) {
                    docs_at(&path, x, y, out);
                }
            }
        }
        (Value::Array(a), Value::Array(b)) => {
            for (x, y) in a.iter().zip(b) {
                docs_at(path, x, y, out);
            }
        }
        _ => {}
    }
}

/// A named type's path starts at its name: `AccountOpened.currency`.
fn type_path(path: &str, object: &serde_json::Map<String, Value>) -> String {
    let defines_type = ["fields", "symbols", "size"].iter().any(|k| object.contains_key(*k));
    match object.get("name").and_then(Value::as_str) {
        Some(name) if defines_type => name.to_owned(),
        _ => path.to_owned(),
    }
}

fn field_name(field: &Value) -> String {
    field.get("name").and_then(Value::as_str).unwrap_or("?").to_owned()
}

fn branch_name(branch: &Value) -> String {
    match branch {
        Value::String(s) => s.clone(),
        Value::Object(o) => o
            .get("name")
            .or_else(|| o.get("type"))
            .map(|v| v.as_str().unwrap_or("?").to_owned())
            .unwrap_or_else(|| "?".into()),
        other => other.to_string(),
    }
}

fn display_path(path: &str) -> &str {
    if path.is_empty() { "(top level)" } else { path }
}
