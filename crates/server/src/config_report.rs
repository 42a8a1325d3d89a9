//! `rapport check-config`: the effective settings as TOML, secrets hidden,
//! so an operator sees exactly what the server will use.

use secrecy::ExposeSecret;

use crate::config::{Config, LogFormat, Mode};

pub fn render(config: &Config) -> String {
    let s = &config.settings;
    let mut root = toml::Table::new();
    root.insert(
        "mode".into(),
        str_value(match s.mode {
            Mode::Embedded => "embedded",
            Mode::Production => "production",
        }),
    );
    root.insert(
        "data_dir".into(),
        str_value(&s.data_dir.display().to_string()),
    );
    let mut instance = toml::Table::new();
    instance.insert("name".into(), str_value(&s.instance.name));
    root.insert("instance".into(), instance.into());

    let mut server = toml::Table::new();
    server.insert("bind".into(), str_value(&s.server.bind.to_string()));
    server.insert("workers".into(), int_value(s.server.workers as u64));
    server.insert(
        "shutdown_timeout_secs".into(),
        int_value(s.server.shutdown_timeout_secs),
    );
    server.insert(
        "max_json_body_bytes".into(),
        int_value(s.server.max_json_body_bytes as u64),
    );
    server.insert("public_url".into(), str_value(&s.server.public_url));
    root.insert("server".into(), server.into());

    let mut database = toml::Table::new();
    database.insert("url".into(), str_value(&config.database_url.redacted()));
    database.insert(
        "pool_max_size".into(),
        int_value(s.database.pool_max_size.into()),
    );
    database.insert(
        "acquire_timeout_secs".into(),
        int_value(s.database.acquire_timeout_secs),
    );
    database.insert(
        "migrate_on_start".into(),
        toml::Value::Boolean(s.database.migrate_on_start),
    );
    database.insert(
        "sqlite_busy_timeout_ms".into(),
        int_value(s.database.sqlite_busy_timeout_ms.into()),
    );
    root.insert("database".into(), database.into());

    let mut log = toml::Table::new();
    log.insert(
        "format".into(),
        str_value(match s.log.format {
            LogFormat::Text => "text",
            LogFormat::Json => "json",
        }),
    );
    log.insert("level".into(), str_value(&s.log.level));
    root.insert("log".into(), log.into());

    let mut auth = toml::Table::new();
    let jwt = match &s.auth.jwt_secret {
        Some(secret) if !secret.expose_secret().is_empty() => "(set, hidden)".to_owned(),
        _ => format!(
            "(generated in {})",
            crate::secrets::secrets_dir(&s.data_dir)
                .join("jwt.key")
                .display()
        ),
    };
    auth.insert("jwt_secret".into(), str_value(&jwt));
    auth.insert("issuer".into(), str_value(&s.auth.issuer));
    auth.insert(
        "access_token_minutes".into(),
        int_value(s.auth.access_token_minutes.into()),
    );
    auth.insert(
        "refresh_token_days".into(),
        int_value(s.auth.refresh_token_days.into()),
    );
    auth.insert(
        "login_free_attempts".into(),
        int_value(s.auth.login_free_attempts.into()),
    );
    auth.insert(
        "login_max_delay_secs".into(),
        int_value(s.auth.login_max_delay_secs),
    );
    root.insert("auth".into(), auth.into());

    let mut audit = toml::Table::new();
    let signing = match &s.audit.signing_key {
        Some(_) => "(set, hidden)".to_owned(),
        None => format!(
            "(generated in {})",
            crate::secrets::secrets_dir(&s.data_dir)
                .join(crate::secrets::AUDIT_KEY_FILE)
                .display()
        ),
    };
    audit.insert("signing_key".into(), str_value(&signing));
    root.insert("audit".into(), audit.into());

    let mut accounts = toml::Table::new();
    accounts.insert(
        "tiers".into(),
        toml::Value::Array(s.accounts.tiers.iter().map(|t| str_value(t)).collect()),
    );
    accounts.insert("default_tier".into(), str_value(&s.accounts.default_tier));
    accounts.insert(
        "agents_see_all".into(),
        toml::Value::Boolean(s.accounts.agents_see_all),
    );
    accounts.insert(
        "custom_fields_max_bytes".into(),
        int_value(s.accounts.custom_fields_max_bytes as u64),
    );
    root.insert("accounts".into(), accounts.into());

    let mut cases = toml::Table::new();
    cases.insert(
        "categories".into(),
        toml::Value::Array(s.cases.categories.iter().map(|c| str_value(c)).collect()),
    );
    cases.insert("triage_team".into(), str_value(&s.cases.triage_team));
    cases.insert(
        "reopen_closed_within_days".into(),
        int_value(s.cases.reopen_closed_within_days.into()),
    );
    cases.insert(
        "max_attachment_bytes".into(),
        int_value(s.cases.max_attachment_bytes),
    );
    cases.insert(
        "max_attachments_per_entry".into(),
        int_value(s.cases.max_attachments_per_entry as u64),
    );
    root.insert("cases".into(), cases.into());

    format!("# configuration is valid\n{root}")
}

fn str_value(s: &str) -> toml::Value {
    toml::Value::String(s.to_owned())
}

fn int_value(n: u64) -> toml::Value {
    toml::Value::Integer(i64::try_from(n).unwrap_or(i64::MAX))
}
