//! The settings structs. Every field has a doc comment and a default that
//! `config/default.toml` repeats; a test keeps the two in step.

use std::net::SocketAddr;
use std::path::PathBuf;

use secrecy::SecretString;
use serde::{Deserialize, Serialize};

/// Everything `rapport` reads from config files, `RAPPORT_*` variables and
/// command-line flags.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct Settings {
    /// `embedded` (one machine, secrets generated on first start) or
    /// `production` (every secret must be given).
    pub mode: Mode,
    /// Where Rapport keeps its files: the SQLite database, generated
    /// secrets, later spooled mail and attachments.
    pub data_dir: PathBuf,
    pub instance: InstanceSettings,
    pub server: ServerSettings,
    pub database: DatabaseSettings,
    pub log: LogSettings,
    pub auth: AuthSettings,
    pub audit: AuditSettings,
    pub accounts: AccountSettings,
    pub cases: CaseSettings,
    pub sla: SlaSettings,
    pub chat: ChatSettings,
    pub mail: MailSettings,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            mode: Mode::Embedded,
            data_dir: PathBuf::from("./data"),
            instance: InstanceSettings::default(),
            server: ServerSettings::default(),
            database: DatabaseSettings::default(),
            log: LogSettings::default(),
            auth: AuthSettings::default(),
            audit: AuditSettings::default(),
            accounts: AccountSettings::default(),
            cases: CaseSettings::default(),
            sla: SlaSettings::default(),
            chat: ChatSettings::default(),
            mail: MailSettings::default(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    Embedded,
    Production,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct InstanceSettings {
    /// The name clients see for this support desk.
    pub name: String,
}

impl Default for InstanceSettings {
    fn default() -> Self {
        InstanceSettings {
            name: "Rapport".to_owned(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct ServerSettings {
    /// Address and port to listen on.
    pub bind: SocketAddr,
    /// HTTP worker threads; 0 means one per CPU core.
    pub workers: usize,
    /// Seconds that in-flight requests get to finish after SIGTERM/SIGINT.
    pub shutdown_timeout_secs: u64,
    /// Largest JSON request body accepted, in bytes.
    pub max_json_body_bytes: usize,
    /// The address people use to reach this server, for links in messages.
    /// Empty: the address the server listens on.
    pub public_url: String,
    /// Sites (origins such as "https://www.client.example") allowed to
    /// embed the chat widget; the server's own origin always may. In the
    /// environment: a comma-separated list.
    #[serde(deserialize_with = "list_or_commas")]
    pub widget_origins: Vec<String>,
    /// Reverse proxies (addresses or CIDR ranges such as "10.0.0.0/8")
    /// whose `Forwarded` / `X-Forwarded-For` headers name the client. From
    /// any other peer those headers are ignored. Empty: the TCP peer is the
    /// client. In the environment: a comma-separated list.
    #[serde(deserialize_with = "list_or_commas")]
    pub trusted_proxies: Vec<String>,
}

impl Default for ServerSettings {
    fn default() -> Self {
        ServerSettings {
            bind: SocketAddr::from(([127, 0, 0, 1], 8080)),
            workers: 0,
            shutdown_timeout_secs: 30,
            max_json_body_bytes: 1_048_576,
            public_url: String::new(),
            widget_origins: Vec::new(),
            trusted_proxies: Vec::new(),
        }
    }
}

/// A list written as a list (files, `["a", "b"]`) or as one string of
/// comma-separated items (`RAPPORT_SERVER__WIDGET_ORIGINS=a,b`).
fn list_or_commas<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum ListOrCommas {
        List(Vec<String>),
        Commas(String),
    }
    Ok(match ListOrCommas::deserialize(d)? {
        ListOrCommas::List(list) => list,
        ListOrCommas::Commas(text) => text
            .split(',')
            .map(str::trim)
            .filter(|item| !item.is_empty())
            .map(str::to_owned)
            .collect(),
    })
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct DatabaseSettings {
    /// `sqlite://PATH` or `postgres://USER:PASSWORD@HOST:PORT/DB`. Unset
    /// means `sqlite://<data_dir>/rapport.db`.
    pub url: Option<String>,
    /// Most connections the pool opens.
    pub pool_max_size: u32,
    /// Seconds a request waits for a free connection before failing with 503.
    pub acquire_timeout_secs: u64,
    /// Apply pending migrations when `rapport serve` starts.
    pub migrate_on_start: bool,
    /// Milliseconds an SQLite writer waits for another writer to finish.
    pub sqlite_busy_timeout_ms: u32,
}

impl Default for DatabaseSettings {
    fn default() -> Self {
        DatabaseSettings {
            url: None,
            pool_max_size: 10,
            acquire_timeout_secs: 5,
            migrate_on_start: true,
            sqlite_busy_timeout_ms: 5_000,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct LogSettings {
    /// `text` for people, `json` for log collectors.
    pub format: LogFormat,
    /// A tracing filter such as `info` or `info,rapport_store=debug`;
    /// the `RUST_LOG` variable overrides it.
    pub level: String,
}

impl Default for LogSettings {
    fn default() -> Self {
        LogSettings {
            format: LogFormat::Text,
            level: "info".to_owned(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct AuthSettings {
    /// Key that signs access tokens (at least 32 bytes). Required in
    /// production; in embedded mode a random one is generated once into
    /// `<data_dir>/secrets/jwt.key`.
    #[serde(skip_serializing)]
    pub jwt_secret: Option<SecretString>,
    /// `iss` of access tokens; also checked on every request.
    pub issuer: String,
    /// Minutes an access token is valid.
    pub access_token_minutes: u32,
    /// Days a refresh token is valid if unused.
    pub refresh_token_days: u32,
    /// Failed sign-ins per email address and client address before delays
    /// start; a client address alone gets four times as many.
    pub login_free_attempts: u32,
    /// Longest delay, in seconds, imposed after repeated failed sign-ins.
    pub login_max_delay_secs: u64,
    /// Staff roles that must sign in with a second factor (TOTP): until
    /// they set one up, their sessions may only set it up.
    pub totp_required_roles: Vec<String>,
    /// Staff roles that may not sign in with a password (they use single
    /// sign-on, `auth.oidc`).
    pub password_disabled_roles: Vec<String>,
    /// Single sign-on for staff through the organisation's OpenID Connect
    /// provider.
    pub oidc: OidcSettings,
}

/// The organisation's OpenID Connect provider. Off while `issuer` is unset.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct OidcSettings {
    /// The provider's issuer URL (its discovery document is at
    /// `<issuer>/.well-known/openid-configuration`).
    pub issuer: Option<String>,
    pub client_id: String,
    #[serde(skip_serializing)]
    pub client_secret: Option<SecretString>,
    /// How the sign-in button names the provider: "Sign in with …".
    pub label: String,
    /// Email domains accepted from the provider; empty: any.
    pub allowed_domains: Vec<String>,
    /// A claim naming the staff role (`admin`, `agent` or `auditor`): it
    /// sets the role of people created on first sign-in and keeps the
    /// role of others in step. Empty: roles are managed in Rapport.
    pub role_claim: String,
    /// A claim naming teams (a name or a list, e.g. groups): at each
    /// sign-in the person joins the named teams that exist (as a member;
    /// never left out of others). Empty: teams are managed in Rapport.
    pub team_claim: String,
    /// Creates a staff member on first sign-in (with `role_claim`'s role,
    /// else `default_role`); otherwise only existing staff may sign in.
    pub create_unknown_staff: bool,
    pub default_role: String,
}

impl Default for OidcSettings {
    fn default() -> Self {
        OidcSettings {
            issuer: None,
            client_id: String::new(),
            client_secret: None,
            label: "your company account".to_owned(),
            allowed_domains: Vec::new(),
            role_claim: String::new(),
            team_claim: String::new(),
            create_unknown_staff: false,
            default_role: "agent".to_owned(),
        }
    }
}

impl Default for AuthSettings {
    fn default() -> Self {
        AuthSettings {
            jwt_secret: None,
            issuer: "rapport".to_owned(),
            access_token_minutes: 15,
            refresh_token_days: 30,
            login_free_attempts: 5,
            login_max_delay_secs: 900,
            totp_required_roles: Vec::new(),
            password_disabled_roles: Vec::new(),
            oidc: OidcSettings::default(),
        }
    }
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct AuditSettings {
    /// Ed25519 seed that signs audit export manifests: 32 bytes as 64 hex
    /// characters. Required in production (every node must sign with the
    /// same key); in embedded mode a random one is generated once into
    /// `<data_dir>/secrets/audit-signing.key`.
    #[serde(skip_serializing)]
    pub signing_key: Option<SecretString>,
    /// Seconds between signed checkpoints of the whole log (made only when
    /// something was added).
    pub checkpoint_interval_secs: u64,
    /// Addresses every new checkpoint is mailed to (the auditors' own
    /// record, outside the database and this server).
    pub witness_emails: Vec<String>,
    /// URLs every new checkpoint is POSTed to as JSON (a transparency log,
    /// another organisation's server).
    pub witness_urls: Vec<String>,
}

impl Default for AuditSettings {
    fn default() -> Self {
        AuditSettings {
            signing_key: None,
            checkpoint_interval_secs: 60,
            witness_emails: Vec::new(),
            witness_urls: Vec::new(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct AccountSettings {
    /// Service tiers an account can have (drive SLA policies).
    pub tiers: Vec<String>,
    /// Tier of a new account when none is given.
    pub default_tier: String,
    /// Let every agent see every account, not only their teams' accounts.
    pub agents_see_all: bool,
    /// Largest `custom_fields` object of an account, in bytes of JSON.
    pub custom_fields_max_bytes: usize,
}

impl Default for AccountSettings {
    fn default() -> Self {
        AccountSettings {
            tiers: vec!["strategic".into(), "standard".into(), "basic".into()],
            default_tier: "standard".into(),
            agents_see_all: false,
            custom_fields_max_bytes: 16_384,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct CaseSettings {
    /// Categories a case can be filed under.
    pub categories: Vec<String>,
    /// Team (by name) that receives cases of accounts without a dedicated
    /// team; empty: such cases wait unassigned.
    pub triage_team: String,
    /// Days after closing during which a client reply reopens a case; a
    /// later reply opens a new case linked to it.
    pub reopen_closed_within_days: u32,
    /// Largest attachment accepted, in bytes.
    pub max_attachment_bytes: u64,
    /// Most files on one thread entry.
    pub max_attachments_per_entry: usize,
    /// Minutes during which staff may edit their own notes and replies
    /// (every version is kept); admins may edit later. 0: only admins.
    pub edit_window_minutes: u32,
    /// Longest message anyone writes into a thread, in characters, through
    /// any door: chat, the portal, the console, the API, edits.
    pub max_message_chars: usize,
    /// Seconds a case opened or resolved waits for the digest of contacts
    /// who chose one (`case_notices = "digest"`): one email per contact per
    /// this long at most. Default a day.
    pub notice_digest_secs: u64,
}

impl Default for CaseSettings {
    fn default() -> Self {
        CaseSettings {
            categories: ["billing", "technical", "orders", "appointments", "other"]
                .map(String::from)
                .to_vec(),
            triage_team: String::new(),
            reopen_closed_within_days: 14,
            max_attachment_bytes: 25 * 1_048_576,
            max_attachments_per_entry: 10,
            edit_window_minutes: 15,
            max_message_chars: 10_000,
            notice_digest_secs: 86_400,
        }
    }
}

/// Response and resolution targets, in business minutes.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct SlaTargets {
    pub first_response_minutes: u32,
    pub next_response_minutes: u32,
    pub resolution_minutes: u32,
}

/// Working hours per weekday, each a list of `"HH:MM-HH:MM"`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct WeekHours {
    pub mon: Vec<String>,
    pub tue: Vec<String>,
    pub wed: Vec<String>,
    pub thu: Vec<String>,
    pub fri: Vec<String>,
    pub sat: Vec<String>,
    pub sun: Vec<String>,
}

impl Default for WeekHours {
    fn default() -> Self {
        let day = || vec!["09:00-17:00".to_owned()];
        WeekHours {
            mon: day(),
            tue: day(),
            wed: day(),
            thu: day(),
            fri: day(),
            sat: Vec::new(),
            sun: Vec::new(),
        }
    }
}

impl WeekHours {
    pub fn as_array(&self) -> [Vec<String>; 7] {
        [
            self.mon.clone(),
            self.tue.clone(),
            self.wed.clone(),
            self.thu.clone(),
            self.fri.clone(),
            self.sat.clone(),
            self.sun.clone(),
        ]
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct SlaSettings {
    /// IANA time zone of the working hours, e.g. Europe/Berlin.
    pub time_zone: String,
    pub hours: WeekHours,
    /// Days off, `YYYY-MM-DD`.
    pub holidays: Vec<String>,
    /// Business minutes to the first answer to a client.
    pub first_response_minutes: u32,
    /// Business minutes to answer each later client message.
    pub next_response_minutes: u32,
    /// Business minutes from opening to resolution.
    pub resolution_minutes: u32,
    /// Targets of particular account tiers, replacing the ones above.
    pub tiers: std::collections::BTreeMap<String, SlaTargets>,
    /// Share of a target after which a warning is recorded.
    pub warn_at_percent: u32,
    /// Seconds between checks for warnings and breaches.
    pub check_interval_secs: u64,
}

impl Default for SlaSettings {
    fn default() -> Self {
        SlaSettings {
            time_zone: "UTC".into(),
            hours: WeekHours::default(),
            holidays: Vec::new(),
            first_response_minutes: 360,
            next_response_minutes: 480,
            resolution_minutes: 2_400,
            tiers: [(
                "strategic".to_owned(),
                SlaTargets {
                    first_response_minutes: 120,
                    next_response_minutes: 240,
                    resolution_minutes: 1_440,
                },
            )]
            .into_iter()
            .collect(),
            warn_at_percent: 80,
            check_interval_secs: 30,
        }
    }
}

impl SlaSettings {
    /// The targets for accounts of `tier`.
    pub fn targets(&self, tier: &str) -> SlaTargets {
        self.tiers.get(tier).cloned().unwrap_or(SlaTargets {
            first_response_minutes: self.first_response_minutes,
            next_response_minutes: self.next_response_minutes,
            resolution_minutes: self.resolution_minutes,
        })
    }
}

/// How chat events reach the other server nodes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ChatBus {
    /// PostgreSQL LISTEN/NOTIFY when the database is PostgreSQL, else in-process.
    Auto,
    /// This process only (one node).
    InProcess,
    /// PostgreSQL LISTEN/NOTIFY (several nodes on one database).
    Postgres,
}

/// Live chat over websockets (`GET /ws`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct ChatSettings {
    /// How events reach other nodes: `auto`, `in_process` or `postgres`.
    pub bus: ChatBus,
    /// Seconds a ticket from `POST /api/v1/chat/ticket` stays valid.
    pub ticket_ttl_secs: u64,
    /// Largest frame answered with an error; larger ones up to
    /// `hard_frame_bytes` are refused but the connection stays.
    pub max_frame_bytes: usize,
    /// Frames above this close the connection (1009) unread.
    pub hard_frame_bytes: usize,
    /// Sustained frames per second per connection.
    pub frames_per_second: u32,
    /// Frames a connection may send at once above the sustained rate.
    pub burst: u32,
    /// Rate-limited frames tolerated before the connection is closed (1008).
    pub max_violations: u32,
    /// Frames queued for a connection before it counts as too slow and is
    /// closed (4008): memory per connection stays bounded.
    pub send_queue: usize,
    /// Cases one connection may follow at once.
    pub max_joined_cases: usize,
    /// Chat connections one person may hold open on one node at once
    /// (tabs, devices); a ticket beyond it is refused with
    /// `too_many_connections`.
    pub max_connections_per_person: usize,
    /// Seconds between server pings.
    pub heartbeat_secs: u64,
    /// Seconds without any frame from the client before closing (4000).
    pub idle_timeout_secs: u64,
    /// Seconds after which a connection must reconnect with a new ticket
    /// (4001), so access changes reach long-lived connections.
    pub max_connection_secs: u64,
    /// Seconds without a word from another node before its people are
    /// shown offline.
    pub node_timeout_secs: u64,
    /// Greet a contact who starts a chat, naming the team and asking for a
    /// category.
    pub greeting: bool,
    /// Seconds after a team answer to a contact who is not in the chat
    /// before one email carries every answer they have not read by then.
    pub offline_email_after_secs: u64,
}

impl Default for ChatSettings {
    fn default() -> Self {
        ChatSettings {
            bus: ChatBus::Auto,
            ticket_ttl_secs: 30,
            max_frame_bytes: 65_536,
            hard_frame_bytes: 1_048_576,
            frames_per_second: 20,
            burst: 40,
            max_violations: 50,
            send_queue: 256,
            max_joined_cases: 50,
            max_connections_per_person: 20,
            heartbeat_secs: 20,
            idle_timeout_secs: 60,
            max_connection_secs: 3_600,
            node_timeout_secs: 30,
            greeting: true,
            offline_email_after_secs: 120,
        }
    }
}

/// How outgoing mail leaves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum MailTransport {
    /// `.eml` files under `<data_dir>/mailbox/` (no mail server needed).
    File,
    /// An SMTP relay (`smtp_*` keys).
    Smtp,
}

/// Encryption to the SMTP relay.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SmtpSecurity {
    /// Plain connection upgraded with STARTTLS (port 587).
    Starttls,
    /// TLS from the first byte (port 465).
    Tls,
    /// No encryption: only for a relay on the same host or network.
    None,
}

/// What happens to mail from an address no account knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum UnknownSenders {
    /// A case on the account `prospect_account` (created when first
    /// needed), handled by the triage team.
    Prospect,
    /// Held in the quarantine for an admin to look at.
    Quarantine,
}

/// Email in and out.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct MailSettings {
    /// The support address: sender of outgoing mail, base of the signed
    /// reply addresses (`local+token@domain`) and domain of Message-IDs.
    pub address: String,
    /// The name outgoing mail comes from; empty: `instance.name`.
    pub from_name: String,
    /// `file` or `smtp`.
    pub transport: MailTransport,
    pub smtp_host: String,
    pub smtp_port: u16,
    /// `starttls`, `tls` or `none`.
    pub smtp_security: SmtpSecurity,
    /// Empty: no authentication.
    pub smtp_username: String,
    #[serde(skip_serializing)]
    pub smtp_password: Option<SecretString>,
    pub smtp_timeout_secs: u64,
    /// Address of the LMTP listener (e.g. "127.0.0.1:2424"); empty: off.
    pub lmtp_bind: String,
    /// Largest inbound message, in bytes.
    pub max_message_bytes: usize,
    /// `prospect` or `quarantine`.
    pub unknown_senders: UnknownSenders,
    /// The account unknown senders' cases go to with `prospect`.
    pub prospect_account: String,
    /// Answer a new case opened by email with its number and promised
    /// response time.
    pub acknowledge_new_cases: bool,
    /// Acknowledgments one address receives per hour at most.
    pub acknowledgments_per_hour: u32,
    /// Attempts before an outgoing message is marked failed.
    pub max_attempts: u32,
    /// Seconds before the first retry; each retry waits twice as long.
    pub retry_base_secs: u64,
    /// Milliseconds between looks at the outbox and the inbound queue.
    pub poll_interval_ms: u64,
}

impl Default for MailSettings {
    fn default() -> Self {
        MailSettings {
            address: "support@rapport.localhost".into(),
            from_name: String::new(),
            transport: MailTransport::File,
            smtp_host: "localhost".into(),
            smtp_port: 587,
            smtp_security: SmtpSecurity::Starttls,
            smtp_username: String::new(),
            smtp_password: None,
            smtp_timeout_secs: 30,
            lmtp_bind: String::new(),
            max_message_bytes: 25 * 1_048_576,
            unknown_senders: UnknownSenders::Prospect,
            prospect_account: "Unknown senders".into(),
            acknowledge_new_cases: true,
            acknowledgments_per_hour: 3,
            max_attempts: 8,
            retry_base_secs: 60,
            poll_interval_ms: 500,
        }
    }
}
