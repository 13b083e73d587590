//! The portal's settings: read raw (from TOML and `PORTAL_*` variables, by the binary),
//! then checked once into typed values. A bad value stops start-up with a message that
//! names the setting by its environment variable.

use std::collections::BTreeSet;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;

use secrecy::SecretString;
use serde::{Deserialize, Serialize};
use time::{Date, Duration};
use url::Url;

/// Settings as written by a person; every field has a documented default.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct RawSettings {
    /// `sqlite://data/portal.db` (default) or `postgres://user:pass@host/db`.
    pub database_url: String,
    /// Address to listen on; default `127.0.0.1:8080`.
    pub listen: String,
    /// The address people reach the portal at; default `http://localhost:PORT` on a
    /// loopback `listen` address (passkeys need a host name), else `http://` + `listen`.
    pub public_url: Option<String>,
    /// The OIDC issuer; default the public URL + `/idp`.
    pub issuer: Option<String>,
    /// `smtp://host:port`, `smtp://host?tls=required` or `smtps://user:pass@host`; unset:
    /// mails are written as `.eml` files under `<data_dir>/mail/`.
    pub smtp_url: Option<String>,
    /// Sender of every mail.
    pub mail_from: String,
    /// From this date 2FA is mandatory (SPEC F2); `YYYY-MM-DD`, default 2025-07-01.
    pub mfa_required_from: String,
    /// The master key, base64 of 32 bytes; default: read or create `<data_dir>/master.key`.
    pub master_key: Option<String>,
    /// Where the SQLite file, the master key and the mail files live; default `data`.
    pub data_dir: String,
    /// How long an activation link is valid, in hours (A2: default 7 days).
    pub activation_link_hours: i64,
    /// How long a password-reset link is valid, in minutes (A5, SECURITY ML-01: default 30).
    pub reset_link_minutes: i64,
    /// Addresses of reverse proxies whose `X-Forwarded-For` is believed, comma-separated;
    /// default none: the client address is the TCP peer (SECURITY AV-04).
    pub trusted_proxies: String,
    /// Client ids whose access tokens the admin API accepts, comma-separated.
    pub admin_clients: String,
    /// Absolute lifetime of an idp session, in hours (default 10).
    pub session_hours: i64,
    /// Idle timeout of an idp session, in minutes (default 30).
    pub session_idle_minutes: i64,
    /// Lifetime of access tokens and ID tokens, in minutes (SPEC §4: default 5).
    pub access_token_minutes: i64,
    /// A product registry file replacing the built-in one.
    pub products_file: Option<String>,
    /// The product portals' database (quotes, applications, product mail); default the
    /// same database as `database_url` (its tables and migration record are apart).
    pub products_database_url: Option<String>,
    /// The directory of the tariff files (`dip.toml`, `dil.toml`, `orv.toml`); a missing
    /// file means the shipped tariff. Default `config/tariffs`.
    pub tariff_dir: String,
    /// Absolute lifetime of a refresh-token family (scope `offline_access`), in hours,
    /// counted from the code redemption; rotation never extends it (default 14 days).
    pub refresh_token_hours: i64,
    /// Idle lifetime of a refresh token, in hours: unused this long, it expires
    /// (default 24).
    pub refresh_token_idle_hours: i64,
    /// How long the audit log keeps an entry, in days (issue 10: default 730, at least 30;
    /// the hourly housekeeping removes older ones).
    pub audit_retention_days: i64,
    /// Changes that need a second approver (issue 10, four-eyes), comma-separated:
    /// `allow_sub_offices`, `right:<CODE>`, `main_user`; empty: none. Default
    /// `allow_sub_offices,right:ORV,main_user`.
    pub four_eyes: String,
}

