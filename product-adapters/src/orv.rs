//! The adapter of Overlijdensrisicoverzekering (term life), right `ORV`; head offices only (SPEC O4).
//!
//! For now it serves the product's start page; its quote and application pages, pricing
//! and dashboard rows arrive with issue 7 (see [`crate::ProductAdapter`]).

use axum::Router;
use axum::routing::get;

use crate::ProductAdapter;
use crate::portal::{self, ProductPortal};

/// The ORV adapter.
pub(crate) struct Orv;

impl ProductAdapter for Orv {
    fn code(&self) -> &'static str {
        "ORV"
    }

    fn routes(&self) -> Router<ProductPortal> {
        Router::new().route("/", get(portal::home))
    }
}
