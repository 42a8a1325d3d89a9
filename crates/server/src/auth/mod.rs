//! Authentication over HTTP: the extractors that establish who is calling.
//! Password hashing, tokens and throttles are the application layer's.

pub mod extract;

pub use extract::{Authenticated, AuthenticatedAnyPassword, MaybeAuthenticated, RequestContext};
pub use rapport_app::auth::{password, throttle, token, totp};
