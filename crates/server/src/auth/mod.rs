//! Authentication: password hashing, tokens, sign-in throttling, and the
//! extractors that establish who is calling.

pub mod extract;
pub mod password;
pub mod throttle;
pub mod token;

pub use extract::{Authenticated, AuthenticatedAnyPassword, MaybeAuthenticated, RequestContext};
