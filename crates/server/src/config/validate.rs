use rapport_store::{Backend, DatabaseUrl};
use secrecy::ExposeSecret;

use super::ChatBus;
use super::{Config, ConfigError, Mode, Settings};

/// Shortest accepted signing secret: HS256 wants a key at least as long as
/// its 256-bit output.
pub const MIN_SECRET_BYTES: usize = 32;

/// Checks what types alone cannot: ranges, URLs, filters, and the secrets
/// that production mode requires.
pub fn validate(settings: Settings) -> Result<Config, ConfigError> {
    let name = settings.instance.name.trim();
    if name.is_empty() || name.chars().count() > 100 {
        return Err(key_error(
            "instance.name",
            "must be 1 to 100 characters",
            "set a short name such as \"Acme Support\"",
        ));
    }
    if settings.data_dir.as_os_str().is_empty() {
        return Err(key_error(
            "data_dir",
            "is empty",
            "set --data-dir or RAPPORT_DATA_DIR to a writable directory",
        ));
    }
    in_range(
        "database.pool_max_size",
        settings.database.pool_max_size.into(),
        1,
        1_000,
    )?;
    in_range(
        "database.acquire_timeout_secs",
        settings.database.acquire_timeout_secs,
        1,
        300,
    )?;
    in_range(
        "database.sqlite_busy_timeout_ms",
        settings.database.sqlite_busy_timeout_ms.into(),
        0,
        600_000,
    )?;
    in_range("server.workers", settings.server.workers as u64, 0, 1_024)?;
    in_range(
        "server.shutdown_timeout_secs",
        settings.server.shutdown_timeout_secs,
        0,
        3_600,
    )?;
    in_range(
        "server.max_json_body_bytes",
        settings.server.max_json_body_bytes as u64,
        1_024,
        64 * 1_048_576,
    )?;
    in_range(
        "auth.access_token_minutes",
        settings.auth.access_token_minutes.into(),
        1,
        60,
    )?;
    in_range(
        "auth.refresh_token_days",
        settings.auth.refresh_token_days.into(),
        1,
        365,
    )?;
    in_range(
        "auth.login_free_attempts",
        settings.auth.login_free_attempts.into(),
        1,
        100,
    )?;
    in_range(
        "audit.checkpoint_interval_secs",
        settings.audit.checkpoint_interval_secs,
        1,
        86_400,
    )?;
    in_range(
        "auth.login_max_delay_secs",
        settings.auth.login_max_delay_secs,
        1,
        86_400,
    )?;
    if let Some(role) = settings
        .auth
        .totp_required_roles
        .iter()
        .find(|r| rapport_domain::StaffRole::parse(r).is_none())
    {
        return Err(key_error(
            "auth.totp_required_roles",
            &format!("names `{role}`"),
            "list staff roles: admin, agent, auditor",
        ));
    }
    if let Some(role) = settings
        .auth
        .password_disabled_roles
        .iter()
        .find(|r| rapport_domain::StaffRole::parse(r).is_none())
    {
        return Err(key_error(
            "auth.password_disabled_roles",
            &format!("names `{role}`"),
            "list staff roles: admin, agent, auditor",
        ));
    }
    oidc(&settings.auth)?;
    if let Some(bad) = settings
        .audit
        .witness_emails
        .iter()
        .find(|e| rapport_domain::EmailAddress::parse(e).is_err())
    {
        return Err(key_error(
            "audit.witness_emails",
            &format!("`{bad}` is not an email address"),
            "list the addresses checkpoints are mailed to",
        ));
    }
    if let Some(bad) = settings
        .audit
        .witness_urls
        .iter()
        .find(|u| !(u.starts_with("https://") || u.starts_with("http://")))
    {
        return Err(key_error(
            "audit.witness_urls",
            &format!("`{bad}` is not an http(s) URL"),
            "list the URLs checkpoints are POSTed to",
        ));
    }
    let tiers = &settings.accounts.tiers;
    let tier_ok = |t: &String| {
        !t.is_empty()
            && t.len() <= 32
            && t.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
    };
    if tiers.is_empty() || !tiers.iter().all(tier_ok) {
        return Err(key_error(
            "accounts.tiers",
            "must list at least one tier of lowercase letters, digits and _",
            "e.g. tiers = [\"strategic\", \"standard\"]",
        ));
    }
    if !tiers.contains(&settings.accounts.default_tier) {
        return Err(key_error(
            "accounts.default_tier",
            &format!(
                "{:?} is not in accounts.tiers",
                settings.accounts.default_tier
            ),
            &format!("use one of: {}", tiers.join(", ")),
        ));
    }
    in_range(
        "accounts.custom_fields_max_bytes",
        settings.accounts.custom_fields_max_bytes as u64,
        2,
        1_048_576,
    )?;
    let categories = &settings.cases.categories;
    if categories.is_empty() || !categories.iter().all(tier_ok) {
        return Err(key_error(
            "cases.categories",
            "must list at least one category of lowercase letters, digits and _",
            "e.g. categories = [\"billing\", \"technical\"]",
        ));
    }
    in_range(
        "cases.max_attachment_bytes",
        settings.cases.max_attachment_bytes,
        1_024,
        1_073_741_824,
    )?;
    in_range(
        "cases.max_attachments_per_entry",
        settings.cases.max_attachments_per_entry as u64,
        1,
        100,
    )?;
    in_range(
        "cases.notice_digest_secs",
        settings.cases.notice_digest_secs,
        60,
        604_800,
    )?;
    in_range(
        "cases.reopen_closed_within_days",
        settings.cases.reopen_closed_within_days.into(),
        0,
        3_650,
    )?;
    let url = settings.server.public_url.trim();
    // Empty: links follow the address the server listens on.
    if !(url.is_empty() || url.starts_with("http://") || url.starts_with("https://"))
        || url.len() > 200
        || url.contains(char::is_whitespace)
    {
        return Err(key_error(
            "server.public_url",
            "is not an http(s) URL",
            "set the address people use, e.g. https://support.example.com",
        ));
    }
    if settings.auth.issuer.trim().is_empty() {
        return Err(key_error(
            "auth.issuer",
            "is empty",
            "set a short name such as \"rapport\"",
        ));
    }
    if let Err(e) = tracing_subscriber::EnvFilter::try_new(&settings.log.level) {
        return Err(key_error(
            "log.level",
            &format!("{:?} is not a log filter ({e})", settings.log.level),
            "use a level such as info, or a directive list like info,rapport_store=debug",
        ));
    }
    let database_url = match &settings.database.url {
        Some(url) => DatabaseUrl::parse(url).map_err(|e| {
            key_error(
                "database.url",
                &e.to_string(),
                "set --database-url or RAPPORT_DATABASE_URL",
            )
        })?,
        None => DatabaseUrl::sqlite_file(&settings.data_dir.join("rapport.db")),
    };
    match (&settings.auth.jwt_secret, settings.mode) {
        (Some(secret), _) if secret.expose_secret().len() < MIN_SECRET_BYTES => {
            return Err(key_error(
                "auth.jwt_secret",
                &format!("is shorter than {MIN_SECRET_BYTES} bytes"),
                "use a random value, e.g. from `openssl rand -hex 32`",
            ));
        }
        (None, Mode::Production) => {
            return Err(key_error(
                "auth.jwt_secret",
                "is required when mode = \"production\"",
                "set RAPPORT_AUTH__JWT_SECRET to a random value of 32+ bytes (e.g. `openssl rand -hex 32`)",
            ));
        }
        _ => {}
    }
    match (&settings.audit.signing_key, settings.mode) {
        (Some(seed), _)
            if rapport_audit::AuditSigner::from_seed_hex(seed.expose_secret()).is_err() =>
        {
            return Err(key_error(
                "audit.signing_key",
                "is not 32 bytes as 64 hex characters",
                "generate one with `openssl rand -hex 32`",
            ));
        }
        (None, Mode::Production) => {
            return Err(key_error(
                "audit.signing_key",
                "is required when mode = \"production\" (every node must sign exports with the same key)",
                "set RAPPORT_AUDIT__SIGNING_KEY to 64 hex characters (e.g. `openssl rand -hex 32`)",
            ));
        }
        _ => {}
    }
    let sla = &settings.sla;
    let holidays = sla
        .holidays
        .iter()
        .map(|d| chrono::NaiveDate::parse_from_str(d, "%Y-%m-%d"))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|_| {
            key_error(
                "sla.holidays",
                "holds a date that is not YYYY-MM-DD",
                "write dates like \"2026-12-25\"",
            )
        })?;
    let sla_calendar =
        rapport_domain::BusinessCalendar::new(&sla.time_zone, &sla.hours.as_array(), &holidays)
            .map_err(|e| {
                key_error(
                    "sla.hours",
                    &e.to_string(),
                    "see [sla] in config/default.toml",
                )
            })?;
    for (tier, t) in &sla.tiers {
        if !settings.accounts.tiers.contains(tier) {
            return Err(key_error(
                "sla.tiers",
                &format!("names {tier:?}, which is not in accounts.tiers"),
                "use a tier listed in accounts.tiers",
            ));
        }
        for minutes in [
            t.first_response_minutes,
            t.next_response_minutes,
            t.resolution_minutes,
        ] {
            in_range("sla.tiers", minutes.into(), 1, 525_600)?;
        }
    }
    for (key, minutes) in [
        ("sla.first_response_minutes", sla.first_response_minutes),
        ("sla.next_response_minutes", sla.next_response_minutes),
        ("sla.resolution_minutes", sla.resolution_minutes),
    ] {
        in_range(key, minutes.into(), 1, 525_600)?;
    }
    in_range("sla.warn_at_percent", sla.warn_at_percent.into(), 1, 99)?;
    in_range("sla.check_interval_secs", sla.check_interval_secs, 1, 3_600)?;
    let chat = &settings.chat;
    in_range("chat.ticket_ttl_secs", chat.ticket_ttl_secs, 5, 600)?;
    in_range(
        "chat.max_frame_bytes",
        chat.max_frame_bytes as u64,
        1_024,
        16_777_216,
    )?;
    in_range(
        "chat.hard_frame_bytes",
        chat.hard_frame_bytes as u64,
        chat.max_frame_bytes as u64,
        67_108_864,
    )?;
    in_range(
        "cases.max_message_chars",
        settings.cases.max_message_chars as u64,
        100,
        1_000_000,
    )?;
    in_range(
        "chat.frames_per_second",
        chat.frames_per_second.into(),
        1,
        10_000,
    )?;
    in_range("chat.burst", chat.burst.into(), 1, 100_000)?;
    in_range(
        "chat.max_violations",
        chat.max_violations.into(),
        1,
        1_000_000,
    )?;
    in_range("chat.send_queue", chat.send_queue as u64, 8, 100_000)?;
    in_range(
        "chat.max_joined_cases",
        chat.max_joined_cases as u64,
        1,
        1_000,
    )?;
    in_range("chat.heartbeat_secs", chat.heartbeat_secs, 1, 3_600)?;
    in_range(
        "chat.offline_email_after_secs",
        chat.offline_email_after_secs,
        1,
        86_400,
    )?;
    in_range(
        "chat.idle_timeout_secs",
        chat.idle_timeout_secs,
        chat.heartbeat_secs + 1,
        86_400,
    )?;
    in_range(
        "chat.max_connection_secs",
        chat.max_connection_secs,
        60,
        604_800,
    )?;
    in_range(
        "chat.max_connections_per_person",
        chat.max_connections_per_person as u64,
        1,
        10_000,
    )?;
    in_range("chat.node_timeout_secs", chat.node_timeout_secs, 5, 3_600)?;
    if chat.bus == ChatBus::Postgres && database_url.backend() != Backend::Postgres {
        return Err(key_error(
            "chat.bus",
            "is \"postgres\" but the database is SQLite",
            "set chat.bus = \"auto\" (or \"in_process\"), or point database.url at PostgreSQL",
        ));
    }
    validate_mail(&settings.mail)?;
    for origin in &settings.server.widget_origins {
        let ok = (origin.starts_with("https://") || origin.starts_with("http://"))
            // No path after the host: "https://host[:port]" only.
            && origin
                .trim_end_matches('/')
                .splitn(4, '/')
                .nth(3)
                .is_none_or(str::is_empty)
            && origin
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || ":/.-".contains(c));
        if !ok {
            return Err(key_error(
                "server.widget_origins",
                &format!("`{origin}` is not an origin"),
                "list origins like \"https://www.client.example\" (scheme, host, optional port; no path)",
            ));
        }
    }
    let trusted_proxies = trusted_proxies(&settings.server.trusted_proxies)?;
    Ok(Config {
        settings,
        database_url,
        sla_calendar,
        trusted_proxies,
    })
}

