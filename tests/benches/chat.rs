//! `make bench`: live chat under load. C websocket connections (5,000 by
//! default, RAPPORT_BENCH_CHAT_CONNECTIONS) over R case rooms (500,
//! RAPPORT_BENCH_CHAT_ROOMS) on loopback; in every room one connection
//! sends M messages (20, RAPPORT_BENCH_CHAT_MESSAGES), each after its
//! previous one came back, and every member receives them.
//!
//! Measured against `rapport serve` (each message committed with its audit
//! event before fan-out) on SQLite and PostgreSQL, and, as the baseline in
//! the same run, a bare actix-ws broadcast server without persistence under
//! the same load: delivered messages/s, end-to-end latency p50/p99 (send to
//! receipt by another member) and server RSS per connection: the growth
//! over all connections, and that of the second half alone (the cost of
//! one more connection once caches and allocator arenas are warm).
//!
//! The bare server is this same binary started with `--bare-chat-server`.

#![allow(clippy::unwrap_used, clippy::print_stdout, clippy::expect_used)]

use std::cell::RefCell;
use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::rc::Rc;
use std::time::{Duration, Instant};

use actix_codec::Framed;
use awc::BoxedSocket;
use awc::ws::{Codec, Frame, Message};
use futures_util::{SinkExt, StreamExt};
use rapport_tests::http::call;
use rapport_tests::{Backend, RapportProcess, TestDatabase, seed};
use serde_json::{Value, json};

fn env_or(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0)
}

/// CPU time used so far, in seconds: by the server, by PostgreSQL's
/// processes, and by the whole machine (busy, all cores). A PostgreSQL
/// process that ends in between (autovacuum) is left out of the
/// difference: its share is missing, never counted negative.
#[derive(Debug, Clone, Default)]
struct CpuUse {
    server: f64,
    /// By process id.
    postgres: HashMap<String, f64>,
    machine: f64,
}

/// `/proc` counts CPU time in ticks of 1/100 s (`USER_HZ`).
const TICK: f64 = 0.01;

fn process_cpu(pid: &str) -> f64 {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return 0.0;
    };
    // After the command name, which may hold spaces, in parentheses.
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest.split_whitespace().collect())
        .unwrap_or_default();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    // utime and stime: fields 14 and 15 of stat, 12 and 13 after the name.
    (ticks(11) + ticks(12)) * TICK
}

impl CpuUse {
    fn now(server_pid: u32) -> CpuUse {
        let postgres = std::fs::read_dir("/proc")
            .map(|dir| {
                dir.flatten()
                    .filter_map(|e| e.file_name().into_string().ok())
                    .filter(|pid| pid.bytes().all(|b| b.is_ascii_digit()))
                    .filter(|pid| {
                        std::fs::read_to_string(format!("/proc/{pid}/comm"))
                            .is_ok_and(|c| c.trim() == "postgres")
                    })
                    .map(|pid| {
                        let cpu = process_cpu(&pid);
                        (pid, cpu)
                    })
                    .collect()
            })
            .unwrap_or_default();
        let machine = std::fs::read_to_string("/proc/stat")
            .ok()
            .and_then(|s| {
                // user nice system idle iowait irq softirq steal; guest
                // time is already in user and nice.
                let cpu: Vec<f64> = s
                    .lines()
                    .next()?
                    .split_whitespace()
                    .skip(1)
                    .take(8)
                    .filter_map(|v| v.parse().ok())
                    .collect();
                let at = |i: usize| cpu.get(i).copied().unwrap_or(0.0);
                let not_ours = at(3) + at(4) + at(7);
                Some((cpu.iter().sum::<f64>() - not_ours) * TICK)
            })
            .unwrap_or(0.0);
        CpuUse {
            server: process_cpu(&server_pid.to_string()),
            postgres,
            machine,
        }
    }

