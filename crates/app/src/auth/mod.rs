//! Who may do what, as the use cases need it: password hashing, access and
//! refresh tokens, sign-in throttling, and where a request came from.

pub mod chat_ticket;
pub mod oidc;
pub mod password;
pub mod throttle;
pub mod token;
pub mod totp;

/// Where a request came from, recorded with security events.
#[derive(Debug, Clone, Default)]
pub struct RequestContext {
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    pub request_id: Option<String>,
}