fn validate_mail(mail: &super::MailSettings) -> Result<(), ConfigError> {
    if rapport_domain::EmailAddress::parse(mail.address.trim()).is_err() {
        return Err(key_error(
            "mail.address",
            &format!("`{}` is not an email address", mail.address),
            "set the support address, such as support@example.com",
        ));
    }
    let bind = mail.lmtp_bind.trim();
    if !bind.is_empty() && bind.parse::<std::net::SocketAddr>().is_err() {
        return Err(key_error(
            "mail.lmtp_bind",
            &format!("`{bind}` is not an address"),
            "use IP:PORT such as 127.0.0.1:2424, or \"\" for no listener",
        ));
    }
    if mail.transport == super::MailTransport::Smtp && mail.smtp_host.trim().is_empty() {
        return Err(key_error(
            "mail.smtp_host",
            "is empty while mail.transport = \"smtp\"",
            "name the SMTP relay, or set mail.transport = \"file\"",
        ));
    }
    if mail.unknown_senders == super::UnknownSenders::Prospect
        && mail.prospect_account.trim().is_empty()
    {
        return Err(key_error(
            "mail.prospect_account",
            "is empty",
            "name the account for unknown senders, or set mail.unknown_senders = \"quarantine\"",
        ));
    }
    in_range("mail.smtp_timeout_secs", mail.smtp_timeout_secs, 1, 600)?;
    in_range(
        "mail.max_message_bytes",
        mail.max_message_bytes as u64,
        1_024,
        1_073_741_824,
    )?;
    in_range(
        "mail.acknowledgments_per_hour",
        mail.acknowledgments_per_hour.into(),
        0,
        1_000,
    )?;
    in_range("mail.max_attempts", mail.max_attempts.into(), 1, 100)?;
    in_range("mail.retry_base_secs", mail.retry_base_secs, 1, 86_400)?;
    in_range("mail.poll_interval_ms", mail.poll_interval_ms, 10, 60_000)?;
    Ok(())
}

