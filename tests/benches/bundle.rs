//! `make bench`: an evidence bundle of one case with 10,000 entries
//! (RAPPORT_BENCH_BUNDLE_ENTRIES) and 1 GiB of attachments
//! (RAPPORT_BENCH_BUNDLE_MIB, in files of 10 MiB), written and verified by
//! the real binary (`rapport audit bundle` / `verify`): time and peak RSS,
//! beside copying the same attachment bytes into one file in the same run.

#![allow(clippy::unwrap_used, clippy::print_stdout, clippy::expect_used)]

use std::io::Write;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rapport_domain::{EntryKind, Principal};
use rapport_server::attachment_files::Receiving;
use rapport_server::config::{self, Settings};
use rapport_server::usecase::case::{self as cases, OpenCase};
use rapport_tests::{Backend, TestDatabase, seed};

fn env_or(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
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

/// Runs the real binary, sampling its peak RSS until it exits.
fn run_measured(args: &[&str]) -> (Duration, u64, String) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_rapport-e2e"));
    for (key, _) in std::env::vars() {
        if key.starts_with("RAPPORT_") || key == "RUST_LOG" {
            cmd.env_remove(key);
        }
    }
    let started = Instant::now();
    let mut child = cmd
        .args(args)
        .stdout(Stdio::piped())
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
            let mut out = String::new();
            std::io::Read::read_to_string(&mut child.stdout.take().unwrap(), &mut out).unwrap();
            if !status.success() {
                let mut err = String::new();
                std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut err).unwrap();
                panic!("{args:?} failed: {out}{err}");
            }
            return (elapsed, peak, out);
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

fn main() {
    let entries = env_or("RAPPORT_BENCH_BUNDLE_ENTRIES", 10_000);
    let mib = env_or("RAPPORT_BENCH_BUNDLE_MIB", 1_024);
    let db = TestDatabase::create(Backend::Sqlite).unwrap();
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
    let state = rapport_server::server::state_for(
        Arc::new(config::validate(settings).unwrap()),
        store.clone(),
    )
    .unwrap();
    let account = rapport_server::usecase::account::create(
        &state,
        &who,
        rapport_server::usecase::account::AccountInput {
            name: Some("Bench Account".into()),
            ..Default::default()
        },
    )
    .unwrap();
    let (case, _) = cases::open(
        &state,
        &who,
        OpenCase {
            account_id: Some(account.id),
            subject: "Disputed invoice 2026-0318".into(),
            body: "Opening".into(),
            ..Default::default()
        },
    )
    .unwrap();

    let started = Instant::now();
    let mut ids = Vec::with_capacity(entries);
    for i in 0..entries {
        let posted = cases::post(
            &state,
            &who,
            case.id,
            EntryKind::Note,
            &format!("Entry {i}: the delivery note for order {i} lists 12 cartons; the warehouse counted {}.", 10 + i % 3),
            None,
            Vec::new(),
        )
        .unwrap();
        ids.push(posted.entry.id);
    }
    // Incompressible content, as scans and PDFs mostly are.
    let files = mib.div_ceil(10).max(1);
    let mut seed_state = 0x9E37_79B9_7F4A_7C15u64;
    let mut paths = Vec::new();
    for f in 0..files {
        let mut r = Receiving::start(db.data_dir()).unwrap();
        let mut chunk = vec![0u8; 1 << 20];
        for _ in 0..10 {
            for b in chunk.chunks_mut(8) {
                seed_state ^= seed_state << 13;
                seed_state ^= seed_state >> 7;
                seed_state ^= seed_state << 17;
                b.copy_from_slice(&seed_state.to_le_bytes()[..b.len()]);
            }
            r.write(&chunk).unwrap();
        }
        let upload = r.finish(&format!("scan-{f}.bin")).unwrap();
        let path = rapport_server::attachment_files::keep(db.data_dir(), &upload).unwrap();
        let entry = ids[f * ids.len() / files];
        store
            .write(|conn| {
                rapport_store::attachment::insert(
                    conn,
                    entry,
                    &upload.sha256,
                    upload.size as i64,
                    &upload.filename,
                    &upload.content_type,
                )
            })
            .unwrap();
        paths.push(path);
    }
    println!(
        "bundle: setup of {entries} entries and {files} files of 10 MiB in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    drop(state);
    drop(store);

    let dir = db.data_dir().to_str().unwrap().to_owned();
    let out = db.data_dir().join("case.zip");
    let number = case.number.to_string();
    let (write_time, write_peak, _) = run_measured(&[
        "--data-dir",
        &dir,
        "--database-url",
        &db.url,
        "audit",
        "bundle",
        "--case",
        &number,
        "--out",
        out.to_str().unwrap(),
    ]);
    let size = std::fs::metadata(&out).unwrap().len();
    let (verify_time, verify_peak, report) = run_measured(&[
        "--data-dir",
        &dir,
        "--database-url",
        &db.url,
        "audit",
        "verify",
        out.to_str().unwrap(),
    ]);
    assert!(report.starts_with("OK"), "{report}");

    // Baseline: the attachment bytes copied into one file and synced.
    let copy = db.data_dir().join("copy.bin");
    let started = Instant::now();
    let mut target = std::fs::File::create(&copy).unwrap();
    for p in &paths {
        std::io::copy(&mut std::fs::File::open(p).unwrap(), &mut target).unwrap();
    }
    target.flush().unwrap();
    target.sync_all().unwrap();
    let copy_time = started.elapsed();
    println!(
        "bundle (SQLite): {entries} entries + {mib} MiB of attachments -> {:.0} MiB ZIP in {:.1} s, peak RSS {:.1} MiB; \
         verify {:.1} s, peak RSS {:.1} MiB; baseline copy of the attachment bytes {:.1} s (bundle {:.2}x, verify {:.2}x)",
        size as f64 / 1_048_576.0,
        write_time.as_secs_f64(),
        write_peak as f64 / 1024.0,
        verify_time.as_secs_f64(),
        verify_peak as f64 / 1024.0,
        copy_time.as_secs_f64(),
        write_time.as_secs_f64() / copy_time.as_secs_f64(),
        verify_time.as_secs_f64() / copy_time.as_secs_f64(),
    );
}
