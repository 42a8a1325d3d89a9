//! The rooms of one node: which connection follows which case, who is
//! online here and on the other nodes, and delivery into each
//! connection's bounded mailbox.
//!
//! Everything here is synchronous and quick (a mutex around maps, then a
//! push into each mailbox), so use cases running on blocking threads
//! publish directly.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use rapport_domain::{CaseId, EntryId};

use crate::bus::{BusEvent, Envelope, Fanout, NodeId};
use crate::mailbox::Mailbox;
use crate::protocol::{Person, PersonKind, ServerFrame, close};

/// A connection on this node.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ConnectionId(u64);

/// What a connection's writer sends next. Kept to a few words, since a
/// burst queues many of them on every follower: what an event carries is
/// built once and shared by every receiver.
#[derive(Debug, Clone)]
pub enum Outbound {
    /// A serialised frame, shared by every receiver.
    Frame(Arc<str>),
    /// A thread entry: the writer puts it in thread order and drops what
    /// it already delivered (a backlog and a live message may overlap).
    Entry(Arc<QueuedEntry>),
    /// An entry this connection may not see (an internal note, for a
    /// contact): only its place in the thread, so later ones are not held
    /// back waiting for it.
    Hidden(Box<(CaseId, i64)>),
    /// Events may have been lost between nodes: fetch what was missed.
    Resync,
    /// What a contact may read may have shrunk (a case's participants or
    /// category changed, or the contact did): check again before going on.
    Recheck(Box<Recheck>),
}

/// A thread entry as every follower's queue holds it.
#[derive(Debug)]
pub struct QueuedEntry {
    pub case_id: CaseId,
    pub entry_id: EntryId,
    pub seq: i64,
    pub frame: Arc<str>,
}

/// A check of what a contact may read: for one case or for every case
/// followed, then write `then` if the case is still theirs.
#[derive(Debug, Clone)]
pub struct Recheck {
    pub case_id: Option<CaseId>,
    pub then: Option<Arc<str>>,
}

/// A connection's end of the hub.
#[derive(Debug)]
pub struct Connection {
    pub id: ConnectionId,
    pub mailbox: Arc<Mailbox>,
}

/// Why a join was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum JoinError {
    #[error("a connection follows at most {0} cases at once")]
    TooMany(usize),
    #[error("the connection is closed")]
    Gone,
}

#[derive(Debug)]
struct Conn {
    person: Person,
    mailbox: Arc<Mailbox>,
    cases: HashSet<CaseId>,
}

impl Conn {
    fn is_staff(&self) -> bool {
        self.person.kind == PersonKind::Staff
    }
}

#[derive(Debug, Default)]
struct Room {
    local: HashSet<ConnectionId>,
    /// Staff ids of the case's team, for "who of the team is online".
    team: HashSet<String>,
}

#[derive(Debug)]
struct RemotePerson {
    person: Person,
    online: bool,
    cases: HashSet<CaseId>,
}

#[derive(Debug)]
struct RemoteNode {
    last_seen: Instant,
    people: HashMap<String, RemotePerson>,
}

#[derive(Debug, Default)]
struct State {
    conns: HashMap<ConnectionId, Conn>,
    /// The connections of each person here, by `Person::key`.
    people: HashMap<String, (Person, HashSet<ConnectionId>)>,
    rooms: HashMap<CaseId, Room>,
    remote: HashMap<NodeId, RemoteNode>,
}

/// The hub of one node. Share it behind an `Arc`.
#[derive(Debug)]
pub struct Hub {
    node: NodeId,
    fanout: Arc<dyn Fanout>,
    state: Mutex<State>,
    next: AtomicU64,
    /// A node silent for this long is presumed gone.
    node_timeout: Duration,
}

fn frame(f: &ServerFrame) -> Arc<str> {
    // Serialising our own frame types cannot fail (no maps with non-string
    // keys, no custom serialisers that error).
    Arc::from(serde_json::to_string(f).unwrap_or_else(|_| String::from("{}")))
}

