//! Access tokens (JWT, HS256 only) and opaque refresh tokens.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::Utc;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation, errors::ErrorKind};
use rapport_domain::{
    AccountId, ContactFunction, ContactId, ContactVisibility, Principal, StaffId, StaffRole,
};
use secrecy::ExposeSecret;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::config::AuthSettings;

/// Prefix of API tokens, which are opaque and looked up in the database
/// (access tokens are JWTs, checked by signature alone).
pub const API_TOKEN_PREFIX: &str = "rpt_";

/// The audience every Rapport access token names.
pub const AUDIENCE: &str = "rapport-api";

/// What an access token asserts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    pub iss: String,
    pub aud: String,
    /// The staff or contact id.
    pub sub: String,
    /// `staff` or `contact`.
    pub kind: String,
    /// Staff: their role.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<StaffRole>,
    /// Contact: their account.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub acc: Option<String>,
    /// Contact: which cases of the account they see.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vis: Option<String>,
    /// Contact: their function at the client (decides `function_cases`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fun: Option<String>,
    /// Contact: the address the sign-in was proven with; the person acts
    /// for the companies whose contact has it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub adr: Option<String>,
    pub iat: i64,
    pub exp: i64,
    /// Set while the password is a one-time password: only changing it is allowed.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub pcr: bool,
    /// Set while the role requires a second factor not yet set up: only
    /// setting it up is allowed.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub tfa: bool,
}

/// What a session may do until its holder acts: change a one-time
/// password, or set up a second factor their role requires.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Restrictions {
    pub password_change: bool,
    pub second_factor_enrolment: bool,
}

impl Restrictions {
    pub fn any(self) -> bool {
        self.password_change || self.second_factor_enrolment
    }
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
    chat_tickets: super::chat_ticket::TicketKey,
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
            chat_tickets: super::chat_ticket::TicketKey::derive(secret),
        }
    }

    /// The key chat tickets are signed with.
    pub fn chat_tickets(&self) -> &super::chat_ticket::TicketKey {
        &self.chat_tickets
    }

    pub fn lifetime_secs(&self) -> i64 {
        self.lifetime_secs
    }

    /// A signed access token for `principal`.
    pub fn issue(
        &self,
        principal: &Principal,
        restrictions: Restrictions,
    ) -> Result<String, TokenError> {
        self.issue_with_address(principal, restrictions, None)
    }

    /// [`TokenKeys::issue`], naming the address a contact's sign-in was
    /// proven with.
    pub fn issue_with_address(
        &self,
        principal: &Principal,
        restrictions: Restrictions,
        address: Option<&str>,
    ) -> Result<String, TokenError> {
        let now = Utc::now().timestamp();
        let mut claims = Claims {
            iss: self.issuer.clone(),
            aud: AUDIENCE.to_owned(),
            sub: String::new(),
            kind: String::new(),
            role: None,
            acc: None,
            vis: None,
            fun: None,
            adr: address.map(str::to_owned),
            iat: now,
            exp: now + self.lifetime_secs,
            pcr: restrictions.password_change,
            tfa: restrictions.second_factor_enrolment,
        };
        match principal {
            Principal::Staff { id, role } => {
                claims.sub = id.to_string();
                claims.kind = "staff".into();
                claims.role = Some(*role);
            }
            Principal::Contact {
                id,
                account,
                visibility,
                function,
            } => {
                claims.sub = id.to_string();
                claims.kind = "contact".into();
                claims.acc = Some(account.to_string());
                claims.vis = Some(visibility.as_str().to_owned());
                claims.fun = Some(function.as_str().to_owned());
            }
            // Integrations present their own opaque token; no JWT is made for them.
            Principal::ApiToken { .. } => return Err(TokenError::Invalid),
        }
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

    /// Who a valid token speaks for, and what the session is limited to.
    pub fn principal(&self, token: &str) -> Result<(Principal, Restrictions), TokenError> {
        Self::principal_of(&self.verify(token)?)
    }

    /// [`TokenKeys::principal`] of claims already verified.
    pub fn principal_of(claims: &Claims) -> Result<(Principal, Restrictions), TokenError> {
        let principal = match (claims.kind.as_str(), claims.role, &claims.acc, &claims.vis) {
            ("staff", Some(role), None, None) => Principal::Staff {
                id: claims
                    .sub
                    .parse::<StaffId>()
                    .map_err(|_| TokenError::Invalid)?,
                role,
            },
            ("contact", None, Some(account), Some(visibility)) => Principal::Contact {
                id: claims
                    .sub
                    .parse::<ContactId>()
                    .map_err(|_| TokenError::Invalid)?,
                account: account
                    .parse::<AccountId>()
                    .map_err(|_| TokenError::Invalid)?,
                visibility: ContactVisibility::parse(visibility).ok_or(TokenError::Invalid)?,
                // A token issued before functions were carried has none:
                // expired, so the client refreshes it instead of signing out.
                function: match claims.fun.as_deref() {
                    None => return Err(TokenError::Expired),
                    Some(f) => ContactFunction::parse(f).ok_or(TokenError::Invalid)?,
                },
            },
            _ => return Err(TokenError::Invalid),
        };
        Ok((
            principal,
            Restrictions {
                password_change: claims.pcr,
                second_factor_enrolment: claims.tfa,
            },
        ))
    }
}

