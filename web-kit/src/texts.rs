//! The Dutch texts of the portal, keyed `page.element`, from one file (`templates/nl.toml`).
//!
//! Rust code never holds Dutch literals: errors carry a key, templates call `t("key")`.

use std::collections::HashMap;
use std::sync::Arc;

/// The catalogue shipped with the portal.
pub const NL: &str = include_str!("../../templates/nl.toml");

/// A flat map from `page.element` keys to Dutch texts.
#[derive(Debug, Clone)]
pub struct Texts {
    map: Arc<HashMap<String, String>>,
}

/// Why the catalogue could not be loaded.
#[derive(Debug, thiserror::Error)]
#[error("templates/nl.toml: {0}")]
pub struct TextsError(String);

impl Texts {
    /// Parses the shipped catalogue.
    pub fn load() -> Result<Self, TextsError> {
        Self::parse(NL)
    }

    /// Parses a catalogue: tables of strings, flattened to dotted keys.
    pub fn parse(text: &str) -> Result<Self, TextsError> {
        let table: toml::Table = toml::from_str(text).map_err(|e| TextsError(e.to_string()))?;
        let mut map = HashMap::new();
        flatten("", &table, &mut map)?;
        Ok(Self { map: Arc::new(map) })
    }

    /// The text for `key`, or `None` when the catalogue lacks it.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.map.get(key).map(String::as_str)
    }

    /// The text for `key`; a missing key shows itself so that it is noticed (and a test
    /// fails on it) rather than rendering nothing.
    pub fn text(&self, key: &str) -> String {
        self.get(key).map_or_else(|| key.to_owned(), str::to_owned)
    }

    /// All keys, for the completeness tests.
    pub fn keys(&self) -> impl Iterator<Item = &str> {
        self.map.keys().map(String::as_str)
    }
}

fn flatten(
    prefix: &str,
    table: &toml::Table,
    out: &mut HashMap<String, String>,
) -> Result<(), TextsError> {
    for (k, v) in table {
        let key = if prefix.is_empty() {
            k.clone()
        } else {
            format!("{prefix}.{k}")
        };
        match v {
            toml::Value::String(s) => {
                out.insert(key, s.clone());
            }
            toml::Value::Table(t) => flatten(&key, t, out)?,
            _ => return Err(TextsError(format!("{key} is not text"))),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn catalogue_parses_and_flattens() {
        let t = Texts::parse("[login]\ntitle = \"Inloggen\"\n[a.b]\nc = \"d\"").unwrap();
        assert_eq!(t.get("login.title"), Some("Inloggen"));
        assert_eq!(t.get("a.b.c"), Some("d"));
        assert_eq!(t.text("nope"), "nope");
        assert!(Texts::parse("x = 1").is_err());
    }

    #[test]
    fn every_key_used_in_a_template_exists() {
        let texts = Texts::load().unwrap();
        let root = concat!(env!("CARGO_MANIFEST_DIR"), "/../templates");
        let mut missing = Vec::new();
        let mut stack = vec![std::path::PathBuf::from(root)];
        while let Some(dir) = stack.pop() {
            for entry in std::fs::read_dir(&dir).unwrap() {
                let path = entry.unwrap().path();
                if path.extension().is_some_and(|e| e == "toml") {
                    continue;
                }
                if path.is_dir() {
                    stack.push(path);
                    continue;
                }
                let body = std::fs::read_to_string(&path).unwrap();
                for part in body.split("t(\"").skip(1) {
                    let key = part.split('"').next().unwrap();
                    if texts.get(key).is_none() {
                        missing.push(format!("{}: {key}", path.display()));
                    }
                }
            }
        }
        assert!(missing.is_empty(), "keys missing from nl.toml: {missing:?}");
    }
}
