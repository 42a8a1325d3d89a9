//! Chat across real `rapport serve` processes: fan-out between two nodes on
//! one PostgreSQL, and acknowledged messages surviving SIGKILL.

use std::collections::HashMap;
use std::time::Duration;

use futures_util::StreamExt;
use rapport_tests::http::{call, contact_token_by_link};
use rapport_tests::{
    Backend, ChatClient, RapportProcess, TestDatabase, e2e_test, rapport_bin, seed,
};
use serde_json::{Value, json};

const READY: Duration = Duration::from_secs(60);

fn client() -> awc::Client {
    awc::Client::builder()
        .timeout(Duration::from_secs(30))
        .finish()
}

pub(crate) async fn login(base: &str, who: &(String, String)) -> String {
    let (status, tokens) = call(
        &client(),
        "POST",
        format!("{base}/api/v1/auth/login"),
        None,
        Some(json!({"email": who.0, "password": who.1})),
    )
    .await;
    assert_eq!(status, 200, "{tokens}");
    tokens["access_token"].as_str().unwrap().to_owned()
}

async fn created(base: &str, token: &str, path: &str, body: Value) -> Value {
    let (status, v) = call(
        &client(),
        "POST",
        format!("{base}{path}"),
        Some(token),
        Some(body),
    )
    .await;
    assert_eq!(status, 201, "{path}: {v}");
    v
}

/// An account served by a team with one agent, and a contact signed in.
/// Returns (agent credentials, agent id, contact token).
pub(crate) async fn account_with_team(
    db: &TestDatabase,
    base: &str,
) -> ((String, String), String, String) {
    let admin = login(base, &seed::staff(db, "admin")).await;
    let agent = seed::staff(db, "agent");
    let agent_token = login(base, &agent).await;
    let (_, me) = call(
        &client(),
        "GET",
        format!("{base}/api/v1/me"),
        Some(&agent_token),
        None,
    )
    .await;
    let agent_id = me["id"].as_str().unwrap().to_owned();
    let team = created(
        base,
        &admin,
        "/api/v1/teams",
        json!({"name": "Key Accounts"}),
    )
    .await;
    let team_id = team["id"].as_str().unwrap();
    let (status, _) = call(
        &client(),
        "PUT",
        format!("{base}/api/v1/teams/{team_id}/members/{agent_id}"),
        Some(&admin),
        Some(json!({"role": "member"})),
    )
    .await;
    assert_eq!(status, 200);
    let acme = created(
        base,
        &admin,
        "/api/v1/accounts",
        json!({"name": "Acme Manufacturing", "domains": ["acme.example"], "team_id": team_id}),
    )
    .await;
    let acme = acme["id"].as_str().unwrap();
    created(
        base,
        &admin,
        &format!("/api/v1/accounts/{acme}/contacts"),
        json!({"name": "Anna Finance", "emails": ["anna@acme.example"], "function": "finance"}),
    )
    .await;
    let contact = contact_token_by_link(&client(), base, db.data_dir(), "anna@acme.example").await;
    (agent, agent_id, contact)
}

/// Two `rapport serve` nodes on one PostgreSQL and data directory (its
/// secrets), with their base URLs.
fn two_nodes(db: &TestDatabase) -> (RapportProcess, String, RapportProcess, String) {
    let env = [("RAPPORT_CHAT__NODE_TIMEOUT_SECS", "5")];
    let mut node_a = RapportProcess::serve(rapport_bin!(), db, &[], &env);
    let a = format!("http://{}", node_a.wait_ready(READY));
    let mut node_b = RapportProcess::serve(rapport_bin!(), db, &[], &env);
    let b = format!("http://{}", node_b.wait_ready(READY));
    (node_a, a, node_b, b)
}

