//! Time as both backends store it.

use chrono::{NaiveDateTime, SubsecRound, Utc};

/// Now, in UTC, truncated to microseconds: PostgreSQL keeps no more, and
/// a value read back must equal the value written on either backend.
pub fn now_micros() -> NaiveDateTime {
    Utc::now().naive_utc().trunc_subsecs(6)
}
