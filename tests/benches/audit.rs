//! `make bench`: audit log throughput, each figure against a baseline
//! measured in the same run on the same machine.
//!
//! 1. append: `audit::append` (head lock, seal, insert, head update), one
//!    event per transaction, vs a bare insert of the same rows into a table
//!    without chain or triggers; SQLite, and PostgreSQL when reachable.
//! 2. export: `rapport audit export` of 1,000,000 events (SQLite) by the
//!    real binary: events/s and peak RSS (sampled VmHWM).
//! 3. verify: `rapport audit verify` of that file vs `sha256sum` of it.
//!
//! Sizes can be lowered for a quick look: RAPPORT_BENCH_EVENTS (default
//! 1000000) and RAPPORT_BENCH_APPENDS (default 2000).

#![allow(clippy::unwrap_used, clippy::print_stdout, clippy::expect_used)]

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use diesel::prelude::*;
use rapport_audit::{
    Action, Actor, ActorKind, AuditEvent, ChainHead, NewEvent, StreamName, Subject,
};
use rapport_store::{DbConnection, PoolOptions, Store, StoreError};
use rapport_tests::{Backend, TestDatabase};
use serde_json::{Map, json};

diesel::table! {
    bench_bare_events (stream, seq) {
        stream -> Text,
        seq -> BigInt,
        id -> Text,
        at -> Timestamp,
        actor_kind -> Text,
        actor_id -> Nullable<Text>,
        action -> Text,
        subject_kind -> Text,
        subject_id -> Nullable<Text>,
        data -> Text,
        prev -> Text,
        hash -> Text,
    }
}

#[derive(Insertable)]
#[diesel(table_name = bench_bare_events)]
struct BareRow {
    stream: String,
    seq: i64,
    id: String,
    at: chrono::NaiveDateTime,
    actor_kind: String,
    actor_id: Option<String>,
    action: String,
    subject_kind: String,
    subject_id: Option<String>,
    data: String,
    prev: String,
    hash: String,
}

const BARE_TABLE: &str = "CREATE TABLE bench_bare_events (
    stream TEXT NOT NULL, seq BIGINT NOT NULL, id TEXT NOT NULL UNIQUE, at TIMESTAMP NOT NULL,
    actor_kind TEXT NOT NULL, actor_id TEXT, action TEXT NOT NULL, subject_kind TEXT NOT NULL,
    subject_id TEXT, data TEXT NOT NULL, prev TEXT NOT NULL, hash TEXT NOT NULL,
    PRIMARY KEY (stream, seq))";

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// A realistic event: a status change by an agent, ~400 bytes exported.
fn event(stream: &str, i: usize) -> NewEvent {
    let mut data = Map::new();
    data.insert(
        "status".into(),
        json!({"before": "open", "after": "pending_client"}),
    );
    data.insert(
        "request_id".into(),
        json!(format!("0193a1b2-c3d4-7e5f-8a9b-{i:012}")),
    );
    NewEvent::new(
        StreamName::parse(stream).unwrap(),
        Actor::new(ActorKind::Staff, "0193a1b2-0000-7000-8000-000000000007").unwrap(),
        Action::parse("case.status_changed").unwrap(),
        Subject::new("case", Some(stream.trim_start_matches("case:"))).unwrap(),
        data,
    )
    .unwrap()
}

fn store(db: &TestDatabase) -> Store {
    let url = rapport_store::DatabaseUrl::parse(&db.url).unwrap();
    let store = Store::connect(&url, &PoolOptions::default()).unwrap();
    store.migrate().unwrap();
    store
}

fn bare_row(e: &AuditEvent) -> BareRow {
    BareRow {
        stream: e.stream.as_str().to_owned(),
        seq: e.seq as i64,
        id: e.id.clone(),
        at: e.at.naive_utc(),
        actor_kind: e.actor.kind.as_str().to_owned(),
        actor_id: e.actor.id.clone(),
        action: e.action.as_str().to_owned(),
        subject_kind: e.subject.kind.clone(),
        subject_id: e.subject.id.clone(),
        data: rapport_audit::canonical::to_canonical_string(&serde_json::Value::Object(
            e.data.clone(),
        ))
        .unwrap(),
        prev: e.prev.to_hex(),
        hash: e.hash.to_hex(),
    }
}

fn per_second(n: usize, elapsed: Duration) -> f64 {
    n as f64 / elapsed.as_secs_f64()
}

