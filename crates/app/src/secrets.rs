//! Secrets the embedded default generates for itself: random, written once
//! under `<data_dir>/secrets/` readable by the owner only, and reused on
//! every later start so tokens stay valid across restarts.

use std::fs::{self, OpenOptions};
use std::io::{ErrorKind, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use std::sync::Arc;

use rapport_audit::{AuditPublicKey, AuditSigner};
use secrecy::{ExposeSecret, SecretString};

use crate::config::Config;

/// Random bytes of the generated token-signing secret.
const JWT_SECRET_BYTES: usize = 64;
/// An Ed25519 seed is 32 bytes.
const AUDIT_SEED_BYTES: usize = 32;
pub const AUDIT_KEY_FILE: &str = "audit-signing.key";

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SecretError {
    #[error("cannot write the generated secret {path}: {source}")]
    Write {
        path: String,
        source: std::io::Error,
    },
    #[error("cannot read the secret file {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error(
        "secret file {path} is readable by other users (mode {mode:o}); run `chmod 600 {path}`"
    )]
    TooOpen { path: String, mode: u32 },
    #[error(
        "secret file {path} is corrupt (expected {expected} hex characters); delete it to generate a new one"
    )]
    Corrupt { path: String, expected: usize },
    #[error("the operating system gave no random bytes: {0}")]
    Random(String),
}

/// The secrets the server runs with. `Debug` never shows them.
#[derive(Clone)]
pub struct Secrets {
    pub jwt: SecretString,
    /// Signs audit export manifests.
    pub audit: Arc<AuditSigner>,
}

impl std::fmt::Debug for Secrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secrets { .. }")
    }
}

impl Secrets {
    /// The key that seals a small secret of `owner` at rest, derived from
    /// the signing secret for one `purpose`: a database copy alone reveals
    /// none of them.
    fn seal_key(&self, purpose: &str, owner: &str) -> [u8; 32] {
        use hmac::{Hmac, Mac};
        let mut mac =
            <Hmac<sha2::Sha256> as Mac>::new_from_slice(self.jwt.expose_secret().as_bytes())
                .expect("HMAC takes keys of any length");
        mac.update(format!("rapport {purpose} seal v1:").as_bytes());
        mac.update(owner.as_bytes());
        mac.finalize().into_bytes().into()
    }

    /// Seals a secret (a TOTP secret, a webhook signing key, an identity
    /// provider's client secret, up to 1 KiB) for storage. A fresh nonce
    /// per sealing, so the same owner's next secret never reuses a key
    /// stream: `v2:` and hex of the nonce and the secret XOR an HMAC-SHA256
    /// stream of the nonce. `None` when the secret is longer.
    pub fn seal(&self, purpose: &str, owner: &str, secret: &[u8]) -> Option<String> {
        if secret.len() > 1024 {
            return None;
        }
        let mut nonce = [0u8; 16];
        getrandom::fill(&mut nonce).ok()?;
        let stream = self.key_stream(purpose, owner, &nonce, secret.len());
        let mut out = nonce.to_vec();
        out.extend(secret.iter().zip(stream).map(|(s, k)| s ^ k));
        let tag = self.seal_tag(purpose, owner, &out);
        out.extend_from_slice(&tag);
        Some(format!("v2:{}", hex::encode(out)))
    }

    /// 16 bytes of HMAC over the nonce and sealed bytes: what was sealed for
    /// another owner or altered opens as nothing, never as garbage.
    fn seal_tag(&self, purpose: &str, owner: &str, sealed: &[u8]) -> [u8; 16] {
        use hmac::{Hmac, Mac};
        let key = self.seal_key(purpose, owner);
        let mut mac =
            <Hmac<sha2::Sha256> as Mac>::new_from_slice(&key).expect("HMAC takes any key");
        mac.update(b"tag");
        mac.update(sealed);
        let full = mac.finalize().into_bytes();
        let mut tag = [0u8; 16];
        tag.copy_from_slice(&full[..16]);
        tag
    }

