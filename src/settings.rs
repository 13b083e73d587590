//! Settings from a TOML file and `PORTAL_*` variables, checked by `idp::config`.

use std::path::Path;

use anyhow::Context;
use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use idp::config::{RawSettings, Settings};

/// Loads defaults, then the TOML file (if any), then the environment.
pub fn load(file: Option<&Path>) -> anyhow::Result<Settings> {
    let mut figment = Figment::from(Serialized::defaults(RawSettings::default()));
    match file {
        Some(path) => {
            anyhow::ensure!(
                path.exists(),
                "settings file {} does not exist",
                path.display()
            );
            figment = figment.merge(Toml::file(path));
        }
        None if Path::new("portal.toml").exists() => {
            figment = figment.merge(Toml::file("portal.toml"));
        }
        None => {}
    }
    figment = figment.merge(Env::prefixed("PORTAL_").filter(|k| {
        !k.as_str().starts_with("test_") && k != "config" && k != "log" && k != "client_secret"
    }));
    let raw: RawSettings = figment
        .extract()
        .map_err(|e| {
            anyhow::anyhow!(
                "setting PORTAL_{}: {}",
                e.path.join("_").to_uppercase(),
                e.kind
            )
        })
        .context("the settings are not valid")?;
    Ok(Settings::from_raw(raw)?)
}

/// The product registry: the file named by `PORTAL_PRODUCTS_FILE`, or the built-in one.
pub fn registry(settings: &Settings) -> anyhow::Result<product_registry::Registry> {
    match &settings.products_file {
        Some(path) => {
            let text = std::fs::read_to_string(path).with_context(|| {
                format!(
                    "setting PORTAL_PRODUCTS_FILE: cannot read {}",
                    path.display()
                )
            })?;
            Ok(product_registry::Registry::parse(&text)?)
        }
        None => Ok(product_registry::Registry::builtin()?),
    }
}
