//! The audit log in plain Dutch (SPEC L1, issue 10): every action the code writes becomes
//! one sentence that names the people and offices by name, e.g. "Nick Jansen gaf Ilse de
//! Vries het recht DIL" or "Aanmelden mislukt voor Ilse de Vries: verkeerd wachtwoord".
//!
//! It lives in the idp, not in the management UI, because the idp is where the names are:
//! the store joins them at read time within the reader's scope (SECURITY AC-02), and the
//! same sentence serves the admin API's JSON (`text`), its CSV export and, through the API,
//! the Auditlog page. The Dutch itself is in `templates/nl.toml` under `audit.sentence`,
//! `audit.clause`, `audit.act`, `audit.field` and `audit.word` (STYLE §7); this module only
//! picks the text and fills in `{placeholders}`.
//!
//! Never a secret and no account enumeration beyond what the entry already says: a failed
//! sign-in for an address that has no account says just that, never the typed text (which
//! might be a password typed into the wrong field; it is not stored anyway, SECURITY
//! AC-07). A user or office that no longer exists is named from the entry's own detail
//! when it holds the name (a deleted sub-office), else "een verwijderde gebruiker".

use serde_json::Value;
use web_kit::Texts;

use crate::store::audit::{AuditEntry, PURGED};

/// Every action the code writes to the audit log. The unit test below scans `idp/src`
/// for action literals and fails on one that is missing here; [`sentence`] has a text
/// for each.
pub const ACTIONS: &[&str] = &[
    "login.succeeded",
    "login.failed",
    "login.second_factor",
    "login.second_factor_failed",
    "login.second_factor_locked",
    "totp.replayed",
    "oauth.code_reused",
    "oauth.refresh_reused",
    "logout.delivered",
    "logout.delivery_failed",
    "logout.delivery_abandoned",
    "mfa.totp_enrolled",
    "mfa.totp_setup_failed",
    "mfa.recovery_codes_renewed",
    "mfa.passkey_added",
    "mfa.passkey_removed",
    "mfa.passkey_failed",
    "mfa.reset",
    "session.ended",
    "user.sessions_ended",
    "user.email_confirmed",
    "email_change.failed",
    "activation.requested",
    "activation.sent",
    "user.activated",
    "reset.requested",
    "password.reset",
    "password.changed",
    "password.change_failed",
    "profile.name_changed",
    "user.created",
    "user.updated",
    "office.created",
    "office.updated",
    "office.deleted",
    "admin.denied",
    "insurer_admin.created",
    "demo.seeded",
    "client.registered",
    "import.started",
    "import.finished",
    "import.previewed",
    "import.failed",
    "event.delivered",
    "event.delivery_failed",
    "event.delivery_abandoned",
    "mfa.grace_login",
    "mfa.reminder_sent",
    "office.mfa_policy_changed",
    "change.requested",
    "change.approved",
    "change.rejected",
    "change.stale",
    "user.main_user_changed",
    PURGED,
];

/// The entry as one Dutch sentence, starting with a capital, without a final full stop.
pub fn sentence(texts: &Texts, entry: &AuditEntry) -> String {
    let r = Render::new(texts, entry);
    let text = r.render();
    capitalise(&text)
}

/// A change waiting for a second approver, as the approvers read it (four-eyes, issue
/// 10): "Nick Jansen wil Voorbeeld Advies (12345) subkantoren toestaan". `entry` is shaped
/// as its `change.requested` entry.
pub fn wish(texts: &Texts, entry: &AuditEntry) -> String {
    let r = Render::new(texts, entry);
    capitalise(&r.say("change.waiting", &[("what", r.wanted())]))
}

/// Who acted, as the sentence names it (the export's `wie`).
pub fn who(texts: &Texts, entry: &AuditEntry) -> String {
    capitalise(&Render::new(texts, entry).actor())
}

/// The user acted upon, `Naam (e-mail)` when the reader may see the address; empty when
/// the entry is about no user.
pub fn user(texts: &Texts, entry: &AuditEntry) -> String {
    match &entry.target_user {
        None => String::new(),
        Some(u) => {
            let name = Render::new(texts, entry).user();
            match (&u.name, &u.email) {
                (Some(_), Some(m)) => format!("{name} ({m})"),
                _ => name,
            }
        }
    }
}