    /// What [`Secrets::seal`] sealed; `None` when `sealed` is not one.
    /// Values sealed before nonces (32 bytes at most, no prefix) still open.
    pub fn unseal(&self, purpose: &str, owner: &str, sealed: &str) -> Option<Vec<u8>> {
        if let Some(v2) = sealed.strip_prefix("v2:") {
            let bytes = hex::decode(v2).ok()?;
            let (sealed_part, tag) = bytes.split_at_checked(bytes.len().checked_sub(16)?)?;
            let expected = self.seal_tag(purpose, owner, sealed_part);
            // Compared in constant time: the tag guards a secret.
            let same = expected
                .iter()
                .zip(tag)
                .fold(0u8, |acc, (a, b)| acc | (a ^ b))
                == 0;
            if !same {
                return None;
            }
            let (nonce, body) = sealed_part.split_at_checked(16)?;
            let stream = self.key_stream(purpose, owner, nonce, body.len());
            return Some(body.iter().zip(stream).map(|(s, k)| s ^ k).collect());
        }
        let bytes = hex::decode(sealed).ok()?;
        let key = self.seal_key(purpose, owner);
        (bytes.len() <= key.len()).then(|| bytes.iter().zip(key).map(|(s, k)| s ^ k).collect())
    }

    /// `len` bytes of HMAC-SHA256(seal key, nonce ‖ block counter).
    fn key_stream(&self, purpose: &str, owner: &str, nonce: &[u8], len: usize) -> Vec<u8> {
        use hmac::{Hmac, Mac};
        let key = self.seal_key(purpose, owner);
        let mut stream = Vec::with_capacity(len + 32);
        let mut block: u32 = 0;
        while stream.len() < len {
            let mut mac =
                <Hmac<sha2::Sha256> as Mac>::new_from_slice(&key).expect("HMAC takes any key");
            mac.update(nonce);
            mac.update(&block.to_be_bytes());
            stream.extend_from_slice(&mac.finalize().into_bytes());
            block += 1;
        }
        stream.truncate(len);
        stream
    }

    /// Takes each secret from the config, or in embedded mode from (or
    /// into) the data directory. Production without a configured secret
    /// was already refused by config validation.
    pub fn resolve(config: &Config) -> Result<Secrets, SecretError> {
        let settings = &config.settings;
        let dir = secrets_dir(&settings.data_dir);
        let jwt = match &settings.auth.jwt_secret {
            Some(secret) => secret.clone(),
            None => load_or_generate(&dir, "jwt.key", JWT_SECRET_BYTES)?,
        };
        let seed = match &settings.audit.signing_key {
            Some(seed) => seed.clone(),
            None => load_or_generate(&dir, AUDIT_KEY_FILE, AUDIT_SEED_BYTES)?,
        };
        let audit =
            AuditSigner::from_seed_hex(seed.expose_secret()).map_err(|_| SecretError::Corrupt {
                path: "audit.signing_key".to_owned(),
                expected: AUDIT_SEED_BYTES * 2,
            })?;
        Ok(Secrets {
            jwt,
            audit: Arc::new(audit),
        })
    }

    /// The audit public key of this installation without creating anything:
    /// for verifying, a missing key must not be replaced by a new one.
    pub fn existing_audit_public_key(
        config: &Config,
    ) -> Result<Option<AuditPublicKey>, SecretError> {
        let seed = match &config.settings.audit.signing_key {
            Some(seed) => seed.clone(),
            None => {
                let path = secrets_dir(&config.settings.data_dir).join(AUDIT_KEY_FILE);
                if !path.exists() {
                    return Ok(None);
                }
                read_existing(&path, AUDIT_SEED_BYTES)?
            }
        };
        AuditSigner::from_seed_hex(seed.expose_secret())
            .map(|signer| Some(signer.public_key()))
            .map_err(|_| SecretError::Corrupt {
                path: "audit.signing_key".to_owned(),
                expected: AUDIT_SEED_BYTES * 2,
            })
    }
}

pub fn secrets_dir(data_dir: &Path) -> PathBuf {
    data_dir.join("secrets")
}

/// Reads `dir/name`, or creates it with fresh random content. Two
/// processes starting at once agree on one value: only one `create_new`
/// succeeds and the other reads what it wrote.
pub fn load_or_generate(dir: &Path, name: &str, bytes: usize) -> Result<SecretString, SecretError> {
    let path = dir.join(name);
    let display = path.display().to_string();
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(|source| SecretError::Write {
            path: dir.display().to_string(),
            source,
        })?;
    let mut random = vec![0u8; bytes];
    getrandom::fill(&mut random).map_err(|e| SecretError::Random(e.to_string()))?;
    let generated = hex::encode(random);
    match OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&path)
    {
        Ok(mut file) => {
            let written = file
                .write_all(generated.as_bytes())
                .and_then(|()| file.sync_all());
            if let Err(source) = written {
                // A half-written secret must not be picked up next start.
                let _ = fs::remove_file(&path);
                return Err(SecretError::Write {
                    path: display,
                    source,
                });
            }
            tracing::info!(path = %path.display(), "generated a new secret");
            Ok(SecretString::from(generated))
        }
        Err(e) if e.kind() == ErrorKind::AlreadyExists => read_existing(&path, bytes),
        Err(source) => Err(SecretError::Write {
            path: display,
            source,
        }),
    }
}

