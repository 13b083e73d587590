//! The adapter of Direct Ingaand Pensioen: Direct Ingaand Zeker Pensioen (DIZP) and Direct Ingaand Keuze Pensioen (DIKP), right `DIP`.
//!
//! For now it serves the product's start page; its quote and application pages, pricing
//! and dashboard rows arrive with issue 7 (see [`crate::ProductAdapter`]).

use axum::Router;
use axum::routing::get;

use crate::ProductAdapter;
use crate::portal::{self, ProductPortal};

/// The DIP adapter.
pub(crate) struct Dip;

impl ProductAdapter for Dip {
    fn code(&self) -> &'static str {
        "DIP"
    }

    fn routes(&self) -> Router<ProductPortal> {
        Router::new().route("/", get(portal::home))
    }
}
