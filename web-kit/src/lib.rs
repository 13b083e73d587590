//! What every web part of the portal shares: the page templates and their Dutch texts,
//! the security headers every response carries, and the `return_to` rule.
//!
//! It owns presentation only. It knows nothing of users, tokens or products; callers
//! pass what a page shows.

pub mod assets;
pub mod headers;
pub mod limits;
pub mod paths;
pub mod requests;
pub mod templates;
pub mod texts;

pub use templates::{TemplateError, Templates};
pub use texts::Texts;