#[actix_web::test]
async fn two_server_processes_fan_out_to_each_other() {
    let Some(db) = TestDatabase::create(Backend::Postgres) else {
        return;
    };
    // Both nodes share the database and the data directory (its secrets).
    let (mut node_a, a, mut node_b, b) = two_nodes(&db);
    assert!(
        node_a.stderr_text().contains("postgres"),
        "node A uses the PostgreSQL bus"
    );

    let (agent, agent_id, contact_token) = account_with_team(&db, &a).await;
    let agent_token = login(&b, &agent).await;
    let (mut contact, _) = ChatClient::connect_to(&a, &contact_token).await;
    let (mut agent, _) = ChatClient::connect_to(&b, &agent_token).await;

    // Staff notifications cross nodes too: the agent's dashboard stream on B.
    let mut dashboard = awc::Client::new()
        .get(format!("{b}/api/v1/notifications/stream"))
        .bearer_auth(&agent_token)
        .send()
        .await
        .unwrap();
    assert_eq!(dashboard.status().as_u16(), 200);

    // The contact starts on node A; the agent follows from node B.
    contact.send(json!({"type": "start", "client_message_id": "s-1", "body": "Two invoices for one order"})).await;
    let case = contact.next_of("ack").await["case_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let mut stream_text = String::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while !stream_text.contains("chat_started") {
        let chunk = tokio::time::timeout_at(deadline, dashboard.next())
            .await
            .expect("a chat_started notification on node B");
        stream_text.push_str(&String::from_utf8_lossy(&chunk.unwrap().unwrap()));
    }
    assert!(stream_text.contains(&case), "{stream_text}");
    let seen = agent.join(&case, None).await;
    assert_eq!(seen[0]["body"], "Two invoices for one order");

    // Presence crosses nodes: the contact sees the agent online and following.
    let presence = contact
        .next_where("presence", |p| {
            p["team_online"]
                .as_array()
                .is_some_and(|a| a.iter().any(|x| x["id"] == agent_id.as_str()))
                && p["in_case"]
                    .as_array()
                    .is_some_and(|a| a.iter().any(|x| x["id"] == agent_id.as_str()))
        })
        .await;
    assert_eq!(presence["case_id"], case.as_str());

    // Typing and messages both ways.
    agent
        .send(json!({"type": "typing", "case_id": case, "active": true}))
        .await;
    assert_eq!(
        contact.next_of("typing").await["who"]["id"],
        agent_id.as_str()
    );
    let ack = agent
        .say(&case, "b-1", "I see both; cancelling the second one.")
        .await;
    let got = contact.next_of("message").await;
    assert_eq!(got["entry"]["id"], ack["entry_id"]);
    assert_eq!(got["entry"]["author"]["id"], agent_id.as_str());
    contact.say(&case, "a-1", "Thank you!").await;
    assert_eq!(
        agent
            .next_where("message", |m| m["entry"]["body"] == "Thank you!")
            .await["entry"]["author"]["kind"],
        "contact"
    );

    // A message larger than a NOTIFY payload still arrives whole.
    let long = "Line of the order history. ".repeat(350);
    contact.say(&case, "a-2", &long).await;
    let big = agent
        .next_where("message", |m| m["entry"]["client_message_id"] == "a-2")
        .await;
    assert_eq!(big["entry"]["body"].as_str().unwrap(), long.trim_end());

    // So does an edit that large, made on the other node.
    let edited = "Corrected order history. ".repeat(400);
    let res = client()
        .patch(format!(
            "{b}/api/v1/cases/{case}/entries/{}",
            ack["entry_id"].as_str().unwrap()
        ))
        .bearer_auth(&agent_token)
        .send_json(&json!({ "body": edited }))
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 200, "the agent edits their message");
    let update = contact
        .next_where("entry_updated", |m| m["entry"]["id"] == ack["entry_id"])
        .await;
    assert!(edited.len() > 8_000, "larger than a NOTIFY payload");
    assert_eq!(update["entry"]["body"].as_str().unwrap(), edited.trim_end());
    assert_eq!(update["entry"]["version"], 2);

    // Node B dies: after the node timeout, node A shows the agent offline.
    node_b.signal("KILL");
    node_b.wait_exit(Duration::from_secs(10));
    let offline = contact
        .next_where("presence", |p| {
            p["team_online"].as_array().is_some_and(Vec::is_empty)
        })
        .await;
    assert!(
        offline["in_case"]
            .as_array()
            .unwrap()
            .iter()
            .all(|x| x["kind"] != "staff")
    );
    contact.close().await;
    node_a.signal("TERM");
    node_a.wait_exit(Duration::from_secs(20));
}