    /// Prints what was used since `before`, over `elapsed`.
    fn report(&self, phase: &str, elapsed: Duration, before: &CpuUse) {
        let (server, postgres, machine) = self.since(before);
        // As /proc/stat counts them (the machine's, whatever this process may use).
        let cores = std::fs::read_to_string("/proc/stat").map_or(1, |s| {
            s.lines()
                .filter(|l| l.starts_with("cpu") && !l.starts_with("cpu "))
                .count()
                .max(1)
        });
        println!(
            "  CPU in {phase} ({:.1} s on {cores} cores, {:.1} core-seconds): server {server:.1} s, \
             PostgreSQL {postgres:.1} s, the machine in all {machine:.1} s (this client included)",
            elapsed.as_secs_f64(),
            elapsed.as_secs_f64() * cores as f64,
        );
    }

    /// Seconds used since `before`: server, PostgreSQL, machine.
    fn since(&self, before: &CpuUse) -> (f64, f64, f64) {
        let postgres = self
            .postgres
            .iter()
            .map(|(pid, now)| now - before.postgres.get(pid).copied().unwrap_or(0.0))
            .sum();
        (
            self.server - before.server,
            postgres,
            self.machine - before.machine,
        )
    }
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

/// What one run measured.
#[derive(Debug)]
struct Outcome {
    delivered: usize,
    elapsed: Duration,
    p50: Duration,
    p99: Duration,
    rss_per_conn_kib: f64,
    /// The growth per connection of the second half alone: what one more
    /// idle connection costs once the server's caches and allocator
    /// arenas are warm (the first half also pays for those).
    rss_marginal_kib: f64,
    connect_time: Duration,
}

impl Outcome {
    fn rate(&self) -> f64 {
        self.delivered as f64 / self.elapsed.as_secs_f64()
    }
}

#[derive(Default)]
struct Stats {
    sent_at: HashMap<String, Instant>,
    latencies: Vec<Duration>,
    delivered: usize,
    closed: usize,
    retries: usize,
}

type Ws = Framed<BoxedSocket, Codec>;

async fn open(client: &awc::Client, url: &str) -> Ws {
    let mut tries = 0;
    loop {
        match client.ws(url).max_frame_size(1 << 20).connect().await {
            Ok((_, ws)) => return ws,
            Err(e) if tries < 5 => {
                tries += 1;
                eprintln!("connect retry ({e})");
                actix_web::rt::time::sleep(Duration::from_millis(100)).await;
            }
            Err(e) => panic!("websocket connect failed: {e}"),
        }
    }
}

/// Reads frames until one of `kind` (answering pings); None when closed.
async fn next_of(ws: &mut Ws, kind: &str) -> Option<Value> {
    while let Some(frame) = ws.next().await {
        match frame.ok()? {
            Frame::Text(b) => {
                let v: Value = serde_json::from_slice(&b).ok()?;
                if v["type"] == kind {
                    return Some(v);
                }
            }
            Frame::Ping(p) => {
                let _ = ws.send(Message::Pong(p)).await;
            }
            Frame::Close(_) => return None,
            _ => {}
        }
    }
    None
}

/// Reads one connection's frames for the whole run, from the moment it
/// joined (a client that stops reading is closed as a slow consumer); a
/// sender starts its closed loop of `messages` when `go` turns true.
#[allow(clippy::too_many_arguments)]
fn spawn_reader(
    i: usize,
    mut ws: Ws,
    room: String,
    sender: bool,
    messages: usize,
    stats: Rc<RefCell<Stats>>,
    mut go: tokio::sync::watch::Receiver<bool>,
    done: tokio::sync::mpsc::UnboundedSender<()>,
) {
    actix_web::rt::spawn(async move {
        let mut next = 0usize;
        let mut waiting: Option<String> = None;
        let mut started = !sender;
        let make = |n: usize, stats: &Rc<RefCell<Stats>>| {
            let id = format!("{i}-{n}");
            stats
                .borrow_mut()
                .sent_at
                .insert(id.clone(), Instant::now());
            let text = json!({"type": "send", "case_id": room, "client_message_id": id, "body": format!("load message {n} from {i}")}).to_string();
            (id, Message::Text(text.into()))
        };
        loop {
            tokio::select! {
                changed = go.changed(), if !started => {
                    if changed.is_err() || !*go.borrow() {
                        continue;
                    }
                    started = true;
                    let (id, msg) = make(next, &stats);
                    if ws.send(msg).await.is_err() {
                        break;
                    }
                    waiting = Some(id);
                    next += 1;
                }
                frame = ws.next() => {
                    let Some(Ok(frame)) = frame else { break };
                    match frame {
                        Frame::Text(b) => {
                            let Ok(v) = serde_json::from_slice::<Value>(&b) else { continue };
                            // A refused send (the database busy past the pool's
                            // timeout) is retried with the same id, as a client does.
                            if v["type"] == "error"
                                && let Some(id) = waiting.clone()
                                && v["about"] == id.as_str()
                            {
                                stats.borrow_mut().retries += 1;
                                let n = next - 1;
                                let text = json!({"type": "send", "case_id": room, "client_message_id": id, "body": format!("load message {n} from {i}")}).to_string();
                                if ws.send(Message::Text(text.into())).await.is_err() {
                                    break;
                                }
                                continue;
                            }
                            if v["type"] != "message" {
                                continue;
                            }
                            let id = v["entry"]["client_message_id"].as_str().unwrap_or("").to_owned();
                            {
                                let mut s = stats.borrow_mut();
                                s.delivered += 1;
                                if waiting.as_deref() != Some(id.as_str())
                                    && let Some(at) = s.sent_at.get(&id).copied()
                                {
                                    s.latencies.push(at.elapsed());
                                }
                            }
                            if sender && waiting.as_deref() == Some(id.as_str()) {
                                if next == messages {
                                    waiting = None;
                                    let _ = done.send(());
                                    continue;
                                }
                                let (id, msg) = make(next, &stats);
                                if ws.send(msg).await.is_err() {
                                    break;
                                }
                                waiting = Some(id);
                                next += 1;
                            }
                        }
                        Frame::Ping(p) => {
                            let _ = ws.send(Message::Pong(p)).await;
                        }
                        Frame::Close(reason) => {
                            eprintln!("connection {i} closed by the server: {reason:?}");
                            stats.borrow_mut().closed += 1;
                            break;
                        }
                        _ => {}
                    }
                }
            }
        }
    });
}

/// Connects C clients (URLs from `url_for`), joins them to R rooms, runs
/// the load and reports. `needs_hello`: Rapport greets first.
async fn load(
    server_pid: u32,
    rooms: &[String],
    connections: usize,
    messages: usize,
    url_for: &mut dyn FnMut(usize) -> String,
    needs_hello: bool,
    server_log: &dyn Fn() -> String,
) -> Outcome {
    let client = awc::Client::builder()
        .connector(awc::Connector::new().limit(0))
        .timeout(Duration::from_secs(60))
        .finish();
    let stats = Rc::new(RefCell::new(Stats::default()));
    let (go_tx, go_rx) = tokio::sync::watch::channel(false);
    let (done_tx, mut done_rx) = tokio::sync::mpsc::unbounded_channel::<()>();
    let rss_before = rss_kib(server_pid);
    let half = connections / 2;
    let mut rss_half = rss_before;
    let mut paused = Duration::ZERO;
    let started = Instant::now();
    for i in 0..connections {
        if i == half && half > 0 {
            // Settled as at the end, and not counted as connecting time.
            let pause = Instant::now();
            actix_web::rt::time::sleep(Duration::from_secs(2)).await;
            rss_half = rss_kib(server_pid);
            paused = pause.elapsed();
        }
        let mut ws = open(&client, &url_for(i)).await;
        if needs_hello && next_of(&mut ws, "hello").await.is_none() {
            panic!(
                "connection {i} got no hello; the server's log:\n{}",
                server_log()
            );
        }
        let room = rooms[i % rooms.len()].clone();
        ws.send(Message::Text(
            json!({"type": "join", "case_id": room}).to_string().into(),
        ))
        .await
        .unwrap();
        if needs_hello {
            loop {
                let Some(b) = next_of(&mut ws, "backlog").await else {
                    panic!(
                        "connection {i} got no backlog; the server's log:\n{}",
                        server_log()
                    );
                };
                if b["complete"] == true {
                    break;
                }
            }
        }
        let sender = i < rooms.len();
        spawn_reader(
            i,
            ws,
            room,
            sender,
            messages,
            stats.clone(),
            go_rx.clone(),
            done_tx.clone(),
        );
        if (i + 1) % 1000 == 0 {
            println!("  {} connections open", i + 1);
        }
    }
    let connect_time = started.elapsed().saturating_sub(paused);
    // Let presence updates of the joins settle before measuring.
    actix_web::rt::time::sleep(Duration::from_secs(2)).await;
    let rss_after = rss_kib(server_pid);
    drop(done_tx);
    let start = Instant::now();
    let cpu_before = CpuUse::now(server_pid);
    go_tx.send(true).expect("readers listen");
    let mut finished = 0;
    let give_up = Instant::now() + Duration::from_secs(600);
    while finished < rooms.len() && Instant::now() < give_up {
        match tokio::time::timeout(Duration::from_secs(30), done_rx.recv()).await {
            Ok(Some(())) => finished += 1,
            Ok(None) => break,
            Err(_) => eprintln!("  {finished} of {} rooms done, waiting", rooms.len()),
        }
    }
    // The last messages still travelling to other members.
    let members = connections.div_ceil(rooms.len());
    let expected = rooms.len() * messages * members;
    let deadline = Instant::now() + Duration::from_secs(10);
    while stats.borrow().delivered < expected && Instant::now() < deadline {
        actix_web::rt::time::sleep(Duration::from_millis(5)).await;
    }
    let elapsed = start.elapsed();
    CpuUse::now(server_pid).report("the message phase", elapsed, &cpu_before);
    let mut s = stats.borrow_mut();
    if s.retries > 0 {
        println!("  {} sends were refused under load and retried", s.retries);
    }
    if finished < rooms.len() || s.closed > 0 {
        println!(
            "  incomplete: {finished} of {} rooms finished, {} connections closed by the server",
            rooms.len(),
            s.closed
        );
    }
    s.latencies.sort();
    Outcome {
        delivered: s.delivered,
        elapsed,
        p50: percentile(&s.latencies, 0.50),
        p99: percentile(&s.latencies, 0.99),
        rss_per_conn_kib: rss_after.saturating_sub(rss_before) as f64 / connections as f64,
        rss_marginal_kib: rss_after.saturating_sub(rss_half) as f64
            / (connections - half).max(1) as f64,
        connect_time,
    }
}

fn report(label: &str, o: &Outcome) {
    println!(
        "  {label}: {} messages delivered in {:.1} s = {:.0}/s; latency p50 {:.1} ms, p99 {:.1} ms; server RSS {:.1} KiB per connection, {:.1} KiB for each of the second half; connecting took {:.1} s",
        o.delivered,
        o.elapsed.as_secs_f64(),
        o.rate(),
        o.p50.as_secs_f64() * 1e3,
        o.p99.as_secs_f64() * 1e3,
        o.rss_per_conn_kib,
        o.rss_marginal_kib,
        o.connect_time.as_secs_f64()
    );
}

/// A bare broadcast server: rooms in a map, no persistence, no auth.
fn bare_server() {
    use actix_web::{App, HttpRequest, HttpServer, web};
    use std::sync::{Arc, Mutex};
    type Rooms = Arc<Mutex<HashMap<String, Vec<actix_ws::Session>>>>;

    async fn ws(
        req: HttpRequest,
        body: web::Payload,
        rooms: web::Data<Rooms>,
    ) -> actix_web::Result<actix_web::HttpResponse> {
        let (res, session, mut stream) = actix_ws::handle(&req, body)?;
        let rooms = rooms.get_ref().clone();
        actix_web::rt::spawn(async move {
            while let Some(Ok(msg)) = stream.recv().await {
                let actix_ws::Message::Text(text) = msg else {
                    continue;
                };
                let Ok(v) = serde_json::from_str::<Value>(&text) else {
                    continue;
                };
                let room = v["case_id"].as_str().unwrap_or("").to_owned();
                match v["type"].as_str() {
                    Some("join") => rooms
                        .lock()
                        .unwrap()
                        .entry(room)
                        .or_default()
                        .push(session.clone()),
                    Some("send") => {
                        let out = json!({"type": "message", "entry": {"case_id": room, "client_message_id": v["client_message_id"], "body": v["body"]}}).to_string();
                        let members = rooms
                            .lock()
                            .unwrap()
                            .get(&room)
                            .cloned()
                            .unwrap_or_default();
                        for mut m in members {
                            let _ = m.text(out.clone()).await;
                        }
                    }
                    _ => {}
                }
            }
            let _ = session.close(None).await;
        });
        Ok(res)
    }

    let rooms: Rooms = Arc::new(Mutex::new(HashMap::new()));
    actix_web::rt::System::new().block_on(async move {
        let server = HttpServer::new(move || {
            App::new()
                .app_data(web::Data::new(rooms.clone()))
                .route("/ws", web::get().to(ws))
        })
        .workers(2)
        .tcp_nodelay(true)
        .bind(("127.0.0.1", 0))
        .unwrap();
        println!("{}", server.addrs()[0].port());
        server.run().await.unwrap();
    });
}

fn start_bare() -> (Child, u16) {
    let mut command = Command::new(std::env::current_exe().unwrap());
    command.arg("--bare-chat-server").stdout(Stdio::piped());
    // A heap profile of the bare server instead of Rapport's, to compare
    // what each allocates per connection (docs/benchmarks.md says how).
    if let Ok(fifo) = std::env::var("RAPPORT_BENCH_HEAPTRACK_BARE_FIFO") {
        command
            .env("LD_PRELOAD", "/usr/lib/heaptrack/libheaptrack_preload.so")
            .env("DUMP_HEAPTRACK_OUTPUT", fifo);
    }
    let mut child = command.spawn().unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    (child, line.trim().parse().unwrap())
}

async fn rapport_run(
    backend: Backend,
    connections: usize,
    room_count: usize,
    messages: usize,
) -> Option<Outcome> {
    let Some(db) = TestDatabase::create(backend) else {
        println!("chat ({backend:?}): skipped, no PostgreSQL configured (RAPPORT_TEST_POSTGRES)");
        return None;
    };
    let env = [
        ("RAPPORT_SERVER__WORKERS", "2"),
        // Every ticket is taken before the first connection opens.
        ("RAPPORT_CHAT__TICKET_TTL_SECS", "600"),
        ("RAPPORT_DATABASE__POOL_MAX_SIZE", "16"),
        // A hundred connections per person here (50 people), against
        // the production default of 20.
        ("RAPPORT_CHAT__MAX_CONNECTIONS_PER_PERSON", "1000"),
    ];
    // A heap profile of the SQLite server (docs/benchmarks.md says how).
    let fifo = std::env::var("RAPPORT_BENCH_HEAPTRACK_FIFO").unwrap_or_default();
    // glibc's arenas for the server, to compare with glibc's default
    // (docs/benchmarks.md, sixth round).
    let arenas = std::env::var("RAPPORT_BENCH_MALLOC_ARENAS").unwrap_or_default();
    let mut env = env.to_vec();
    if !arenas.is_empty() {
        env.push(("MALLOC_ARENA_MAX", arenas.as_str()));
    }
    let mut traced = env.clone();
    if !fifo.is_empty() && backend == Backend::Sqlite {
        traced.push(("LD_PRELOAD", "/usr/lib/heaptrack/libheaptrack_preload.so"));
        traced.push(("DUMP_HEAPTRACK_OUTPUT", fifo.as_str()));
    }
    let mut server = RapportProcess::serve(env!("CARGO_BIN_EXE_rapport-e2e"), &db, &[], &traced);
    let addr = server.wait_ready(Duration::from_secs(120));
    let base = format!("http://{addr}");
    let http = awc::Client::builder()
        .timeout(Duration::from_secs(60))
        .finish();
    // Agents (admins, who may read every case), each following many rooms
    // with several connections, the way a team works.
    let people = env_or("RAPPORT_BENCH_CHAT_PEOPLE", 50).max(1);
    let mut tokens = Vec::with_capacity(people);
    for _ in 0..people {
        let (email, password) = seed::staff(&db, "admin");
        let (_, t) = call(
            &http,
            "POST",
            format!("{base}/api/v1/auth/login"),
            None,
            Some(json!({"email": email, "password": password})),
        )
        .await;
        tokens.push(t["access_token"].as_str().unwrap().to_owned());
    }
    let token = tokens[0].clone();
    let (_, account) = call(
        &http,
        "POST",
        format!("{base}/api/v1/accounts"),
        Some(&token),
        Some(json!({"name": "Load Test Ltd"})),
    )
    .await;
    let mut rooms = Vec::new();
    for r in 0..room_count {
        let (status, opened) = call(&http, "POST", format!("{base}/api/v1/cases"), Some(&token), Some(json!({"account_id": account["id"], "subject": format!("Room {r}"), "body": "opening"}))).await;
        assert_eq!(status, 201);
        rooms.push(opened["case"]["id"].as_str().unwrap().to_owned());
    }
    // One ticket per connection, taken ahead so the run measures chat.
    // Connection i joins room i % R as person (i + i / R) % P: every room
    // has several different people.
    let mut tickets = Vec::with_capacity(connections);
    for i in 0..connections {
        let who = &tokens[(i + i / room_count) % people];
        let (status, t) = call(
            &http,
            "POST",
            format!("{base}/api/v1/chat/ticket"),
            Some(who),
            None,
        )
        .await;
        assert_eq!(status, 201, "{t}");
        tickets.push(t["ticket"].as_str().unwrap().to_owned());
    }
    println!(
        "chat ({backend:?}): {connections} connections of {people} people over {room_count} rooms, {messages} messages per room"
    );
    let pid = server_pid(&server);
    let ws_base = format!("ws://{addr}/ws?ticket=");
    let outcome = load(
        pid,
        &rooms,
        connections,
        messages,
        &mut |i| format!("{ws_base}{}", tickets[i]),
        true,
        &|| server.stderr_text(),
    )
    .await;
    server.signal("KILL");
    server.wait_exit(Duration::from_secs(10));

    // The reconnect storm: the server comes back and every client returns
    // at once.
    let mut again = RapportProcess::serve(env!("CARGO_BIN_EXE_rapport-e2e"), &db, &[], &env);
    let addr = again.wait_ready(Duration::from_secs(120));
    let again_pid = server_pid(&again);
    let cpu_before = CpuUse::now(again_pid);
    let (settled, failed) = storm(&format!("http://{addr}"), &tokens, &rooms, connections).await;
    CpuUse::now(again_pid).report("the storm", settled, &cpu_before);
    println!(
        "  reconnect storm: {connections} clients at once (ticket, websocket, hello, join, backlog) settled in {:.1} s, {failed} failed",
        settled.as_secs_f64()
    );
    again.signal("KILL");
    again.wait_exit(Duration::from_secs(10));
    Some(outcome)
}

/// Every client at once takes a ticket, opens its websocket, reads hello,
/// joins its room and reads the backlog (the room's latest entries: more
/// than a resume from the last entry seen would send). The time until the
/// last one is done, and how many could not.
async fn storm(
    base: &str,
    tokens: &[String],
    rooms: &[String],
    connections: usize,
) -> (Duration, usize) {
    let client = Rc::new(
        awc::Client::builder()
            .connector(awc::Connector::new().limit(0))
            .timeout(Duration::from_secs(60))
            .finish(),
    );
    let started = Instant::now();
    let tasks: Vec<_> = (0..connections)
        .map(|i| {
            let (client, base) = (client.clone(), base.to_owned());
            let token = tokens[(i + i / rooms.len()) % tokens.len()].clone();
            let room = rooms[i % rooms.len()].clone();
            actix_web::rt::spawn(async move {
                let mut res = client
                    .post(format!("{base}/api/v1/chat/ticket"))
                    .bearer_auth(&token)
                    .send()
                    .await
                    .ok()?;
                let ticket: Value = res.json().await.ok()?;
                let url = format!(
                    "{}/ws?ticket={}",
                    base.replacen("http", "ws", 1),
                    ticket["ticket"].as_str()?
                );
                let (_, mut ws) = client
                    .ws(url)
                    .max_frame_size(1 << 20)
                    .connect()
                    .await
                    .ok()?;
                next_of(&mut ws, "hello").await?;
                ws.send(Message::Text(
                    json!({"type": "join", "case_id": room}).to_string().into(),
                ))
                .await
                .ok()?;
                loop {
                    if next_of(&mut ws, "backlog").await?["complete"] == true {
                        break;
                    }
                }
                Some(ws)
            })
        })
        .collect();
    let mut open = Vec::with_capacity(connections);
    let mut failed = 0;
    for t in tasks {
        match t.await.ok().flatten() {
            Some(ws) => open.push(ws),
            None => failed += 1,
        }
    }
    let settled = started.elapsed();
    drop(open);
    (settled, failed)
}

fn server_pid(server: &RapportProcess) -> u32 {
    server.pid()
}

async fn bare_run(connections: usize, room_count: usize, messages: usize) -> Outcome {
    let (mut child, port) = start_bare();
    let rooms: Vec<String> = (0..room_count).map(|r| format!("room-{r}")).collect();
    let url = format!("ws://127.0.0.1:{port}/ws");
    let outcome = load(
        child.id(),
        &rooms,
        connections,
        messages,
        &mut |_| url.clone(),
        false,
        &String::new,
    )
    .await;
    let _ = child.kill();
    let _ = child.wait();
    outcome
}

fn main() {
    if std::env::args().any(|a| a == "--bare-chat-server") {
        bare_server();
        return;
    }
    let connections = env_or("RAPPORT_BENCH_CHAT_CONNECTIONS", 5_000);
    let rooms = env_or("RAPPORT_BENCH_CHAT_ROOMS", 500);
    let messages = env_or("RAPPORT_BENCH_CHAT_MESSAGES", 20);
    actix_web::rt::System::new().block_on(async move {
        println!("chat baseline: bare actix-ws broadcast, no persistence");
        let bare = bare_run(connections, rooms, messages).await;
        report("bare", &bare);
        for backend in [Backend::Sqlite, Backend::Postgres] {
            if let Some(o) = rapport_run(backend, connections, rooms, messages).await {
                report("rapport", &o);
                println!(
                    "  ratio to bare: throughput {:.2}, p50 latency {:.1}x, p99 latency {:.1}x, RSS per connection {:.1}x ({:.1}x for the second half)",
                    o.rate() / bare.rate(),
                    o.p50.as_secs_f64() / bare.p50.as_secs_f64().max(1e-6),
                    o.p99.as_secs_f64() / bare.p99.as_secs_f64().max(1e-6),
                    o.rss_per_conn_kib / bare.rss_per_conn_kib.max(0.001),
                    o.rss_marginal_kib / bare.rss_marginal_kib.max(0.001)
                );
            }
        }
    });
}
