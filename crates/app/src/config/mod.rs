//! The settings the use cases run with, validated: the typed settings
//! and the values derived from them. Loading them (defaults, file,
//! environment, flags) is the server's.

mod settings;

pub use settings::{
    AccountSettings, AuditSettings, AuthSettings, CaseSettings, ChatBus, ChatSettings,
    DatabaseSettings, InstanceSettings, LogFormat, LogSettings, MailSettings, MailTransport, Mode,
    OidcSettings, ServerSettings, Settings, SlaSettings, SlaTargets, SmtpSecurity, UnknownSenders,
    WeekHours,
};

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

impl Config {
    /// Where links in mail point: `server.public_url`, or else the address
    /// the server listens on (`bound`), with loopback standing in for
    /// "every interface".
    pub fn public_url(&self, bound: std::net::SocketAddr) -> String {
        let set = self.settings.server.public_url.trim().trim_end_matches('/');
        if !set.is_empty() {
            return set.to_owned();
        }
        let ip = match bound.ip() {
            std::net::IpAddr::V4(v4) if v4.is_unspecified() => std::net::Ipv4Addr::LOCALHOST.into(),
            std::net::IpAddr::V6(v6) if v6.is_unspecified() => std::net::Ipv6Addr::LOCALHOST.into(),
            ip => ip,
        };
        format!("http://{}", std::net::SocketAddr::new(ip, bound.port()))
    }
}