/// A new opaque secret token (refresh tokens, magic links): 32 random
/// bytes, URL-safe base64.
pub fn new_opaque_token() -> Result<String, getrandom::Error> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes)?;
    Ok(URL_SAFE_NO_PAD.encode(bytes))
}

/// What the database keeps of an opaque token.
pub fn opaque_token_hash(token: &str) -> String {
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

    fn admin() -> Principal {
        Principal::Staff {
            id: StaffId::new(),
            role: StaffRole::Admin,
        }
    }

    #[test]
    fn issued_tokens_name_their_principal() {
        let k = keys(SECRET);
        let staff = Principal::Staff {
            id: StaffId::new(),
            role: StaffRole::Auditor,
        };
        let token = k.issue(&staff, Restrictions::default()).expect("issue");
        let claims = k.verify(&token).expect("valid");
        assert_eq!(claims.exp - claims.iat, 15 * 60);
        assert_eq!(k.principal(&token), Ok((staff, Restrictions::default())));
        let contact = Principal::Contact {
            id: ContactId::new(),
            account: AccountId::new(),
            visibility: ContactVisibility::AllAccountCases,
            function: ContactFunction::Finance,
        };
        let one_time = Restrictions {
            password_change: true,
            second_factor_enrolment: false,
        };
        assert_eq!(
            k.principal(&k.issue(&contact, one_time).expect("issue")),
            Ok((contact, one_time))
        );
        let enrol = Restrictions {
            password_change: false,
            second_factor_enrolment: true,
        };
        assert_eq!(
            k.principal(&k.issue(&staff, enrol).expect("issue")),
            Ok((staff, enrol))
        );
    }

    #[test]
    fn another_secret_or_a_tampered_payload_is_refused() {
        let agent = Principal::Staff {
            id: StaffId::new(),
            role: StaffRole::Agent,
        };
        let token = keys(SECRET)
            .issue(&agent, Restrictions::default())
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
        let token = k.issue(&admin(), Restrictions::default()).expect("issue");
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
    fn a_contact_token_from_before_functions_is_expired_not_invalid() {
        let k = keys(SECRET);
        let now = Utc::now().timestamp();
        let claims = Claims {
            iss: k.issuer.clone(),
            aud: AUDIENCE.into(),
            sub: ContactId::new().to_string(),
            kind: "contact".into(),
            role: None,
            acc: Some(AccountId::new().to_string()),
            vis: Some("own_cases".into()),
            fun: None,
            adr: None,
            iat: now,
            exp: now + 600,
            pcr: false,
            tfa: false,
        };
        let token = jsonwebtoken::encode(
            &Header::new(Algorithm::HS256),
            &claims,
            &EncodingKey::from_secret(SECRET.as_bytes()),
        )
        .expect("encode");
        assert_eq!(k.principal(&token), Err(TokenError::Expired));
    }

    /// A token signed with the right secret and the given claims.
    fn signed(iss: &str, aud: &str, exp_from_now: i64, kind: &str) -> String {
        let now = Utc::now().timestamp();
        let claims = Claims {
            iss: iss.into(),
            aud: aud.into(),
            sub: StaffId::new().to_string(),
            kind: kind.into(),
            role: Some(StaffRole::Admin),
            acc: None,
            vis: None,
            fun: None,
            adr: None,
            iat: now - 3_600,
            exp: now + exp_from_now,
            pcr: false,
            tfa: false,
        };
        jsonwebtoken::encode(
            &Header::new(Algorithm::HS256),
            &claims,
            &EncodingKey::from_secret(SECRET.as_bytes()),
        )
        .expect("encode")
    }

    #[test]
    fn expired_tokens_are_reported_as_expired() {
        assert_eq!(
            keys(SECRET).verify(&signed("rapport", AUDIENCE, -60, "staff")),
            Err(TokenError::Expired)
        );
    }

    #[test]
    fn wrong_issuer_audience_or_shape_is_refused() {
        let k = keys(SECRET);
        assert_eq!(
            k.verify(&signed("someone-else", AUDIENCE, 60, "staff")),
            Err(TokenError::Invalid)
        );
        assert_eq!(
            k.verify(&signed("rapport", "other-api", 60, "staff")),
            Err(TokenError::Invalid)
        );
        // A staff role on a token that claims to be a contact's.
        assert_eq!(
            k.principal(&signed("rapport", AUDIENCE, 60, "contact")),
            Err(TokenError::Invalid)
        );
    }
}
