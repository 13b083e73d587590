//! The page and mail templates, embedded at build time and rendered with minijinja.
//!
//! Autoescaping is on for every `.html` template (SECURITY IO-02); nothing here marks
//! user data safe. Templates are never built from input.

use std::sync::Arc;

use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use minijinja::Environment;
use serde::Serialize;

use crate::texts::{Texts, TextsError};

/// The rendering environment, built once at start-up and shared.
#[derive(Clone)]
pub struct Templates {
    env: Arc<Environment<'static>>,
    texts: Texts,
}

/// A template failed to load or render.
#[derive(Debug, thiserror::Error)]
pub enum TemplateError {
    /// The text catalogue is malformed.
    #[error(transparent)]
    Texts(#[from] TextsError),
    /// A template did not render (a missing variable, a bad filter).
    #[error("template {name}: {source}")]
    Render {
        /// The template's name.
        name: String,
        /// What minijinja said.
        source: minijinja::Error,
    },
}

impl Templates {
    /// Loads the embedded templates and the Dutch texts.
    pub fn load() -> Result<Self, TemplateError> {
        let texts = Texts::load()?;
        let mut env = Environment::new();
        env.set_undefined_behavior(minijinja::UndefinedBehavior::Strict);
        // The generated loader `expect`s templates that build.rs already parsed: a broken
        // template fails the build, never a running portal.
        #[allow(clippy::expect_used)]
        {
            minijinja_embed::load_templates!(&mut env);
        }
        let lookup = texts.clone();
        env.add_function("t", move |key: &str| -> Result<String, minijinja::Error> {
            lookup.get(key).map(str::to_owned).ok_or_else(|| {
                minijinja::Error::new(
                    minijinja::ErrorKind::UndefinedError,
                    format!("no text for key {key}"),
                )
            })
        });
        Ok(Self {
            env: Arc::new(env),
            texts,
        })
    }

    /// The Dutch text catalogue.
    pub fn texts(&self) -> &Texts {
        &self.texts
    }

    /// Renders `name` with `ctx`.
    pub fn render(&self, name: &str, ctx: impl Serialize) -> Result<String, TemplateError> {
        self.env
            .get_template(name)
            .and_then(|t| t.render(minijinja::Value::from(minijinja::value::Serde(&ctx))))
            .map_err(|source| TemplateError::Render {
                name: name.to_owned(),
                source,
            })
    }

    /// Renders an HTML page with a status; a template failure becomes a plain 500 page and
    /// is logged, so that a broken template never leaks its error to the visitor.
    pub fn page(&self, status: StatusCode, name: &str, ctx: impl Serialize) -> Response {
        match self.render(name, ctx) {
            Ok(html) => (status, Html(html)).into_response(),
            Err(e) => {
                tracing::error!(error = %e, "page did not render");
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    Html(self.texts.text("error.internal")),
                )
                    .into_response()
            }
        }
    }
}