fn bench_append(backend: Backend, n: usize) {
    let Some(db) = TestDatabase::create(backend) else {
        println!("append ({backend:?}): skipped, no PostgreSQL configured (RAPPORT_TEST_POSTGRES)");
        return;
    };
    let store = store(&db);
    {
        let mut conn = store.conn().unwrap();
        diesel::sql_query(BARE_TABLE).execute(&mut *conn).unwrap();
    }
    // The same rows for both: sealed once in memory, 10 streams.
    let mut heads = vec![ChainHead::EMPTY; 10];
    let rows: Vec<BareRow> = (0..n)
        .map(|i| {
            let s = i % 10;
            let sealed = rapport_audit::seal(
                event(&format!("case:s{s}"), i),
                &heads[s],
                uuid::Uuid::now_v7().to_string(),
                chrono::Utc::now(),
            )
            .unwrap();
            heads[s] = sealed.head();
            bare_row(&sealed)
        })
        .collect();

    let started = Instant::now();
    for row in &rows {
        store
            .write(|conn: &mut DbConnection| {
                diesel::insert_into(bench_bare_events::table)
                    .values(row)
                    .execute(conn)
                    .map_err(StoreError::from)
            })
            .unwrap();
    }
    let bare = per_second(n, started.elapsed());

    let started = Instant::now();
    for i in 0..n {
        let e = event(&format!("case:s{}", i % 10), i);
        store
            .write(|conn| rapport_store::audit::append(conn, e, None))
            .unwrap();
    }
    let audit = per_second(n, started.elapsed());
    println!(
        "append ({backend:?}, {n} events, one transaction each): bare insert {bare:.0} events/s, \
         audit append {audit:.0} events/s, ratio {:.2}",
        audit / bare
    );
}

fn peak_rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

/// The real binary, without the bench's own variables (which the server
/// would rightly refuse as unknown settings).
fn rapport() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_rapport-e2e"));
    for (key, _) in std::env::vars() {
        if key.starts_with("RAPPORT_") || key == "RUST_LOG" {
            cmd.env_remove(key);
        }
    }
    cmd
}

/// Runs the command, sampling its peak RSS until it exits.
fn run_measured(cmd: &mut Command) -> (Duration, u64) {
    let started = Instant::now();
    let mut child = cmd
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut peak = 0;
    loop {
        if let Some(kib) = peak_rss_kib(child.id()) {
            peak = peak.max(kib);
        }
        if let Some(status) = child.try_wait().unwrap() {
            let elapsed = started.elapsed();
            if !status.success() {
                let mut err = String::new();
                std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut err).unwrap();
                panic!("{cmd:?} failed: {err}");
            }
            return (elapsed, peak);
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

fn bench_export_and_verify(n: usize) {
    let db = TestDatabase::create(Backend::Sqlite).unwrap();
    let store = store(&db);
    let streams = (n / 1_000).max(1);
    let started = Instant::now();
    let batch = 10_000;
    for chunk in 0..n.div_ceil(batch) {
        store
            .write(|conn| {
                for i in chunk * batch..((chunk + 1) * batch).min(n) {
                    let s = i % streams;
                    rapport_store::audit::append(
                        conn,
                        event(&format!("case:c{s:06}"), i),
                        Some("acme"),
                    )?;
                }
                Ok::<(), StoreError>(())
            })
            .unwrap();
    }
    println!(
        "setup: {n} events in {streams} case streams appended in {:.1} s ({:.0} events/s in batches of {batch})",
        started.elapsed().as_secs_f64(),
        per_second(n, started.elapsed())
    );
    drop(store);

    let dir = db.data_dir().to_str().unwrap().to_owned();
    let file = db.data_dir().join("export.jsonl");
    let (elapsed, peak) = run_measured(
        rapport()
            .args([
                "--data-dir",
                &dir,
                "--database-url",
                &db.url,
                "audit",
                "export",
                "--out",
            ])
            .arg(&file),
    );
    let size = std::fs::metadata(&file).unwrap().len();
    println!(
        "export ({n} events, SQLite, jsonl): {:.1} s, {:.0} events/s, {:.0} MiB/s, peak RSS {:.1} MiB, file {:.0} MiB",
        elapsed.as_secs_f64(),
        per_second(n, elapsed),
        size as f64 / 1_048_576.0 / elapsed.as_secs_f64(),
        peak as f64 / 1024.0,
        size as f64 / 1_048_576.0
    );

    let key = rapport()
        .args(["--data-dir", &dir, "audit", "public-key"])
        .output()
        .unwrap();
    let key = String::from_utf8(key.stdout).unwrap().trim().to_owned();
    let (verify, verify_peak) = run_measured(
        rapport()
            .args(["audit", "verify", "--public-key", &key])
            .arg(&file),
    );
    let (sha, _) = run_measured(Command::new("sha256sum").arg(&file));
    let mib = size as f64 / 1_048_576.0;
    println!(
        "verify: {:.1} s ({:.0} events/s, {:.0} MiB/s, peak RSS {:.1} MiB); sha256sum: {:.1} s ({:.0} MiB/s); \
         verify/sha256sum time ratio {:.2}",
        verify.as_secs_f64(),
        per_second(n, verify),
        mib / verify.as_secs_f64(),
        verify_peak as f64 / 1024.0,
        sha.as_secs_f64(),
        mib / sha.as_secs_f64(),
        verify.as_secs_f64() / sha.as_secs_f64()
    );
}

fn main() {
    let appends = env_usize("RAPPORT_BENCH_APPENDS", 2_000);
    let events = env_usize("RAPPORT_BENCH_EVENTS", 1_000_000);
    println!(
        "Rapport audit benchmark ({} cores)",
        std::thread::available_parallelism().map_or(1, |n| n.get())
    );
    bench_append(Backend::Sqlite, appends);
    bench_append(Backend::Postgres, appends);
    bench_export_and_verify(events);
}
