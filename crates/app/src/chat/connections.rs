//! Open chat connections per person on this node, capped so that one
//! person (or a stolen session) cannot hold unbounded server memory.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use rapport_domain::Principal;

/// Who a connection belongs to: one key per staff member or contact.
pub fn person_key(principal: &Principal) -> Option<String> {
    match principal {
        Principal::Staff { id, .. } => Some(format!("staff:{id}")),
        Principal::Contact { id, .. } => Some(format!("contact:{id}")),
        Principal::ApiToken { .. } => None,
    }
}

#[derive(Debug, Clone)]
pub struct Connections {
    open: Arc<Mutex<HashMap<String, usize>>>,
    pub max_per_person: usize,
}

/// One admitted connection; dropping it (the session ended) frees its place.
#[derive(Debug)]
pub struct Slot {
    open: Arc<Mutex<HashMap<String, usize>>>,
    key: String,
}

impl Connections {
    pub fn new(max_per_person: usize) -> Connections {
        Connections {
            open: Arc::new(Mutex::new(HashMap::new())),
            max_per_person,
        }
    }

    /// Whether `key` may open another connection now.
    pub fn has_room(&self, key: &str) -> bool {
        let open = self.open.lock().unwrap_or_else(|p| p.into_inner());
        open.get(key).copied().unwrap_or(0) < self.max_per_person
    }

    /// Takes a place for `key`, or `None` when all of its places are taken.
    pub fn admit(&self, key: String) -> Option<Slot> {
        let mut open = self.open.lock().unwrap_or_else(|p| p.into_inner());
        let count = open.entry(key.clone()).or_insert(0);
        if *count >= self.max_per_person {
            return None;
        }
        *count += 1;
        Some(Slot {
            open: Arc::clone(&self.open),
            key,
        })
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut open = self.open.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(count) = open.get_mut(&self.key) {
            *count = count.saturating_sub(1);
            if *count == 0 {
                open.remove(&self.key);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_person_holds_at_most_the_cap_and_a_closed_connection_frees_its_place() {
        let c = Connections::new(2);
        let a = c.admit("staff:1".into()).expect("first");
        let _b = c.admit("staff:1".into()).expect("second");
        assert!(c.admit("staff:1".into()).is_none() && !c.has_room("staff:1"));
        assert!(
            c.admit("staff:2".into()).is_some(),
            "others are not affected"
        );
        drop(a);
        assert!(c.has_room("staff:1"));
        assert!(c.admit("staff:1".into()).is_some());
    }
}
