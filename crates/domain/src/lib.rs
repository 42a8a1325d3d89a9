//! Rapport domain: typed ids, entities, states, business rules and
//! permissions, in the words of the product (account, contact, case).
//!
//! Pure logic: this crate must never do IO nor depend on diesel, actix or
//! any other Rapport crate. Everything else depends on it.

mod id;

pub use id::{IdParseError, InstanceId};