impl Hub {
    pub fn new(node: NodeId, fanout: Arc<dyn Fanout>, node_timeout: Duration) -> Hub {
        Hub {
            node,
            fanout,
            state: Mutex::new(State::default()),
            next: AtomicU64::new(1),
            node_timeout,
        }
    }

    pub fn node(&self) -> &NodeId {
        &self.node
    }

    pub fn fanout_name(&self) -> &'static str {
        self.fanout.name()
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock leaves maps that are still
        // consistent enough to deliver; never take the node down for it.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The id other nodes see for a connection (typing echo suppression).
    pub fn wire_id(&self, id: ConnectionId) -> String {
        format!("{}/{}", self.node, id.0)
    }

    pub fn connect(&self, person: Person, queue: usize) -> Connection {
        let id = ConnectionId(self.next.fetch_add(1, Ordering::Relaxed));
        let mailbox = Arc::new(Mailbox::new(queue));
        let mut st = self.lock();
        let first = !st.people.contains_key(&person.key());
        st.people
            .entry(person.key())
            .or_insert_with(|| (person.clone(), HashSet::new()))
            .1
            .insert(id);
        st.conns.insert(
            id,
            Conn {
                person: person.clone(),
                mailbox: mailbox.clone(),
                cases: HashSet::new(),
            },
        );
        self.person_changed(&mut st, &person, &[], first);
        drop(st);
        Connection { id, mailbox }
    }

    pub fn disconnect(&self, id: ConnectionId) {
        let mut st = self.lock();
        let Some(conn) = st.conns.remove(&id) else {
            return;
        };
        let key = conn.person.key();
        let mut last = false;
        if let Some((_, ids)) = st.people.get_mut(&key) {
            ids.remove(&id);
            if ids.is_empty() {
                st.people.remove(&key);
                last = true;
            }
        }
        let cases: Vec<CaseId> = conn.cases.iter().copied().collect();
        for case in &cases {
            if let Some(room) = st.rooms.get_mut(case) {
                room.local.remove(&id);
                if room.local.is_empty() {
                    st.rooms.remove(case);
                }
            }
        }
        self.person_changed(&mut st, &conn.person, &cases, last);
    }

    /// Follows a case; `team` is the staff ids of the case's team.
    pub fn join(
        &self,
        id: ConnectionId,
        case: CaseId,
        team: Vec<String>,
        max_cases: usize,
    ) -> Result<(), JoinError> {
        let mut st = self.lock();
        let conn = st.conns.get_mut(&id).ok_or(JoinError::Gone)?;
        if !conn.cases.contains(&case) && conn.cases.len() >= max_cases {
            return Err(JoinError::TooMany(max_cases));
        }
        conn.cases.insert(case);
        let person = conn.person.clone();
        let room = st.rooms.entry(case).or_default();
        room.local.insert(id);
        room.team = team.into_iter().collect();
        self.person_changed(&mut st, &person, &[case], false);
        Ok(())
    }

    pub fn leave(&self, id: ConnectionId, case: CaseId) {
        let mut st = self.lock();
        let Some(conn) = st.conns.get_mut(&id) else {
            return;
        };
        if !conn.cases.remove(&case) {
            return;
        }
        let person = conn.person.clone();
        if let Some(room) = st.rooms.get_mut(&case) {
            room.local.remove(&id);
            if room.local.is_empty() {
                st.rooms.remove(&case);
            }
        }
        self.person_changed(&mut st, &person, &[case], false);
    }

    /// Delivers to this node's connections only (committed changes: the
    /// other nodes read them from the log).
    pub fn deliver_here(&self, event: &BusEvent) {
        self.deliver(event);
    }

    /// Tells the other nodes, without delivering here.
    pub fn announce(&self, event: BusEvent) {
        self.fanout.publish(&Envelope {
            node: self.node.clone(),
            event,
        });
    }

