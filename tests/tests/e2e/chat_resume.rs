//! Exact resume: many people write into one case at once (chat, notes and
//! portal replies), while readers are killed at random points and come back
//! with `since` set to the last entry they received. Every reader must end
//! with every entry it may see exactly once, in thread order.

use std::cell::RefCell;
use std::rc::Rc;
use std::time::{Duration, Instant};

use rapport_tests::chat_client::ChatClient;
use rapport_tests::http::call;
use rapport_tests::{Backend, RapportProcess, TestApp, TestDatabase, e2e_test, rapport_bin};
use serde_json::{Value, json};

use super::directory::world;

/// Messages each sender writes.
const PER_SENDER: usize = 40;
/// How long a reader may take to see the whole thread once writing stopped.
const SETTLE: Duration = Duration::from_secs(30);

fn client() -> awc::Client {
    awc::Client::builder()
        .timeout(Duration::from_secs(30))
        .finish()
}

/// A small deterministic generator, so a failing run can be replayed.
struct Dice(u64);

impl Dice {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

/// Who reads, and from which nodes (a reconnect may land on another one).
struct Reader {
    name: String,
    token: String,
    staff: bool,
    bases: Vec<String>,
}

/// The ids of the entries a reader received, in the order received.
async fn read_with_kills(
    reader: Reader,
    case: String,
    seed: u64,
    last_entry: Rc<RefCell<Option<String>>>,
    joined: Rc<RefCell<usize>>,
) -> Vec<String> {
    let mut dice = Dice(seed | 1);
    let mut got: Vec<String> = Vec::new();
    let mut connections = 0usize;
    let mut settle_deadline: Option<Instant> = None;
    loop {
        let base = &reader.bases[connections % reader.bases.len()];
        connections += 1;
        let (mut ws, _) = ChatClient::connect_to(base, &reader.token).await;
        let mut join = json!({"type": "join", "case_id": case});
        if let Some(last) = got.last() {
            join["since"] = json!(last);
        }
        ws.send(join).await;
        // Killed after this many entry frames, while writing goes on.
        let mut lives = 1 + dice.below(12);
        loop {
            let done_writing = last_entry.borrow().clone();
            if let Some(last) = &done_writing {
                if got.last() == Some(last) {
                    drop(ws);
                    return got;
                }
                let deadline = *settle_deadline.get_or_insert_with(|| Instant::now() + SETTLE);
                assert!(
                    Instant::now() < deadline,
                    "{} (seed {seed}) never received the last entry {last}; got {} entries",
                    reader.name,
                    got.len()
                );
            }
            let Some(frame) = ws.recv_within(Duration::from_millis(200)).await else {
                if ws.closed.is_some() {
                    break;
                }
                continue;
            };
            let entries: Vec<Value> = match frame["type"].as_str() {
                Some("backlog") => {
                    if connections == 1 && frame["complete"] == true {
                        // The whole thread so far fits the join's page.
                        *joined.borrow_mut() += 1;
                    }
                    frame["entries"].as_array().cloned().unwrap_or_default()
                }
                Some("message") => vec![frame["entry"].clone()],
                _ => continue,
            };
            for e in &entries {
                assert_eq!(e["case_id"], case.as_str());
                assert!(
                    reader.staff || e["kind"] != "note",
                    "{} received an internal note",
                    reader.name
                );
                got.push(e["id"].as_str().expect("entry id").to_owned());
            }
            if done_writing.is_none() && !entries.is_empty() {
                lives = lives.saturating_sub(1);
                if lives == 0 {
                    // Killed: the socket goes without a close frame.
                    drop(ws);
                    break;
                }
            }
        }
    }
}

/// Sends chat messages one after another (notes too, for staff), resending
/// what the rate limit turned away.
async fn chat_sender(base: String, token: String, case: String, tag: &'static str, notes: bool) {
    let (mut ws, _) = ChatClient::connect_to(&base, &token).await;
    ws.send(json!({"type": "join", "case_id": case})).await;
    for i in 0..PER_SENDER {
        let id = format!("{tag}-{i}");
        let frame = json!({
            "type": "send", "case_id": case, "client_message_id": id,
            "body": format!("{tag} message {i}"), "note": notes && i % 4 == 0,
        });
        loop {
            ws.send(frame.clone()).await;
            let answer = loop {
                let f = ws.recv().await.expect("the sender's connection stays open");
                let about = f["client_message_id"].as_str().or(f["about"].as_str());
                if (f["type"] == "ack" || f["type"] == "error") && about == Some(id.as_str()) {
                    break f;
                }
            };
            if answer["type"] == "ack" {
                break;
            }
            assert_eq!(answer["code"], "rate_limited", "{answer}");
            actix_web::rt::time::sleep(Duration::from_millis(100)).await;
        }
    }
    ws.close().await;
}

async fn portal_sender(base: String, token: String, case: String) {
    for i in 0..PER_SENDER {
        let (status, body) = call(
            &client(),
            "POST",
            format!("{base}/api/v1/cases/{case}/entries"),
            Some(&token),
            Some(json!({"kind": "portal", "body": format!("portal reply {i}")})),
        )
        .await;
        assert_eq!(status, 201, "{body}");
    }
}

/// The whole thread as staff see it: (id, kind, seq), oldest first.
async fn thread(base: &str, staff_token: &str, case: &str) -> Vec<(String, String, i64)> {
    let mut out = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut path = format!("{base}/api/v1/cases/{case}/entries?limit=200");
        if let Some(c) = &cursor {
            path.push_str(&format!("&cursor={c}"));
        }
        let (status, page) = call(&client(), "GET", path, Some(staff_token), None).await;
        assert_eq!(status, 200, "{page}");
        for e in page["items"].as_array().expect("items") {
            out.push((
                e["id"].as_str().unwrap().to_owned(),
                e["kind"].as_str().unwrap().to_owned(),
                e["seq"].as_i64().expect("every entry has its place"),
            ));
        }
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => return out,
        }
    }
}

