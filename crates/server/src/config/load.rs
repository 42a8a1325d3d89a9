use std::path::{Path, PathBuf};

use figment::Figment;
use figment::error::Kind;
use figment::providers::{Env, Format, Serialized, Toml};
use serde::Serialize;

use super::{Config, Settings, validate};

/// Variables that are not settings: the config file path, which is read
/// before any settings, and the test harness's own variables.
const NOT_SETTINGS: &[&str] = &["config"];
const TEST_HARNESS_PREFIX: &str = "test_";

/// The three settings every deployment touches, also given as flags and
/// as `RAPPORT_DATABASE_URL`, `RAPPORT_BIND`, `RAPPORT_DATA_DIR`.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Overrides {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub data_dir: Option<PathBuf>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub database: Option<DatabaseOverride>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub server: Option<ServerOverride>,
}

#[derive(Debug, Clone, Serialize)]
pub struct DatabaseOverride {
    pub url: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct ServerOverride {
    pub bind: String,
}

/// Flags are a source of their own so that errors say "from command line".
impl figment::Provider for &Overrides {
    fn metadata(&self) -> figment::Metadata {
        figment::Metadata::named("command line")
    }

    fn data(
        &self,
    ) -> Result<figment::value::Map<figment::Profile, figment::value::Dict>, figment::Error> {
        Serialized::defaults(*self).data()
    }
}

impl Overrides {
    pub fn new(
        database_url: Option<String>,
        bind: Option<String>,
        data_dir: Option<PathBuf>,
    ) -> Self {
        Overrides {
            data_dir,
            database: database_url.map(|url| DatabaseOverride { url }),
            server: bind.map(|bind| ServerOverride { bind }),
        }
    }
}

/// Why the configuration cannot be used. Each message is one line that
/// names the key and says what is expected.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    #[error("config file {0} does not exist; pass an existing file to --config or RAPPORT_CONFIG")]
    FileMissing(String),
    #[error("invalid config: {0}")]
    Invalid(String),
    #[error("invalid config: key `{key}` {problem}; {fix}")]
    Key {
        key: &'static str,
        problem: String,
        fix: String,
    },
}

/// Loads and validates the configuration from every source.
pub fn load(file: Option<&Path>, overrides: &Overrides) -> Result<Config, ConfigError> {
    let mut figment = Figment::new();
    if let Some(path) = file {
        if !path.is_file() {
            return Err(ConfigError::FileMissing(path.display().to_string()));
        }
        figment = figment.merge(Toml::file_exact(path));
    }
    figment = figment.merge(environment()).merge(overrides);
    let settings: Settings = figment.extract().map_err(describe)?;
    validate(settings)
}

/// `RAPPORT_SECTION__KEY` becomes `section.key`. The three short forms
/// are read by the command-line parser, which also shows them in --help.
fn environment() -> Env {
    Env::prefixed("RAPPORT_")
        .filter(|key| {
            // Keys arrive as written in the environment (RAPPORT_BIND gives
            // "BIND"): compare without case.
            let key = key.as_str().to_ascii_lowercase();
            !NOT_SETTINGS.contains(&key.as_str())
                && !key.starts_with(TEST_HARNESS_PREFIX)
                && !["database_url", "bind", "data_dir"].contains(&key.as_str())
        })
        .split("__")
}

/// One line per problem, naming the key and where its value came from.
fn describe(error: figment::Error) -> ConfigError {
    let lines: Vec<String> = error.into_iter().map(|e| describe_one(&e)).collect();
    ConfigError::Invalid(lines.join("; "))
}