impl Default for RawSettings {
    fn default() -> Self {
        Self {
            database_url: "sqlite://data/portal.db".into(),
            listen: "127.0.0.1:8080".into(),
            public_url: None,
            issuer: None,
            smtp_url: None,
            mail_from: "Offerte Portaal <noreply@offerteportaal.local>".into(),
            mfa_required_from: "2025-07-01".into(),
            master_key: None,
            data_dir: "data".into(),
            activation_link_hours: 7 * 24,
            reset_link_minutes: 30,
            trusted_proxies: String::new(),
            admin_clients: "offerteportaal".into(),
            session_hours: 10,
            session_idle_minutes: 30,
            access_token_minutes: 5,
            products_file: None,
            products_database_url: None,
            tariff_dir: "config/tariffs".into(),
            refresh_token_hours: 14 * 24,
            refresh_token_idle_hours: 24,
            audit_retention_days: 730,
            four_eyes: DEFAULT_FOUR_EYES.into(),
        }
    }
}

/// A setting was refused.
#[derive(Debug, thiserror::Error)]
#[error("setting {setting}: {reason}")]
pub struct ConfigError {
    /// The environment variable that names the setting.
    pub setting: &'static str,
    /// What is wrong with it.
    pub reason: String,
}

fn bad(setting: &'static str, reason: impl Into<String>) -> ConfigError {
    ConfigError {
        setting,
        reason: reason.into(),
    }
}

/// Checked settings.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Database URL.
    pub database_url: String,
    /// Listening address.
    pub listen: SocketAddr,
    /// Public base URL, without a trailing slash.
    pub public_url: String,
    /// The issuer, byte for byte as it appears in tokens and discovery.
    pub issuer: String,
    /// The path part of the issuer, where the idp's routes are mounted (`/idp`).
    pub issuer_path: String,
    /// SMTP URL, if mail goes to a server.
    pub smtp_url: Option<String>,
    /// Sender.
    pub mail_from: lettre::message::Mailbox,
    /// F2's date.
    pub mfa_required_from: Date,
    /// The master key from the environment, if given.
    pub master_key: Option<SecretString>,
    /// Data directory.
    pub data_dir: PathBuf,
    /// A2.
    pub activation_link_ttl: Duration,
    /// A5.
    pub reset_link_ttl: Duration,
    /// Proxies whose `X-Forwarded-For` is believed.
    pub trusted_proxies: Vec<IpAddr>,
    /// Client ids whose access tokens the admin API accepts (default: the shell).
    pub admin_clients: Vec<String>,
    /// Session lifetime.
    pub session_ttl: Duration,
    /// Session idle timeout.
    pub session_idle: Duration,
    /// Token lifetime.
    pub access_token_ttl: Duration,
    /// Registry override.
    pub products_file: Option<PathBuf>,
    /// The product portals' database URL.
    pub products_database_url: String,
    /// The tariff files' directory.
    pub tariff_dir: PathBuf,
    /// Absolute lifetime of a refresh-token family.
    pub refresh_token_ttl: Duration,
    /// Idle lifetime of a refresh token (never more than the absolute one).
    pub refresh_token_idle: Duration,
    /// Days the audit log keeps an entry (`PORTAL_AUDIT_RETENTION_DAYS`).
    pub audit_retention_days: i64,
    /// The changes that wait for a second approver (`PORTAL_FOUR_EYES`).
    pub four_eyes: BTreeSet<FourEyes>,
}

/// `PORTAL_FOUR_EYES`'s default: allowing sub-offices, granting ORV, making a user main
/// user need a second approver (issue 10).
pub const DEFAULT_FOUR_EYES: &str = "allow_sub_offices,right:ORV,main_user";

/// A kind of change that needs a second approver (four-eyes, issue 10; `crate::approvals`).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum FourEyes {
    /// `allow_sub_offices`: an office's sub-offices allowed (false → true, O2).
    AllowSubOffices,
    /// `right:<CODE>`: the right added to an office's or a user's rights.
    Right(String),
    /// `main_user`: an employee made its office's main user
    /// (`POST /api/v1/users/{id}/main-user`, `approvals::make_main_user`).
    MainUser,
}

