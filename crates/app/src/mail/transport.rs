//! Sending a built message: into `.eml` files (the embedded default, so
//! `make run` needs no mail server) or through an SMTP relay.

use std::path::{Path, PathBuf};
use std::time::Duration;

use lettre::Transport as _;
use lettre::address::Envelope;
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Tls, TlsParameters};
use secrecy::ExposeSecret;

use crate::config::{Config, MailTransport, SmtpSecurity};

/// Where outgoing mail goes.
pub enum Transport {
    File(PathBuf),
    Smtp(Box<lettre::SmtpTransport>),
}

impl std::fmt::Debug for Transport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Transport::File(p) => write!(f, "Transport::File({})", p.display()),
            Transport::Smtp(_) => f.write_str("Transport::Smtp"),
        }
    }
}

/// The directory of the file transport.
pub fn mailbox_dir(data_dir: &Path) -> PathBuf {
    data_dir.join("mailbox")
}

impl Transport {
    pub fn from_config(config: &Config) -> Result<Transport, String> {
        let m = &config.settings.mail;
        Ok(match m.transport {
            MailTransport::File => Transport::File(mailbox_dir(&config.settings.data_dir)),
            MailTransport::Smtp => {
                let tls = |host: &str| {
                    TlsParameters::new(host.to_owned()).map_err(|e| format!("mail.smtp_host: {e}"))
                };
                let builder = lettre::SmtpTransport::builder_dangerous(&m.smtp_host)
                    .port(m.smtp_port)
                    .timeout(Some(Duration::from_secs(m.smtp_timeout_secs)))
                    .tls(match m.smtp_security {
                        SmtpSecurity::Starttls => Tls::Required(tls(&m.smtp_host)?),
                        SmtpSecurity::Tls => Tls::Wrapper(tls(&m.smtp_host)?),
                        SmtpSecurity::None => Tls::None,
                    });
                let builder = if m.smtp_username.is_empty() {
                    builder
                } else {
                    builder.credentials(Credentials::new(
                        m.smtp_username.clone(),
                        m.smtp_password
                            .as_ref()
                            .map(|p| p.expose_secret().to_owned())
                            .unwrap_or_default(),
                    ))
                };
                Transport::Smtp(Box::new(builder.build()))
            }
        })
    }

    /// Sends one message; the error says why, for the outbox row.
    pub fn send(&self, from: &str, to: &[String], raw: &[u8]) -> Result<(), String> {
        self.send_and_say(from, to, raw).map(|_| ())
    }

    /// Sends one message and returns what the other side said: the SMTP
    /// relay's answer (`250 2.0.0 Ok: queued as …`), or the file written.
    pub fn send_and_say(&self, from: &str, to: &[String], raw: &[u8]) -> Result<String, String> {
        match self {
            Transport::File(dir) => write_file(dir, raw)
                .map(|path| format!("written to {}", path.display()))
                .map_err(|e| format!("cannot write the message file: {e}")),
            Transport::Smtp(smtp) => {
                let from = from.parse().map_err(|e| format!("sender address: {e}"))?;
                let to = to
                    .iter()
                    .map(|t| t.parse())
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(|e| format!("recipient address: {e}"))?;
                let envelope = Envelope::new(Some(from), to).map_err(|e| e.to_string())?;
                smtp.send_raw(&envelope, raw)
                    .map(|answer| {
                        format!(
                            "{} {}",
                            answer.code(),
                            answer.message().collect::<Vec<_>>().join(" ")
                        )
                    })
                    .map_err(|e| format!("SMTP: {e}"))
            }
        }
    }
}

fn write_file(dir: &Path, raw: &[u8]) -> std::io::Result<PathBuf> {
    let name = format!(
        "{}-{}.eml",
        chrono::Utc::now().format("%Y%m%dT%H%M%S"),
        uuid::Uuid::now_v7().simple()
    );
    crate::durable::write_new(dir, &name, raw).map(|_| dir.join(name))
}
