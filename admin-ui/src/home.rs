//! The Offerte Portaal home page: a greeting and the products the user may use, which is
//! the user's `rights` claim ∩ the product registry, in registry order.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum_extra::extract::cookie::CookieJar;
use product_registry::{Product, Registry};
use relying_party::{MaybeUser, SignedInUser};
use serde::Serialize;

use crate::AppState;

#[derive(Serialize)]
struct HomePage<'a> {
    user: &'a SignedInUser,
    products: Vec<&'a Product>,
    logout_action: String,
    /// O2: the menu item "Subkantoren" (see `offices::shows_sub_offices`).
    sub_offices_menu: bool,
    /// Issue 10: the countdown to the 2FA date (or the grace left), for a user without a
    /// second factor.
    mfa_banner: Option<MfaBanner>,
}

/// The countdown shows from this many days before the date on (earlier: the plain offer).
const BANNER_DAYS: i64 = 90;

/// "Vanaf <datum> is twee-factor-authenticatie verplicht. Nog N dagen." (or, after the
/// date under grace, how many password-only sign-ins remain).
#[derive(Serialize)]
struct MfaBanner {
    date: String,
    days_left: Option<i64>,
    grace_left: Option<u32>,
    required_now: bool,
}

/// The banner, from the idp's `GET /api/v1/me/mfa` (the admin UI knows only what the
/// idp says). Only for a session without a second factor; a failed call shows no banner
/// rather than no home page.
async fn mfa_banner(app: &AppState, user: &SignedInUser, jar: &CookieJar) -> Option<MfaBanner> {
    if user.amr.iter().any(|a| a == "mfa") {
        return None;
    }
    let token = app.rp.access_token(jar).await.ok().flatten()?;
    let mine = app
        .api
        .my_mfa(&token)
        .await
        .map_err(|e| tracing::warn!(error = %e, "2FA standing not read"))
        .ok()?;
    let counting_down = mine.days_left.is_some_and(|d| d <= BANNER_DAYS);
    if mine.has_second_factor || !(counting_down || mine.grace_left.is_some() || mine.required_now)
    {
        return None;
    }
    let date = match mine.required_from.split('-').collect::<Vec<_>>().as_slice() {
        [y, m, d] => format!("{d}-{m}-{y}"),
        _ => mine.required_from.clone(),
    };
    Some(MfaBanner {
        date,
        days_left: mine.days_left,
        grace_left: mine.grace_left,
        required_now: mine.required_now,
    })
}

/// `GET /`: the home page, or a sign-in for a visitor without a session.
pub(crate) async fn show(
    State(app): State<AppState>,
    MaybeUser(user): MaybeUser,
    jar: CookieJar,
) -> Response {
    let Some(user) = user else {
        return app.rp.sign_in(jar, "/").await;
    };
    let sub_offices_menu = crate::offices::shows_sub_offices_for(&app, &user, &jar).await;
    let mfa_banner = mfa_banner(&app, &user, &jar).await;
    let page = HomePage {
        sub_offices_menu,
        mfa_banner,
        products: usable_products(&app.registry, &user),
        user: &user,
        logout_action: app.rp.logout_action(),
    };
    let html = app.templates.page(StatusCode::OK, "admin/home.html", page);
    ([web_kit::headers::no_store()], html).into_response()
}

/// The registry's products whose right the user holds, in registry order.
pub(crate) fn usable_products<'r>(registry: &'r Registry, user: &SignedInUser) -> Vec<&'r Product> {
    registry
        .products()
        .iter()
        .filter(|p| user.has_right(&p.code))
        .collect()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use product_registry::RightCode;
    use relying_party::Role;

    fn user(rights: &[&str]) -> SignedInUser {
        SignedInUser {
            issuer: "http://127.0.0.1:8080/idp".into(),
            subject: "u1".into(),
            name: "Ilse de Vries".into(),
            email: Some("ilse@x.nl".into()),
            email_verified: true,
            role: Role::Employee,
            rights: rights
                .iter()
                .map(|r| RightCode::parse(r).unwrap())
                .collect(),
            office: None,
            head_office: None,
            amr: vec!["pwd".into()],
            sid: None,
        }
    }

    #[test]
    fn products_are_the_rights_in_registry_order() {
        let registry = Registry::builtin().unwrap();
        let codes = |rights: &[&str]| -> Vec<String> {
            usable_products(&registry, &user(rights))
                .iter()
                .map(|p| p.code.to_string())
                .collect()
        };
        assert_eq!(codes(&["ORV", "DIP"]), ["DIP", "ORV"]);
        assert_eq!(
            codes(&["DIL", "XYZ"]),
            ["DIL"],
            "a right the registry lacks shows nothing"
        );
        assert!(codes(&[]).is_empty());
    }
}
