use std::fmt;
use std::path::{Path, PathBuf};

/// Which database engine a URL selects.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    pub fn as_str(self) -> &'static str {
        match self {
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgres",
        }
    }
}

impl fmt::Display for Backend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A database URL whose scheme has been checked. The scheme alone decides
/// the backend: diesel's own `MultiConnection::establish` would try each
/// backend in turn and hide the real connection error.
#[derive(Clone, PartialEq, Eq)]
pub enum DatabaseUrl {
    /// `sqlite://relative/path.db` or `sqlite:///absolute/path.db`.
    Sqlite { path: PathBuf },
    /// `postgres://` or `postgresql://`, passed to libpq unchanged.
    Postgres { url: String },
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum DatabaseUrlError {
    #[error("the URL is empty; expected sqlite://PATH or postgres://USER@HOST/DB")]
    Empty,
    #[error("unsupported scheme in {0:?}; expected sqlite://PATH or postgres://USER@HOST/DB")]
    UnsupportedScheme(String),
    #[error("sqlite:// URL has no file path; expected e.g. sqlite://data/rapport.db")]
    MissingSqlitePath,
}

impl DatabaseUrl {
    pub fn parse(raw: &str) -> Result<Self, DatabaseUrlError> {
        let raw = raw.trim();
        if raw.is_empty() {
            return Err(DatabaseUrlError::Empty);
        }
        if let Some(path) = raw.strip_prefix("sqlite://") {
            if path.is_empty() {
                return Err(DatabaseUrlError::MissingSqlitePath);
            }
            return Ok(DatabaseUrl::Sqlite {
                path: PathBuf::from(path),
            });
        }
        if raw.starts_with("postgres://") || raw.starts_with("postgresql://") {
            return Ok(DatabaseUrl::Postgres {
                url: raw.to_owned(),
            });
        }
        Err(DatabaseUrlError::UnsupportedScheme(redact(raw)))
    }

    /// The URL for an SQLite file at `path`.
    pub fn sqlite_file(path: &Path) -> Self {
        DatabaseUrl::Sqlite {
            path: path.to_owned(),
        }
    }

    pub fn backend(&self) -> Backend {
        match self {
            DatabaseUrl::Sqlite { .. } => Backend::Sqlite,
            DatabaseUrl::Postgres { .. } => Backend::Postgres,
        }
    }

    /// The URL with any password replaced, safe for logs and errors.
    pub fn redacted(&self) -> String {
        match self {
            DatabaseUrl::Sqlite { path } => format!("sqlite://{}", path.display()),
            DatabaseUrl::Postgres { url } => redact(url),
        }
    }
}

impl fmt::Debug for DatabaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.redacted())
    }
}

impl fmt::Display for DatabaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.redacted())
    }
}

/// Hides the password of `scheme://user:password@host/...` and any
/// `password=` query parameter.
fn redact(url: &str) -> String {
    let mut out = match url.split_once("://") {
        Some((scheme, rest)) => {
            let (authority, tail) = match rest.find('/') {
                Some(i) => rest.split_at(i),
                None => (rest, ""),
            };
            match authority.rsplit_once('@') {
                Some((userinfo, host)) => {
                    let user = userinfo.split_once(':').map_or(userinfo, |(user, _)| user);
                    if userinfo.contains(':') {
                        format!("{scheme}://{user}:***@{host}{tail}")
                    } else {
                        url.to_owned()
                    }
                }
                None => url.to_owned(),
            }
        }
        None => url.to_owned(),
    };
    if let Some(start) = out.find("password=") {
        let value_start = start + "password=".len();
        let value_end = out[value_start..]
            .find('&')
            .map_or(out.len(), |i| value_start + i);
        out.replace_range(value_start..value_end, "***");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scheme_picks_the_backend() {
        assert_eq!(
            DatabaseUrl::parse("sqlite://data/rapport.db").map(|u| u.backend()),
            Ok(Backend::Sqlite)
        );
        assert_eq!(
            DatabaseUrl::parse("postgresql://postgres@127.0.0.1/x").map(|u| u.backend()),
            Ok(Backend::Postgres)
        );
    }

    #[test]
    fn absolute_sqlite_path_keeps_its_root() {
        let url = DatabaseUrl::parse("sqlite:///var/lib/rapport/rapport.db");
        assert_eq!(
            url,
            Ok(DatabaseUrl::Sqlite {
                path: PathBuf::from("/var/lib/rapport/rapport.db")
            })
        );
    }

    #[test]
    fn unknown_scheme_and_empty_path_are_refused() {
        assert!(matches!(
            DatabaseUrl::parse("mysql://root@localhost/db"),
            Err(DatabaseUrlError::UnsupportedScheme(_))
        ));
        assert_eq!(
            DatabaseUrl::parse("sqlite://"),
            Err(DatabaseUrlError::MissingSqlitePath)
        );
        assert_eq!(DatabaseUrl::parse("  "), Err(DatabaseUrlError::Empty));
    }

    #[test]
    fn passwords_never_reach_the_redacted_form() {
        let url = DatabaseUrl::parse("postgres://rapport:s3cret@db:5432/rapport?sslmode=require")
            .expect("valid url");
        assert_eq!(
            url.redacted(),
            "postgres://rapport:***@db:5432/rapport?sslmode=require"
        );
        let url = DatabaseUrl::parse("postgres://db/rapport?user=r&password=s3cret&sslmode=x")
            .expect("valid url");
        assert_eq!(
            url.redacted(),
            "postgres://db/rapport?user=r&password=***&sslmode=x"
        );
        assert!(!format!("{url:?}").contains("s3cret"));
    }
}
