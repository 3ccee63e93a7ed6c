//! serde's `rename_all` rules, so Avro names follow the names serde uses for the same type.

/// A `rename_all` rule.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Case {
    Lower,
    Upper,
    Pascal,
    Camel,
    Snake,
    ScreamingSnake,
    Kebab,
    ScreamingKebab,
}

/// Every rule with its spelling, for parsing and for listing the choices.
pub const RULES: &[(&str, Case)] = &[
    ("lowercase", Case::Lower),
    ("UPPERCASE", Case::Upper),
    ("PascalCase", Case::Pascal),
    ("camelCase", Case::Camel),
    ("snake_case", Case::Snake),
    ("SCREAMING_SNAKE_CASE", Case::ScreamingSnake),
    ("kebab-case", Case::Kebab),
    ("SCREAMING-KEBAB-CASE", Case::ScreamingKebab),
];

impl Case {
    pub fn parse(rule: &str) -> Option<Case> {
        RULES.iter().find(|(name, _)| *name == rule).map(|(_, case)| *case)
    }

    /// Applies the rule to a field name, written in snake_case as Rust fields are.
    pub fn field(self, name: &str) -> String {
        match self {
            Case::Lower | Case::Snake => name.to_owned(),
            Case::Upper | Case::ScreamingSnake => name.to_ascii_uppercase(),
            Case::Pascal => pascal(name),
            Case::Camel => {
                let pascal = pascal(name);
                let mut chars = pascal.chars();
                chars
                    .next()
                    .map(|c| c.to_ascii_lowercase().to_string() + chars.as_str())
                    .unwrap_or_default()
            }
            Case::Kebab => name.replace('_', "-"),
            Case::ScreamingKebab => name.replace('_', "-").to_ascii_uppercase(),
        }
    }

    /// Applies the rule to a variant name, written in PascalCase as Rust variants are.
    pub fn variant(self, name: &str) -> String {
        match self {
            Case::Pascal => name.to_owned(),
            Case::Lower => name.to_ascii_lowercase(),
            Case::Upper => name.to_ascii_uppercase(),
            Case::Camel => {
                let mut chars = name.chars();
                chars
                    .next()
                    .map(|c| c.to_ascii_lowercase().to_string() + chars.as_str())
                    .unwrap_or_default()
            }
            Case::Snake => snake(name),
            Case::ScreamingSnake => snake(name).to_ascii_uppercase(),
            Case::Kebab => snake(name).replace('_', "-"),
            Case::ScreamingKebab => snake(name).replace('_', "-").to_ascii_uppercase(),
        }
    }
}

fn pascal(snake: &str) -> String {
    snake
        .split('_')
        .map(|word| {
            let mut chars = word.chars();
            chars
                .next()
                .map(|c| c.to_ascii_uppercase().to_string() + chars.as_str())
                .unwrap_or_default()
        })
        .collect()
}

fn snake(pascal: &str) -> String {
    let mut out = String::new();
    for (i, c) in pascal.char_indices() {
        if c.is_ascii_uppercase() && i > 0 {
            out.push('_');
        }
        out.push(c.to_ascii_lowercase());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_follow_serde() {
        assert_eq!(Case::Camel.field("overdraft_limit_cents"), "overdraftLimitCents");
        assert_eq!(Case::Pascal.field("account_id"), "AccountId");
        assert_eq!(Case::ScreamingSnake.field("account_id"), "ACCOUNT_ID");
        assert_eq!(Case::Kebab.field("account_id"), "account-id");
        assert_eq!(Case::Lower.field("account_id"), "account_id");
    }

    #[test]
    fn variants_follow_serde() {
        assert_eq!(Case::Snake.variant("HolderKind"), "holder_kind");
        assert_eq!(Case::Camel.variant("HolderKind"), "holderKind");
        assert_eq!(Case::ScreamingSnake.variant("HolderKind"), "HOLDER_KIND");
        assert_eq!(Case::Lower.variant("HolderKind"), "holderkind");
    }

    #[test]
    fn every_rule_parses_by_its_spelling() {
        for (name, case) in RULES {
            assert_eq!(Case::parse(name), Some(*case));
        }
        assert_eq!(Case::parse("Camel"), None);
    }
}