/// `PORTAL_FOUR_EYES`: kinds separated by commas (blanks allowed); empty: none.
pub fn parse_four_eyes(raw: &str) -> Result<BTreeSet<FourEyes>, ConfigError> {
    raw.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| match s {
            "allow_sub_offices" => Ok(FourEyes::AllowSubOffices),
            "main_user" => Ok(FourEyes::MainUser),
            _ => match s.strip_prefix("right:").map(str::trim) {
                Some(code)
                    if (1..=16).contains(&code.len())
                        && code.chars().all(|c| c.is_ascii_alphanumeric()) =>
                {
                    Ok(FourEyes::Right(code.to_ascii_uppercase()))
                }
                _ => Err(bad(
                    "PORTAL_FOUR_EYES",
                    format!("'{s}' is not allow_sub_offices, right:<CODE> or main_user"),
                )),
            },
        })
        .collect()
}

impl Settings {
    /// Checks every raw value.
    pub fn from_raw(raw: RawSettings) -> Result<Self, ConfigError> {
        let database_url = raw.database_url.trim().to_owned();
        if !(database_url.starts_with("sqlite:")
            || database_url.starts_with("postgres:")
            || database_url.starts_with("postgresql:"))
        {
            return Err(bad(
                "PORTAL_DATABASE_URL",
                "must start with sqlite:// or postgres://",
            ));
        }
        let listen: SocketAddr = raw.listen.trim().parse().map_err(|_| {
            bad(
                "PORTAL_LISTEN",
                format!("'{}' is not host:port such as 127.0.0.1:8080", raw.listen),
            )
        })?;
        let public_url = match raw.public_url {
            Some(u) => base_url("PORTAL_PUBLIC_URL", &u)?,
            // WebAuthn takes no IP address as relying-party id: on the loopback address
            // the portal calls itself `localhost`, so passkeys work out of the box.
            None if listen.ip().is_loopback() => format!("http://localhost:{}", listen.port()),
            None => format!("http://{listen}"),
        };
        let issuer = match raw.issuer {
            Some(u) => base_url("PORTAL_ISSUER", &u)?,
            None => format!("{public_url}/idp"),
        };
        let issuer_path = Url::parse(&issuer)
            .map_err(|e| bad("PORTAL_ISSUER", e.to_string()))?
            .path()
            .trim_end_matches('/')
            .to_owned();
        let smtp_url = match raw
            .smtp_url
            .map(|s| s.trim().to_owned())
            .filter(|s| !s.is_empty())
        {
            Some(u) => {
                let parsed = Url::parse(&u).map_err(|e| bad("PORTAL_SMTP_URL", e.to_string()))?;
                if !matches!(parsed.scheme(), "smtp" | "smtps") || parsed.host_str().is_none() {
                    return Err(bad(
                        "PORTAL_SMTP_URL",
                        "must be smtp://host:port or smtps://host",
                    ));
                }
                Some(u)
            }
            None => None,
        };
        let mail_from = raw
            .mail_from
            .parse()
            .map_err(|e: lettre::address::AddressError| bad("PORTAL_MAIL_FROM", e.to_string()))?;
        let date_format = time::macros::format_description!("[year]-[month]-[day]");
        let mfa_required_from =
            Date::parse(raw.mfa_required_from.trim(), &date_format).map_err(|_| {
                bad(
                    "PORTAL_MFA_REQUIRED_FROM",
                    format!(
                        "'{}' is not a date such as 2025-07-01",
                        raw.mfa_required_from
                    ),
                )
            })?;
        let positive = |setting: &'static str, v: i64, max: i64| {
            if (1..=max).contains(&v) {
                Ok(v)
            } else {
                Err(bad(setting, format!("{v} is not between 1 and {max}")))
            }
        };
        Ok(Self {
            database_url,
            listen,
            public_url,
            issuer,
            issuer_path,
            smtp_url,
            mail_from,
            mfa_required_from,
            master_key: raw
                .master_key
                .filter(|k| !k.trim().is_empty())
                .map(SecretString::from),
            data_dir: PathBuf::from(raw.data_dir),
            activation_link_ttl: Duration::hours(positive(
                "PORTAL_ACTIVATION_LINK_HOURS",
                raw.activation_link_hours,
                24 * 90,
            )?),
            reset_link_ttl: Duration::minutes(positive(
                "PORTAL_RESET_LINK_MINUTES",
                raw.reset_link_minutes,
                24 * 60,
            )?),
            trusted_proxies: parse_proxies(&raw.trusted_proxies)?,
            admin_clients: raw
                .admin_clients
                .split(',')
                .map(str::trim)
                .filter(|c| !c.is_empty())
                .map(str::to_owned)
                .collect(),
            session_ttl: Duration::hours(positive(
                "PORTAL_SESSION_HOURS",
                raw.session_hours,
                24 * 30,
            )?),
            session_idle: Duration::minutes(positive(
                "PORTAL_SESSION_IDLE_MINUTES",
                raw.session_idle_minutes,
                24 * 60,
            )?),
            access_token_ttl: Duration::minutes(positive(
                "PORTAL_ACCESS_TOKEN_MINUTES",
                raw.access_token_minutes,
                60,
            )?),
            products_file: raw.products_file.map(PathBuf::from),
            products_database_url: raw
                .products_database_url
                .filter(|u| !u.trim().is_empty())
                .unwrap_or_else(|| raw.database_url.clone()),
            tariff_dir: PathBuf::from(raw.tariff_dir),
            refresh_token_ttl: Duration::hours(positive(
                "PORTAL_REFRESH_TOKEN_HOURS",
                raw.refresh_token_hours,
                24 * 365,
            )?),
            refresh_token_idle: Duration::hours(positive(
                "PORTAL_REFRESH_TOKEN_IDLE_HOURS",
                raw.refresh_token_idle_hours,
                raw.refresh_token_hours.max(1),
            )?),
            audit_retention_days: match raw.audit_retention_days {
                d @ crate::store::audit::MIN_RETENTION_DAYS..=36_500 => d,
                d => {
                    return Err(bad(
                        "PORTAL_AUDIT_RETENTION_DAYS",
                        format!("{d} is not between 30 and 36500"),
                    ));
                }
            },
            four_eyes: parse_four_eyes(&raw.four_eyes)?,
        })
    }

    /// Whether the portal is served over https (cookies get `Secure`, responses HSTS).
    pub fn https(&self) -> bool {
        self.public_url.starts_with("https://")
    }
}

