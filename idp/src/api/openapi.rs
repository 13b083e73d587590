//! The admin API's OpenAPI 3.1 document, generated from the handlers' and types'
//! annotations (utoipa), served at `GET /api/v1/openapi.json` without authentication.
//! OIDC endpoints are defined by their own specifications and are not in it.

use std::sync::OnceLock;

use axum::http::header;
use axum::response::IntoResponse;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use super::problem::ProblemSchema;
use super::{approvals, audit, clients, imports, me, mfa, offices, outbox, users};

/// The document's description of the admin API.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "Offerte Portaal admin API",
        version = "1",
        description = "Managing offices, users and rights of the Offerte Portaal. Called with a \
            bearer access token that the portal's identity provider issued to an admin client; \
            `GET /api/v1/me/office` takes any registered client's token with scope `portal`. \
            Errors are RFC 9457 problem details with a Dutch `detail`."
    ),
    paths(
        users::list,
        users::get,
        users::create,
        users::update,
        users::send_activation,
        users::reset_second_factors,
        users::end_sessions,
        offices::list,
        offices::get,
        offices::create,
        offices::create_sub_office,
        offices::update,
        offices::delete,
        audit::list,
        audit::export_csv,
        clients::list,
        clients::create,
        imports::start,
        imports::get,
        imports::report,
        imports::confirm,
        imports::cancel,
        outbox::get,
        me::office,
        mfa::me,
        mfa::status,
        mfa::remind,
        mfa::get_policy,
        mfa::set_policy,
        approvals::list,
        approvals::approve,
        approvals::reject,
        approvals::make_main_user,
    ),
    components(schemas(
        users::UserJson,
        users::UserListJson,
        users::NewUserJson,
        users::UserPatchJson,
        users::OfficeJson,
        users::RoleJson,
        users::OfficeKindJson,
        offices::OfficeFullJson,
        offices::OfficeListJson,
        offices::NewHeadOfficeJson,
        offices::NewSubOfficeJson,
        offices::OfficePatchJson,
        audit::AuditPageJson,
        audit::AuditEntryJson,
        audit::AuditUserJson,
        audit::AuditOfficeJson,
        imports::ImportJson,
        imports::RowJson,
        imports::StateJson,
        imports::ResultJson,
        imports::RefusedJson,
        imports::RowErrorJson,
        imports::ActionJson,
        imports::ChangeJson,
        imports::PlannedJson,
        imports::ConfirmJson,
        ProblemSchema,
        clients::ClientJson,
        clients::ClientListJson,
        clients::NewClientJson,
        clients::AuthMethodJson,
        clients::RegisteredJson,
        me::MeOfficeJson,
        mfa::MyMfaJson,
        mfa::StatusJson,
        mfa::StatusUserJson,
        mfa::PolicyJson,
        mfa::PolicyPatchJson,
        me::MyOfficeJson,
        me::MyHeadOfficeJson,
        outbox::OutboxJson,
        approvals::ApprovalJson,
        approvals::ApprovalListJson,
        approvals::PersonJson,
    )),
    modifiers(&BearerAuth),
    security(("bearer" = [])),
    tags(
        (name = "users", description = "Gebruikers: the users of an office tree (SPEC U1–U5, A4, F3)"),
        (name = "offices", description = "Kantoren and Subkantoren: head offices (the insurer) and their sub-offices (SPEC O1–O7)"),
        (name = "audit", description = "Auditlog: who did what, on whom, when and from where (SPEC L1)"),
        (name = "clients", description = "OIDC clients of the identity provider, for insurer admins (SPEC §4)"),
        (name = "imports", description = "Importeren: head offices in bulk from the appointment register's CSV export (SPEC O1)"),
        (name = "outbox", description = "The e-mail backlog: what waits for the mail server, since when and why, for insurer admins (issue 9)"),
        (name = "approvals", description = "Four-eyes: changes that PORTAL_FOUR_EYES lists (allowing sub-offices, granting ORV) wait here for a second insurer admin; PATCH /offices/{id} and /users/{id} answer them with 202 (issue 10)"),
        (name = "me", description = "The signed-in user's own data, for the product portals: any registered client's token with scope `portal`, employees included (SPEC P2, P3)"),
    )
)]
pub struct ApiDoc;

