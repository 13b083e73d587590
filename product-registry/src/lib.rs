//! The product registry: the insurer's product line as data.
//!
//! Every part of the portal learns which products exist only from here: the identity
//! provider (which right codes a token may carry, which products a sub-office may hold),
//! the admin UI (the rights columns and checkboxes) and the product portals (their paths
//! and OIDC clients). Adding a product is a new `[[product]]` entry plus an adapter; no
//! code in the idp or the admin UI names a product (SPEC §1, "Products are plugins").
//!
//! This crate holds no rules about users or offices; it only parses and validates the
//! registry file.
#![warn(missing_docs)]

use std::collections::BTreeSet;
use std::fmt;

use serde::Deserialize;

/// The registry shipped with the portal (`config/products.toml`).
pub const DEFAULT_REGISTRY: &str = include_str!("../../config/products.toml");

/// A right code such as `DIP`: upper-case ASCII letters and digits, 2–16 long.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
#[serde(transparent)]
pub struct RightCode(String);

impl RightCode {
    /// Parses a right code, accepting lower case input (`dip` → `DIP`).
    pub fn parse(raw: &str) -> Result<Self, RegistryError> {
        let code = raw.trim().to_ascii_uppercase();
        let valid = (2..=16).contains(&code.len())
            && code
                .bytes()
                .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit());
        if valid {
            Ok(Self(code))
        } else {
            Err(RegistryError::BadCode(raw.to_owned()))
        }
    }

    /// The code as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for RightCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for RightCode {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(d)?;
        Self::parse(&raw).map_err(serde::de::Error::custom)
    }
}

/// One product of the insurer.
#[derive(Debug, Clone, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct Product {
    /// The right code carried in tokens and shown as a column in Gebruikers.
    pub code: RightCode,
    /// The product name shown to advisors.
    pub name: String,
    /// One line shown under the name on the home page.
    pub description: String,
    /// The path of the product portal under the portal's public URL, e.g. `/dip`.
    pub path: String,
    /// The OIDC client id of the product portal.
    pub client_id: String,
    /// Whether a sub-office may hold this right (SPEC O4).
    pub sub_offices: bool,
    /// The wording of the right on office forms.
    pub label: String,
    /// Where the product portal runs when it runs in a process of its own (`portal serve
    /// --only DIP`), e.g. `https://dip.example.nl/dip`; absent, it runs in the all-in-one
    /// portal at `path`. The shell links there, and the idp asks it O7 over HTTP.
    #[serde(default)]
    pub url: Option<String>,
}

impl Product {
    /// Where people reach the portal: `url`, or `path` on the portal itself.
    pub fn href(&self) -> &str {
        self.url.as_deref().unwrap_or(&self.path)
    }
}

/// All products, in the order of the registry file.
#[derive(Debug, Clone)]
pub struct Registry {
    products: Vec<Product>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RegistryFile {
    product: Vec<Product>,
}

/// Why a registry file or a right code was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum RegistryError {
    /// The file is not valid TOML or has unknown fields.
    #[error("product registry: {0}")]
    Syntax(String),
    /// A right code is not 2–16 upper-case letters or digits.
    #[error("product registry: '{0}' is not a right code (2-16 letters or digits)")]
    BadCode(String),
    /// Two products share a code, a path or a client id.
    #[error("product registry: '{0}' is used by two products")]
    Duplicate(String),
    /// A path does not start with `/` or is not a single lower-case segment.
    #[error("product registry: path '{0}' must be one segment such as /dip")]
    BadPath(String),
    /// A `url` is not an absolute http(s) URL ending in the product's path.
    #[error(
        "product registry: url '{0}' must be http(s)://host…/path, ending in the product's path"
    )]
    BadUrl(String),
    /// The registry lists no product at all.
    #[error("product registry: no products")]
    Empty,
    /// A right code is not in the registry.
    #[error("unknown right '{0}'")]
    UnknownRight(String),
}

impl Registry {
    /// Parses and validates a registry file.
    pub fn parse(text: &str) -> Result<Self, RegistryError> {
        let file: RegistryFile =
            toml::from_str(text).map_err(|e| RegistryError::Syntax(e.to_string()))?;
        Self::new(file.product)
    }

    /// The registry shipped with the portal.
    pub fn builtin() -> Result<Self, RegistryError> {
        Self::parse(DEFAULT_REGISTRY)
    }

    /// Builds a registry from products, refusing duplicates and malformed paths.
    pub fn new(products: Vec<Product>) -> Result<Self, RegistryError> {
        if products.is_empty() {
            return Err(RegistryError::Empty);
        }
        let mut seen = BTreeSet::new();
        for p in &products {
            let segment = p.path.strip_prefix('/').unwrap_or("");
            let path_ok = !segment.is_empty()
                && segment
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
            if !path_ok {
                return Err(RegistryError::BadPath(p.path.clone()));
            }
            if let Some(url) = &p.url {
                let ok = (url.starts_with("https://") || url.starts_with("http://"))
                    && url.ends_with(&p.path)
                    && !url.contains(['?', '#', ' ']);
                if !ok {
                    return Err(RegistryError::BadUrl(url.clone()));
                }
            }
            for key in [
                format!("code:{}", p.code),
                format!("path:{}", p.path),
                format!("client:{}", p.client_id),
            ] {
                if !seen.insert(key.clone()) {
                    let shown = key.split_once(':').map(|(_, v)| v).unwrap_or(&key);
                    return Err(RegistryError::Duplicate(shown.to_owned()));
                }
            }
        }
        Ok(Self { products })
    }