fn read_existing(path: &Path, bytes: usize) -> Result<SecretString, SecretError> {
    let display = path.display().to_string();
    let read_error = |source| SecretError::Read {
        path: display.clone(),
        source,
    };
    let mode = fs::metadata(path).map_err(read_error)?.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        return Err(SecretError::TooOpen {
            path: display,
            mode,
        });
    }
    let text = fs::read_to_string(path).map_err(read_error)?;
    let text = text.trim();
    let expected = bytes * 2;
    if text.len() != expected || !text.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(SecretError::Corrupt {
            path: display,
            expected,
        });
    }
    Ok(SecretString::from(text.to_owned()))
}

/// A fingerprint of the secrets nodes must share (the token signing
/// secret and the audit public key), safe to store: it reveals neither.
pub fn fingerprint(jwt_secret: &[u8], audit_public_key: &str) -> String {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    h.update(b"rapport shared secrets v1\0");
    h.update(Sha256::digest(jwt_secret));
    h.update(audit_public_key.as_bytes());
    hex::encode(h.finalize())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secrets() -> Secrets {
        Secrets {
            jwt: SecretString::from("k".repeat(64)),
            audit: Arc::new(AuditSigner::from_seed_hex(&"01".repeat(32)).expect("seed")),
        }
    }

    #[test]
    fn a_sealed_secret_of_any_size_opens_only_for_its_purpose_and_owner() {
        let s = secrets();
        let long = b"a client secret longer than thirty-two bytes, as providers issue them";
        let sealed = s.seal("sso", "account-1", long).expect("sealed");
        assert!(sealed.starts_with("v2:"));
        assert!(!sealed.contains("client"), "nothing readable is left");
        assert_eq!(
            s.unseal("sso", "account-1", &sealed).as_deref(),
            Some(&long[..])
        );
        assert_ne!(
            s.unseal("sso", "account-2", &sealed).as_deref(),
            Some(&long[..])
        );
        assert_ne!(
            s.unseal("totp", "account-1", &sealed).as_deref(),
            Some(&long[..])
        );
        // The same secret sealed twice looks different: no key stream is reused.
        assert_ne!(s.seal("sso", "account-1", long), Some(sealed));
        assert!(s.seal("sso", "x", &[0u8; 1025]).is_none());
    }

    #[test]
    fn a_secret_sealed_before_nonces_still_opens() {
        let s = secrets();
        let key = s.seal_key("webhook", "endpoint-1");
        let legacy = hex::encode(
            b"whsec-key"
                .iter()
                .zip(key)
                .map(|(a, k)| a ^ k)
                .collect::<Vec<u8>>(),
        );
        assert_eq!(
            s.unseal("webhook", "endpoint-1", &legacy).as_deref(),
            Some(&b"whsec-key"[..])
        );
    }

    #[test]
    fn generated_secret_is_private_and_stable() {
        let dir = tempfile::tempdir().expect("tempdir");
        let first = load_or_generate(dir.path(), "jwt.key", 64).expect("generate");
        let second = load_or_generate(dir.path(), "jwt.key", 64).expect("reload");
        assert_eq!(first.expose_secret(), second.expose_secret());
        assert_eq!(first.expose_secret().len(), 128);
        let mode = fs::metadata(dir.path().join("jwt.key"))
            .expect("exists")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }

    #[test]
    fn secret_readable_by_others_is_refused() {
        let dir = tempfile::tempdir().expect("tempdir");
        load_or_generate(dir.path(), "jwt.key", 64).expect("generate");
        let path = dir.path().join("jwt.key");
        fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).expect("chmod");
        let err = load_or_generate(dir.path(), "jwt.key", 64).expect_err("must refuse");
        assert!(err.to_string().contains("chmod 600"), "{err}");
    }

    #[test]
    fn truncated_secret_is_reported_as_corrupt() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("jwt.key");
        fs::write(&path, "abc").expect("write");
        fs::set_permissions(&path, fs::Permissions::from_mode(0o600)).expect("chmod");
        let err = load_or_generate(dir.path(), "jwt.key", 64).expect_err("must refuse");
        assert!(matches!(err, SecretError::Corrupt { .. }), "{err}");
    }
}