    /// Delivers here and on every other node.
    pub fn publish(&self, event: BusEvent) {
        self.deliver(&event);
        self.fanout.publish(&Envelope {
            node: self.node.clone(),
            event,
        });
    }

    /// An event from another node.
    pub fn receive(&self, envelope: Envelope) {
        if envelope.node == self.node {
            return;
        }
        let mut st = self.lock();
        let node = st
            .remote
            .entry(envelope.node.clone())
            .or_insert_with(|| RemoteNode {
                last_seen: Instant::now(),
                people: HashMap::new(),
            });
        node.last_seen = Instant::now();
        match envelope.event {
            BusEvent::PersonState { who, online, cases } => {
                let key = who.key();
                let (was_online, before): (bool, HashSet<CaseId>) = node
                    .people
                    .get(&key)
                    .map(|p| (p.online, p.cases.clone()))
                    .unwrap_or_default();
                let after: HashSet<CaseId> = cases.iter().copied().collect();
                if !online && cases.is_empty() {
                    node.people.remove(&key);
                } else {
                    node.people.insert(
                        key,
                        RemotePerson {
                            person: who.clone(),
                            online,
                            cases: cases.iter().copied().collect(),
                        },
                    );
                }
                // Only rooms whose followers changed, and the team's rooms
                // when the person came online or went offline.
                let touched: HashSet<CaseId> =
                    before.symmetric_difference(&after).copied().collect();
                self.refresh_presence(&st, &who, touched, was_online != online);
            }
            BusEvent::Hello => {
                self.republish(&st);
            }
            BusEvent::Alive => {}
            other => {
                drop(st);
                self.deliver(&other);
            }
        }
    }

    /// Periodic upkeep: says this node is alive and forgets nodes that
    /// stopped saying so (their people go offline everywhere).
    pub fn tick(&self) {
        self.fanout.publish(&Envelope {
            node: self.node.clone(),
            event: BusEvent::Alive,
        });
        let mut st = self.lock();
        let timeout = self.node_timeout;
        let gone: Vec<NodeId> = st
            .remote
            .iter()
            .filter(|(_, n)| n.last_seen.elapsed() > timeout)
            .map(|(id, _)| id.clone())
            .collect();
        for id in gone {
            if let Some(node) = st.remote.remove(&id) {
                tracing::warn!(node = %id, "chat node went silent; forgetting its connections");
                for p in node.people.into_values() {
                    self.refresh_presence(&st, &p.person, p.cases, p.online);
                }
            }
        }
    }

    /// After the bus may have lost events: every connection fetches what
    /// it missed, and every node republishes who is where.
    pub fn resync(&self) {
        let st = self.lock();
        for conn in st.conns.values() {
            let _ = conn.mailbox.push(Outbound::Resync);
        }
        self.fanout.publish(&Envelope {
            node: self.node.clone(),
            event: BusEvent::Hello,
        });
        self.republish(&st);
    }

    /// Closes every connection (shutdown).
    pub fn close_all(&self, code: u16) {
        for conn in self.lock().conns.values() {
            conn.mailbox.close(code);
        }
    }

    /// Of these staff ids, who is online on any node.
    pub fn online_staff(&self, staff_ids: &[String]) -> Vec<Person> {
        let st = self.lock();
        let wanted: HashSet<&String> = staff_ids.iter().collect();
        Self::online_among(&st, &wanted)
    }

    /// Whether any contact follows the case on any node.
    pub fn contact_following(&self, case: CaseId) -> bool {
        Self::in_case(&self.lock(), case)
            .iter()
            .any(|p| p.kind == PersonKind::Contact)
    }

    fn push(conn: &Conn, out: Outbound) {
        if conn.mailbox.push(out).is_err() {
            conn.mailbox.close(close::SLOW_CONSUMER);
        }
    }

