//! Rapport domain: typed ids, entities, states, business rules and
//! permissions, in the words of the product (account, contact, case).
//!
//! Pure logic: this crate must never do IO nor depend on diesel, actix or
//! any other Rapport crate. Everything else depends on it.

mod email;
mod id;
mod permission;
mod staff;

pub use email::{EmailAddress, EmailError};
pub use id::{AccountId, ContactId, IdParseError, InstanceId, SessionFamilyId, StaffId, TeamId};
pub use permission::{Denied, Permission, Principal, authorize};
pub use staff::{PersonName, PersonNameError, StaffRole};