e2e_test!(acknowledged_chat_messages_survive_a_killed_server);
async fn acknowledged_chat_messages_survive_a_killed_server(db: &TestDatabase) {
    const N: usize = 300;
    let env = [
        ("RAPPORT_CHAT__FRAMES_PER_SECOND", "10000"),
        ("RAPPORT_CHAT__BURST", "10000"),
    ];
    let mut server = RapportProcess::serve(rapport_bin!(), db, &[], &env);
    let base = format!("http://{}", server.wait_ready(READY));
    let (_, _, contact_token) = account_with_team(db, &base).await;
    let (mut contact, _) = ChatClient::connect_to(&base, &contact_token).await;
    contact
        .send(
            json!({"type": "start", "client_message_id": "start", "body": "Bulk order questions"}),
        )
        .await;
    let case = contact.next_of("ack").await["case_id"]
        .as_str()
        .unwrap()
        .to_owned();

    // Send everything at once, and kill the server once a third is acknowledged.
    for i in 0..N {
        contact.send(json!({"type": "send", "case_id": case, "client_message_id": format!("m-{i}"), "body": format!("line {i}")})).await;
    }
    let mut acked: HashMap<String, String> = HashMap::new();
    while acked.len() < N / 3 {
        let frame = contact.recv().await.expect("acks arrive");
        if frame["type"] == "ack" {
            acked.insert(
                frame["client_message_id"].as_str().unwrap().to_owned(),
                frame["entry_id"].as_str().unwrap().to_owned(),
            );
        }
    }
    server.signal("KILL");
    // Acks already on the wire count too.
    while let Some(frame) = contact.recv_within(Duration::from_secs(2)).await {
        if frame["type"] == "ack" {
            acked.insert(
                frame["client_message_id"].as_str().unwrap().to_owned(),
                frame["entry_id"].as_str().unwrap().to_owned(),
            );
        }
    }
    server.wait_exit(Duration::from_secs(10));
    assert!(
        acked.len() < N,
        "the kill came mid-stream ({} acked)",
        acked.len()
    );

    // Restarted, the client resends everything it sent, as a client
    // without its acks would.
    let mut again = RapportProcess::serve(rapport_bin!(), db, &[], &env);
    let base = format!("http://{}", again.wait_ready(READY));
    let (mut contact, _) = ChatClient::connect_to(&base, &contact_token).await;
    contact.join(&case, None).await;
    for i in 0..N {
        let id = format!("m-{i}");
        let ack = contact.say(&case, &id, &format!("line {i}")).await;
        if let Some(before) = acked.get(&id) {
            assert_eq!(ack["duplicate"], true, "{id} was stored before the kill");
            assert_eq!(ack["entry_id"].as_str().unwrap(), before);
        }
    }
    // Every message is in the thread exactly once.
    let agent = login(&base, &seed::staff(db, "admin")).await;
    let mut bodies: Vec<String> = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let path = match &cursor {
            Some(c) => format!("{base}/api/v1/cases/{case}/entries?limit=200&cursor={c}"),
            None => format!("{base}/api/v1/cases/{case}/entries?limit=200"),
        };
        let (status, page) = call(&client(), "GET", path, Some(&agent), None).await;
        assert_eq!(status, 200, "{page}");
        let items = page["items"].as_array().unwrap();
        bodies.extend(
            items
                .iter()
                .filter(|e| e["kind"] == "chat")
                .map(|e| e["body"].as_str().unwrap().to_owned()),
        );
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => break,
        }
    }
    for i in 0..N {
        let want = format!("line {i}");
        assert_eq!(bodies.iter().filter(|b| **b == want).count(), 1, "{want}");
    }
    again.signal("TERM");
    again.wait_exit(Duration::from_secs(20));
}

/// An administrator's session on the test database, to cut the nodes'
/// bus sessions and keep them from coming back for a while.
struct Saboteur {
    conn: diesel::PgConnection,
    /// On the server's maintenance database: a database cannot lock
    /// itself out from its own session.
    admin: diesel::PgConnection,
    database: String,
}

impl Saboteur {
    fn new(db: &TestDatabase) -> Saboteur {
        use diesel::Connection;
        let conn = diesel::PgConnection::establish(&db.url).expect("connect");
        let (server, database) = db.url.rsplit_once('/').unwrap();
        let admin = diesel::PgConnection::establish(&format!("{server}/postgres"))
            .expect("connect to the maintenance database");
        Saboteur {
            conn,
            admin,
            database: database.to_owned(),
        }
    }

