//! The adapter of Direct Ingaande Lijfrente, right `DIL`.
//!
//! For now it serves the product's start page; its quote and application pages, pricing
//! and dashboard rows arrive with issue 7 (see [`crate::ProductAdapter`]).

use axum::Router;
use axum::routing::get;

use crate::ProductAdapter;
use crate::portal::{self, ProductPortal};

/// The DIL adapter.
pub(crate) struct Dil;

impl ProductAdapter for Dil {
    fn code(&self) -> &'static str {
        "DIL"
    }

    fn routes(&self) -> Router<ProductPortal> {
        Router::new().route("/", get(portal::home))
    }
}