/// The bearer scheme every route requires.
struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .description(Some(
                        "An access token (RFC 9068) of the portal's identity provider, issued \
                         to an admin client (`/api/v1/me/office`: to any registered client, \
                         with scope `portal`)",
                    ))
                    .build(),
            ),
        );
    }
}

/// The document as JSON, made once.
pub fn json() -> &'static str {
    static DOC: OnceLock<String> = OnceLock::new();
    DOC.get_or_init(|| ApiDoc::openapi().to_json().unwrap_or_default())
}

/// `GET /api/v1/openapi.json`.
pub async fn document() -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "application/json")], json())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn the_document_describes_every_user_route_with_its_security() {
        let doc: serde_json::Value = serde_json::from_str(json()).unwrap();
        assert_eq!(doc["openapi"], "3.1.0");
        for (path, method) in [
            ("/api/v1/users", "get"),
            ("/api/v1/users", "post"),
            ("/api/v1/users/{id}", "get"),
            ("/api/v1/users/{id}", "patch"),
            ("/api/v1/users/{id}/activation", "post"),
            ("/api/v1/users/{id}/second-factors/reset", "post"),
        ] {
            assert!(doc["paths"][path][method].is_object(), "{method} {path}");
        }
        assert_eq!(
            doc["components"]["securitySchemes"]["bearer"]["scheme"],
            "bearer"
        );
        let user = &doc["components"]["schemas"]["User"]["properties"];
        for field in [
            "id",
            "name",
            "email",
            "role",
            "active",
            "activated",
            "rights",
            "office",
            "version",
        ] {
            assert!(user[field].is_object(), "User.{field}");
        }
        assert_eq!(user["role"]["$ref"], "#/components/schemas/Role");
        for schema in [
            "Problem",
            "Office",
            "OfficeKind",
            "NewUser",
            "UserPatch",
            "UserList",
            "UserOffice",
        ] {
            assert!(doc["components"]["schemas"][schema].is_object(), "{schema}");
        }
        assert!(
            user["office"]
                .to_string()
                .contains("#/components/schemas/UserOffice"),
            "{}",
            user["office"]
        );
    }

    #[test]
    fn the_document_describes_paging_and_the_client_routes() {
        let doc: serde_json::Value = serde_json::from_str(json()).unwrap();
        for path in ["/api/v1/users", "/api/v1/offices"] {
            let params = doc["paths"][path]["get"]["parameters"].to_string();
            assert!(
                params.contains("\"page\"") && params.contains("\"limit\""),
                "{path}: {params}"
            );
        }
        for list in ["UserList", "OfficeList"] {
            let props = &doc["components"]["schemas"][list]["properties"];
            assert!(
                props["next"].is_object() && props["page"].is_object(),
                "{list}"
            );
        }
        assert!(doc["paths"]["/api/v1/clients"]["get"].is_object());
        assert!(doc["paths"]["/api/v1/clients"]["post"]["responses"]["422"].is_object());
        let client = &doc["components"]["schemas"]["OidcClient"]["properties"];
        for field in [
            "client_id",
            "redirect_uris",
            "grant_types",
            "require_pkce",
            "created_at",
        ] {
            assert!(client[field].is_object(), "OidcClient.{field}");
        }
        assert!(
            client["client_secret"].is_null(),
            "a listed client never has its secret"
        );
        assert!(
            doc["components"]["schemas"]["RegisteredOidcClient"]["properties"]["client_secret"]
                .is_object()
        );
    }

    #[test]
    fn the_document_describes_the_import_routes() {
        let doc: serde_json::Value = serde_json::from_str(json()).unwrap();
        for (path, method) in [
            ("/api/v1/imports", "post"),
            ("/api/v1/imports/{id}", "get"),
            ("/api/v1/imports/{id}/report.csv", "get"),
            ("/api/v1/imports/{id}/confirm", "post"),
            ("/api/v1/imports/{id}/cancel", "post"),
        ] {
            assert!(doc["paths"][path][method].is_object(), "{method} {path}");
        }
        // Issue 10: the preview (201), its plan and its confirmation.
        assert!(doc["paths"]["/api/v1/imports"]["post"]["responses"]["201"].is_object());
        let confirm = &doc["paths"]["/api/v1/imports/{id}/confirm"]["post"]["responses"];
        assert!(confirm["409"].is_object(), "409 when the plan changed");
        for field in ["planned", "fingerprint", "changed", "unchanged"] {
            assert!(
                doc["components"]["schemas"]["Import"]["properties"][field].is_object(),
                "Import.{field}"
            );
        }
        for field in ["action", "changes", "email_notice"] {
            assert!(
                doc["components"]["schemas"]["ImportRow"]["properties"][field].is_object(),
                "ImportRow.{field}"
            );
        }
        let post = &doc["paths"]["/api/v1/imports"]["post"];
        assert!(post["requestBody"]["content"]["text/csv"].is_object());
        for status in ["202", "403", "413", "422"] {
            assert!(post["responses"][status].is_object(), "{status}");
        }
        let import = &doc["components"]["schemas"]["Import"]["properties"];
        for field in ["id", "state", "total", "done", "created", "refused", "rows"] {
            assert!(import[field].is_object(), "Import.{field}");
        }
        assert!(doc["components"]["schemas"]["ImportRefused"]["properties"]["errors"].is_object());
    }

    #[test]
    fn the_document_describes_every_office_route() {
        let doc: serde_json::Value = serde_json::from_str(json()).unwrap();
        for (path, method) in [
            ("/api/v1/offices", "get"),
            ("/api/v1/offices", "post"),
            ("/api/v1/offices/{id}", "get"),
            ("/api/v1/offices/{id}", "patch"),
            ("/api/v1/offices/{id}", "delete"),
            ("/api/v1/offices/{id}/sub-offices", "post"),
        ] {
            assert!(doc["paths"][path][method].is_object(), "{method} {path}");
        }
        let office = &doc["components"]["schemas"]["Office"]["properties"];
        for field in [
            "id",
            "kind",
            "parent_id",
            "number",
            "name",
            "address",
            "postcode",
            "city",
            "phone",
            "email",
            "rights",
            "allow_sub_offices",
            "active",
            "version",
        ] {
            assert!(office[field].is_object(), "Office.{field}");
        }
        let sub = &doc["components"]["schemas"]["NewSubOffice"]["properties"];
        for field in [
            "name",
            "address",
            "postcode",
            "city",
            "phone",
            "email",
            "number",
            "rights",
            "send_activation",
        ] {
            assert!(sub[field].is_object(), "NewSubOffice.{field}");
        }
        assert!(
            doc["paths"]["/api/v1/offices/{id}"]["delete"]["responses"]["503"].is_object(),
            "O7 fail closed is documented"
        );
    }

    #[test]
    fn the_document_describes_the_outbox_route() {
        let doc: serde_json::Value = serde_json::from_str(json()).unwrap();
        let get = &doc["paths"]["/api/v1/outbox"]["get"];
        for status in ["200", "401", "403"] {
            assert!(get["responses"][status].is_object(), "{status}");
        }
        let backlog = &doc["components"]["schemas"]["OutboxBacklog"]["properties"];
        for field in [
            "waiting",
            "oldest_queued_at",
            "attempts",
            "last_error",
            "next_attempt_at",
            "given_up",
            "deliveries_waiting",
        ] {
            assert!(backlog[field].is_object(), "OutboxBacklog.{field}");
        }
    }

    #[test]
    fn the_document_describes_the_own_office_route() {
        let doc: serde_json::Value = serde_json::from_str(json()).unwrap();
        let get = &doc["paths"]["/api/v1/me/office"]["get"];
        assert!(get.is_object(), "GET /api/v1/me/office");
        for status in ["200", "400", "401", "403", "404"] {
            assert!(get["responses"][status].is_object(), "{status}");
        }
        assert!(
            get["parameters"].is_null(),
            "no parameter can name an office"
        );
        let answer = &doc["components"]["schemas"]["MyOfficeAnswer"]["properties"];
        assert!(answer["office"].is_object() && answer["head_office"].is_object());
        let office = &doc["components"]["schemas"]["MyOffice"]["properties"];
        for field in [
            "id", "kind", "number", "name", "address", "postcode", "city", "phone", "email",
        ] {
            assert!(office[field].is_object(), "MyOffice.{field}");
        }
        let head = &doc["components"]["schemas"]["MyHeadOffice"]["properties"];
        for field in ["id", "number", "name", "email"] {
            assert!(head[field].is_object(), "MyHeadOffice.{field}");
        }
    }
}
