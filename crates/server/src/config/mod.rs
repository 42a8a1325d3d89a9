//! Configuration: typed settings, loaded from built-in defaults, an
//! optional file, `RAPPORT_*` environment variables and command-line flags
//! (later sources win), then checked as a whole.

mod load;
mod settings;
mod validate;

pub use load::{ConfigError, Overrides, load};
pub use settings::{
    AccountSettings, AuditSettings, AuthSettings, CaseSettings, ChatBus, ChatSettings,
    DatabaseSettings, InstanceSettings, LogFormat, LogSettings, MailSettings, MailTransport, Mode,
    ServerSettings, Settings, SlaSettings, SlaTargets, SmtpSecurity, UnknownSenders, WeekHours,
};
pub use validate::validate;

use rapport_store::DatabaseUrl;

/// Settings that passed validation, with derived values resolved.
#[derive(Debug, Clone)]
pub struct Config {
    pub settings: Settings,
    /// `database.url`, or the SQLite file under the data directory.
    pub database_url: DatabaseUrl,
    /// The working hours SLA targets count in.
    pub sla_calendar: rapport_domain::BusinessCalendar,
    /// `server.trusted_proxies`, parsed.
    pub trusted_proxies: Vec<ipnet::IpNet>,
}