    fn deliver(&self, event: &BusEvent) {
        let st = self.lock();
        match event {
            BusEvent::Entry { entry } => {
                let queued = Arc::new(QueuedEntry {
                    case_id: entry.case_id,
                    entry_id: entry.id,
                    seq: entry.seq,
                    frame: frame(&ServerFrame::Message {
                        entry: entry.clone(),
                    }),
                });
                for conn in Self::room_conns(&st, entry.case_id) {
                    let out = if entry.is_note() && !conn.is_staff() {
                        Outbound::Hidden(Box::new((entry.case_id, entry.seq)))
                    } else {
                        Outbound::Entry(queued.clone())
                    };
                    Self::push(conn, out);
                }
            }
            BusEvent::EntryUpdated { entry } => {
                let f = frame(&ServerFrame::EntryUpdated {
                    entry: entry.clone(),
                });
                for conn in Self::room_conns(&st, entry.case_id) {
                    if entry.is_note() && !conn.is_staff() {
                        continue;
                    }
                    Self::push(conn, Outbound::Frame(f.clone()));
                }
            }
            BusEvent::Typing {
                case_id,
                who,
                active,
                note,
                connection,
            } => {
                let f = frame(&ServerFrame::Typing {
                    case_id: *case_id,
                    who: who.clone(),
                    active: *active,
                });
                let Some(room) = st.rooms.get(case_id) else {
                    return;
                };
                for id in &room.local {
                    if connection.as_deref() == Some(self.wire_id(*id).as_str()) {
                        continue;
                    }
                    if let Some(conn) = st.conns.get(id)
                        && (!note || conn.is_staff())
                    {
                        Self::push(conn, Outbound::Frame(f.clone()));
                    }
                }
            }
            BusEvent::Read {
                case_id,
                who,
                entry_id,
            } => {
                let f = frame(&ServerFrame::Read {
                    case_id: *case_id,
                    who: who.clone(),
                    entry_id: *entry_id,
                });
                for conn in Self::room_conns(&st, *case_id) {
                    Self::push(conn, Outbound::Frame(f.clone()));
                }
            }
            BusEvent::CaseUpdated { case, recheck } => {
                let f = frame(&ServerFrame::CaseUpdated { case: case.clone() });
                for conn in Self::room_conns(&st, case.id) {
                    // A contact's access may have gone with this change: the
                    // connection checks before it shows the case as it is now.
                    let out = if conn.is_staff() || !recheck {
                        Outbound::Frame(f.clone())
                    } else {
                        Outbound::Recheck(Box::new(Recheck {
                            case_id: Some(case.id),
                            then: Some(f.clone()),
                        }))
                    };
                    Self::push(conn, out);
                }
            }
            BusEvent::PersonState { .. }
            | BusEvent::Alive
            | BusEvent::Hello
            | BusEvent::Changed => {}
        }
    }

    /// Asks every connection of a person on this node to check again what
    /// they may read (their record changed).
    pub fn recheck_person(&self, key: &str) {
        let st = self.lock();
        let Some((_, ids)) = st.people.get(key) else {
            return;
        };
        for conn in ids.iter().filter_map(|id| st.conns.get(id)) {
            Self::push(
                conn,
                Outbound::Recheck(Box::new(Recheck {
                    case_id: None,
                    then: None,
                })),
            );
        }
    }

    fn room_conns(st: &State, case: CaseId) -> impl Iterator<Item = &Conn> {
        st.rooms
            .get(&case)
            .into_iter()
            .flat_map(|r| r.local.iter())
            .filter_map(|id| st.conns.get(id))
    }

    /// A person's state on this node, sent to the others, and presence
    /// refreshed in the rooms it touches here (and, when they came online
    /// or went offline, in the rooms of their teams).
    fn person_changed(&self, st: &mut State, person: &Person, touched: &[CaseId], flipped: bool) {
        let mine: Vec<&Conn> = st
            .people
            .get(&person.key())
            .into_iter()
            .flat_map(|(_, ids)| ids.iter())
            .filter_map(|id| st.conns.get(id))
            .collect();
        let online = !mine.is_empty();
        let cases: HashSet<CaseId> = mine.iter().flat_map(|c| c.cases.iter().copied()).collect();
        self.fanout.publish(&Envelope {
            node: self.node.clone(),
            event: BusEvent::PersonState {
                who: person.clone(),
                online,
                cases: cases.iter().copied().collect(),
            },
        });
        self.refresh_presence(st, person, touched.iter().copied().collect(), flipped);
    }

