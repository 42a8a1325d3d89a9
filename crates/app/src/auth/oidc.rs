//! OpenID Connect, the parts that need no network: the provider's
//! discovery document, PKCE, the authorization request and the checks of
//! an ID token against the provider's published keys. The server fetches
//! documents and exchanges codes; everything it is given is checked here.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::Deserialize;
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

/// What a provider's answer or document failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OidcError {
    #[error("the provider's discovery document is unusable: {0}")]
    Discovery(String),
    #[error("the ID token is not acceptable: {0}")]
    IdToken(String),
    #[error("no randomness available")]
    NoRandomness,
}

/// The endpoints of `<issuer>/.well-known/openid-configuration` Rapport uses.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Discovery {
    pub issuer: String,
    pub authorization_endpoint: String,
    pub token_endpoint: String,
    pub jwks_uri: String,
}

impl Discovery {
    /// Reads a discovery document and checks it is the one of `issuer`
    /// (a document naming another issuer is refused, as the spec says).
    pub fn parse(issuer: &str, body: &[u8]) -> Result<Discovery, OidcError> {
        let doc: Discovery =
            serde_json::from_slice(body).map_err(|e| OidcError::Discovery(e.to_string()))?;
        if doc.issuer.trim_end_matches('/') != issuer.trim_end_matches('/') {
            return Err(OidcError::Discovery(format!(
                "it names the issuer {} instead of {issuer}",
                doc.issuer
            )));
        }
        for (name, url) in [
            ("authorization_endpoint", &doc.authorization_endpoint),
            ("token_endpoint", &doc.token_endpoint),
            ("jwks_uri", &doc.jwks_uri),
        ] {
            url::Url::parse(url)
                .map_err(|_| OidcError::Discovery(format!("{name} `{url}` is not a URL")))?;
        }
        Ok(doc)
    }

    /// Where a provider publishes its discovery document.
    pub fn url(issuer: &str) -> String {
        format!(
            "{}/.well-known/openid-configuration",
            issuer.trim_end_matches('/')
        )
    }
}

/// A PKCE pair (RFC 7636): the verifier stays with Rapport, the S256
/// challenge goes to the provider.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pkce {
    pub verifier: String,
    pub challenge: String,
}

impl Pkce {
    pub fn new() -> Result<Pkce, OidcError> {
        let verifier = random()?;
        Ok(Pkce {
            challenge: challenge(&verifier),
            verifier,
        })
    }
}

/// The S256 challenge of a verifier.
pub fn challenge(verifier: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
}

/// 32 random bytes, URL-safe: states, nonces, verifiers.
pub fn random() -> Result<String, OidcError> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(|_| OidcError::NoRandomness)?;
    Ok(URL_SAFE_NO_PAD.encode(bytes))
}

/// What the browser is sent to: the provider's authorization endpoint
/// with a code request for `openid email profile`.
#[derive(Debug)]
pub struct AuthorizationRequest<'a> {
    pub endpoint: &'a str,
    pub client_id: &'a str,
    pub redirect_uri: &'a str,
    pub state: &'a str,
    pub nonce: &'a str,
    pub challenge: &'a str,
    /// Suggests the account to the provider (`login_hint`).
    pub login_hint: Option<&'a str>,
}

impl AuthorizationRequest<'_> {
    pub fn url(&self) -> Result<String, OidcError> {
        let mut url = url::Url::parse(self.endpoint)
            .map_err(|_| OidcError::Discovery("authorization_endpoint is not a URL".into()))?;
        {
            let mut q = url.query_pairs_mut();
            q.append_pair("response_type", "code")
                .append_pair("client_id", self.client_id)
                .append_pair("redirect_uri", self.redirect_uri)
                .append_pair("scope", "openid email profile")
                .append_pair("state", self.state)
                .append_pair("nonce", self.nonce)
                .append_pair("code_challenge", self.challenge)
                .append_pair("code_challenge_method", "S256");
            if let Some(hint) = self.login_hint {
                q.append_pair("login_hint", hint);
            }
        }
        Ok(url.into())
    }
}

/// The claims of a verified ID token Rapport reads.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct IdClaims {
    pub sub: String,
    #[serde(default)]
    pub email: Option<String>,
    #[serde(default)]
    pub email_verified: Option<bool>,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    nonce: Option<String>,
    /// Every other claim (a role claim, groups...).
    #[serde(flatten)]
    pub other: Map<String, Value>,
}

impl IdClaims {
    /// The email address, when the provider vouches for it.
    pub fn verified_email(&self) -> Option<&str> {
        match (&self.email, self.email_verified) {
            (Some(e), Some(true)) => Some(e.as_str()),
            _ => None,
        }
    }

    /// A claim's texts: a string, or the strings of a list (groups).
    pub fn text_claims(&self, name: &str) -> Vec<&str> {
        match self.other.get(name) {
            Some(Value::String(s)) => vec![s.as_str()],
            Some(Value::Array(items)) => items.iter().filter_map(Value::as_str).collect(),
            _ => Vec::new(),
        }
    }
}