    /// Ends every chat bus listener session: announcements sent until the
    /// nodes listen again are lost. Returns how many ended.
    fn end_listeners(&mut self) -> usize {
        use diesel::RunQueryDsl;
        #[derive(diesel::QueryableByName)]
        struct Ended {
            #[diesel(sql_type = diesel::sql_types::Bool)]
            ended: bool,
        }
        let rows: Vec<Ended> = diesel::sql_query(
            "SELECT pg_terminate_backend(pid) AS ended FROM pg_stat_activity \
             WHERE datname = current_database() AND query = 'LISTEN rapport_chat'",
        )
        .load(&mut self.conn)
        .expect("terminate listeners");
        rows.iter().filter(|r| r.ended).count()
    }

    /// Whether new sessions may open (open ones stay).
    fn allow_connections(&mut self, allow: bool) {
        use diesel::RunQueryDsl;
        diesel::sql_query(format!(
            "ALTER DATABASE \"{}\" WITH ALLOW_CONNECTIONS {allow}",
            self.database
        ))
        .execute(&mut self.admin)
        .expect("alter database");
    }
}

/// A chat ticket is signed by the installation's secret, so any node
/// admits it; its spend is recorded in the shared database, so no node
/// admits it twice.
#[actix_web::test]
async fn a_ticket_spent_on_one_node_is_refused_by_the_other() {
    let Some(db) = TestDatabase::create(Backend::Postgres) else {
        return;
    };
    let (_node_a, a, _node_b, b) = two_nodes(&db);
    let agent = login(&a, &seed::staff(&db, "agent")).await;
    let ticket = rapport_tests::chat_client::ticket(&a, &agent).await;
    let mut admitted = ChatClient::connect_with_ticket(&b, &ticket)
        .await
        .expect("node B admits a ticket node A issued");
    assert_eq!(admitted.next_of("hello").await["you"]["kind"], "staff");
    for node in [&a, &b] {
        assert_eq!(
            ChatClient::connect_with_ticket(node, &ticket).await.err(),
            Some(401),
            "{node} admitted a spent ticket"
        );
    }

    // Deactivated on node A, then a ticket taken before is tried at once
    // on node B: refused, whatever B has heard of the change yet.
    let ticket = rapport_tests::chat_client::ticket(&a, &agent).await;
    let admin = login(&a, &seed::staff(&db, "admin")).await;
    let (_, me) = call(
        &client(),
        "GET",
        format!("{a}/api/v1/me"),
        Some(&agent),
        None,
    )
    .await;
    let (status, body) = call(
        &client(),
        "PATCH",
        format!("{a}/api/v1/staff/{}", me["id"].as_str().unwrap()),
        Some(&admin),
        Some(json!({"active": false})),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        ChatClient::connect_with_ticket(&b, &ticket).await.err(),
        Some(401)
    );
    // The connection open on B since before ends as the change reaches it.
    assert!(
        admitted.closes_within(Duration::from_secs(15)).await,
        "a deactivated agent's chat on the other node stayed open"
    );
}

