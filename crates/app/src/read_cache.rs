//! What the hottest reads serve from memory on each node: staff rows
//! (`/me`), an agent's teams, and rendered pages of the account list.
//! Every write to what they hold records a committed change (see
//! [`crate::changes`]); delivering it, on the node that wrote and on every
//! node that follows the log, drops the copies it touches, so the next read
//! loads afresh. A short lifetime bounds how stale a copy can be should a
//! node fall behind the log.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use rapport_domain::{StaffId, TeamId};
use rapport_store::staff::Staff;

/// How long a copy is trusted without a change to it.
const LIFETIME: Duration = Duration::from_secs(30);

/// Memory the account pages of one node may take.
const ACCOUNT_PAGES_BYTES: usize = 64 << 20;

/// The caches of one node.
#[derive(Debug)]
pub struct Reads {
    /// Staff rows; dropped by `StaffChanged`.
    pub staff: ReadCache<StaffId, Staff>,
    /// The teams an agent belongs to; dropped by `StaffChanged`.
    pub teams: ReadCache<StaffId, Vec<TeamId>>,
    /// Account list pages as JSON, by filter and page; all dropped by
    /// `AccountAdded` and `AccountChanged`.
    pub account_pages: ReadCache<String, Vec<u8>>,
}

impl Default for Reads {
    fn default() -> Self {
        Reads {
            staff: ReadCache::default(),
            teams: ReadCache::default(),
            account_pages: ReadCache::with_budget(ACCOUNT_PAGES_BYTES, Vec::len),
        }
    }
}

impl Reads {
    /// A staff member's row, role or teams changed.
    pub fn staff_changed(&self, id: StaffId) {
        self.staff.forget(&id);
        self.teams.forget(&id);
    }
}

/// Copies by key, each kept until it is forgotten or expires. The copies
/// weigh at most a budget (by default, a count of copies); beyond it the
/// cache starts afresh.
#[derive(Debug)]
pub struct ReadCache<K, V> {
    inner: Mutex<Inner<K, V>>,
    budget: usize,
    weigh: fn(&V) -> usize,
}

#[derive(Debug)]
struct Inner<K, V> {
    /// Counts changes; a load that began before one may hold what the
    /// change replaced, and is not kept.
    generation: u64,
    copies: HashMap<K, (Arc<V>, Instant)>,
    /// What the copies weigh together.
    weight: usize,
}

/// Where a load began: hand it back to [`ReadCache::keep`].
#[derive(Debug, Clone, Copy)]
pub struct LoadTicket(u64);

impl<K: Eq + Hash + Clone, V> Default for ReadCache<K, V> {
    fn default() -> Self {
        // A bound on memory far above what a deployment reads often.
        ReadCache::with_capacity(10_000)
    }
}

impl<K: Eq + Hash + Clone, V> ReadCache<K, V> {
    /// At most `capacity` copies.
    pub fn with_capacity(capacity: usize) -> Self {
        ReadCache::with_budget(capacity, |_| 1)
    }

    /// Copies weighing at most `budget` together, each weighed by `weigh`
    /// (bytes, say); a copy heavier than the budget is never kept.
    pub fn with_budget(budget: usize, weigh: fn(&V) -> usize) -> Self {
        ReadCache {
            inner: Mutex::new(Inner {
                generation: 0,
                copies: HashMap::new(),
                weight: 0,
            }),
            budget,
            weigh,
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner<K, V>> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The copy, or a ticket to load it with.
    pub fn get(&self, key: &K) -> Result<Arc<V>, LoadTicket> {
        let inner = self.lock();
        match inner.copies.get(key) {
            Some((copy, at)) if at.elapsed() < LIFETIME => Ok(Arc::clone(copy)),
            _ => Err(LoadTicket(inner.generation)),
        }
    }

    /// Keeps what was loaded after `ticket` was taken, unless something
    /// changed meanwhile: the load may then predate the change.
    pub fn keep(&self, ticket: LoadTicket, key: K, value: V) -> Arc<V> {
        let value = Arc::new(value);
        let weight = (self.weigh)(&value);
        let mut inner = self.lock();
        if inner.generation == ticket.0 && weight <= self.budget {
            if let Some((old, _)) = inner.copies.remove(&key) {
                inner.weight -= (self.weigh)(&old);
            }
            if inner.weight + weight > self.budget {
                inner.copies.clear();
                inner.weight = 0;
            }
            inner.weight += weight;
            inner
                .copies
                .insert(key, (Arc::clone(&value), Instant::now()));
        }
        value
    }

    /// What `key` holds changed: the next read loads it.
    pub fn forget(&self, key: &K) {
        let mut inner = self.lock();
        inner.generation = inner.generation.wrapping_add(1);
        if let Some((old, _)) = inner.copies.remove(key) {
            inner.weight -= (self.weigh)(&old);
        }
    }

    /// Something every copy may hold changed.
    pub fn forget_all(&self) {
        let mut inner = self.lock();
        inner.generation = inner.generation.wrapping_add(1);
        inner.copies.clear();
        inner.weight = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_kept_copy_is_served_until_forgotten() {
        let cache: ReadCache<u32, String> = ReadCache::default();
        let ticket = cache.get(&1).expect_err("not cached yet");
        cache.keep(ticket, 1, "Anna Berg".into());
        assert_eq!(*cache.get(&1).expect("cached"), "Anna Berg");
        cache.forget(&1);
        assert!(cache.get(&1).is_err());
        let ticket = cache.get(&2).expect_err("not cached yet");
        cache.keep(ticket, 2, "page".into());
        cache.forget_all();
        assert!(cache.get(&2).is_err());
    }

    #[test]
    fn a_load_older_than_a_change_is_not_kept() {
        let cache: ReadCache<u32, String> = ReadCache::default();
        let ticket = cache.get(&1).expect_err("not cached yet");
        // The row changes while its old version is being read.
        cache.forget(&1);
        let served = cache.keep(ticket, 1, "Old Name".into());
        assert_eq!(*served, "Old Name");
        assert!(cache.get(&1).is_err(), "the old row must not be kept");
        let ticket = cache.get(&1).expect_err("not cached yet");
        cache.keep(ticket, 1, "New Name".into());
        assert_eq!(*cache.get(&1).expect("cached"), "New Name");
    }

    #[test]
    fn copies_are_kept_within_their_budget() {
        let cache: ReadCache<u32, Vec<u8>> = ReadCache::with_budget(10, Vec::len);
        let keep = |k: u32, bytes: usize| {
            let ticket = cache.get(&k).expect_err("not cached yet");
            cache.keep(ticket, k, vec![0; bytes]);
        };
        keep(1, 11);
        assert!(cache.get(&1).is_err(), "heavier than the budget: not kept");
        keep(2, 4);
        keep(3, 6);
        assert!(cache.get(&2).is_ok() && cache.get(&3).is_ok(), "4 + 6 fit");
        cache.forget(&3);
        keep(3, 6);
        assert!(cache.get(&2).is_ok(), "a forgotten copy no longer weighs");
        keep(4, 1);
        assert!(cache.get(&2).is_err(), "over the budget: afresh");
        assert!(cache.get(&4).is_ok());
    }

    #[test]
    fn a_full_cache_starts_afresh() {
        let cache: ReadCache<u32, u32> = ReadCache::with_capacity(2);
        for k in 0..3 {
            let ticket = cache.get(&k).expect_err("not cached yet");
            cache.keep(ticket, k, k);
        }
        assert!(cache.get(&0).is_err());
        assert_eq!(*cache.get(&2).expect("the newest is kept"), 2);
    }
}
