//! `make bench`: inbound email end to end through the pipeline every door
//! uses (record with its original bytes, parse, thread into a case with its
//! entry, audit event and email details, acknowledgment), on SQLite and
//! PostgreSQL, beside two baselines from the same run: parsing the same
//! messages alone (MIME, charsets, HTML sanitising, quote collapsing,
//! loop checks) and inserting the same raw messages as bare rows, one
//! transaction each. Its peer, django-helpdesk 2.6.1, ingests the same
//! messages on the same database in the same run (installed from PyPI into
//! the target directory on first use, see `tests/peers/django_helpdesk`).
//! RAPPORT_BENCH_MAIL sets the number of messages (1,000).

#![allow(clippy::unwrap_used, clippy::print_stdout, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use diesel::RunQueryDsl;
use diesel::connection::SimpleConnection;
use rapport_domain::Principal;
use rapport_server::config::{self, Settings};
use rapport_tests::{Backend, TestDatabase, seed};
use serde_json::Value;

/// Deliveries at once in the concurrent leg.
const DELIVERIES: usize = 8;

/// django-helpdesk 2.6.1's ingest of 500 messages of this shape on this
/// machine, messages per second, as measured on 2026-11-23: the ratio's
/// baseline only when the peer cannot be installed and measured in this
/// run (no Python, no package index).
fn django_helpdesk_recorded(backend: Backend) -> f64 {
    match backend {
        Backend::Sqlite => 57.5,
        Backend::Postgres => 88.0,
    }
}

/// django-helpdesk 2.6.1 in its own virtual environment
/// (`tests/peers/django_helpdesk`), measured on the same messages as
/// Rapport, on the same database, in the same run.
struct DjangoHelpdesk {
    python: PathBuf,
    script: PathBuf,
    corpus: tempfile::TempDir,
}

impl DjangoHelpdesk {
    /// Installs the peer (once: the environment is kept under the target
    /// directory) and writes the corpus it reads.
    fn install(messages: &[Vec<u8>]) -> Result<DjangoHelpdesk, String> {
        let peer = Path::new(env!("CARGO_MANIFEST_DIR")).join("peers/django_helpdesk");
        let target = std::env::var_os("CARGO_TARGET_DIR").map_or_else(
            || Path::new(env!("CARGO_MANIFEST_DIR")).join("../target"),
            PathBuf::from,
        );
        let venv = target.join("peers/django-helpdesk");
        println!(
            "django-helpdesk: preparing its environment in {}",
            venv.display()
        );
        let setup = Command::new("bash")
            .arg(peer.join("setup.sh"))
            .arg(&venv)
            .output()
            .map_err(|e| format!("bash: {e}"))?;
        if !setup.status.success() {
            return Err(String::from_utf8_lossy(&setup.stderr).trim().to_owned());
        }
        let corpus = tempfile::tempdir().map_err(|e| e.to_string())?;
        for (i, raw) in messages.iter().enumerate() {
            std::fs::write(corpus.path().join(format!("{i:06}.eml")), raw)
                .map_err(|e| e.to_string())?;
        }
        Ok(DjangoHelpdesk {
            python: venv.join("bin/python"),
            script: peer.join("ingest.py"),
            corpus,
        })
    }

    /// Messages per second of its own ingest, on a fresh database.
    fn measure(&self, backend: Backend) -> Result<f64, String> {
        let database = match backend {
            Backend::Sqlite => "sqlite".to_owned(),
            Backend::Postgres => std::env::var("RAPPORT_TEST_POSTGRES")
                .map_err(|_| "RAPPORT_TEST_POSTGRES is not set".to_owned())?,
        };
        let out = Command::new(&self.python)
            .arg(&self.script)
            .arg("--corpus")
            .arg(self.corpus.path())
            .arg("--database")
            .arg(database)
            .output()
            .map_err(|e| format!("{}: {e}", self.python.display()))?;
        if !out.status.success() {
            return Err(String::from_utf8_lossy(&out.stderr).trim().to_owned());
        }
        let line: Value = serde_json::from_slice(&out.stdout).map_err(|e| {
            format!(
                "unreadable result ({e}): {}",
                String::from_utf8_lossy(&out.stdout)
            )
        })?;
        line["per_second"]
            .as_f64()
            .ok_or_else(|| format!("no per_second in {line}"))
    }
}

