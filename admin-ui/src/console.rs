//! The insurer's console (issue 6), for insurer admins only: **Zoeken** across every office
//! and user (`/beheer/zoeken`), with the e-mail backlog under it (issue 9: an outage of the
//! mail server shows there), and the provider's **OIDC-clients** (`/beheer/clients`): the
//! list and "Nieuwe client", whose generated secret is shown once.
//!
//! Like every page of the admin UI it reads and changes data only through the idp's admin
//! API with the signed-in user's token; the API refuses a main user as well (403), so the
//! role check here only spares such a user a page of errors.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum_extra::extract::cookie::CookieJar;
use relying_party::{MaybeUser, Role, SignedInUser};
use serde::{Deserialize, Serialize};

use crate::AppState;
use crate::api::ApiError;
use crate::api::clients::{NewClient, OidcClient};
use crate::api::outbox::Backlog;
use crate::form::{PageForm, PageQuery};
use crate::users::{api_failure, no_store};

/// Rows per table of the search.
const SEARCH_LIMIT: u32 = 50;

/// The grant types the form offers, with their label keys.
const GRANTS: [(&str, &str); 3] = [
    (
        "authorization_code",
        "oidc_clients.grant_authorization_code",
    ),
    ("refresh_token", "oidc_clients.grant_refresh_token"),
    (
        "client_credentials",
        "oidc_clients.grant_client_credentials",
    ),
];

#[derive(Serialize)]
struct InsurerOnly<'a> {
    user: &'a SignedInUser,
    logout_action: String,
    message_key: &'static str,
}

/// The signed-in insurer admin and a live API token, or the response to give instead.
async fn insurer(
    app: &AppState,
    user: Option<SignedInUser>,
    jar: &CookieJar,
    here: &str,
    message_key: &'static str,
) -> Result<(SignedInUser, String), Response> {
    let Some(user) = user else {
        return Err(app.rp.sign_in(jar.clone(), here).await);
    };
    if user.role != Role::InsurerAdmin {
        return Err(app.templates.page(
            StatusCode::FORBIDDEN,
            "admin/insurer_only.html",
            InsurerOnly {
                logout_action: app.rp.logout_action(),
                user: &user,
                message_key,
            },
        ));
    }
    match app.rp.access_token(jar).await {
        Ok(Some(token)) => Ok((user, token)),
        Ok(None) => Err(app.rp.sign_in(jar.clone(), here).await),
        Err(e) => Err(app.rp.failure(e).into_response()),
    }
}

/// `?q=`.
#[derive(Deserialize)]
pub(crate) struct SearchQuery {
    #[serde(default)]
    q: String,
}

#[derive(Serialize)]
struct OfficeHit {
    name: String,
    number: String,
    kind_key: &'static str,
    city: String,
    active: bool,
    href: String,
}

#[derive(Serialize)]
struct UserHit {
    id: String,
    name: String,
    email: String,
    role_key: &'static str,
    office: String,
    active: bool,
    activated: bool,
}

#[derive(Serialize)]
struct SearchPage<'a> {
    user: &'a SignedInUser,
    logout_action: String,
    q: String,
    searched: bool,
    too_short: bool,
    offices: Vec<OfficeHit>,
    more_offices: bool,
    users: Vec<UserHit>,
    more_users: bool,
    /// The block "E-mail": one sentence a line, plain text (the template escapes it).
    mail: Vec<String>,
}

/// The longest part of the mail server's answer the console shows.
const MAX_ERROR_CHARS: usize = 300;

/// `2026-01-31T09:05:00.123Z` → `31-01-2026 09:05:00 UTC`, as the audit log shows times
/// (`crate::audit`); anything else as it is.
fn when(at: &str) -> String {
    let (Some(date), Some(time)) = (at.get(..10), at.get(11..19)) else {
        return at.to_owned();
    };
    let parts: Vec<&str> = date.split('-').collect();
    match (parts.as_slice(), at.ends_with('Z')) {
        ([y, m, d], true) => format!("{d}-{m}-{y} {time} UTC"),
        _ => at.to_owned(),
    }
}