    fn republish(&self, st: &State) {
        for (who, ids) in st.people.values() {
            let cases: HashSet<CaseId> = ids
                .iter()
                .filter_map(|id| st.conns.get(id))
                .flat_map(|c| c.cases.iter().copied())
                .collect();
            let who = who.clone();
            self.fanout.publish(&Envelope {
                node: self.node.clone(),
                event: BusEvent::PersonState {
                    who,
                    online: true,
                    cases: cases.into_iter().collect(),
                },
            });
        }
    }

    /// Sends fresh presence to the local rooms a person's change affects:
    /// the cases they entered or left, and for staff every room of a team
    /// they belong to.
    fn refresh_presence(&self, st: &State, who: &Person, cases: HashSet<CaseId>, flipped: bool) {
        let mut rooms: HashSet<CaseId> = cases;
        if flipped
            && who.kind == PersonKind::Staff
            && let Some(id) = &who.id
        {
            rooms.extend(
                st.rooms
                    .iter()
                    .filter(|(_, r)| r.team.contains(id))
                    .map(|(c, _)| *c),
            );
        }
        for case in rooms {
            let Some(room) = st.rooms.get(&case) else {
                continue;
            };
            let team: HashSet<&String> = room.team.iter().collect();
            let in_case = Self::in_case(st, case);
            let team_online = Self::helping(st, &team, &in_case);
            let f = frame(&ServerFrame::Presence {
                case_id: case,
                in_case,
                team_online,
            });
            for conn in Self::room_conns(st, case) {
                Self::push(conn, Outbound::Frame(f.clone()));
            }
        }
    }

    /// Everyone following a case on any node, each person once, sorted by name.
    fn in_case(st: &State, case: CaseId) -> Vec<Person> {
        let mut seen: HashMap<String, Person> = HashMap::new();
        for conn in Self::room_conns(st, case) {
            seen.entry(conn.person.key())
                .or_insert_with(|| conn.person.clone());
        }
        for node in st.remote.values() {
            for (key, p) in &node.people {
                if p.cases.contains(&case) {
                    seen.entry(key.clone()).or_insert_with(|| p.person.clone());
                }
            }
        }
        let mut out: Vec<Person> = seen.into_values().collect();
        out.sort_by(|a, b| a.name.cmp(&b.name).then_with(|| a.id.cmp(&b.id)));
        out
    }

    /// Who of the staff helps with a case: its team's members online, and
    /// any staff member in the case now (an admin or a colleague outside
    /// the team answering it), each once, sorted by name.
    fn helping(st: &State, team: &HashSet<&String>, in_case: &[Person]) -> Vec<Person> {
        let mut out = Self::online_among(st, team);
        for p in in_case.iter().filter(|p| p.kind == PersonKind::Staff) {
            if !out.iter().any(|o| o.key() == p.key()) {
                out.push(p.clone());
            }
        }
        out.sort_by(|a, b| a.name.cmp(&b.name).then_with(|| a.id.cmp(&b.id)));
        out
    }