/// `PORTAL_TRUSTED_PROXIES`: IP addresses separated by commas (blanks allowed).
fn parse_proxies(raw: &str) -> Result<Vec<IpAddr>, ConfigError> {
    raw.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| {
            s.parse().map_err(|_| {
                bad(
                    "PORTAL_TRUSTED_PROXIES",
                    format!("'{s}' is not an IP address such as 10.0.0.5"),
                )
            })
        })
        .collect()
}

/// An absolute http(s) URL without query, fragment or trailing slash.
fn base_url(setting: &'static str, raw: &str) -> Result<String, ConfigError> {
    let url = Url::parse(raw.trim()).map_err(|e| bad(setting, format!("'{raw}': {e}")))?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
        return Err(bad(setting, format!("'{raw}' must be an http(s) URL")));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(bad(
            setting,
            format!("'{raw}' must not have a query or fragment"),
        ));
    }
    Ok(url.as_str().trim_end_matches('/').to_owned())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn trusted_proxies_are_a_list_of_addresses() {
        let s = Settings::from_raw(RawSettings {
            trusted_proxies: " 127.0.0.1, ::1 ,".into(),
            ..Default::default()
        })
        .unwrap();
        assert_eq!(
            s.trusted_proxies,
            vec![
                "127.0.0.1".parse::<IpAddr>().unwrap(),
                "::1".parse().unwrap()
            ]
        );
    }

    #[test]
    fn defaults_are_valid_and_derive_the_issuer() {
        let s = Settings::from_raw(RawSettings::default()).unwrap();
        assert_eq!(s.public_url, "http://localhost:8080");
        assert_eq!(s.issuer, "http://localhost:8080/idp");
        assert_eq!(s.issuer_path, "/idp");
        assert_eq!(s.activation_link_ttl, Duration::days(7));
        assert_eq!(s.reset_link_ttl, Duration::minutes(30));
        assert!(s.trusted_proxies.is_empty());
        assert_eq!(s.refresh_token_ttl, Duration::days(14));
        assert_eq!(s.refresh_token_idle, Duration::hours(24));
        assert!(!s.https());
    }

    #[test]
    fn a_bad_value_names_its_setting() {
        let cases: Vec<(RawSettings, &str)> = vec![
            (
                RawSettings {
                    listen: "localhost".into(),
                    ..Default::default()
                },
                "PORTAL_LISTEN",
            ),
            (
                RawSettings {
                    database_url: "mysql://x".into(),
                    ..Default::default()
                },
                "PORTAL_DATABASE_URL",
            ),
            (
                RawSettings {
                    issuer: Some("ftp://x".into()),
                    ..Default::default()
                },
                "PORTAL_ISSUER",
            ),
            (
                RawSettings {
                    smtp_url: Some("http://x".into()),
                    ..Default::default()
                },
                "PORTAL_SMTP_URL",
            ),
            (
                RawSettings {
                    mail_from: "not an address".into(),
                    ..Default::default()
                },
                "PORTAL_MAIL_FROM",
            ),
            (
                RawSettings {
                    mfa_required_from: "1-7-2025".into(),
                    ..Default::default()
                },
                "PORTAL_MFA_REQUIRED_FROM",
            ),
            (
                RawSettings {
                    reset_link_minutes: 0,
                    ..Default::default()
                },
                "PORTAL_RESET_LINK_MINUTES",
            ),
            (
                RawSettings {
                    trusted_proxies: "10.0.0.1, proxy.local".into(),
                    ..Default::default()
                },
                "PORTAL_TRUSTED_PROXIES",
            ),
            (
                RawSettings {
                    session_hours: 0,
                    ..Default::default()
                },
                "PORTAL_SESSION_HOURS",
            ),
            (
                RawSettings {
                    refresh_token_hours: 10,
                    refresh_token_idle_hours: 11,
                    ..Default::default()
                },
                "PORTAL_REFRESH_TOKEN_IDLE_HOURS",
            ),
        ];
        for (raw, setting) in cases {
            let err = Settings::from_raw(raw).unwrap_err();
            assert_eq!(err.setting, setting);
            assert!(err.to_string().contains(setting));
        }
    }

    #[test]
    fn the_audit_retention_is_two_years_and_never_under_a_month() {
        let s = Settings::from_raw(RawSettings::default()).unwrap();
        assert_eq!(s.audit_retention_days, 730);
        for days in [0, 29, 36_501] {
            let err = Settings::from_raw(RawSettings {
                audit_retention_days: days,
                ..Default::default()
            })
            .unwrap_err();
            assert_eq!(err.setting, "PORTAL_AUDIT_RETENTION_DAYS", "{days}");
        }
    }

    #[test]
    fn four_eyes_is_on_by_default_and_empty_turns_it_off() {
        let s = Settings::from_raw(RawSettings::default()).unwrap();
        let expected: BTreeSet<FourEyes> = [
            FourEyes::AllowSubOffices,
            FourEyes::Right("ORV".into()),
            FourEyes::MainUser,
        ]
        .into();
        assert_eq!(s.four_eyes, expected);
        assert!(parse_four_eyes(" ").unwrap().is_empty());
        assert_eq!(
            parse_four_eyes("right:dil , allow_sub_offices").unwrap(),
            [FourEyes::AllowSubOffices, FourEyes::Right("DIL".into())].into()
        );
        for bad in ["sub_offices", "right:", "right:O R V", "main_user;x"] {
            let err = Settings::from_raw(RawSettings {
                four_eyes: bad.into(),
                ..Default::default()
            })
            .unwrap_err();
            assert_eq!(err.setting, "PORTAL_FOUR_EYES", "{bad}");
        }
    }
}