/// The office acted upon, `Naam (nummer)`; empty when the entry is about no office.
pub fn office(texts: &Texts, entry: &AuditEntry) -> String {
    match &entry.target_office {
        None => String::new(),
        Some(_) => Render::new(texts, entry).office(),
    }
}

struct Render<'a> {
    texts: &'a Texts,
    e: &'a AuditEntry,
    d: Value,
}

/// `{name}` in `template` replaced by its value, in one pass: a value that itself holds
/// `{user}` (a name typed so) stays as it is.
fn fill(template: &str, vars: &[(&str, &str)]) -> String {
    let mut out = String::with_capacity(template.len() + 32);
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        out.push_str(&rest[..open]);
        let after = &rest[open + 1..];
        match after.find('}') {
            Some(close) => {
                let name = &after[..close];
                match vars.iter().find(|(k, _)| *k == name) {
                    Some((_, v)) => out.push_str(v),
                    None => {
                        out.push('{');
                        out.push_str(name);
                        out.push('}');
                    }
                }
                rest = &after[close + 1..];
            }
            None => {
                out.push_str(&rest[open..]);
                rest = "";
            }
        }
    }
    out.push_str(rest);
    out
}

fn capitalise(s: &str) -> String {
    let mut chars = s.chars();
    match chars.next() {
        Some(c) => c.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

fn str_at<'v>(v: &'v Value, path: &[&str]) -> Option<&'v str> {
    path.iter()
        .try_fold(v, |v, k| v.get(k))
        .and_then(Value::as_str)
}

fn strings(v: Option<&Value>) -> Vec<String> {
    v.and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default()
}

fn number(v: &Value, key: &str) -> String {
    v.get(key)
        .and_then(Value::as_i64)
        .map(|n| n.to_string())
        .unwrap_or_else(|| "?".to_owned())
}

impl<'a> Render<'a> {
    fn new(texts: &'a Texts, e: &'a AuditEntry) -> Self {
        let d = serde_json::from_str(&e.detail).unwrap_or(Value::Null);
        Self { texts, e, d }
    }

    fn text(&self, key: &str) -> String {
        self.texts.text(&format!("audit.{key}"))
    }

    fn word(&self, key: &str) -> String {
        self.text(&format!("word.{key}"))
    }

    /// Who acted: a name, or the portal itself, or a visitor not signed in.
    fn actor(&self) -> String {
        match &self.e.actor {
            Some(u) => u.name.clone().unwrap_or_else(|| self.word("deleted_user")),
            None if self.e.ip.is_some() => self.word("visitor"),
            None => self.word("system"),
        }
    }

    /// The user acted upon: by name; a deleted one by the name in the entry, if any.
    fn user(&self) -> String {
        let Some(u) = &self.e.target_user else {
            return self.word("unknown_user");
        };
        if let Some(n) = &u.name {
            return n.clone();
        }
        let own = self.e.action.starts_with("user.") || self.e.action.starts_with("profile.");
        own.then(|| {
            str_at(&self.d, &["after", "name"]).or_else(|| str_at(&self.d, &["before", "name"]))
        })
        .flatten()
        .map_or_else(
            || {
                if self.e.action == "admin.denied" {
                    self.word("unknown_user")
                } else {
                    self.word("deleted_user")
                }
            },
            str::to_owned,
        )
    }

    /// The office acted upon, `Naam (nummer)`; a deleted one by the entry's detail.
    fn office(&self) -> String {
        let Some(o) = &self.e.target_office else {
            return self.word("unknown_office");
        };
        let own = self.e.action.starts_with("office.");
        let name = o.name.clone().or_else(|| {
            own.then(|| {
                str_at(&self.d, &["before", "name"]).or_else(|| str_at(&self.d, &["after", "name"]))
            })
            .flatten()
            .map(str::to_owned)
        });
        let number = o.number.clone().or_else(|| {
            own.then(|| {
                ["number", "advisor_number"].iter().find_map(|k| {
                    str_at(&self.d, &["before", k]).or_else(|| str_at(&self.d, &["after", k]))
                })
            })
            .flatten()
            .map(str::to_owned)
        });
        match (name, number) {
            (Some(n), Some(num)) => format!("{n} ({num})"),
            (Some(n), None) => n,
            _ if self.e.action == "admin.denied" => self.word("unknown_office"),
            _ => self.word("deleted_office"),
        }
    }