fn in_range(key: &'static str, value: u64, min: u64, max: u64) -> Result<(), ConfigError> {
    if (min..=max).contains(&value) {
        Ok(())
    } else {
        Err(key_error(
            key,
            &format!("is {value}"),
            &format!("expected a number from {min} to {max}"),
        ))
    }
}

/// Single sign-on needs a provider, a client and its secret; and roles
/// that may not use passwords need single sign-on.
fn oidc(auth: &rapport_app::config::AuthSettings) -> Result<(), ConfigError> {
    let o = &auth.oidc;
    let Some(issuer) = &o.issuer else {
        if !auth.password_disabled_roles.is_empty() {
            return Err(key_error(
                "auth.password_disabled_roles",
                "is set while single sign-on is off",
                "set auth.oidc.issuer, client_id and client_secret, or empty the list",
            ));
        }
        return Ok(());
    };
    if !(issuer.starts_with("https://") || issuer.starts_with("http://")) {
        return Err(key_error(
            "auth.oidc.issuer",
            &format!("`{issuer}` is not a URL"),
            "give the provider's issuer URL, e.g. https://login.example.com/realms/support",
        ));
    }
    if o.client_id.trim().is_empty() {
        return Err(key_error(
            "auth.oidc.client_id",
            "is empty",
            "give the client id the provider issued for Rapport",
        ));
    }
    if o.client_secret.is_none() {
        return Err(key_error(
            "auth.oidc.client_secret",
            "is not set",
            "give the client secret (e.g. in RAPPORT_AUTH__OIDC__CLIENT_SECRET)",
        ));
    }
    if o.create_unknown_staff && o.allowed_domains.is_empty() {
        return Err(key_error(
            "auth.oidc.allowed_domains",
            "is empty while create_unknown_staff is on: anyone the provider knows would become staff",
            "list your organisation's email domains, or turn create_unknown_staff off",
        ));
    }
    if rapport_domain::StaffRole::parse(&o.default_role).is_none() {
        return Err(key_error(
            "auth.oidc.default_role",
            &format!("`{}` is not a role", o.default_role),
            "use admin, agent or auditor",
        ));
    }
    Ok(())
}

