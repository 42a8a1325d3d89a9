//! Per-case ordering of what one connection receives. Entries are committed
//! one after another (each has its place, `seq`, in the thread), but their
//! live frames are published by different threads and nodes and may arrive
//! out of order. A connection writes them strictly in thread order, holding
//! an early frame back until the ones before it came; if one never comes
//! (a lost bus event), the gap is read from the database after a short wait.
//! Because a client then only ever sees a case's entries in order, resuming
//! from the last entry it received misses none.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rapport_domain::{CaseId, EntryId};

/// How long a frame waits for the ones before it before the gap is read
/// from the database. Frames published a moment apart arrive well within it.
pub const GAP_WAIT: Duration = Duration::from_millis(300);

/// A live entry's place and, when the connection may see it, its frame.
#[derive(Debug, Clone)]
pub struct Arrival {
    pub seq: i64,
    /// `None` for an entry hidden from this connection (an internal note to
    /// a contact): it only fills its place.
    pub shown: Option<(EntryId, Arc<str>)>,
}

/// What one connection has delivered of one case.
#[derive(Debug, Default)]
pub struct CaseSequence {
    /// Every entry up to this place was delivered or is hidden.
    through: i64,
    /// The newest entry delivered: where a catch-up reads from.
    newest: Option<EntryId>,
    /// Arrivals ahead of a place still missing.
    ahead: BTreeMap<i64, Option<(EntryId, Arc<str>)>>,
    /// When the oldest arrival still held back came.
    held_since: Option<Instant>,
}

impl CaseSequence {
    /// Following a case whose entries up to `since` the client already has.
    pub fn after(since: Option<EntryId>) -> CaseSequence {
        CaseSequence {
            newest: since,
            ..CaseSequence::default()
        }
    }

    pub fn newest(&self) -> Option<EntryId> {
        self.newest
    }

    /// A live entry; returns the frames now due, in thread order.
    pub fn arrive(&mut self, a: Arrival, now: Instant) -> Vec<Arc<str>> {
        if a.seq == self.through + 1 && self.ahead.is_empty() {
            // The usual case, in order: nothing to hold back, and the map
            // stays without a node.
            self.through = a.seq;
            return match a.shown {
                Some((id, frame)) => {
                    self.newest = self.newest.max(Some(id));
                    vec![frame]
                }
                None => Vec::new(),
            };
        }
        if a.seq > self.through {
            self.ahead.insert(a.seq, a.shown);
        }
        self.release(now)
    }

    /// A backlog read from the database: everything up to `through` is
    /// now delivered (or hidden), `newest` being the last entry in it.
    /// Returns held frames now due.
    pub fn caught_up(
        &mut self,
        through: i64,
        newest: Option<EntryId>,
        now: Instant,
    ) -> Vec<Arc<str>> {
        self.through = self.through.max(through);
        self.newest = self.newest.max(newest);
        self.ahead = self.ahead.split_off(&(self.through + 1));
        self.release(now)
    }

    /// When a held frame has waited long enough that the gap before it
    /// should be read from the database.
    pub fn gap_deadline(&self) -> Option<Instant> {
        self.held_since.map(|t| t + GAP_WAIT)
    }

    fn release(&mut self, now: Instant) -> Vec<Arc<str>> {
        let mut due = Vec::new();
        while let Some(entry) = self.ahead.first_entry() {
            if *entry.key() != self.through + 1 {
                break;
            }
            self.through += 1;
            if let Some((id, frame)) = entry.remove() {
                self.newest = self.newest.max(Some(id));
                due.push(frame);
            }
        }
        self.held_since = if self.ahead.is_empty() {
            // An emptied map keeps its node; a new one has none.
            self.ahead = BTreeMap::new();
            None
        } else {
            Some(self.held_since.unwrap_or(now))
        };
        due
    }
}

/// The cases one connection follows, each with what it delivered. A
/// connection follows a few cases (at most `chat.max_joined_cases`): a
/// list sized to them costs an idle connection less than a hash table's
/// spare buckets.
#[derive(Debug, Default)]
pub struct Followed(Vec<(CaseId, CaseSequence)>);

impl Followed {
    pub fn contains(&self, case: CaseId) -> bool {
        self.0.iter().any(|(c, _)| *c == case)
    }

    pub fn get_mut(&mut self, case: CaseId) -> Option<&mut CaseSequence> {
        self.0
            .iter_mut()
            .find_map(|(c, s)| (*c == case).then_some(s))
    }

    /// Follows `case` from `sequence` on (again, if it was followed).
    pub fn insert(&mut self, case: CaseId, sequence: CaseSequence) {
        match self.get_mut(case) {
            Some(s) => *s = sequence,
            None => {
                self.0.reserve_exact(1);
                self.0.push((case, sequence));
            }
        }
    }

