//! `make bench`: cases through the use cases the API calls, on SQLite and
//! PostgreSQL, each against a baseline from the same run:
//!
//! 1. case creation (number, routing, first entry, audit events) and
//!    thread append (entry, audit event, search indexing) vs a bare insert
//!    of an entry row, one transaction each;
//! 2. search latency p50/p99 over 100,000 entries (RAPPORT_BENCH_ENTRIES)
//!    vs fetching one case's newest entries by index;
//! 3. search and the case list as a contact who sees the cases of their
//!    function (narrowed in SQL by category) vs the same as staff.

#![allow(clippy::unwrap_used, clippy::print_stdout, clippy::expect_used)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use diesel::RunQueryDsl;
use rapport_domain::{EntryKind, Principal};
use rapport_server::config::{self, Settings};
use rapport_server::usecase::case::{self as cases, OpenCase};
use rapport_tests::{Backend, TestDatabase, seed};

/// Writers at once in the concurrent legs.
const WRITERS: usize = 8;

fn per(statements: u64, n: usize) -> f64 {
    statements as f64 / n as f64
}

fn entries_wanted() -> usize {
    std::env::var("RAPPORT_BENCH_ENTRIES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100_000)
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

const WORDS: &[&str] = &[
    "invoice",
    "order",
    "delivery",
    "warehouse",
    "credit",
    "contract",
    "renewal",
    "password",
    "portal",
    "shipment",
    "discount",
    "refund",
    "payment",
    "appointment",
    "upgrade",
    "license",
    "printer",
    "report",
    "export",
    "account",
];

fn sentence(i: usize) -> String {
    (0..12)
        .map(|k| WORDS[(i * 7 + k * 13 + k * k) % WORDS.len()])
        .collect::<Vec<_>>()
        .join(" ")
        + &format!(" ref{i}")
}

/// Case `i` of the bench: half billing, half technical (a finance reader
/// sees half).
fn opening(account: rapport_domain::AccountId, i: usize, tail: &str) -> OpenCase {
    OpenCase {
        account_id: Some(account),
        subject: format!("Case {i}{tail}"),
        body: sentence(i),
        category: Some(
            if i.is_multiple_of(2) {
                "billing"
            } else {
                "technical"
            }
            .into(),
        ),
        ..Default::default()
    }
}

fn run(backend: Backend) {
    let Some(db) = TestDatabase::create(backend) else {
        println!("cases ({backend:?}): skipped, no PostgreSQL configured (RAPPORT_TEST_POSTGRES)");
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
    let account = rapport_server::usecase::account::create(
        &state,
        &who,
        rapport_server::usecase::account::AccountInput {
            name: Some("Bench Account".into()),
            ..Default::default()
        },
    )
    .unwrap();

    let n = 500;
    let statements = rapport_tests::statements::sent();
    let started = Instant::now();
    let mut case_ids = Vec::new();
    for i in 0..n {
        let (case, _) = cases::open(&state, &who, opening(account.id, i, "")).unwrap();
        case_ids.push(case.id);
    }
    let create = n as f64 / started.elapsed().as_secs_f64();
    let open_statements = per(rapport_tests::statements::sent() - statements, n);

    let statements = rapport_tests::statements::sent();
    let started = Instant::now();
    for i in 0..n {
        cases::post(
            &state,
            &who,
            case_ids[i % case_ids.len()],
            EntryKind::Note,
            &sentence(n + i),
            None,
            Vec::new(),
        )
        .unwrap();
    }
    let append = n as f64 / started.elapsed().as_secs_f64();
    let append_statements = per(rapport_tests::statements::sent() - statements, n);

    diesel::sql_query(
        "CREATE TABLE bench_bare_entries (id TEXT PRIMARY KEY, case_id TEXT NOT NULL, body TEXT NOT NULL)",
    )
    .execute(&mut *store.conn().unwrap())
    .unwrap();
    // One row, its own commit: the storage's price of a durable insert.
    let bare_insert = |i: usize| {
        diesel::sql_query(format!(
            "INSERT INTO bench_bare_entries (id, case_id, body) VALUES ('{}', '{}', '{}')",
            uuid::Uuid::now_v7(),
            case_ids[i % case_ids.len()],
            sentence(i)
        ))
        .execute(&mut *store.conn().unwrap())
        .unwrap();
    };
    let started = Instant::now();
    for i in 0..n {
        bare_insert(i);
    }
    let bare = n as f64 / started.elapsed().as_secs_f64();
    println!(
        "cases ({backend:?}): open {create:.0} cases/s ({open_statements:.1} statements each), \
         append {append:.0} entries/s ({append_statements:.1} statements each), bare entry insert {bare:.0}/s: \
         open ratio {:.2}, append ratio {:.2}",
        create / bare,
        append / bare
    );

    if std::env::var_os("RAPPORT_BENCH_SHOW_STATEMENTS").is_some() {
        let open = rapport_tests::statements::listed_during(|| {
            cases::open(&state, &who, opening(account.id, 0, " listed")).unwrap();
        });
        let append = rapport_tests::statements::listed_during(|| {
            cases::post(
                &state,
                &who,
                case_ids[0],
                EntryKind::Note,
                &sentence(2),
                None,
                Vec::new(),
            )
            .unwrap();
        });
        let appends = 200;
        let started = Instant::now();
        let timed = rapport_tests::statements::timed_during(|| {
            for i in 0..appends {
                cases::post(
                    &state,
                    &who,
                    case_ids[i % case_ids.len()],
                    EntryKind::Note,
                    &sentence(i),
                    None,
                    Vec::new(),
                )
                .unwrap();
            }
        });
        let total = started.elapsed();
        let in_sql: Duration = timed.iter().map(|t| t.2).sum();
        println!(
            "  time of one append ({:.0} us): in statements {:.0} us, outside them {:.0} us; the costliest:",
            total.as_secs_f64() * 1e6 / appends as f64,
            in_sql.as_secs_f64() * 1e6 / appends as f64,
            (total.saturating_sub(in_sql)).as_secs_f64() * 1e6 / appends as f64
        );
        for (sql, n, t) in timed.iter().take(8) {
            println!(
                "    {:>6.0} us x{:.1}  {sql}",
                t.as_secs_f64() * 1e6 / appends as f64,
                *n as f64 / appends as f64
            );
        }
        for (what, list) in [("open", open), ("append", append)] {
            println!("  statements of one {what} ({}):", list.len());
            for sql in list {
                println!("    {}", sql.chars().take(160).collect::<String>());
            }
        }
    }

    // The same, from WRITERS threads at once: the server's real pattern
    // (many requests in flight). The baseline is the better of one bare
    // writer and WRITERS bare writers, each insert its own commit.
    let at_once = |work: &(dyn Fn(usize) + Sync)| {
        let started = Instant::now();
        std::thread::scope(|scope| {
            for w in 0..WRITERS {
                scope.spawn(move || {
                    for i in (w..n).step_by(WRITERS) {
                        work(i);
                    }
                });
            }
        });
        n as f64 / started.elapsed().as_secs_f64()
    };
    let open_together = at_once(&|i| {
        cases::open(&state, &who, opening(account.id, i, " at once")).unwrap();
    });
    let append_together = at_once(&|i| {
        cases::post(
            &state,
            &who,
            case_ids[i % case_ids.len()],
            EntryKind::Note,
            &sentence(2 * n + i),
            None,
            Vec::new(),
        )
        .unwrap();
    });
    let bare_together = at_once(&bare_insert);
    let best_bare = bare.max(bare_together);
    println!(
        "  {WRITERS} writers at once: open {open_together:.0}/s, append {append_together:.0}/s, \
         bare insert {bare_together:.0}/s; against the better bare insert ({best_bare:.0}/s): \
         open ratio {:.2}, append ratio {:.2}",
        open_together / best_bare,
        append_together / best_bare
    );

    // Fill to the wanted size in large transactions, through the same use case path.
    let target = entries_wanted();
    let started = Instant::now();
    let have = 3 * n;
    for i in have..target {
        cases::post(
            &state,
            &who,
            case_ids[i % case_ids.len()],
            EntryKind::Portal,
            &sentence(i),
            None,
            Vec::new(),
        )
        .unwrap();
    }
    println!(
        "  setup: {} entries in {:.0} s",
        target,
        started.elapsed().as_secs_f64()
    );

    // Two words of a real entry: every query has matches, some many.
    let queries: Vec<String> = (0..200)
        .map(|i| {
            sentence(i * 37)
                .split(' ')
                .skip(i % 5)
                .take(2)
                .collect::<Vec<_>>()
                .join(" ")
        })
        .collect();
    let mut search_times = Vec::new();
    for q in &queries {
        let t = Instant::now();
        let hits = cases::search(&state, &who, q, None, 20).unwrap();
        search_times.push(t.elapsed());
        assert!(!hits.is_empty());
    }
    let mut thread_times = Vec::new();
    for i in 0..200 {
        let t = Instant::now();
        let page = cases::entries(&state, &who, case_ids[i % case_ids.len()], None, 20).unwrap();
        thread_times.push(t.elapsed());
        assert!(!page.is_empty());
    }
    search_times.sort();
    thread_times.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    println!(
        "  search over {target} entries (20 hits): p50 {:.2} ms, p99 {:.2} ms; one thread page by index: p50 {:.2} ms, p99 {:.2} ms; \
         p50 ratio {:.1}",
        ms(percentile(&search_times, 0.5)),
        ms(percentile(&search_times, 0.99)),
        ms(percentile(&thread_times, 0.5)),
        ms(percentile(&thread_times, 0.99)),
        ms(percentile(&search_times, 0.5)) / ms(percentile(&thread_times, 0.5)),
    );

    // A finance contact who sees the cases of their function: the same
    // reads, narrowed to billing cases in SQL.
    let contact = rapport_server::usecase::contact::create(
        &state,
        &who,
        account.id,
        rapport_server::usecase::contact::ContactInput {
            name: Some("Bench Finance".into()),
            emails: Some(vec!["finance@bench.example".into()]),
            function: Some(rapport_domain::ContactFunction::Finance),
            visibility: Some(rapport_domain::ContactVisibility::FunctionCases),
            ..Default::default()
        },
    )
    .unwrap();
    let reader = Principal::Contact {
        id: contact.id,
        account: account.id,
        visibility: rapport_domain::ContactVisibility::FunctionCases,
        function: rapport_domain::ContactFunction::Finance,
    };
    let timed = |who: &Principal, f: &dyn Fn(&Principal)| {
        let mut times: Vec<Duration> = (0..200)
            .map(|_| {
                let t = Instant::now();
                f(who);
                t.elapsed()
            })
            .collect();
        times.sort();
        percentile(&times, 0.5)
    };
    let search = |w: &Principal| {
        assert!(
            !cases::search(&state, w, &queries[0], None, 20)
                .unwrap()
                .is_empty()
        );
    };
    let list = |w: &Principal| {
        assert_eq!(
            cases::list(&state, w, Default::default(), None, 50)
                .unwrap()
                .len(),
            50
        );
    };
    let (search_staff, search_reader) = (timed(&who, &search), timed(&reader, &search));
    let (list_staff, list_reader) = (timed(&who, &list), timed(&reader, &list));
    println!(
        "  as a contact seeing their function's cases: search p50 {:.2} ms vs {:.2} ms as staff (ratio {:.2}); \
         case list (50) p50 {:.2} ms vs {:.2} ms as staff (ratio {:.2})",
        ms(search_reader),
        ms(search_staff),
        ms(search_reader) / ms(search_staff),
        ms(list_reader),
        ms(list_staff),
        ms(list_reader) / ms(list_staff),
    );
}

fn main() {
    rapport_tests::statements::count_from_now();
    println!(
        "Rapport cases benchmark ({} cores)",
        std::thread::available_parallelism().map_or(1, |n| n.get())
    );
    run(Backend::Sqlite);
    run(Backend::Postgres);
}