fn key_error(key: &'static str, problem: &str, fix: &str) -> ConfigError {
    ConfigError::Key {
        key,
        problem: problem.to_owned(),
        fix: fix.to_owned(),
    }
}

/// Addresses become single-address ranges; anything else must be a range.
fn trusted_proxies(list: &[String]) -> Result<Vec<ipnet::IpNet>, ConfigError> {
    list.iter()
        .map(|entry| {
            let entry = entry.trim();
            entry
                .parse::<std::net::IpAddr>()
                .map(ipnet::IpNet::from)
                .or_else(|_| entry.parse::<ipnet::IpNet>())
                .map_err(|_| {
                    key_error(
                        "server.trusted_proxies",
                        &format!("`{entry}` is not an address or a CIDR range"),
                        "list proxies like \"10.0.0.5\" or \"10.0.0.0/8\"",
                    )
                })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use secrecy::SecretString;

    #[test]
    fn production_without_a_signing_secret_is_refused() {
        let mut settings = Settings {
            mode: Mode::Production,
            ..Settings::default()
        };
        settings.audit.signing_key = Some(SecretString::from("ab".repeat(32)));
        let msg = validate(settings).expect_err("must fail").to_string();
        assert!(msg.contains("`auth.jwt_secret`"), "{msg}");
        assert!(msg.contains("RAPPORT_AUTH__JWT_SECRET"), "{msg}");
    }

    #[test]
    fn short_secret_is_refused_without_echoing_it() {
        let mut settings = Settings::default();
        settings.auth.jwt_secret = Some(SecretString::from("hunter2"));
        let msg = validate(settings).expect_err("must fail").to_string();
        assert!(msg.contains("`auth.jwt_secret`"), "{msg}");
        assert!(!msg.contains("hunter2"), "{msg}");
    }

    #[test]
    fn database_defaults_to_a_file_in_the_data_dir() {
        let settings = Settings {
            data_dir: "/srv/rapport".into(),
            ..Settings::default()
        };
        let config = validate(settings).expect("valid");
        assert_eq!(
            config.database_url.redacted(),
            "sqlite:///srv/rapport/rapport.db"
        );
    }

    #[test]
    fn out_of_range_pool_size_names_the_key_and_the_range() {
        let mut settings = Settings::default();
        settings.database.pool_max_size = 0;
        let msg = validate(settings).expect_err("must fail").to_string();
        assert_eq!(
            msg,
            "invalid config: key `database.pool_max_size` is 0; expected a number from 1 to 1000"
        );
    }

    #[test]
    fn widget_origins_must_be_origins() {
        for bad in [
            "www.acme.example",
            "https://acme.example/path",
            "javascript:alert(1)",
        ] {
            let mut settings = Settings::default();
            settings.server.widget_origins = vec![bad.to_owned()];
            let msg = validate(settings).expect_err(bad).to_string();
            assert!(msg.contains("`server.widget_origins`"), "{msg}");
        }
        let mut settings = Settings::default();
        settings.server.widget_origins = vec![
            "https://www.acme.example".into(),
            "http://127.0.0.1:8081/".into(),
        ];
        assert!(validate(settings).is_ok());
    }

    #[test]
    fn unsupported_database_scheme_names_database_url() {
        let mut settings = Settings::default();
        settings.database.url = Some("mysql://root@localhost/rapport".into());
        let msg = validate(settings).expect_err("must fail").to_string();
        assert!(msg.contains("`database.url`"), "{msg}");
    }

    #[test]
    fn invalid_log_filter_names_log_level() {
        let mut settings = Settings::default();
        settings.log.level = "info,=[".into();
        let msg = validate(settings).expect_err("must fail").to_string();
        assert!(msg.contains("`log.level`"), "{msg}");
    }
}

#[cfg(test)]
mod audit_key_tests {
    use super::*;
    use secrecy::SecretString;

    #[test]
    fn production_without_an_audit_signing_key_is_refused() {
        let mut settings = Settings {
            mode: Mode::Production,
            ..Settings::default()
        };
        settings.auth.jwt_secret = Some(SecretString::from("x".repeat(40)));
        let msg = validate(settings).expect_err("must fail").to_string();
        assert!(msg.contains("`audit.signing_key`"), "{msg}");
        assert!(msg.contains("RAPPORT_AUDIT__SIGNING_KEY"), "{msg}");
    }

    #[test]
    fn malformed_audit_signing_key_is_refused_without_echoing_it() {
        let mut settings = Settings::default();
        settings.audit.signing_key = Some(SecretString::from("not-hex-secret-value"));
        let msg = validate(settings).expect_err("must fail").to_string();
        assert!(msg.contains("`audit.signing_key`"), "{msg}");
        assert!(!msg.contains("not-hex-secret-value"), "{msg}");
    }
}