/// The peer's rate for `backend`, measured now when it can be, with how
/// it was had.
fn django_helpdesk(peer: &Result<DjangoHelpdesk, String>, backend: Backend) -> (f64, String) {
    let measured = peer
        .as_ref()
        .map_err(Clone::clone)
        .and_then(|p| p.measure(backend));
    match measured {
        Ok(rate) => (
            rate,
            format!("django-helpdesk 2.6.1 measured now: {rate:.1}/s"),
        ),
        Err(why) => {
            let rate = django_helpdesk_recorded(backend);
            println!("  django-helpdesk could not be measured in this run ({why})");
            (
                rate,
                format!("django-helpdesk 2.6.1 as measured on 2026-11-23: {rate}/s"),
            )
        }
    }
}

fn wanted() -> usize {
    std::env::var("RAPPORT_BENCH_MAIL")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000)
}

/// A realistic message: text and HTML parts, quoted history on replies.
fn message(i: usize) -> Vec<u8> {
    let reply = i % 2 == 1;
    let (subject, threading) = if reply {
        (
            format!("Re: Order {} delivery question", i - 1),
            format!(
                "In-Reply-To: <bench-{}@acme.example>\r\nReferences: <bench-{}@acme.example>\r\n",
                i - 1,
                i - 1
            ),
        )
    } else {
        (format!("Order {i} delivery question"), String::new())
    };
    let text = format!(
        "Hello team,\r\n\r\nthe delivery for order {i} arrived with two cartons missing; the delivery note says 12, we counted 10.\r\nCould you check with the warehouse and send the missing parts to Hall 3?\r\n\r\nKind regards\r\nAnna\r\n\r\nOn Mon, 23 Nov 2026 at 09:58, Acme Support <support@rapport.localhost> wrote:\r\n> Hello Anna,\r\n> your order {i} has shipped.\r\n"
    );
    let html = format!(
        "<div>Hello team,<br><br>the delivery for order {i} arrived with two cartons missing; the delivery note says 12, we counted 10.<br>Could you check with the warehouse and send the missing parts to Hall 3?</div><div>Kind regards<br>Anna</div><blockquote>Hello Anna, your order {i} has shipped.</blockquote>"
    );
    format!(
        "From: Anna Finance <anna@acme.example>\r\nTo: Acme Support <support@rapport.localhost>\r\nSubject: {subject}\r\nMessage-ID: <bench-{i}@acme.example>\r\n{threading}Date: Mon, 23 Nov 2026 10:00:00 +0100\r\nMIME-Version: 1.0\r\nContent-Type: multipart/alternative; boundary=\"ALT\"\r\n\r\n--ALT\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n{text}\r\n--ALT\r\nContent-Type: text/html; charset=utf-8\r\n\r\n{html}\r\n--ALT--\r\n"
    )
    .into_bytes()
}