/// The sentences of the block "E-mail" for a backlog, in Dutch from `texts`. The server's
/// answer is outside text: it goes into the page as text, escaped by the template.
fn mail_lines(texts: &web_kit::Texts, b: &Backlog) -> Vec<String> {
    let t = |key: &str| texts.text(&format!("outbox.{key}"));
    let mut lines = Vec::new();
    if b.waiting == 0 {
        let key = if b.given_up == 0 {
            "all_sent"
        } else {
            "none_waiting"
        };
        lines.push(t(key));
    } else {
        let since = b.oldest_queued_at.as_deref().map(when).unwrap_or_default();
        let key = if b.waiting == 1 {
            "waiting_one"
        } else {
            "waiting"
        };
        let mut line = t(key)
            .replace("{count}", &b.waiting.to_string())
            .replace("{since}", &since);
        if let Some(error) = b
            .last_error
            .as_deref()
            .map(str::trim)
            .filter(|e| !e.is_empty())
        {
            let error: String = error.chars().take(MAX_ERROR_CHARS).collect();
            let error = error.trim_end_matches('.');
            line.push(' ');
            line.push_str(&t("last_error").replace("{error}", error));
        }
        if b.attempts > 0
            && let Some(next) = b.next_attempt_at.as_deref()
        {
            line.push(' ');
            line.push_str(&t("next_attempt").replace("{at}", &when(next)));
        }
        lines.push(line);
    }
    match b.given_up {
        0 => {}
        1 => lines.push(t("given_up_one")),
        n => lines.push(t("given_up").replace("{count}", &n.to_string())),
    }
    match b.deliveries_waiting {
        0 => {}
        1 => lines.push(t("deliveries_one")),
        n => lines.push(t("deliveries").replace("{count}", &n.to_string())),
    }
    lines
}

fn role_key(role: &str) -> &'static str {
    match role {
        "main_user" => "users.role_main_user",
        "insurer_admin" => "users.role_insurer_admin",
        _ => "users.role_employee",
    }
}

/// `GET /beheer/zoeken?q=`: offices whose name, number, e-mail or city and users whose
/// name or e-mail contain the text, ignoring case, in two tables.
pub(crate) async fn search(
    State(app): State<AppState>,
    MaybeUser(user): MaybeUser,
    jar: CookieJar,
    PageQuery(query): PageQuery<SearchQuery>,
) -> Response {
    let (user, token) =
        match insurer(&app, user, &jar, "/beheer/zoeken", "zoeken.not_allowed").await {
            Ok(found) => found,
            Err(res) => return res,
        };
    let q = query.q.trim().to_owned();
    let too_short = !q.is_empty() && q.chars().count() < 2;
    let mut page = SearchPage {
        logout_action: app.rp.logout_action(),
        user: &user,
        searched: false,
        too_short,
        offices: Vec::new(),
        more_offices: false,
        users: Vec::new(),
        more_users: false,
        mail: Vec::new(),
        q,
    };
    if !page.q.is_empty() && !too_short {
        let offices = app.api.offices_page(&token, &page.q, 1, SEARCH_LIMIT);
        let users = app.api.users_page(&token, &page.q, 1, SEARCH_LIMIT);
        let (offices, users) = match (offices.await, users.await) {
            (Ok(o), Ok(u)) => (o, u),
            (Err(e), _) | (_, Err(e)) => {
                return api_failure(&app, &jar, "/beheer/zoeken", e).await;
            }
        };
        page.searched = true;
        page.more_offices = offices.next.is_some();
        page.more_users = users.next.is_some();
        page.offices = offices
            .offices
            .into_iter()
            .map(|o| {
                let head = o.kind == "head_office";
                OfficeHit {
                    // A head office's own page in the console; a sub-office is shown on
                    // its head office's.
                    href: if head {
                        format!("/beheer/hoofdkantoren/{}", crate::api::seg(&o.id))
                    } else {
                        String::new()
                    },
                    kind_key: if head {
                        "zoeken.head_office"
                    } else {
                        "zoeken.sub_office"
                    },
                    name: o.name,
                    number: o.number,
                    city: o.city,
                    active: o.active,
                }
            })
            .collect();
        page.users = users
            .users
            .into_iter()
            .map(|u| UserHit {
                role_key: role_key(&u.role),
                office: u
                    .office
                    .as_ref()
                    .map(|o| format!("{} ({})", o.name, o.number))
                    .unwrap_or_default(),
                id: u.id,
                name: u.name,
                email: u.email,
                active: u.active,
                activated: u.activated,
            })
            .collect();
    }
    page.mail = match app.api.outbox(&token).await {
        Ok(backlog) => mail_lines(app.templates.texts(), &backlog),
        // The search stays usable when only the backlog cannot be read.
        Err(ApiError::Unavailable(cause)) => {
            tracing::warn!(error = %cause, "e-mail backlog unavailable");
            vec![app.templates.texts().text("outbox.unavailable")]
        }
        Err(e) => return api_failure(&app, &jar, "/beheer/zoeken", e).await,
    };
    no_store(
        app.templates
            .page(StatusCode::OK, "admin/search.html", page),
    )
}

