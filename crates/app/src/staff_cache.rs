//! Staff rows as every console page asks for them (`/me`), kept in memory
//! on each node. Every write to a staff row records `StaffChanged` in the
//! committed-changes log; delivering it here, on the node that wrote and on
//! every node that follows the log, drops the row, so the next read loads
//! it again. A short lifetime bounds how stale a row can be should a node
//! fall behind the log.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use rapport_domain::StaffId;
use rapport_store::staff::Staff;

/// How long a cached row is trusted without a change to it.
const LIFETIME: Duration = Duration::from_secs(30);

/// Beyond this many rows the cache starts afresh: a bound on memory, far
/// above any staff a deployment has.
const CAPACITY: usize = 10_000;

#[derive(Debug, Default)]
pub struct StaffCache {
    inner: Mutex<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    /// Counts changes; a load that saw another value may be older than a
    /// change and is not kept.
    generation: u64,
    rows: HashMap<StaffId, (Arc<Staff>, Instant)>,
}

/// Where a load started: hand it back to [`StaffCache::keep`].
#[derive(Debug, Clone, Copy)]
pub struct LoadTicket(u64);

impl StaffCache {
    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The cached row, or a ticket to load it with.
    pub fn get(&self, id: StaffId) -> Result<Arc<Staff>, LoadTicket> {
        let inner = self.lock();
        match inner.rows.get(&id) {
            Some((row, at)) if at.elapsed() < LIFETIME => Ok(Arc::clone(row)),
            _ => Err(LoadTicket(inner.generation)),
        }
    }

    /// Keeps a row loaded after `ticket` was taken, unless a staff row
    /// changed meanwhile: the load may then predate the change.
    pub fn keep(&self, ticket: LoadTicket, row: Staff) -> Arc<Staff> {
        let row = Arc::new(row);
        let mut inner = self.lock();
        if inner.generation == ticket.0 {
            if inner.rows.len() >= CAPACITY {
                inner.rows.clear();
            }
            inner
                .rows
                .insert(row.id, (Arc::clone(&row), Instant::now()));
        }
        row
    }

    /// A staff row changed: the next read loads it.
    pub fn forget(&self, id: StaffId) {
        let mut inner = self.lock();
        inner.generation = inner.generation.wrapping_add(1);
        inner.rows.remove(&id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rapport_domain::{EmailAddress, PersonName, StaffRole};

    fn staff(id: StaffId, name: &str) -> Staff {
        Staff {
            id,
            email: EmailAddress::parse("anna@example.com").expect("address"),
            name: PersonName::parse(name).expect("name"),
            display_name: PersonName::parse(name).expect("name"),
            avatar_url: None,
            role: StaffRole::Agent,
            active: true,
            password_hash: String::new(),
            password_change_required: false,
            created_at: chrono::Utc::now(),
            updated_at: chrono::Utc::now(),
        }
    }

    #[test]
    fn a_kept_row_is_served_until_forgotten() {
        let cache = StaffCache::default();
        let id = StaffId::new();
        let ticket = cache.get(id).expect_err("not cached");
        cache.keep(ticket, staff(id, "Anna Berg"));
        assert_eq!(cache.get(id).expect("cached").name.as_str(), "Anna Berg");
        cache.forget(id);
        assert!(cache.get(id).is_err());
    }

    #[test]
    fn a_load_older_than_a_change_is_not_kept() {
        let cache = StaffCache::default();
        let id = StaffId::new();
        let ticket = cache.get(id).expect_err("not cached");
        // The row changes while the old version is being read.
        cache.forget(id);
        let served = cache.keep(ticket, staff(id, "Old Name"));
        assert_eq!(served.name.as_str(), "Old Name");
        assert!(cache.get(id).is_err(), "the old row must not be cached");
        let ticket = cache.get(id).expect_err("not cached");
        cache.keep(ticket, staff(id, "New Name"));
        assert_eq!(cache.get(id).expect("cached").name.as_str(), "New Name");
    }
}
