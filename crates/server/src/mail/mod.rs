//! Email in the server: the workers that receive and send, and the LMTP
//! door. Who we are on the wire, the spool and the transports are the
//! application layer's (`rapport_app::mail`).

pub mod lmtp_door;
pub mod worker;

pub use rapport_app::mail::{Mail, spool, transport};