    /// All products in registry order.
    pub fn products(&self) -> &[Product] {
        &self.products
    }

    /// The product with this right code.
    pub fn get(&self, code: &RightCode) -> Option<&Product> {
        self.products.iter().find(|p| &p.code == code)
    }

    /// The product whose portal signs in with this client id.
    pub fn by_client_id(&self, client_id: &str) -> Option<&Product> {
        self.products.iter().find(|p| p.client_id == client_id)
    }

    /// Parses a right code and checks that the registry knows it.
    pub fn right(&self, raw: &str) -> Result<RightCode, RegistryError> {
        let code = RightCode::parse(raw)?;
        match self.get(&code) {
            Some(_) => Ok(code),
            None => Err(RegistryError::UnknownRight(raw.trim().to_owned())),
        }
    }

    /// Parses a comma-separated list such as `DIP,DIL` into known right codes.
    pub fn rights(&self, list: &str) -> Result<BTreeSet<RightCode>, RegistryError> {
        list.split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(|s| self.right(s))
            .collect()
    }

    /// The right codes a sub-office may hold (SPEC O4).
    pub fn sub_office_rights(&self) -> BTreeSet<RightCode> {
        self.products
            .iter()
            .filter(|p| p.sub_offices)
            .map(|p| p.code.clone())
            .collect()
    }

    /// Orders a set of rights as the registry lists them (for columns and claims).
    pub fn ordered<'a>(&self, rights: impl IntoIterator<Item = &'a RightCode>) -> Vec<RightCode> {
        let set: BTreeSet<&RightCode> = rights.into_iter().collect();
        self.products
            .iter()
            .filter(|p| set.contains(&p.code))
            .map(|p| p.code.clone())
            .collect()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn builtin_registry_lists_the_three_products_and_orv_has_no_sub_offices() {
        let r = Registry::builtin().unwrap();
        let codes: Vec<_> = r.products().iter().map(|p| p.code.as_str()).collect();
        assert_eq!(codes, ["DIP", "DIL", "ORV"]);
        let sub: Vec<_> = r.sub_office_rights().into_iter().collect();
        assert_eq!(
            sub,
            [
                RightCode::parse("DIL").unwrap(),
                RightCode::parse("DIP").unwrap()
            ]
        );
    }

    #[test]
    fn a_fourth_product_is_only_data() {
        let text = format!(
            "{DEFAULT_REGISTRY}\n[[product]]\ncode = \"UTV\"\nname = \"Uitvaart\"\ndescription = \"x\"\npath = \"/utv\"\nclient_id = \"utv\"\nsub_offices = true\nlabel = \"Uitvaartrechten\"\n"
        );
        let r = Registry::parse(&text).unwrap();
        assert_eq!(r.products().len(), 4);
        assert!(
            r.sub_office_rights()
                .contains(&RightCode::parse("UTV").unwrap())
        );
    }

    #[test]
    fn rights_lists_parse_and_refuse_unknown_codes() {
        let r = Registry::builtin().unwrap();
        assert_eq!(r.rights(" dip, DIL ").unwrap().len(), 2);
        assert_eq!(r.rights("").unwrap().len(), 0);
        assert_eq!(
            r.rights("DIP,XYZ"),
            Err(RegistryError::UnknownRight("XYZ".into()))
        );
        assert!(matches!(r.rights("D-P"), Err(RegistryError::BadCode(_))));
    }

    #[test]
    fn duplicates_and_bad_paths_are_refused() {
        let dup = format!(
            "{DEFAULT_REGISTRY}\n[[product]]\ncode = \"DIP\"\nname = \"x\"\ndescription = \"x\"\npath = \"/x\"\nclient_id = \"x\"\nsub_offices = true\nlabel = \"x\"\n"
        );
        assert_eq!(
            Registry::parse(&dup).unwrap_err(),
            RegistryError::Duplicate("DIP".into())
        );
        let bad = DEFAULT_REGISTRY.replace("path = \"/dip\"", "path = \"dip/\"");
        assert!(matches!(
            Registry::parse(&bad),
            Err(RegistryError::BadPath(_))
        ));
    }

    #[test]
    fn ordered_follows_the_registry() {
        let r = Registry::builtin().unwrap();
        let set = r.rights("ORV,DIP").unwrap();
        let ordered: Vec<_> = r.ordered(&set).into_iter().map(|c| c.to_string()).collect();
        assert_eq!(ordered, ["DIP", "ORV"]);
    }
}