    fn online_among(st: &State, staff_ids: &HashSet<&String>) -> Vec<Person> {
        let mut seen: HashMap<String, Person> = HashMap::new();
        let wanted = |p: &Person| {
            p.kind == PersonKind::Staff && p.id.as_ref().is_some_and(|id| staff_ids.contains(id))
        };
        for (key, (person, _)) in &st.people {
            if wanted(person) {
                seen.entry(key.clone()).or_insert_with(|| person.clone());
            }
        }
        for node in st.remote.values() {
            for (key, p) in &node.people {
                if p.online && wanted(&p.person) {
                    seen.entry(key.clone()).or_insert_with(|| p.person.clone());
                }
            }
        }
        let mut out: Vec<Person> = seen.into_values().collect();
        out.sort_by(|a, b| a.name.cmp(&b.name).then_with(|| a.id.cmp(&b.id)));
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bus::SingleNode;
    use crate::protocol::EntryView;
    use chrono::Utc;

    #[test]
    fn a_queued_message_is_three_words() {
        // A burst to 5,000 followers queues one per follower: at 64 bytes
        // each, a 20-message burst held 6 MiB.
        assert!(std::mem::size_of::<Outbound>() <= 24);
    }

    /// Records what a node would send to the others.
    #[derive(Debug, Default)]
    struct Recorder(Mutex<Vec<Envelope>>);

    impl Fanout for Recorder {
        fn publish(&self, envelope: &Envelope) {
            self.0.lock().expect("lock").push(envelope.clone());
        }
        fn name(&self) -> &'static str {
            "recorder"
        }
    }

    fn hub() -> Hub {
        Hub::new(
            NodeId("a".into()),
            Arc::new(SingleNode),
            Duration::from_secs(30),
        )
    }

    fn staff(id: &str) -> Person {
        Person::new(PersonKind::Staff, id, &format!("Agent {id}"))
    }

    fn contact(id: &str) -> Person {
        Person::new(PersonKind::Contact, id, &format!("Client {id}"))
    }

    fn entry(case: CaseId, kind: &str) -> EntryView {
        EntryView {
            id: EntryId::new(),
            case_id: case,
            kind: kind.into(),
            author: contact("c1"),
            body: "hello".into(),
            client_message_id: None,
            created_at: Utc::now(),
            version: 1,
            redacted: false,
            seq: 1,
        }
    }

    fn drain(c: &mut Connection) -> Vec<String> {
        let mut out = Vec::new();
        while let Some(o) = c.mailbox.try_take() {
            match o {
                Outbound::Frame(f) => out.push(f.to_string()),
                Outbound::Entry(e) => out.push(e.frame.to_string()),
                Outbound::Hidden(_) => {}
                Outbound::Resync => out.push("resync".into()),
                Outbound::Recheck(r) => out.extend(r.then.map(|f| f.to_string())),
            }
        }
        out
    }