#[derive(Serialize)]
struct GrantBox {
    value: &'static str,
    label_key: &'static str,
    checked: bool,
}

#[derive(Serialize)]
struct ClientRow {
    client: OidcClient,
    grants: String,
    methods: String,
}

/// The form's values, kept when a registration is refused.
#[derive(Debug, Default, Deserialize, Serialize)]
pub(crate) struct ClientForm {
    #[serde(default)]
    client_id: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    redirect_uris: String,
    #[serde(default)]
    post_logout_redirect_uris: String,
    #[serde(default)]
    backchannel_logout_uri: String,
    #[serde(default)]
    grant_types: Vec<String>,
    #[serde(default)]
    auth_method: String,
    /// "PAR verplicht" (a checkbox: present when ticked).
    #[serde(default)]
    require_par: Option<String>,
    /// "DPoP verplicht".
    #[serde(default)]
    dpop: Option<String>,
}

#[derive(Serialize)]
struct ClientsPage<'a> {
    user: &'a SignedInUser,
    logout_action: String,
    clients: Vec<ClientRow>,
    form: ClientForm,
    grants: Vec<GrantBox>,
    post_auth: bool,
    error: Option<String>,
    /// Just registered: its id and the secret, shown this once.
    registered: Option<String>,
    secret: Option<String>,
}

fn lines(text: &str) -> Vec<String> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(str::to_owned)
        .collect()
}

#[allow(clippy::too_many_arguments)]
async fn clients_page(
    app: &AppState,
    jar: &CookieJar,
    user: &SignedInUser,
    token: &str,
    status: StatusCode,
    form: ClientForm,
    error: Option<String>,
    registered: Option<(String, Option<String>)>,
) -> Response {
    let clients = match app.api.clients(token).await {
        Ok(c) => c,
        Err(e) => return api_failure(app, jar, "/beheer/clients", e).await,
    };
    let clients = clients
        .into_iter()
        .map(|c| ClientRow {
            grants: c.grant_types.join(", "),
            methods: c.token_endpoint_auth_methods.join(", "),
            client: c,
        })
        .collect();
    let fresh = form.client_id.is_empty() && error.is_none();
    let grants = GRANTS
        .iter()
        .map(|&(value, label_key)| GrantBox {
            value,
            label_key,
            checked: if fresh {
                value == "authorization_code"
            } else {
                form.grant_types.iter().any(|g| g == value)
            },
        })
        .collect();
    let (registered, secret) = match registered {
        Some((id, secret)) => (Some(id), secret),
        None => (None, None),
    };
    no_store(app.templates.page(
        status,
        "admin/clients.html",
        ClientsPage {
            logout_action: app.rp.logout_action(),
            user,
            clients,
            post_auth: form.auth_method == "client_secret_post",
            form,
            grants,
            error,
            registered,
            secret,
        },
    ))
}

/// `GET /beheer/clients`: "OIDC-clients", the list and the form "Nieuwe client".
pub(crate) async fn clients(
    State(app): State<AppState>,
    MaybeUser(user): MaybeUser,
    jar: CookieJar,
) -> Response {
    let here = "/beheer/clients";
    let (user, token) = match insurer(&app, user, &jar, here, "oidc_clients.insurer_only").await {
        Ok(found) => found,
        Err(res) => return res,
    };
    clients_page(
        &app,
        &jar,
        &user,
        &token,
        StatusCode::OK,
        ClientForm::default(),
        None,
        None,
    )
    .await
}