/// Signature algorithms accepted: the provider's asymmetric keys only, so
/// a token can never be "signed" with a secret Rapport also knows.
const ALGORITHMS: &[Algorithm] = &[
    Algorithm::RS256,
    Algorithm::RS384,
    Algorithm::RS512,
    Algorithm::PS256,
    Algorithm::PS384,
    Algorithm::PS512,
    Algorithm::ES256,
    Algorithm::ES384,
    Algorithm::EdDSA,
];

/// Checks an ID token: signed by one of the provider's keys, issued by one
/// of `issuers` (the configured issuer and the one its discovery document
/// names, which may differ by a trailing slash) for `client_id`, unexpired
/// (a minute of clock skew), and carrying the nonce of this sign-in.
pub fn verify_id_token(
    token: &str,
    keys: &JwkSet,
    issuers: &[&str],
    client_id: &str,
    nonce: &str,
) -> Result<IdClaims, OidcError> {
    let bad = |why: &str| OidcError::IdToken(why.to_owned());
    let header = jsonwebtoken::decode_header(token).map_err(|e| bad(&e.to_string()))?;
    if !ALGORITHMS.contains(&header.alg) {
        return Err(bad(&format!("it is signed with {:?}", header.alg)));
    }
    let key = match &header.kid {
        Some(kid) => keys.find(kid),
        None if keys.keys.len() == 1 => keys.keys.first(),
        None => None,
    }
    .ok_or_else(|| bad("no published key of the provider matches its key id"))?;
    let key = DecodingKey::from_jwk(key).map_err(|e| bad(&e.to_string()))?;
    let mut validation = Validation::new(header.alg);
    validation.set_issuer(issuers);
    validation.set_audience(&[client_id]);
    validation.set_required_spec_claims(&["exp", "iat", "iss", "aud", "sub"]);
    validation.leeway = 60;
    let claims = jsonwebtoken::decode::<IdClaims>(token, &key, &validation)
        .map_err(|e| bad(&e.to_string()))?
        .claims;
    if claims.nonce.as_deref() != Some(nonce) {
        return Err(bad("its nonce is not this sign-in's"));
    }
    Ok(claims)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_challenge_is_rfc_7636_s256() {
        // The example of RFC 7636, appendix B.
        assert_eq!(
            challenge("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"),
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        );
        let a = Pkce::new().expect("randomness");
        let b = Pkce::new().expect("randomness");
        assert_ne!(a.verifier, b.verifier);
        assert_eq!(a.challenge, challenge(&a.verifier));
    }

    #[test]
    fn a_discovery_document_must_name_its_own_issuer() {
        let doc = br#"{"issuer": "https://id.example/", "authorization_endpoint": "https://id.example/auth",
            "token_endpoint": "https://id.example/token", "jwks_uri": "https://id.example/jwks"}"#;
        assert!(Discovery::parse("https://id.example", doc).is_ok());
        assert!(matches!(
            Discovery::parse("https://other.example", doc),
            Err(OidcError::Discovery(_))
        ));
        assert!(Discovery::parse("https://id.example", b"{}").is_err());
    }

    #[test]
    fn the_authorization_request_carries_state_nonce_and_challenge() {
        let url = AuthorizationRequest {
            endpoint: "https://id.example/auth?tenant=acme",
            client_id: "rapport",
            redirect_uri: "https://help.example/auth/sso/callback",
            state: "s t",
            nonce: "n",
            challenge: "c",
            login_hint: Some("ana@acme.example"),
        }
        .url()
        .expect("a URL");
        assert!(url.starts_with("https://id.example/auth?tenant=acme&response_type=code"));
        assert!(url.contains("state=s+t"));
        assert!(url.contains("code_challenge_method=S256"));
        assert!(url.contains("redirect_uri=https%3A%2F%2Fhelp.example%2Fauth%2Fsso%2Fcallback"));
        assert!(url.contains("login_hint=ana%40acme.example"));
    }

    #[test]
    fn a_token_signed_with_a_shared_secret_is_refused() {
        let token = jsonwebtoken::encode(
            &jsonwebtoken::Header::new(Algorithm::HS256),
            &serde_json::json!({"sub": "x", "iss": "https://id.example", "aud": "rapport", "exp": 4_000_000_000u64, "iat": 1, "nonce": "n"}),
            &jsonwebtoken::EncodingKey::from_secret(b"the client secret"),
        )
        .expect("encodes");
        let keys = JwkSet { keys: Vec::new() };
        let err = verify_id_token(&token, &keys, &["https://id.example"], "rapport", "n")
            .expect_err("refused");
        assert!(err.to_string().contains("HS256"), "{err}");
    }

    #[test]
    fn a_role_claim_may_be_a_string_or_a_list() {
        let claims: IdClaims = serde_json::from_value(serde_json::json!({
            "sub": "1", "email": "a@x.example", "email_verified": true,
            "rapport_role": "admin", "groups": ["auditor", "staff"]
        }))
        .expect("claims");
        assert_eq!(claims.verified_email(), Some("a@x.example"));
        assert_eq!(claims.text_claims("rapport_role"), ["admin"]);
        assert_eq!(claims.text_claims("groups"), ["auditor", "staff"]);
        assert!(claims.text_claims("missing").is_empty());
    }
}
