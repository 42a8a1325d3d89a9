//! Whether this node can store what it is sent: a write that failed for a
//! full disk marks storage full for a while (every client is told when to
//! retry, and readiness says so, so a load balancer sends writers to another
//! node); a write that succeeds, or a quiet period, clears the mark. The
//! data directory's free space is checked as well, for the SQLite file,
//! attachments and the mail spool that live there.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

/// Below this much free space in the data directory, readiness reports the
/// storage full before a write has to fail.
const MIN_FREE_BYTES: u64 = 1_048_576;

#[derive(Debug, Clone, Default)]
pub struct StorageHealth {
    /// Unix milliseconds until which storage counts as full; 0: not full.
    full_until_ms: Arc<AtomicI64>,
}

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

impl StorageHealth {
    /// A write just failed because storage is full.
    pub fn mark_full(&self, for_how_long: Duration) {
        let until =
            now_ms().saturating_add(i64::try_from(for_how_long.as_millis()).unwrap_or(i64::MAX));
        self.full_until_ms.store(until, Ordering::Relaxed);
        tracing::error!(
            "storage is full: writes fail until space is freed (check the disk of the database and of the data directory)"
        );
    }

    /// A write just succeeded: there is room again.
    pub fn mark_writable(&self) {
        if self.full_until_ms.swap(0, Ordering::Relaxed) != 0 {
            tracing::info!("storage accepts writes again");
        }
    }

    /// Whether storage is full: a recent write failed for it, or the data
    /// directory has (almost) no space left.
    pub fn is_full(&self, data_dir: &Path) -> bool {
        self.full_until_ms.load(Ordering::Relaxed) > now_ms()
            || free_bytes(data_dir).is_some_and(|free| free < MIN_FREE_BYTES)
    }
}

/// Bytes an unprivileged writer can still use on the data directory's file
/// system; `None` when that cannot be told.
fn free_bytes(dir: &Path) -> Option<u64> {
    let stat = rustix::fs::statvfs(dir).ok()?;
    Some(stat.f_bavail.saturating_mul(stat.f_frsize))
}
