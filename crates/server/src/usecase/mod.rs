//! The use cases: every change to Rapport's state goes through a function
//! here, whichever channel asked for it (HTTP, websocket, LMTP, CLI,
//! worker). Each checks what it must, writes the change and its audit event
//! in one transaction, and returns what happened.

pub mod system;