    /// Who did a thing to themselves: the actor, or else the user it is about.
    fn subject(&self) -> String {
        match &self.e.actor {
            Some(_) => self.actor(),
            None if self.e.target_user.is_some() => self.user(),
            None => self.actor(),
        }
    }

    /// "a, b en c".
    fn list(&self, items: &[String]) -> String {
        match items {
            [] => String::new(),
            [one] => one.clone(),
            [init @ .., last] => format!("{} {} {last}", init.join(", "), self.word("and")),
        }
    }

    /// "het recht DIL", "de rechten DIL en ORV", "geen rechten".
    fn rights(&self, rights: &[String]) -> String {
        let key = match rights.len() {
            0 => return self.word("no_rights"),
            1 => "right",
            _ => "rights",
        };
        fill(&self.word(key), &[("list", &self.list(rights))])
    }

    fn client(&self) -> String {
        str_at(&self.d, &["client_id"])
            .or_else(|| str_at(&self.d, &["uri"]))
            .map_or_else(|| self.word("unknown_client"), str::to_owned)
    }

    /// The sentence of `key` (under `audit.sentence.`) with every placeholder this entry
    /// can fill.
    fn say(&self, key: &str, extra: &[(&str, String)]) -> String {
        let mut vars: Vec<(&str, String)> = vec![
            ("actor", self.actor()),
            ("user", self.user()),
            ("office", self.office()),
            ("subject", self.subject()),
            ("client", self.client()),
        ];
        vars.extend(extra.iter().cloned());
        let borrowed: Vec<(&str, &str)> = vars.iter().map(|(k, v)| (*k, v.as_str())).collect();
        fill(&self.text(&format!("sentence.{key}")), &borrowed)
    }

    fn render(&self) -> String {
        let a = self.e.action.as_str();
        let d = &self.d;
        match a {
            "login.succeeded" if str_at(d, &["method"]) == Some("passkey") => {
                self.say("login.succeeded_passkey", &[])
            }
            "login.failed" => {
                let reason = str_at(d, &["reason"]).unwrap_or("other");
                let reason = match reason {
                    "unknown" | "wrong_password" | "not_activated" | "inactive" | "throttled"
                    | "passkey" => reason,
                    _ => "other",
                };
                if self.e.target_user.is_none() {
                    self.say(&format!("login.failed_nobody.{reason}"), &[])
                } else {
                    self.say(&format!("login.failed.{reason}"), &[])
                }
            }
            "oauth.code_reused"
            | "oauth.refresh_reused"
            | "logout.delivered"
            | "logout.delivery_failed"
            | "logout.delivery_abandoned"
            | "event.delivered"
            | "event.delivery_failed"
            | "event.delivery_abandoned"
                if self.e.target_user.is_none() =>
            {
                self.say(&format!("{a}_nobody"), &[])
            }
            "mfa.passkey_added" | "mfa.passkey_removed" => {
                let name = str_at(d, &["name"]).unwrap_or_default().to_owned();
                self.say(a, &[("passkey", name)])
            }
            "mfa.reset" if str_at(d, &["via"]) == Some("cli") => self.say("mfa.reset_cli", &[]),
            "user.email_confirmed" => {
                let email = str_at(d, &["after", "email"])
                    .unwrap_or_default()
                    .to_owned();
                self.say(a, &[("email", email)])
            }
            "activation.requested" | "reset.requested" => {
                let outcome = str_at(d, &["outcome"])
                    .filter(|o| matches!(*o, "sent" | "throttled"))
                    .unwrap_or("no_match");
                if self.e.target_user.is_none() {
                    self.say(&format!("{a}_nobody"), &[])
                } else {
                    self.say(&format!("{a}.{outcome}"), &[])
                }
            }
            "profile.name_changed" => {
                let before = str_at(d, &["before", "name"])
                    .unwrap_or_default()
                    .to_owned();
                let after = str_at(d, &["after", "name"]).unwrap_or_default().to_owned();
                self.say(a, &[("before", before), ("after", after)])
            }
            "user.created" => {
                let rights = self.rights(&strings(d.pointer("/after/rights")));
                self.say(a, &[("rights", rights)])
            }
            "user.updated" => self.changes("user", self.user()),
            "office.updated" => self.changes("office", self.office()),
            "office.created" => {
                let rights = self.rights(&strings(d.pointer("/after/rights")));
                let key = if str_at(d, &["after", "kind"]) == Some("sub_office") {
                    "office.created_sub"
                } else {
                    "office.created"
                };
                self.say(key, &[("rights", rights)])
            }
            "admin.denied" => {
                let act = str_at(d, &["act"]).unwrap_or_default();
                let known = self
                    .texts
                    .get(&format!("audit.act.{act}"))
                    .map(str::to_owned);
                let what = match known {
                    Some(t) => fill(&t, &[("user", &self.user()), ("office", &self.office())]),
                    None => fill(&self.text("act.other"), &[("act", act)]),
                };
                self.say(a, &[("act", what)])
            }
            "client.registered" => {
                let name = str_at(d, &["name"]).unwrap_or_default().to_owned();
                self.say(a, &[("name", name)])
            }
            "import.started" | "import.previewed" => self.say(a, &[("rows", number(d, "rows"))]),
            "import.failed" => self.say(
                a,
                &[
                    ("rows", number(d, "rows")),
                    ("position", number(d, "position")),
                ],
            ),
            "mfa.grace_login" => self.say(a, &[("left", number(d, "left"))]),
            "mfa.reminder_sent" if self.e.actor.is_none() => {
                self.say("mfa.reminder_sent_auto", &[])
            }
            "import.finished" => self.say(
                a,
                &[
                    ("rows", number(d, "rows")),
                    ("created", number(d, "created")),
                    ("refused", number(d, "refused")),
                ],
            ),
            "change.requested" | "change.approved" | "change.rejected" | "change.stale" => {
                let requester = str_at(d, &["requested_by", "name"])
                    .map_or_else(|| self.word("deleted_user"), str::to_owned);
                self.say(a, &[("what", self.wanted()), ("requester", requester)])
            }
            PURGED => self.say(
                a,
                &[("rows", number(d, "rows")), ("days", number(d, "days"))],
            ),
            _ if self.texts.get(&format!("audit.sentence.{a}")).is_some() => self.say(a, &[]),
            // An action without a sentence (the unit test keeps this from happening).
            _ => self.say("unknown", &[("action", a.to_owned())]),
        }
    }

