//! Ed25519 signing of export manifests. The installation keeps one
//! signing key; auditors verify with its public key, obtained out of band
//! (`GET /api/v1/audit/public-key`, `rapport audit public-key`).

use std::fmt;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use ed25519_dalek::{Signature, Signer, SigningKey, Verifier, VerifyingKey};
use sha2::{Digest, Sha256};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum KeyError {
    #[error("signing key seed must be 32 bytes as 64 hex characters")]
    Seed,
    #[error("public key must be 32 bytes, base64-encoded (optionally prefixed `ed25519:`)")]
    PublicKey,
    #[error("signature is not 64 bytes of base64")]
    SignatureEncoding,
}

/// The installation's audit signing key.
pub struct AuditSigner {
    key: SigningKey,
}

impl fmt::Debug for AuditSigner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "AuditSigner({})", self.public_key().key_id())
    }
}

impl AuditSigner {
    /// The key from its 32-byte seed, hex-encoded as stored on disk.
    pub fn from_seed_hex(seed: &str) -> Result<AuditSigner, KeyError> {
        let mut bytes = [0u8; 32];
        hex::decode_to_slice(seed.trim(), &mut bytes).map_err(|_| KeyError::Seed)?;
        Ok(AuditSigner {
            key: SigningKey::from_bytes(&bytes),
        })
    }

    pub fn public_key(&self) -> AuditPublicKey {
        AuditPublicKey(self.key.verifying_key())
    }

    /// Base64 of the Ed25519 signature of `message`.
    pub fn sign(&self, message: &[u8]) -> String {
        BASE64.encode(self.key.sign(message).to_bytes())
    }
}

/// The public half, which verifies exports.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct AuditPublicKey(VerifyingKey);

impl AuditPublicKey {
    /// Accepts the raw 32 bytes in base64, optionally prefixed `ed25519:`.
    pub fn parse(text: &str) -> Result<AuditPublicKey, KeyError> {
        let text = text.trim();
        let text = text.strip_prefix("ed25519:").unwrap_or(text);
        let bytes = BASE64.decode(text).map_err(|_| KeyError::PublicKey)?;
        let bytes: [u8; 32] = bytes.try_into().map_err(|_| KeyError::PublicKey)?;
        VerifyingKey::from_bytes(&bytes)
            .map(AuditPublicKey)
            .map_err(|_| KeyError::PublicKey)
    }

    /// Base64 of the raw 32-byte key.
    pub fn to_base64(&self) -> String {
        BASE64.encode(self.0.as_bytes())
    }

    /// `ed25519-` and the first 16 hex characters of the SHA-256 of the
    /// raw key: names the key in manifests without carrying it.
    pub fn key_id(&self) -> String {
        let digest = Sha256::digest(self.0.as_bytes());
        format!("ed25519-{}", &hex::encode(digest)[..16])
    }

    /// Whether `signature_b64` is this key's signature of `message`.
    pub fn verify(&self, message: &[u8], signature_b64: &str) -> Result<bool, KeyError> {
        let bytes = BASE64
            .decode(signature_b64)
            .map_err(|_| KeyError::SignatureEncoding)?;
        let bytes: [u8; 64] = bytes.try_into().map_err(|_| KeyError::SignatureEncoding)?;
        Ok(self
            .0
            .verify(message, &Signature::from_bytes(&bytes))
            .is_ok())
    }
}

impl fmt::Debug for AuditPublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "AuditPublicKey({})", self.key_id())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signature_verifies_with_the_matching_key_only() {
        let a = AuditSigner::from_seed_hex(&"01".repeat(32)).expect("seed");
        let b = AuditSigner::from_seed_hex(&"02".repeat(32)).expect("seed");
        let sig = a.sign(b"manifest");
        assert_eq!(a.public_key().verify(b"manifest", &sig), Ok(true));
        assert_eq!(a.public_key().verify(b"manifest!", &sig), Ok(false));
        assert_eq!(b.public_key().verify(b"manifest", &sig), Ok(false));
        assert_ne!(a.public_key().key_id(), b.public_key().key_id());
    }

    #[test]
    fn public_key_round_trips_through_base64() {
        let a = AuditSigner::from_seed_hex(&"07".repeat(32)).expect("seed");
        let text = a.public_key().to_base64();
        assert_eq!(AuditPublicKey::parse(&text), Ok(a.public_key()));
        assert_eq!(
            AuditPublicKey::parse(&format!("ed25519:{text}")),
            Ok(a.public_key())
        );
        assert!(AuditPublicKey::parse("AAAA").is_err());
    }
}