/// `/me` and the account list are served from each node's memory: a change
/// on one node reaches the other's through the change log, not when its
/// copy expires.
#[actix_web::test]
async fn a_change_on_one_node_shows_in_the_others_memory() {
    let Some(db) = TestDatabase::create(Backend::Postgres) else {
        return;
    };
    let (_node_a, a, _node_b, b) = two_nodes(&db);
    let admin = login(&a, &seed::staff(&db, "admin")).await;
    let agent = login(&b, &seed::staff(&db, "agent")).await;
    let me = |token: String| {
        let b = b.clone();
        async move {
            let (status, me) = call(
                &client(),
                "GET",
                format!("{b}/api/v1/me"),
                Some(&token),
                None,
            )
            .await;
            assert_eq!(status, 200, "{me}");
            me
        }
    };
    let before = me(agent.clone()).await;
    assert_eq!(before["display_name"], "Test Person");
    let id = before["id"].as_str().unwrap();
    let (status, body) = call(
        &client(),
        "PATCH",
        format!("{a}/api/v1/staff/{id}"),
        Some(&admin),
        Some(json!({"display_name": "Oskar Lind"})),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let asked = std::time::Instant::now();
    loop {
        let now = me(agent.clone()).await;
        if now["display_name"] == "Oskar Lind" {
            assert_eq!(now["avatar"]["initials"], "OL");
            break;
        }
        // Well inside the cached copy's 30 s lifetime.
        assert!(
            asked.elapsed() < Duration::from_secs(10),
            "node B still serves the old profile: {now}"
        );
        actix_web::rt::time::sleep(Duration::from_millis(50)).await;
    }

    // The account list too: B's page was rendered before A added one.
    let listed = |token: String| {
        let b = b.clone();
        async move {
            let (status, page) = call(
                &client(),
                "GET",
                format!("{b}/api/v1/accounts"),
                Some(&token),
                None,
            )
            .await;
            assert_eq!(status, 200, "{page}");
            page["items"].as_array().unwrap().len()
        }
    };
    let admin_b = login(&b, &seed::staff(&db, "admin")).await;
    let before = listed(admin_b.clone()).await;
    created(
        &a,
        &admin,
        "/api/v1/accounts",
        json!({"name": "Umbrella Freight"}),
    )
    .await;
    let asked = std::time::Instant::now();
    while listed(admin_b.clone()).await == before {
        assert!(
            asked.elapsed() < Duration::from_secs(10),
            "node B still serves the old account list"
        );
        actix_web::rt::time::sleep(Duration::from_millis(50)).await;
    }
}

#[actix_web::test]
async fn a_node_that_missed_announcements_reads_the_change_log() {
    let Some(db) = TestDatabase::create(Backend::Postgres) else {
        return;
    };
    let mut node_a = RapportProcess::serve(rapport_bin!(), &db, &[], &[]);
    let a = format!("http://{}", node_a.wait_ready(READY));
    let mut node_b = RapportProcess::serve(rapport_bin!(), &db, &[], &[]);
    let b = format!("http://{}", node_b.wait_ready(READY));
    let (agent, _, contact_token) = account_with_team(&db, &a).await;
    let agent = login(&a, &agent).await;
    let (mut contact, _) = ChatClient::connect_to(&b, &contact_token).await;
    contact
        .send(json!({"type": "start", "client_message_id": "s-1", "body": "Customs papers"}))
        .await;
    let case = contact.next_of("ack").await["case_id"]
        .as_str()
        .unwrap()
        .to_owned();
    contact.next_of("backlog").await;

    // The agent answers on node A while the nodes' bus sessions keep being
    // cut: announcements sent meanwhile are lost.
    const N: usize = 30;
    let mut saboteur = Saboteur::new(&db);
    let mut ended = 0;
    for i in 0..N {
        if i % 3 == 0 {
            ended += saboteur.end_listeners();
        }
        let (status, body) = call(
            &client(),
            "POST",
            format!("{a}/api/v1/cases/{case}/entries"),
            Some(&agent),
            Some(json!({"kind": "portal", "body": format!("Customs answer {i}")})),
        )
        .await;
        assert_eq!(status, 201, "{body}");
    }
    assert!(ended > 0, "bus sessions were cut");
    // A change of the case alone, with nothing after it, announced while
    // no node listens: node B reads it from the log once it listens again.
    saboteur.allow_connections(false);
    ended += saboteur.end_listeners();
    let (status, body) = call(
        &client(),
        "PATCH",
        format!("{a}/api/v1/cases/{case}"),
        Some(&agent),
        Some(json!({"priority": "urgent"})),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    saboteur.allow_connections(true);

    let mut answers: Vec<String> = Vec::new();
    let mut urgent = false;
    while answers.len() < N || !urgent {
        let frame = contact.recv().await.unwrap_or_else(|| {
            panic!(
                "node B delivered {} entries and {} the priority change",
                answers.len(),
                if urgent { "" } else { "not" }
            )
        });
        match frame["type"].as_str() {
            Some("message") => answers.push(frame["entry"]["body"].as_str().unwrap().to_owned()),
            Some("backlog") => answers.extend(
                frame["entries"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|e| e["body"].as_str().unwrap().to_owned()),
            ),
            Some("case_updated") => urgent |= frame["case"]["priority"] == "urgent",
            _ => {}
        }
    }
    let answers: Vec<&String> = answers
        .iter()
        .filter(|b| b.starts_with("Customs answer"))
        .collect();
    let want: Vec<String> = (0..N).map(|i| format!("Customs answer {i}")).collect();
    assert_eq!(
        answers,
        want.iter().collect::<Vec<_>>(),
        "each answer once, in order"
    );
    assert!(ended > 0);
    assert!(
        node_b.stderr_text().contains("reconnecting"),
        "node B lost its bus session"
    );
    node_a.signal("TERM");
    node_b.signal("TERM");
    node_a.wait_exit(Duration::from_secs(20));
    node_b.wait_exit(Duration::from_secs(20));
}

#[actix_web::test]
async fn a_node_with_other_secrets_refuses_to_join_the_others() {
    let Some(db) = TestDatabase::create(Backend::Postgres) else {
        return;
    };
    let mut first = RapportProcess::serve(rapport_bin!(), &db, &[], &[]);
    first.wait_ready(READY);

    // A second node given a data directory of its own would make its own secrets.
    let other = tempfile::tempdir().unwrap();
    let mut second = std::process::Command::new(rapport_bin!())
        .args(["--bind", "127.0.0.1:0", "--data-dir"])
        .arg(other.path())
        .args(["--database-url", db.url.as_str(), "serve"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Some(status) = second.try_wait().unwrap() {
            break status;
        }
        if std::time::Instant::now() > deadline {
            second.kill().unwrap();
            panic!("the node with other secrets kept running");
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    assert!(!status.success());
    let mut err = String::new();
    std::io::Read::read_to_string(&mut second.stderr.take().unwrap(), &mut err).unwrap();
    assert!(err.contains("secrets differ from the other nodes"), "{err}");
    assert!(err.contains("secrets"), "says how to fix it: {err}");

    // With the first node's secrets copied, it joins.
    let secrets = db.data_dir().join("secrets");
    std::fs::create_dir_all(other.path().join("secrets")).unwrap();
    for f in std::fs::read_dir(&secrets).unwrap().flatten() {
        std::fs::copy(f.path(), other.path().join("secrets").join(f.file_name())).unwrap();
    }
    let mut joined = std::process::Command::new(rapport_bin!())
        .args(["--bind", "127.0.0.1:0", "--data-dir"])
        .arg(other.path())
        .args(["--database-url", db.url.as_str(), "serve"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = joined.stderr.take().unwrap();
    let ready = std::thread::spawn(move || {
        use std::io::BufRead;
        std::io::BufReader::new(stderr)
            .lines()
            .map_while(Result::ok)
            .any(|l| l.contains("Rapport is ready"))
    });
    assert!(
        ready.join().unwrap(),
        "the node with the shared secrets serves"
    );
    joined.kill().unwrap();
    joined.wait().unwrap();
    first.signal("TERM");
    first.wait_exit(Duration::from_secs(20));
}

/// nginx (Debian's) running `packaging/nginx.conf` on loopback, without
/// TLS, in front of the given nodes; stopped when dropped.
struct Nginx {
    child: std::process::Child,
    base: String,
    _dir: tempfile::TempDir,
}

impl Nginx {
    fn start(nodes: &[&str]) -> Option<Nginx> {
        let nginx = std::path::Path::new("/usr/sbin/nginx");
        if !nginx.exists() {
            assert!(
                std::env::var_os("CI").is_none(),
                "CI installs Debian's nginx-light (.ci/run); it is missing"
            );
            rapport_tests::report_skip("no /usr/sbin/nginx (apt-get install nginx-light)");
            return None;
        }
        let dir = tempfile::tempdir().unwrap();
        let port = rapport_tests::idp::free_port();
        let example = std::fs::read_to_string(
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../packaging/nginx.conf"),
        )
        .unwrap();
        let upstream: String = nodes
            .iter()
            .map(|n| format!("    server {};\n", n.trim_start_matches("http://")))
            .collect();
        // The example as shipped, on loopback without TLS, with our nodes.
        let site: String = example
            .lines()
            .filter(|l| !l.trim_start().starts_with("ssl_certificate"))
            .map(|l| match l.trim() {
                "listen 443 ssl http2;" => format!("    listen 127.0.0.1:{port};\n"),
                "server 127.0.0.1:8080;" => upstream.clone(),
                _ => format!("{l}\n"),
            })
            .collect();
        let p = dir.path().display().to_string();
        std::fs::write(dir.path().join("rapport.conf"), site).unwrap();
        // Workers write request bodies to these directories: as root, like
        // the master, so they may (the default user could not).
        std::fs::write(
            dir.path().join("nginx.conf"),
            format!(
                "user root;\ndaemon off;\npid {p}/nginx.pid;\nerror_log {p}/error.log;\n\
                 events {{ worker_connections 1024; }}\n\
                 http {{\n  access_log off;\n  client_body_temp_path {p}/body;\n  proxy_temp_path {p}/proxy;\n\
                   fastcgi_temp_path {p}/fastcgi;\n  uwsgi_temp_path {p}/uwsgi;\n  scgi_temp_path {p}/scgi;\n\
                   include {p}/rapport.conf;\n}}\n"
            ),
        )
        .unwrap();
        let child = std::process::Command::new(nginx)
            .args(["-p", &p, "-c", &format!("{p}/nginx.conf")])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("nginx starts");
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                std::time::Instant::now() < deadline,
                "nginx did not listen: {}",
                std::fs::read_to_string(dir.path().join("error.log")).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        Some(Nginx {
            child,
            base: format!("http://127.0.0.1:{port}"),
            _dir: dir,
        })
    }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Two nodes behind a real nginx with the shipped example configuration:
/// sign-in, the API and live chat work whichever node each request and
/// each websocket lands on, without sticky sessions.
#[actix_web::test]
async fn two_nodes_behind_nginx_serve_one_desk() {
    let Some(db) = TestDatabase::create(Backend::Postgres) else {
        return;
    };
    let (mut node_a, a, mut node_b, b) = two_nodes(&db);
    let Some(proxy) = Nginx::start(&[&a, &b]) else {
        return;
    };
    let base = proxy.base.clone();

    let (agent, agent_id, contact_token) = account_with_team(&db, &base).await;
    let agent_token = login(&base, &agent).await;
    // Round robin: tokens issued by one node are good on the other.
    for _ in 0..6 {
        let (status, me) = call(
            &client(),
            "GET",
            format!("{base}/api/v1/me"),
            Some(&agent_token),
            None,
        )
        .await;
        assert_eq!(status, 200, "{me}");
    }
    // Websockets through the proxy, wherever each lands.
    let (mut contact, _) = ChatClient::connect_to(&base, &contact_token).await;
    let (mut agent, _) = ChatClient::connect_to(&base, &agent_token).await;
    contact
        .send(json!({"type": "start", "client_message_id": "n-1", "body": "Delivery note missing"}))
        .await;
    let case = contact.next_of("ack").await["case_id"]
        .as_str()
        .unwrap()
        .to_owned();
    agent.join(&case, None).await;
    let ack = agent.say(&case, "n-2", "Sending it again now.").await;
    let got = contact
        .next_where("message", |m| m["entry"]["id"] == ack["entry_id"])
        .await;
    assert_eq!(got["entry"]["author"]["id"], agent_id.as_str());
    contact.say(&case, "n-3", "Got it, thanks.").await;
    agent
        .next_where("message", |m| m["entry"]["body"] == "Got it, thanks.")
        .await;
    // Both nodes answered through the proxy.
    for (name, node) in [("A", &node_a), ("B", &node_b)] {
        assert!(
            node.stderr_text().contains("/api/v1/"),
            "node {name} served no API request through nginx"
        );
    }
    contact.close().await;
    agent.close().await;
    drop(proxy);
    node_a.signal("TERM");
    node_b.signal("TERM");
    node_a.wait_exit(Duration::from_secs(20));
    node_b.wait_exit(Duration::from_secs(20));
}

/// A batch of chat bus events (sent in one statement) reaches a listener
/// whole and in the order it was sent, and the next batch after it.
#[actix_web::test]
async fn a_batch_of_bus_events_reaches_a_listener_whole_and_in_order() {
    use rapport_store::DatabaseUrl;
    use rapport_store::notify::{Listener, Notifier};
    let Some(db) = TestDatabase::create(Backend::Postgres) else {
        return;
    };
    let url = DatabaseUrl::parse(&db.url).unwrap();
    let mut listener = Listener::connect(&url, "rapport_test_bus").unwrap();
    let mut notifier = Notifier::connect(&url, "rapport_test_bus").unwrap();
    let first: Vec<String> = (0..50).map(|i| format!("event {i}")).collect();
    notifier.send(&first).unwrap();
    notifier.send(&["after".to_owned()]).unwrap();
    notifier.send(&[]).unwrap();
    let mut got = Vec::new();
    for _ in 0..100 {
        got.extend(listener.poll().unwrap());
        if got.len() >= 51 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let mut want = first;
    want.push("after".to_owned());
    assert_eq!(got, want);
}