/// `POST /beheer/clients`: "Registreren". The answer shows the generated secret once; it
/// is not a redirect, so the secret never lands in a URL or a later page.
pub(crate) async fn register(
    State(app): State<AppState>,
    MaybeUser(user): MaybeUser,
    jar: CookieJar,
    PageForm(form): PageForm<ClientForm>,
) -> Response {
    let here = "/beheer/clients";
    let (user, token) = match insurer(&app, user, &jar, here, "oidc_clients.insurer_only").await {
        Ok(found) => found,
        Err(res) => return res,
    };
    let redirect_uris = lines(&form.redirect_uris);
    let post_logout = lines(&form.post_logout_redirect_uris);
    let method = if form.auth_method == "client_secret_post" {
        "client_secret_post"
    } else {
        "client_secret_basic"
    };
    let name = form.name.trim();
    let backchannel = form.backchannel_logout_uri.trim();
    let new = NewClient {
        client_id: form.client_id.trim(),
        name: (!name.is_empty()).then_some(name),
        redirect_uris: &redirect_uris,
        post_logout_redirect_uris: &post_logout,
        backchannel_logout_uri: (!backchannel.is_empty()).then_some(backchannel),
        grant_types: &form.grant_types,
        token_endpoint_auth_method: method,
        require_pushed_authorization_requests: form.require_par.is_some(),
        dpop_bound_access_tokens: form.dpop.is_some(),
    };
    match app.api.register_client(&token, &new).await {
        Ok(done) => {
            clients_page(
                &app,
                &jar,
                &user,
                &token,
                StatusCode::CREATED,
                ClientForm::default(),
                None,
                Some((done.client.client_id, done.client_secret)),
            )
            .await
        }
        Err(ApiError::Refused { status, detail }) if status.is_client_error() => {
            clients_page(
                &app,
                &jar,
                &user,
                &token,
                StatusCode::UNPROCESSABLE_ENTITY,
                form,
                Some(detail),
                None,
            )
            .await
        }
        Err(e) => api_failure(&app, &jar, here, e).await,
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn backlog() -> Backlog {
        Backlog {
            waiting: 0,
            oldest_queued_at: None,
            attempts: 0,
            last_error: None,
            next_attempt_at: None,
            given_up: 0,
            deliveries_waiting: 0,
        }
    }

    #[test]
    fn an_empty_outbox_says_all_is_sent() {
        let texts = web_kit::Texts::load().unwrap();
        assert_eq!(
            mail_lines(&texts, &backlog()),
            ["Alle e-mails zijn verzonden."]
        );
    }

    #[test]
    fn a_backlog_says_how_many_since_when_why_and_when_next() {
        let texts = web_kit::Texts::load().unwrap();
        let b = Backlog {
            waiting: 5,
            oldest_queued_at: Some("2026-12-03T14:05:07.123456Z".into()),
            attempts: 3,
            last_error: Some("Connection refused (os error 111).".into()),
            next_attempt_at: Some("2026-12-03T14:07:00Z".into()),
            given_up: 2,
            deliveries_waiting: 1,
        };
        assert_eq!(
            mail_lines(&texts, &b),
            [
                "Er wachten 5 e-mails op verzending, de oudste sinds 03-12-2026 14:05:07 UTC. \
                 Laatste fout: Connection refused (os error 111). Volgende poging: 03-12-2026 14:07:00 UTC.",
                "2 e-mails zijn door de mailserver geweigerd.",
                "1 bericht aan een portaal (een afmelding of een rechtenwijziging) wacht nog op aflevering.",
            ]
        );
        let refused_only = Backlog {
            given_up: 1,
            ..backlog()
        };
        assert_eq!(
            mail_lines(&texts, &refused_only),
            [
                "Er wachten geen e-mails op verzending.",
                "1 e-mail is door de mailserver geweigerd."
            ]
        );
    }

    #[test]
    fn the_servers_answer_is_escaped_on_the_page() {
        let templates = web_kit::Templates::load().unwrap();
        let b = Backlog {
            waiting: 2,
            oldest_queued_at: Some("2026-12-03T14:05:07Z".into()),
            last_error: Some("<img src=x onerror=alert(1)> & co".into()),
            ..backlog()
        };
        let ctx = serde_json::json!({
            "user": {"name": "Beheer", "role": "insurer_admin", "issuer": "http://idp", "amr": ["pwd"]},
            "logout_action": "/uitloggen",
            "q": "",
            "searched": false,
            "too_short": false,
            "mail": mail_lines(templates.texts(), &b),
        });
        let html = templates.render("admin/search.html", ctx).unwrap();
        assert!(
            html.contains("Laatste fout: &lt;img src=x onerror=alert(1)&gt; &amp; co."),
            "{html}"
        );
        assert!(!html.contains("<img src=x"), "{html}");
    }

    #[test]
    fn a_long_answer_of_the_server_is_cut() {
        let texts = web_kit::Texts::load().unwrap();
        let b = Backlog {
            waiting: 1,
            oldest_queued_at: Some("2026-12-03T14:05:07Z".into()),
            last_error: Some("x".repeat(5000)),
            ..backlog()
        };
        let line = &mail_lines(&texts, &b)[0];
        assert!(
            line.starts_with("Er wacht 1 e-mail op verzending, sinds 03-12-2026 14:05:07 UTC."),
            "{line}"
        );
        assert!(line.len() < 500, "{line}");
    }
}
