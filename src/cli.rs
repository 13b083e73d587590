//! The command line (SPEC §5).

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

/// The Offerte Portaal: identity provider, management UI and product portals.
#[derive(Debug, Parser)]
#[command(name = "portal", version, about)]
pub struct Cli {
    /// A TOML settings file (default: ./portal.toml when it exists). `PORTAL_*`
    /// environment variables override it.
    #[arg(long, env = "PORTAL_CONFIG", global = true)]
    pub config: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Runs the portal (the default command).
    Serve(ServeArgs),
    /// Applies the database migrations and exits.
    Migrate,
    /// Manages offices.
    #[command(subcommand)]
    Office(OfficeCommand),
    /// Manages users.
    #[command(subcommand)]
    User(UserCommand),
    /// Manages OIDC clients.
    #[command(subcommand)]
    Client(ClientCommand),
    /// Manages signing keys.
    #[command(subcommand)]
    Keys(KeysCommand),
}

#[derive(Debug, Default, Args)]
pub struct ServeArgs {
    /// Seeds demo offices and users and prints their logins.
    #[arg(long)]
    pub demo: bool,
    /// Runs only this product portal (its right code, e.g. DIP) in this process: no idp,
    /// no shell. It signs in at PORTAL_ISSUER, keeps its quotes in
    /// PORTAL_PRODUCTS_DATABASE_URL and answers the idp's O7 questions; the registry
    /// gives it a `url` so the idp and the shell find it.
    #[arg(long, value_name = "CODE", conflicts_with = "demo")]
    pub only: Option<String>,
    /// With --only: the product's OIDC client secret, as registered at the idp with
    /// `portal client add`. Read from PORTAL_CLIENT_SECRET when not given.
    #[arg(long, env = "PORTAL_CLIENT_SECRET", hide_env_values = true)]
    pub client_secret: Option<String>,
}

#[derive(Debug, Subcommand)]
pub enum OfficeCommand {
    /// Creates a head office with its main user and sends the activation e-mail.
    AddHead(AddHeadArgs),
    /// Imports head offices from a CSV export of the appointment register, all or nothing:
    /// new advisor numbers become head offices, known ones are updated (name, rights,
    /// sub-offices). --dry-run shows what it would do and changes nothing.
    Import(ImportArgs),
}

#[derive(Debug, Args)]
pub struct AddHeadArgs {
    /// The advisor number.
    #[arg(long)]
    pub number: String,
    /// The office name.
    #[arg(long)]
    pub name: String,
    /// The office e-mail, also the main user's login.
    #[arg(long)]
    pub email: String,
    /// The appointment, e.g. DIP,DIL,ORV.
    #[arg(long, default_value = "")]
    pub rights: String,
    /// Allows the office to work with sub-offices.
    #[arg(long)]
    pub allow_sub_offices: bool,
}

#[derive(Debug, Args)]
pub struct ImportArgs {
    /// CSV with the columns advisor_number, name, email, rights, allow_sub_offices.
    pub file: PathBuf,
    /// Shows per row what would be created, changed or left alone, and changes nothing.
    #[arg(long)]
    pub dry_run: bool,
}

#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Adds an insurer admin, who activates through the e-mailed link.
    AddInsurerAdmin(AddInsurerAdminArgs),
    /// Resets a user's two-factor authentication after the identity check of the
    /// lost-phone procedure: the user's app, recovery codes and passkeys are removed, every
    /// session ends, and the user sets up 2FA again at the next sign-in.
    #[command(name = "reset-2fa")]
    ResetTwoFactor(ResetTwoFactorArgs),
}

#[derive(Debug, Args)]
pub struct ResetTwoFactorArgs {
    /// The user's e-mail address (the login).
    #[arg(long)]
    pub email: String,
}

#[derive(Debug, Args)]
pub struct AddInsurerAdminArgs {
    /// E-mail address (the login).
    #[arg(long)]
    pub email: String,
    /// Name.
    #[arg(long)]
    pub name: String,
}

#[derive(Debug, Subcommand)]
pub enum ClientCommand {
    /// Registers an OIDC client (or replaces its registration).
    Add(AddClientArgs),
}

#[derive(Debug, Args)]
pub struct AddClientArgs {
    /// The client id.
    #[arg(long)]
    pub id: String,
    /// The client secret (at least 32 characters; only its hash is stored). Read from
    /// PORTAL_CLIENT_SECRET when not given, so it need not appear in the shell history.
    /// Without it (and without --jwks-file) a random 256-bit secret is made and printed once.
    #[arg(long, env = "PORTAL_CLIENT_SECRET", hide_env_values = true)]
    pub secret: Option<String>,
    /// The ID-token signing algorithm (SPEC §4).
    #[arg(long = "id-token-alg", default_value = "RS256", value_parser = ["RS256", "ES256", "EdDSA"])]
    pub id_token_alg: String,
    /// The access-token signing algorithm (RFC 9068 `at+jwt`); resource servers verify it
    /// from the JWKS like the ID token.
    #[arg(long = "access-token-alg", default_value = "RS256", value_parser = ["RS256", "ES256", "EdDSA"])]
    pub access_token_alg: String,
    /// A JSON Web Key Set file with the client's public keys, for private_key_jwt client
    /// authentication (RFC 7523).
    #[arg(long = "jwks-file")]
    pub jwks_file: Option<PathBuf>,
    /// A redirect URI, matched byte for byte (repeatable; at least one for the
    /// authorization_code grant).
    #[arg(long = "redirect-uri")]
    pub redirect_uris: Vec<String>,
    /// A grant type the client may use (repeatable): authorization_code (the default),
    /// refresh_token (scope offline_access), client_credentials (a service client).
    #[arg(long = "grant-type", value_parser = ["authorization_code", "refresh_token", "client_credentials"])]
    pub grant_types: Vec<String>,
    /// A post-logout redirect URI (repeatable).
    #[arg(long = "post-logout-redirect-uri")]
    pub post_logout_redirect_uris: Vec<String>,
    /// The back-channel logout URI.
    #[arg(long = "backchannel-logout-uri")]
    pub backchannel_logout_uri: Option<String>,
    /// Where the client receives rights events (issue 10): signed Security Event Tokens
    /// pushed per RFC 8935, e.g. `https://dip.example.nl/dip/auth/events`.
    #[arg(long = "events-uri")]
    pub events_uri: Option<String>,
    /// A name shown to people.
    #[arg(long)]
    pub name: Option<String>,
    /// Does not require PKCE (only for a confidential client that uses nonce, SPEC §4).
    #[arg(long)]
    pub insecure_no_pkce: bool,
    /// Accepts only pushed authorization requests from the client (RFC 9126 PAR, `POST
    /// {issuer}/par` first); a plain authorization request is refused.
    #[arg(long = "require-par")]
    pub require_par: bool,
    /// Requires a DPoP proof (RFC 9449) with every token request of the client, so that every
    /// access token is bound to the client's key (`dpop_bound_access_tokens`).
    #[arg(long)]
    pub dpop: bool,
}

#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// Adds a new signing key; it is published first and signs two minutes later, and the
    /// old keys stay published until their tokens have expired.
    Rotate,
}