    #[test]
    fn notes_reach_staff_only() {
        let hub = hub();
        let case = CaseId::new();
        let mut a = hub.connect(staff("s1"), 16);
        let mut c = hub.connect(contact("c1"), 16);
        hub.join(a.id, case, vec!["s1".into()], 10).expect("join");
        hub.join(c.id, case, vec!["s1".into()], 10).expect("join");
        drain(&mut a);
        drain(&mut c);
        hub.publish(BusEvent::Entry {
            entry: entry(case, "note"),
        });
        hub.publish(BusEvent::Entry {
            entry: entry(case, "chat"),
        });
        assert_eq!(drain(&mut a).len(), 2);
        let seen = drain(&mut c);
        assert_eq!(seen.len(), 1);
        assert!(seen[0].contains(r#""kind":"chat""#));
    }

    #[test]
    fn presence_shows_the_team_online_and_who_follows() {
        let hub = hub();
        let case = CaseId::new();
        let mut c = hub.connect(contact("c1"), 16);
        hub.join(c.id, case, vec!["s1".into()], 10).expect("join");
        let first = drain(&mut c);
        assert!(
            first
                .last()
                .is_some_and(|f| f.contains(r#""team_online":[]"#))
        );
        let a = hub.connect(staff("s1"), 16);
        let after = drain(&mut c);
        assert!(
            after.last().is_some_and(|f| f.contains("Agent s1")),
            "{after:?}"
        );
        hub.disconnect(a.id);
        let gone = drain(&mut c);
        assert!(
            gone.last()
                .is_some_and(|f| f.contains(r#""team_online":[]"#))
        );
        // Staff outside the team who enter the case help too.
        let admin = hub.connect(staff("s9"), 16);
        hub.join(admin.id, case, vec!["s1".into()], 10)
            .expect("join");
        let helped = drain(&mut c);
        let last = helped.last().expect("presence").clone();
        assert!(
            last.contains(r#""team_online":[{"#) && last.contains("Agent s9"),
            "{helped:?}"
        );
    }

    #[test]
    fn a_full_queue_closes_the_slow_connection() {
        let hub = hub();
        let case = CaseId::new();
        let a = hub.connect(staff("s1"), 2);
        hub.join(a.id, case, vec![], 10).expect("join");
        for _ in 0..5 {
            hub.publish(BusEvent::Entry {
                entry: entry(case, "chat"),
            });
        }
        assert_eq!(a.mailbox.close_code(), Some(close::SLOW_CONSUMER));
    }

    #[test]
    fn joins_are_capped_per_connection() {
        let hub = hub();
        let a = hub.connect(staff("s1"), 8);
        hub.join(a.id, CaseId::new(), vec![], 1).expect("first");
        assert_eq!(
            hub.join(a.id, CaseId::new(), vec![], 1),
            Err(JoinError::TooMany(1))
        );
    }

    #[test]
    fn typing_skips_the_typist_and_hides_notes_from_contacts() {
        let hub = hub();
        let case = CaseId::new();
        let mut a = hub.connect(staff("s1"), 16);
        let mut b = hub.connect(staff("s2"), 16);
        let mut c = hub.connect(contact("c1"), 16);
        for conn in [&a, &b, &c] {
            hub.join(conn.id, case, vec![], 10).expect("join");
        }
        drain(&mut a);
        drain(&mut b);
        drain(&mut c);
        hub.publish(BusEvent::Typing {
            case_id: case,
            who: staff("s1"),
            active: true,
            note: true,
            connection: Some(hub.wire_id(a.id)),
        });
        assert!(drain(&mut a).is_empty());
        assert_eq!(drain(&mut b).len(), 1);
        assert!(drain(&mut c).is_empty());
    }

    #[test]
    fn remote_people_count_until_their_node_goes_silent() {
        let rec = Arc::new(Recorder::default());
        let hub = Hub::new(NodeId("a".into()), rec.clone(), Duration::from_millis(0));
        let case = CaseId::new();
        let mut c = hub.connect(contact("c1"), 64);
        hub.join(c.id, case, vec!["s9".into()], 10).expect("join");
        assert!(
            rec.0
                .lock()
                .expect("lock")
                .iter()
                .any(|e| matches!(&e.event, BusEvent::PersonState { online: true, .. }))
        );
        drain(&mut c);
        hub.receive(Envelope {
            node: NodeId("b".into()),
            event: BusEvent::PersonState {
                who: staff("s9"),
                online: true,
                cases: vec![case],
            },
        });
        let seen = drain(&mut c);
        assert!(
            seen.last().is_some_and(|f| f.contains("Agent s9")),
            "{seen:?}"
        );
        assert_eq!(hub.online_staff(&["s9".into()]).len(), 1);
        std::thread::sleep(Duration::from_millis(5));
        hub.tick();
        assert!(hub.online_staff(&["s9".into()]).is_empty());
        assert!(
            drain(&mut c)
                .last()
                .is_some_and(|f| f.contains(r#""in_case":[{"kind":"contact""#))
        );
    }

    #[test]
    fn own_events_coming_back_are_ignored() {
        let hub = hub();
        let case = CaseId::new();
        let mut a = hub.connect(staff("s1"), 16);
        hub.join(a.id, case, vec![], 10).expect("join");
        drain(&mut a);
        hub.receive(Envelope {
            node: NodeId("a".into()),
            event: BusEvent::Entry {
                entry: entry(case, "chat"),
            },
        });
        assert!(drain(&mut a).is_empty());
    }
}
