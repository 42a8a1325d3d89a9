//! Access tokens (JWT, HS256 only) and opaque refresh tokens.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::Utc;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation, errors::ErrorKind};
use rapport_domain::{StaffId, StaffRole};
use secrecy::ExposeSecret;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::config::AuthSettings;

/// The audience every Rapport access token names.
pub const AUDIENCE: &str = "rapport-api";

/// What an access token asserts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    pub iss: String,
    pub aud: String,
    /// The staff id.
    pub sub: String,
    pub role: StaffRole,
    pub iat: i64,
    pub exp: i64,
    /// Set while the password is a one-time password: only changing it is allowed.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub pcr: bool,
}

/// Why a presented token was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    #[error("the access token has expired; refresh it")]
    Expired,
    #[error("the access token is invalid")]
    Invalid,
}

/// Keys and rules for access tokens. Built once at startup.
pub struct TokenKeys {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
    issuer: String,
    lifetime_secs: i64,
}

impl std::fmt::Debug for TokenKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TokenKeys { .. }")
    }
}

impl TokenKeys {
    pub fn new(secret: &secrecy::SecretString, settings: &AuthSettings) -> TokenKeys {
        let bytes = secret.expose_secret().as_bytes();
        // Only HS256: a token claiming any other algorithm (`none`, RS256
        // with our secret as a "public key"...) is refused before its
        // signature is looked at.
        let mut validation = Validation::new(Algorithm::HS256);
        validation.set_issuer(&[settings.issuer.as_str()]);
        validation.set_audience(&[AUDIENCE]);
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        validation.leeway = 5;
        TokenKeys {
            encoding: EncodingKey::from_secret(bytes),
            decoding: DecodingKey::from_secret(bytes),
            validation,
            issuer: settings.issuer.clone(),
            lifetime_secs: i64::from(settings.access_token_minutes) * 60,
        }
    }

    pub fn lifetime_secs(&self) -> i64 {
        self.lifetime_secs
    }

    /// A signed access token for a staff member.
    pub fn issue(
        &self,
        id: StaffId,
        role: StaffRole,
        password_change_required: bool,
    ) -> Result<String, TokenError> {
        let now = Utc::now().timestamp();
        let claims = Claims {
            iss: self.issuer.clone(),
            aud: AUDIENCE.to_owned(),
            sub: id.to_string(),
            role,
            iat: now,
            exp: now + self.lifetime_secs,
            pcr: password_change_required,
        };
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)
            .map_err(|_| TokenError::Invalid)
    }

    /// The claims of a valid token.
    pub fn verify(&self, token: &str) -> Result<Claims, TokenError> {
        jsonwebtoken::decode::<Claims>(token, &self.decoding, &self.validation)
            .map(|data| data.claims)
            .map_err(|e| match e.kind() {
                ErrorKind::ExpiredSignature => TokenError::Expired,
                _ => TokenError::Invalid,
            })
    }
}

/// A new opaque refresh token: 32 random bytes, URL-safe base64.
pub fn new_refresh_token() -> Result<String, getrandom::Error> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes)?;
    Ok(URL_SAFE_NO_PAD.encode(bytes))
}

/// What the database keeps of a refresh token.
pub fn refresh_token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use secrecy::SecretString;

    fn keys(secret: &str) -> TokenKeys {
        TokenKeys::new(
            &SecretString::from(secret.to_owned()),
            &AuthSettings::default(),
        )
    }

    const SECRET: &str = "0123456789abcdef0123456789abcdef";

    #[test]
    fn issued_tokens_verify_with_their_claims() {
        let k = keys(SECRET);
        let id = StaffId::new();
        let claims = k
            .verify(&k.issue(id, StaffRole::Auditor, false).expect("issue"))
            .expect("valid");
        assert_eq!(claims.sub, id.to_string());
        assert_eq!(claims.role, StaffRole::Auditor);
        assert_eq!(claims.exp - claims.iat, 15 * 60);
    }

    #[test]
    fn another_secret_or_a_tampered_payload_is_refused() {
        let token = keys(SECRET)
            .issue(StaffId::new(), StaffRole::Agent, false)
            .expect("issue");
        assert_eq!(
            keys(&"x".repeat(32)).verify(&token),
            Err(TokenError::Invalid)
        );
        let parts: Vec<&str> = token.split('.').collect();
        let payload =
            String::from_utf8(URL_SAFE_NO_PAD.decode(parts[1]).expect("b64")).expect("utf8");
        let forged = URL_SAFE_NO_PAD.encode(payload.replace("\"agent\"", "\"admin\""));
        let tampered = format!("{}.{}.{}", parts[0], forged, parts[2]);
        assert_eq!(keys(SECRET).verify(&tampered), Err(TokenError::Invalid));
    }

    #[test]
    fn alg_none_and_other_algorithms_are_refused() {
        let k = keys(SECRET);
        let token = k
            .issue(StaffId::new(), StaffRole::Admin, false)
            .expect("issue");
        let payload = token.split('.').nth(1).expect("payload");
        for alg in ["none", "HS512", "RS256"] {
            let header = URL_SAFE_NO_PAD.encode(format!("{{\"alg\":\"{alg}\",\"typ\":\"JWT\"}}"));
            for signature in ["", token.split('.').nth(2).expect("sig")] {
                let forged = format!("{header}.{payload}.{signature}");
                assert_eq!(
                    k.verify(&forged),
                    Err(TokenError::Invalid),
                    "alg {alg} accepted"
                );
            }
        }
    }

    #[test]
    fn expired_tokens_are_reported_as_expired() {
        let k = keys(SECRET);
        let now = Utc::now().timestamp();
        let claims = Claims {
            iss: "rapport".into(),
            aud: AUDIENCE.into(),
            sub: StaffId::new().to_string(),
            role: StaffRole::Admin,
            iat: now - 3_600,
            exp: now - 60,
            pcr: false,
        };
        let token = jsonwebtoken::encode(
            &Header::new(Algorithm::HS256),
            &claims,
            &EncodingKey::from_secret(SECRET.as_bytes()),
        )
        .expect("encode");
        assert_eq!(k.verify(&token), Err(TokenError::Expired));
    }

    #[test]
    fn wrong_issuer_or_audience_is_refused() {
        let k = keys(SECRET);
        let now = Utc::now().timestamp();
        for (iss, aud) in [("someone-else", AUDIENCE), ("rapport", "other-api")] {
            let claims = Claims {
                iss: iss.into(),
                aud: aud.into(),
                sub: StaffId::new().to_string(),
                role: StaffRole::Admin,
                iat: now,
                exp: now + 60,
                pcr: false,
            };
            let token = jsonwebtoken::encode(
                &Header::new(Algorithm::HS256),
                &claims,
                &EncodingKey::from_secret(SECRET.as_bytes()),
            )
            .expect("encode");
            assert_eq!(k.verify(&token), Err(TokenError::Invalid));
        }
    }
}