fn describe_one(e: &figment::Error) -> String {
    let mut path = e.path.clone();
    let problem = match &e.kind {
        Kind::UnknownField(field, expected) => {
            if path.last() != Some(field) {
                path.push(field.clone());
            }
            format!("is not a known key; keys here are: {}", expected.join(", "))
        }
        Kind::MissingField(field) => {
            if path.last().map(String::as_str) != Some(field.as_ref()) {
                path.push(field.to_string());
            }
            "is required".to_owned()
        }
        Kind::UnknownVariant(found, expected) => {
            format!(
                "has the value {found:?}; expected one of: {}",
                expected.join(", ")
            )
        }
        other => other.to_string(),
    };
    let key = if path.is_empty() {
        "(top level)".to_owned()
    } else {
        path.join(".")
    };
    let source = e.metadata.as_ref().map(|m| {
        let origin = m
            .source
            .as_ref()
            .map(|s| s.to_string())
            .unwrap_or_else(|| m.name.to_string());
        if m.name.contains("environment") {
            format!(" (from {})", env_var_name(&path))
        } else {
            format!(" (from {origin})")
        }
    });
    format!("key `{key}`{} {problem}", source.unwrap_or_default())
}

fn env_var_name(path: &[String]) -> String {
    format!("RAPPORT_{}", path.join("__").to_uppercase())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load_toml(toml: &str) -> Result<Config, ConfigError> {
        let settings: Settings = Figment::new()
            .merge(Toml::string(toml))
            .extract()
            .map_err(describe)?;
        validate(settings)
    }

    #[test]
    fn wrong_type_names_the_key_and_the_expected_type() {
        let err = load_toml("[database]\npool_max_size = \"ten\"").expect_err("must fail");
        let msg = err.to_string();
        assert!(msg.contains("`database.pool_max_size`"), "{msg}");
        assert!(msg.contains("u32"), "{msg}");
    }

    #[test]
    fn misspelled_key_is_refused_with_the_valid_keys_listed() {
        let msg = load_toml("[database]\nurll = \"sqlite://x.db\"")
            .expect_err("must fail")
            .to_string();
        assert!(msg.contains("`database.urll`"), "{msg}");
        assert!(msg.contains("is not a known key"), "{msg}");
        assert!(msg.contains("url, pool_max_size"), "{msg}");
    }

    #[test]
    fn unknown_enum_value_lists_the_choices() {
        let msg = load_toml("[log]\nformat = \"xml\"")
            .expect_err("must fail")
            .to_string();
        assert!(msg.contains("`log.format`"), "{msg}");
        assert!(msg.contains("text, json"), "{msg}");
    }

    #[test]
    fn bad_bind_address_names_server_bind() {
        let msg = load_toml("[server]\nbind = \"localhost\"")
            .expect_err("must fail")
            .to_string();
        assert!(msg.contains("`server.bind`"), "{msg}");
    }

    #[test]
    fn command_line_overrides_win_over_files() {
        let figment = Figment::new()
            .merge(Toml::string("data_dir = \"/from/file\""))
            .merge(&Overrides::new(
                None,
                Some("127.0.0.1:9999".to_owned()),
                Some(PathBuf::from("/from/flag")),
            ));
        let settings: Settings = figment.extract().expect("valid");
        assert_eq!(settings.data_dir, PathBuf::from("/from/flag"));
        assert_eq!(settings.server.bind.port(), 9999);
    }
}

#[cfg(test)]
mod default_file {
    use super::*;

    /// The checked-in file documents the defaults; it must not drift from
    /// the struct defaults the binary actually uses.
    #[test]
    fn checked_in_defaults_match_the_built_in_defaults() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../config/default.toml");
        let from_file: Settings = Figment::new()
            .merge(Toml::file_exact(&path))
            .extract()
            .expect("config/default.toml is valid");
        let built_in = Settings::default();
        assert_eq!(format!("{from_file:?}"), format!("{built_in:?}"));
    }

    #[test]
    fn every_key_of_the_defaults_file_is_documented_by_a_comment() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../config/default.toml");
        let text = std::fs::read_to_string(path).expect("readable");
        let lines: Vec<&str> = text.lines().collect();
        for (i, line) in lines.iter().enumerate() {
            let is_key = line.contains(" = ") && !line.starts_with('#');
            if is_key {
                assert!(
                    i > 0 && lines[i - 1].starts_with('#'),
                    "key on line {} has no comment above it: {line}",
                    i + 1
                );
            }
        }
    }
}