/// Writers on `write_bases`, readers on `read_bases`; checks every reader.
async fn exercise(
    write_bases: &[String],
    read_bases: &[String],
    agent: &str,
    contact: &str,
    case: &str,
) {
    let last_entry: Rc<RefCell<Option<String>>> = Rc::new(RefCell::new(None));
    let seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64;
    let joined: Rc<RefCell<usize>> = Rc::new(RefCell::new(0));
    let readers: Vec<_> = (0..4)
        .map(|i| {
            let staff = i % 2 == 0;
            let reader = Reader {
                name: format!("{} reader {i}", if staff { "staff" } else { "contact" }),
                token: if staff { agent } else { contact }.to_owned(),
                staff,
                bases: read_bases.to_vec(),
            };
            actix_web::rt::spawn(read_with_kills(
                reader,
                case.to_owned(),
                seed.wrapping_add(i),
                last_entry.clone(),
                joined.clone(),
            ))
        })
        .collect();
    // Writing starts once every reader holds the thread so far.
    let ready = Instant::now() + Duration::from_secs(20);
    while *joined.borrow() < 4 {
        assert!(Instant::now() < ready, "readers joined");
        actix_web::rt::time::sleep(Duration::from_millis(20)).await;
    }

    let base = |i: usize| write_bases[i % write_bases.len()].clone();
    let writers = vec![
        actix_web::rt::spawn(chat_sender(
            base(0),
            agent.to_owned(),
            case.to_owned(),
            "agent-a",
            true,
        )),
        actix_web::rt::spawn(chat_sender(
            base(1),
            agent.to_owned(),
            case.to_owned(),
            "agent-b",
            false,
        )),
        actix_web::rt::spawn(chat_sender(
            base(0),
            contact.to_owned(),
            case.to_owned(),
            "contact",
            false,
        )),
        actix_web::rt::spawn(portal_sender(base(1), agent.to_owned(), case.to_owned())),
    ];
    for w in writers {
        w.await.expect("writer finished");
    }

    let all = thread(&write_bases[0], agent, case).await;
    let places: Vec<i64> = all.iter().map(|(_, _, s)| *s).collect();
    let gap_free: Vec<i64> = (1..=all.len() as i64).collect();
    assert_eq!(places, gap_free, "places are 1..n in thread order");
    let public: Vec<String> = all
        .iter()
        .filter(|(_, kind, _)| kind != "note")
        .map(|(id, _, _)| id.clone())
        .collect();
    let everything: Vec<String> = all.iter().map(|(id, _, _)| id.clone()).collect();
    assert!(public.len() < everything.len(), "some entries are notes");
    assert!(
        public.last() == everything.last(),
        "the thread ends with an entry everyone sees"
    );
    *last_entry.borrow_mut() = everything.last().cloned();

    for (i, r) in readers.into_iter().enumerate() {
        let got = r.await.expect("reader finished");
        let want = if i % 2 == 0 { &everything } else { &public };
        assert_eq!(
            got.len(),
            want.len(),
            "reader {i} (seed {}): every entry exactly once",
            seed.wrapping_add(i as u64)
        );
        assert_eq!(&got, want, "reader {i}: in thread order");
    }
}

async fn one_node(db: &TestDatabase) {
    let app = TestApp::spawn_with(db, |s| {
        s.chat.frames_per_second = 1_000;
        s.chat.burst = 1_000;
    })
    .await;
    let w = world(&app, db).await;
    let bases = vec![app.base_url.clone()];
    exercise(&bases, &bases, &w.agent_in, &w.contact_in, &w.acme_case).await;
}

e2e_test!(readers_killed_at_random_resume_with_every_entry_exactly_once);
async fn readers_killed_at_random_resume_with_every_entry_exactly_once(db: &TestDatabase) {
    one_node(db).await
}

#[actix_web::test]
async fn across_two_nodes_resumed_readers_get_every_entry_exactly_once() {
    let Some(db) = TestDatabase::create(Backend::Postgres) else {
        return;
    };
    let env = [
        ("RAPPORT_CHAT__FRAMES_PER_SECOND", "1000"),
        ("RAPPORT_CHAT__BURST", "1000"),
    ];
    let mut node_a = RapportProcess::serve(rapport_bin!(), &db, &[], &env);
    let a = format!("http://{}", node_a.wait_ready(Duration::from_secs(60)));
    let mut node_b = RapportProcess::serve(rapport_bin!(), &db, &[], &env);
    let b = format!("http://{}", node_b.wait_ready(Duration::from_secs(60)));
    let (agent, _, contact) = super::chat_nodes::account_with_team(&db, &a).await;
    let agent = super::chat_nodes::login(&a, &agent).await;
    let (mut ws, _) = ChatClient::connect_to(&b, &contact).await;
    ws.send(json!({"type": "start", "client_message_id": "s-1", "body": "Shipment questions"}))
        .await;
    let case = ws.next_of("ack").await["case_id"]
        .as_str()
        .unwrap()
        .to_owned();
    ws.close().await;
    let both = vec![a.clone(), b.clone()];
    exercise(&both, &both, &agent, &contact, &case).await;
    node_a.signal("TERM");
    node_b.signal("TERM");
    node_a.wait_exit(Duration::from_secs(20));
    node_b.wait_exit(Duration::from_secs(20));
}