    pub fn remove(&mut self, case: CaseId) {
        self.0.retain(|(c, _)| *c != case);
        self.0.shrink_to_fit();
    }

    pub fn cases(&self) -> impl Iterator<Item = CaseId> + '_ {
        self.0.iter().map(|(c, _)| *c)
    }

    pub fn iter(&self) -> impl Iterator<Item = (CaseId, &CaseSequence)> {
        self.0.iter().map(|(c, s)| (*c, s))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shown(seq: i64) -> (Arrival, EntryId) {
        let id = EntryId::new();
        (
            Arrival {
                seq,
                shown: Some((id, Arc::from(format!("m{seq}")))),
            },
            id,
        )
    }

    fn texts(frames: Vec<Arc<str>>) -> Vec<String> {
        frames.iter().map(|f| f.to_string()).collect()
    }

    #[test]
    fn an_early_frame_waits_for_the_one_before_it() {
        let now = Instant::now();
        let mut s = CaseSequence::default();
        assert_eq!(texts(s.caught_up(3, None, now)), Vec::<String>::new());
        let (four, _) = shown(4);
        let (five, id5) = shown(5);
        assert!(s.arrive(five, now).is_empty(), "5 waits for 4");
        assert_eq!(s.gap_deadline(), Some(now + GAP_WAIT));
        assert_eq!(texts(s.arrive(four, now)), ["m4", "m5"]);
        assert_eq!(s.newest(), Some(id5));
        assert_eq!(s.gap_deadline(), None);
    }

    #[test]
    fn repeats_and_backlogged_entries_are_dropped() {
        let now = Instant::now();
        let mut s = CaseSequence::default();
        s.caught_up(2, None, now);
        let (two, _) = shown(2);
        assert!(s.arrive(two, now).is_empty());
        let (three, _) = shown(3);
        assert_eq!(texts(s.arrive(three.clone(), now)), ["m3"]);
        assert!(s.arrive(three, now).is_empty(), "a repeat is written once");
    }

    #[test]
    fn hidden_entries_fill_their_place_silently() {
        let now = Instant::now();
        let mut s = CaseSequence::default();
        let (two, _) = shown(2);
        assert!(s.arrive(two, now).is_empty());
        let note = Arrival {
            seq: 1,
            shown: None,
        };
        assert_eq!(texts(s.arrive(note, now)), ["m2"]);
    }

    #[test]
    fn a_catch_up_releases_what_it_covers_and_keeps_the_rest_in_order() {
        let now = Instant::now();
        let mut s = CaseSequence::default();
        let (three, _) = shown(3);
        let (five, _) = shown(5);
        s.arrive(three, now);
        s.arrive(five, now);
        // The database had 1..=3 when read: 3 came in the backlog.
        assert!(s.caught_up(3, None, now).is_empty());
        assert!(s.gap_deadline().is_some(), "5 still waits for 4");
        let (four, _) = shown(4);
        assert_eq!(texts(s.arrive(four, now)), ["m4", "m5"]);
    }

    #[test]
    fn entries_in_order_go_straight_through() {
        let now = Instant::now();
        let mut s = CaseSequence::after(None);
        let (one, id1) = shown(1);
        assert_eq!(texts(s.arrive(one, now)), ["m1"]);
        assert_eq!(s.newest(), Some(id1));
        let hidden = Arrival {
            seq: 2,
            shown: None,
        };
        assert!(s.arrive(hidden, now).is_empty());
        let (three, id3) = shown(3);
        assert_eq!(texts(s.arrive(three.clone(), now)), ["m3"]);
        assert!(s.arrive(three, now).is_empty(), "a repeat is written once");
        assert_eq!(s.newest(), Some(id3));
        assert_eq!(s.gap_deadline(), None);
    }

    #[test]
    fn followed_cases_are_kept_replaced_and_dropped_by_case() {
        let (a, b) = (CaseId::new(), CaseId::new());
        let mut f = Followed::default();
        f.insert(a, CaseSequence::after(None));
        f.insert(b, CaseSequence::after(None));
        let (one, id1) = shown(1);
        assert_eq!(
            texts(f.get_mut(a).expect("a").arrive(one, Instant::now())),
            ["m1"]
        );
        let newest = |f: &Followed| {
            f.iter()
                .find(|(c, _)| *c == a)
                .and_then(|(_, s)| s.newest())
        };
        assert_eq!(newest(&f), Some(id1));
        // Following again starts over from what the client says it has.
        f.insert(a, CaseSequence::after(None));
        assert_eq!(newest(&f), None);
        assert!(f.contains(a));
        assert_eq!(f.cases().collect::<Vec<_>>(), [a, b]);
        f.remove(a);
        assert!(!f.contains(a) && f.contains(b));
        assert!(f.get_mut(a).is_none());
    }
}