    /// `user.updated` / `office.updated`: one clause per change, after the actor: "Nick
    /// Jansen gaf Ilse de Vries het recht DIL en deactiveerde Ilse de Vries".
    fn changes(&self, kind: &str, target: String) -> String {
        format!(
            "{} {}",
            self.actor(),
            self.list(&self.clauses(kind, target))
        )
    }

    /// A change that waits (`change.*`), as what is wanted: "Voorbeeld Advies (12345)
    /// subkantoren toestaan".
    fn wanted(&self) -> String {
        let clauses = if str_at(&self.d, &["kind"]) == Some("user") {
            self.clauses("want_user", self.user())
        } else {
            self.clauses("want_office", self.office())
        };
        self.list(&clauses)
    }

    /// One clause per change of the entry's `before`/`after`, in the words of
    /// `audit.clause.<kind>`.
    fn clauses(&self, kind: &str, target: String) -> Vec<String> {
        let before = self.d.get("before").cloned().unwrap_or(Value::Null);
        let after = self.d.get("after").cloned().unwrap_or(Value::Null);
        let clause = |key: &str, vars: &[(&str, &str)]| {
            let mut all = vec![("target", target.as_str())];
            all.extend_from_slice(vars);
            fill(&self.text(&format!("clause.{kind}.{key}")), &all)
        };
        let mut clauses = Vec::new();
        if after.get("rights").is_some() {
            let old = strings(before.get("rights"));
            let new = strings(after.get("rights"));
            let added: Vec<String> = new.iter().filter(|r| !old.contains(r)).cloned().collect();
            let removed: Vec<String> = old.iter().filter(|r| !new.contains(r)).cloned().collect();
            if !added.is_empty() {
                clauses.push(clause("rights_added", &[("rights", &self.rights(&added))]));
            }
            if !removed.is_empty() {
                clauses.push(clause(
                    "rights_removed",
                    &[("rights", &self.rights(&removed))],
                ));
            }
        }
        if let (Some(b), Some(n)) = (str_at(&before, &["name"]), str_at(&after, &["name"])) {
            clauses.push(clause("name", &[("before", b), ("after", n)]));
        }
        if let Some(n) = str_at(&after, &["email"]) {
            clauses.push(clause("email", &[("after", n)]));
        }
        if let Some(n) = str_at(&after, &["email_pending"]) {
            clauses.push(clause("email_pending", &[("after", n)]));
        }
        let fields: Vec<String> = ["address", "postcode", "city", "phone"]
            .iter()
            .filter(|k| after.get(**k).is_some())
            .map(|k| self.text(&format!("field.{k}")))
            .collect();
        if !fields.is_empty() {
            clauses.push(clause("fields", &[("fields", &self.list(&fields))]));
        }
        if str_at(&after, &["role"]) == Some("main_user") {
            clauses.push(clause("main_user", &[]));
        }
        match after.get("allow_sub_offices").and_then(Value::as_bool) {
            Some(true) => clauses.push(clause("sub_offices_allowed", &[])),
            Some(false) => clauses.push(clause("sub_offices_refused", &[])),
            None => {}
        }
        match after.get("active").and_then(Value::as_bool) {
            Some(false) => clauses.push(clause("deactivated", &[])),
            Some(true) => clauses.push(clause("reactivated", &[])),
            None => {}
        }
        if clauses.is_empty() {
            clauses.push(clause("other", &[]));
        }
        clauses
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;
    use crate::store::audit::{NamedOffice, NamedUser};
    use std::collections::BTreeSet;
    use std::path::{Path, PathBuf};
    use time::OffsetDateTime;
    use uuid::Uuid;

    fn texts() -> Texts {
        Texts::load().unwrap()
    }

    fn person(name: Option<&str>) -> NamedUser {
        NamedUser {
            id: Uuid::now_v7(),
            name: name.map(str::to_owned),
            email: None,
        }
    }

    fn entry(
        action: &str,
        actor: Option<&str>,
        user: Option<&str>,
        detail: serde_json::Value,
    ) -> AuditEntry {
        AuditEntry {
            id: Uuid::now_v7(),
            at: OffsetDateTime::UNIX_EPOCH,
            action: action.to_owned(),
            actor: actor.map(|a| person(Some(a))),
            target_user: user.map(|u| person(Some(u))),
            target_office: None,
            ip: Some("192.0.2.1".into()),
            detail: detail.to_string(),
        }
    }

    fn say(e: &AuditEntry) -> String {
        sentence(&texts(), e)
    }

    /// `source` without its `#[cfg(test)] mod … { … }` blocks (braces counted; the code
    /// after a test module is kept).
    fn without_tests(source: &str) -> String {
        let mut out = String::new();
        let mut rest = source;
        while let Some(at) = rest.find("#[cfg(test)]\nmod ") {
            out.push_str(&rest[..at]);
            let block = &rest[at..];
            let Some(open) = block.find('{') else {
                return out;
            };
            // `mod tests;`: a file of its own, nothing here to skip.
            if let Some(semi) = block.find(';').filter(|s| *s < open) {
                rest = &block[semi + 1..];
                continue;
            }
            let mut depth = 0usize;
            let mut end = block.len();
            for (i, c) in block[open..].char_indices() {
                match c {
                    '{' => depth += 1,
                    '}' => {
                        depth -= 1;
                        if depth == 0 {
                            end = open + i + 1;
                            break;
                        }
                    }
                    _ => {}
                }
            }
            rest = &block[end..];
        }
        out.push_str(rest);
        out
    }

    /// The action literals written in `idp/src` outside test modules: every string
    /// literal shaped `word.word` that is not a key of `nl.toml` (texts and error keys
    /// look the same) and not one of the few other dotted words the code holds.
    fn emitted_actions() -> BTreeSet<String> {
        let not_actions = [
            // Example logins and file names in doc strings and checks.
            "j.devries",
            "jan.devries",
            "ikbenj.devries1980",
            "master.key",
            // API field paths named in a 422's `field`.
            "users.office_id",
            "users.email",
            "offices.email",
            "offices.number",
        ];
        let keys: BTreeSet<String> = texts().keys().map(str::to_owned).collect();
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
        let mut files: Vec<PathBuf> = Vec::new();
        let mut dirs = vec![root];
        while let Some(dir) = dirs.pop() {
            for entry in std::fs::read_dir(&dir).unwrap() {
                let path = entry.unwrap().path();
                if path.is_dir() {
                    dirs.push(path);
                } else if path.extension().is_some_and(|e| e == "rs") {
                    files.push(path);
                }
            }
        }
        let mut found = BTreeSet::new();
        for file in files {
            let source = std::fs::read_to_string(&file).unwrap();
            if file.ends_with("audit_text.rs") {
                continue;
            }
            let code = without_tests(&source);
            for (i, _) in code.match_indices('"') {
                let rest = &code[i + 1..];
                let Some(end) = rest.find('"') else { continue };
                let lit = &rest[..end];
                let shaped = lit.split('.').count() == 2
                    && lit.split('.').all(|part| {
                        part.chars().next().is_some_and(|c| c.is_ascii_lowercase())
                            && part
                                .chars()
                                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
                    });
                if shaped && !not_actions.contains(&lit) && !keys.contains(lit) {
                    found.insert(lit.to_owned());
                }
            }
        }
        found
    }

    /// Issue 10: an action written anywhere in `idp/src` without a sentence fails here.
    /// (`login.failed` is also an `nl.toml` key, `login.failed` of the sign-in page, so
    /// the scan alone cannot see it; it is in the list all the same.)
    #[test]
    fn every_emitted_action_has_a_sentence() {
        let known: BTreeSet<String> = ACTIONS.iter().map(|a| (*a).to_owned()).collect();
        let emitted = emitted_actions();
        let missing: Vec<&String> = emitted.difference(&known).collect();
        assert!(
            missing.is_empty(),
            "audit actions without a sentence in idp/src/audit_text.rs (add them to ACTIONS \
             and nl.toml's audit.sentence; a dotted literal that is no audit action goes in \
             not_actions): {missing:?}"
        );
        let texts = texts();
        for a in ACTIONS {
            let e = entry(
                a,
                Some("Nick Jansen"),
                Some("Ilse de Vries"),
                serde_json::json!({}),
            );
            let s = sentence(&texts, &e);
            assert!(!s.contains('{') && !s.contains("audit."), "{a}: {s}");
            assert!(!s.contains(a), "{a} has no sentence of its own: {s}");
            // The Auditlog page's Details name the kind in a few words too.
            assert!(
                texts.get(&format!("audit.action.{a}")).is_some(),
                "{a}: no audit.action label"
            );
        }
    }

    #[test]
    fn rights_changes_read_as_the_issue_says() {
        let e = entry(
            "user.updated",
            Some("Nick Jansen"),
            Some("Ilse de Vries"),
            serde_json::json!({ "before": { "rights": ["DIP"] }, "after": { "rights": ["DIP", "DIL"] } }),
        );
        assert_eq!(say(&e), "Nick Jansen gaf Ilse de Vries het recht DIL");
        let e = entry(
            "user.updated",
            Some("Nick Jansen"),
            Some("Ilse de Vries"),
            serde_json::json!({ "before": { "rights": ["DIP", "DIL", "ORV"], "active": true },
                                "after": { "rights": ["DIP"], "active": false } }),
        );
        assert_eq!(
            say(&e),
            "Nick Jansen nam Ilse de Vries de rechten DIL en ORV af en deactiveerde Ilse de Vries"
        );
    }

    #[test]
    fn sign_ins_name_the_person_but_never_the_typed_text() {
        let e = entry(
            "login.succeeded",
            Some("Ilse de Vries"),
            Some("Ilse de Vries"),
            serde_json::json!({}),
        );
        assert_eq!(say(&e), "Ilse de Vries meldde zich aan");
        let e = entry(
            "login.failed",
            None,
            Some("Ilse de Vries"),
            serde_json::json!({ "reason": "wrong_password" }),
        );
        assert_eq!(
            say(&e),
            "Aanmelden mislukt voor Ilse de Vries: verkeerd wachtwoord"
        );
        // An address without an account: no name, no address, nothing typed.
        let e = entry(
            "login.failed",
            None,
            None,
            serde_json::json!({ "reason": "unknown", "login": "Geheim123!" }),
        );
        let s = say(&e);
        assert_eq!(s, "Aanmelden mislukt met een e-mailadres zonder account");
        assert!(!s.contains("Geheim"));
    }

    #[test]
    fn deleted_people_and_offices_fall_back_to_the_detail_or_a_word() {
        let mut e = entry(
            "office.deleted",
            Some("Nick Jansen"),
            None,
            serde_json::json!({ "before": { "name": "Onderbemiddeling Zuid", "number": "Z01" } }),
        );
        e.target_office = Some(NamedOffice {
            id: Uuid::now_v7(),
            name: None,
            number: None,
        });
        assert_eq!(
            say(&e),
            "Nick Jansen verwijderde subkantoor Onderbemiddeling Zuid (Z01)"
        );
        let mut e = entry(
            "user.sessions_ended",
            Some("Nick Jansen"),
            None,
            serde_json::json!({}),
        );
        e.target_user = Some(person(None));
        assert_eq!(
            say(&e),
            "Nick Jansen meldde een verwijderde gebruiker af op alle apparaten"
        );
        let mut e = entry("password.changed", None, None, serde_json::json!({}));
        e.actor = Some(person(None));
        assert_eq!(
            say(&e),
            "Een verwijderde gebruiker wijzigde het eigen wachtwoord"
        );
    }

    #[test]
    fn a_probe_of_another_tree_names_no_one_of_it() {
        let mut e = entry(
            "admin.denied",
            Some("Nick Jansen"),
            None,
            serde_json::json!({ "act": "edit", "answer": "not_found" }),
        );
        e.target_user = Some(person(None));
        assert_eq!(
            say(&e),
            "Nick Jansen probeerde een onbekende gebruiker te wijzigen; dat is geweigerd"
        );
    }

    /// An office of another tree is "een onbekend kantoor", as the API's `null` name says.
    #[test]
    fn a_refused_office_is_named_only_when_the_reader_may_see_it() {
        let mut e = entry(
            "admin.denied",
            Some("Nick Jansen"),
            None,
            serde_json::json!({ "act": "view_office", "answer": "not_found" }),
        );
        e.target_office = Some(NamedOffice {
            id: Uuid::now_v7(),
            name: None,
            number: None,
        });
        assert_eq!(
            say(&e),
            "Nick Jansen probeerde een onbekend kantoor te bekijken; dat is geweigerd"
        );
        e.target_office = Some(NamedOffice {
            id: Uuid::now_v7(),
            name: Some("Pensioenhuis Noord".into()),
            number: Some("67890".into()),
        });
        assert_eq!(
            say(&e),
            "Nick Jansen probeerde Pensioenhuis Noord (67890) te bekijken; dat is geweigerd"
        );
    }

    #[test]
    fn placeholders_in_a_name_stay_as_typed() {
        assert_eq!(
            fill("{actor} gaf {user}", &[("actor", "{user}"), ("user", "X")]),
            "{user} gaf X"
        );
        assert_eq!(fill("a {b", &[]), "a {b");
    }

    /// Four-eyes (issue 10): the waiting change as the approvers read it, and its
    /// decision naming both admins.
    #[test]
    fn a_waiting_change_says_what_is_wanted_and_by_whom() {
        let texts = texts();
        let mut e = entry(
            "change.requested",
            Some("Nick Jansen"),
            None,
            serde_json::json!({ "kind": "office", "before": { "allow_sub_offices": false },
                                "after": { "allow_sub_offices": true } }),
        );
        e.target_office = Some(NamedOffice {
            id: Uuid::now_v7(),
            name: Some("Voorbeeld Advies".into()),
            number: None,
        });
        assert_eq!(
            wish(&texts, &e),
            "Nick Jansen wil Voorbeeld Advies subkantoren toestaan"
        );
        assert_eq!(
            sentence(&texts, &e),
            "Nick Jansen wil Voorbeeld Advies subkantoren toestaan; dat wacht op goedkeuring \
             door een tweede beheerder"
        );
        let approved = entry(
            "change.approved",
            Some("Bram Tweede"),
            Some("Ilse de Vries"),
            serde_json::json!({ "kind": "user", "requested_by": { "name": "Nick Jansen" },
                                "before": { "rights": ["DIP"] }, "after": { "rights": ["DIP", "ORV"] } }),
        );
        let mut main = entry(
            "change.requested",
            Some("Salesdesk Leven"),
            Some("Ilse de Vries"),
            serde_json::json!({ "kind": "user", "before": { "role": "employee" },
                                "after": { "role": "main_user" } }),
        );
        main.ip = None;
        assert_eq!(
            wish(&texts, &main),
            "Salesdesk Leven wil Ilse de Vries hoofdgebruiker maken"
        );
        assert_eq!(
            sentence(&texts, &approved),
            "Bram Tweede keurde de wijziging van Nick Jansen goed: Ilse de Vries het recht ORV geven"
        );
    }
}
