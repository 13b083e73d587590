//! The insurer's console (issue 6), for insurer admins only: **Zoeken** across every office
//! and user (`/beheer/zoeken`), and the provider's **OIDC-clients** (`/beheer/clients`):
//! the list and "Nieuwe client", whose generated secret is shown once.
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