fn run(backend: Backend, n: usize, peer: &Result<DjangoHelpdesk, String>) {
    let Some(db) = TestDatabase::create(backend) else {
        println!("mail ({backend:?}): skipped, no PostgreSQL configured (RAPPORT_TEST_POSTGRES)");
        return;
    };
    let store = seed::store(&db);
    let admin = seed::staff_member(&db, "admin");
    let who = Principal::Staff {
        id: admin.id,
        role: admin.role,
    };
    let mut settings = Settings {
        data_dir: db.data_dir().to_path_buf(),
        ..Settings::default()
    };
    settings.database.url = Some(db.url.clone());
    let config = config::validate(settings).unwrap();
    let state = rapport_server::server::state_for(Arc::new(config), store.clone()).unwrap();
    rapport_server::usecase::account::create(
        &state,
        &who,
        rapport_server::usecase::account::AccountInput {
            name: Some("Acme Manufacturing".into()),
            domains: Some(vec!["acme.example".into()]),
            ..Default::default()
        },
    )
    .unwrap();
    let messages: Vec<Vec<u8>> = (0..n).map(message).collect();
    let bytes: usize = messages.iter().map(Vec::len).sum();

    let started = Instant::now();
    for raw in &messages {
        let mail = rapport_mail::parse(raw).unwrap();
        let _ = rapport_mail::noise(&mail, "rapport.localhost");
        let _ = rapport_mail::split_reply(&mail.text);
    }
    let parse = n as f64 / started.elapsed().as_secs_f64();

    let mut conn = store.conn().unwrap();
    let blob = if backend == Backend::Postgres {
        "BYTEA"
    } else {
        "BLOB"
    };
    conn.batch_execute(&format!(
        "CREATE TABLE bench_bare_mail (id TEXT PRIMARY KEY, raw {blob} NOT NULL)"
    ))
    .unwrap();
    let insert_sql = if backend == Backend::Postgres {
        "INSERT INTO bench_bare_mail (id, raw) VALUES ($1, $2)"
    } else {
        "INSERT INTO bench_bare_mail (id, raw) VALUES (?, ?)"
    };
    let started = Instant::now();
    for raw in &messages {
        diesel::sql_query(insert_sql)
            .bind::<diesel::sql_types::Text, _>(uuid::Uuid::now_v7().to_string())
            .bind::<diesel::sql_types::Binary, _>(raw.as_slice())
            .execute(&mut *conn)
            .unwrap();
    }
    let insert = n as f64 / started.elapsed().as_secs_f64();
    drop(conn);

    let started = Instant::now();
    let mut threaded = 0;
    for raw in &messages {
        let (row, _) =
            rapport_server::usecase::mail::ingest(&state, "import", None, &[], raw).unwrap();
        if row.status == "threaded" {
            threaded += 1;
        }
    }
    let ingest = n as f64 / started.elapsed().as_secs_f64();
    assert_eq!(threaded, n, "every message threaded");
    let (django, measured) = django_helpdesk(peer, backend);
    println!(
        "mail ({backend:?}): {n} messages ({:.1} KiB each): ingest end to end {ingest:.0}/s; \
         parse alone {parse:.0}/s (ingest {:.3}x); bare row insert {insert:.0}/s (ingest {:.2}x); \
         against {measured}: {:.1}x",
        bytes as f64 / n as f64 / 1024.0,
        ingest / parse,
        ingest / insert,
        ingest / django
    );

    if std::env::var_os("RAPPORT_BENCH_SHOW_STATEMENTS").is_some() {
        let extra: Vec<Vec<u8>> = (3 * n..3 * n + 200).map(message).collect();
        let started = Instant::now();
        let timed = rapport_tests::statements::timed_during(|| {
            for raw in &extra {
                rapport_server::usecase::mail::ingest(&state, "import", None, &[], raw).unwrap();
            }
        });
        let each = |d: Duration| d.as_secs_f64() * 1e6 / extra.len() as f64;
        let in_sql: Duration = timed.iter().map(|t| t.2).sum();
        let sent: u64 = timed.iter().map(|t| t.1).sum();
        println!(
            "  time of one ingest ({:.0} us, {:.1} statements): in statements {:.0} us; the costliest:",
            each(started.elapsed()),
            sent as f64 / extra.len() as f64,
            each(in_sql)
        );
        for (sql, count, t) in timed.iter().take(12) {
            println!(
                "    {:>6.0} us x{:.1}  {sql}",
                each(*t),
                *count as f64 / extra.len() as f64
            );
        }
    }

    // As an MTA delivers: DELIVERIES connections at once (new messages,
    // their own ids).
    let later: Vec<Vec<u8>> = (n..2 * n).map(message).collect();
    let started = Instant::now();
    std::thread::scope(|scope| {
        for d in 0..DELIVERIES {
            let (state, later) = (&state, &later);
            scope.spawn(move || {
                for raw in later.iter().skip(d).step_by(DELIVERIES) {
                    rapport_server::usecase::mail::ingest(state, "import", None, &[], raw).unwrap();
                }
            });
        }
    });
    let together = n as f64 / started.elapsed().as_secs_f64();
    println!(
        "  {DELIVERIES} deliveries at once: ingest {together:.0}/s ({:.2}x one at a time); \
         against django-helpdesk: {:.1}x",
        together / ingest,
        together / django
    );
}

fn main() {
    rapport_tests::statements::count_from_now();
    let n = wanted();
    println!(
        "Rapport inbound mail benchmark ({} cores)",
        std::thread::available_parallelism().map_or(1, |c| c.get())
    );
    let corpus: Vec<Vec<u8>> = (0..n).map(message).collect();
    let peer = DjangoHelpdesk::install(&corpus);
    if let Err(why) = &peer {
        println!("django-helpdesk could not be installed: {why}");
    }
    run(Backend::Sqlite, n, &peer);
    run(Backend::Postgres, n, &peer);
}
