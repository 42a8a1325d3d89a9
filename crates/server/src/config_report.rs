//! `rapport check-config`: the effective settings as TOML, every section,
//! secrets hidden, derived values resolved, so an operator sees exactly
//! what the server will use.

use crate::config::Config;

pub fn render(config: &Config) -> Result<String, String> {
    let s = &config.settings;
    let mut root =
        toml::Table::try_from(s).map_err(|e| format!("cannot show the settings: {e}"))?;
    let secrets = crate::secrets::secrets_dir(&s.data_dir);
    let hidden = |set: bool, file: &str| {
        toml::Value::String(if set {
            "(set, hidden)".to_owned()
        } else {
            format!("(generated in {})", secrets.join(file).display())
        })
    };
    let jwt_set = s
        .auth
        .jwt_secret
        .as_ref()
        .is_some_and(|k| !secrecy::ExposeSecret::expose_secret(k).is_empty());
    set(&mut root, "auth", "jwt_secret", hidden(jwt_set, "jwt.key"));
    set(
        &mut root,
        "audit",
        "signing_key",
        hidden(
            s.audit.signing_key.is_some(),
            crate::secrets::AUDIT_KEY_FILE,
        ),
    );
    if s.mail.smtp_password.is_some() {
        set(
            &mut root,
            "mail",
            "smtp_password",
            toml::Value::String("(set, hidden)".into()),
        );
    }
    set(
        &mut root,
        "database",
        "url",
        toml::Value::String(config.database_url.redacted()),
    );
    let public_url = config.public_url(s.server.bind);
    set(
        &mut root,
        "server",
        "public_url",
        toml::Value::String(public_url.clone()),
    );
    let mut out = String::from("# configuration is valid\n");
    if s.server.public_url.trim().is_empty() {
        out.push_str(&format!(
            "# links in mail point to {public_url} (server.public_url is not set: it follows server.bind)\n"
        ));
    } else {
        out.push_str(&format!("# links in mail point to {public_url}\n"));
    }
    out.push_str(&root.to_string());
    Ok(out)
}

fn set(root: &mut toml::Table, section: &str, key: &str, value: toml::Value) {
    if let Some(toml::Value::Table(t)) = root.get_mut(section) {
        t.insert(key.to_owned(), value);
    }
}
