//! `make bench`: sign-in and authenticated reads on the real server
//! (release binary, SQLite, 2 workers), each against a baseline from the
//! same run:
//!
//! 1. sign-in: `POST /api/v1/auth/login` (argon2id verify, refresh token,
//!    audit event) vs bare argon2id verifications in this process.
//! 2. `GET /api/v1/accounts` with a bearer token (JWT check, agent-scoped
//!    query of 50 accounts) vs `GET /healthz` (no auth, no database).
//! 3. `GET /api/v1/me` with a bearer token (JWT check, the staff row) vs
//!    `GET /healthz`.
//! 4. A contact of two companies switching between them
//!    (`POST /api/v1/auth/contact/switch`: spends the refresh token, checks
//!    the membership and the proven address, audits) vs refreshing the
//!    same session (`POST /api/v1/auth/refresh`).
//!
//! RAPPORT_BENCH_SECONDS (default 5) sets each throughput window.

#![allow(clippy::unwrap_used, clippy::print_stdout, clippy::expect_used)]

use std::rc::Rc;
use std::time::{Duration, Instant};

use rapport_tests::{Backend, RapportProcess, TestDatabase, seed};
use serde_json::json;

const CONCURRENCY: usize = 8;

thread_local! {
    /// The two companies the switching leg alternates between (a plain
    /// `fn` builds each request body).
    static COMPANIES: std::cell::RefCell<Vec<String>> = const { std::cell::RefCell::new(Vec::new()) };
}

fn seconds() -> Duration {
    Duration::from_secs(
        std::env::var("RAPPORT_BENCH_SECONDS")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(5),
    )
}

/// Requests per second that `CONCURRENCY` clients achieve for `window`.
async fn throughput(base: &str, path: &str, token: Option<&str>, window: Duration) -> f64 {
    let deadline = Instant::now() + window;
    let started = Instant::now();
    let counts: Vec<_> = (0..CONCURRENCY)
        .map(|_| {
            let url = format!("{base}{path}");
            let token = token.map(str::to_owned);
            actix_web::rt::spawn(async move {
                let client = awc::Client::builder()
                    .timeout(Duration::from_secs(30))
                    .finish();
                let mut n = 0u64;
                while Instant::now() < deadline {
                    let mut req = client.get(&url);
                    if let Some(t) = &token {
                        req = req.insert_header(("authorization", format!("Bearer {t}")));
                    }
                    let mut res = req.send().await.expect("server answers");
                    assert_eq!(res.status().as_u16(), 200);
                    res.body().limit(1 << 22).await.expect("body");
                    n += 1;
                }
                n
            })
        })
        .collect();
    let mut total = 0;
    for c in counts {
        total += c.await.unwrap();
    }
    total as f64 / started.elapsed().as_secs_f64()
}

async fn logins(base: &str, email: &str, password: &str, count: usize) -> f64 {
    let started = Instant::now();
    let per_client = count / CONCURRENCY;
    let tasks: Vec<_> = (0..CONCURRENCY)
        .map(|_| {
            let (url, body) = (
                format!("{base}/api/v1/auth/login"),
                json!({"email": email, "password": password}).to_string(),
            );
            actix_web::rt::spawn(async move {
                let client = awc::Client::builder()
                    .timeout(Duration::from_secs(60))
                    .finish();
                for _ in 0..per_client {
                    let res = client
                        .post(&url)
                        .insert_header(("content-type", "application/json"))
                        .send_body(body.clone())
                        .await
                        .expect("server answers");
                    assert_eq!(res.status().as_u16(), 200);
                }
            })
        })
        .collect();
    for t in tasks {
        t.await.unwrap();
    }
    (per_client * CONCURRENCY) as f64 / started.elapsed().as_secs_f64()
}

/// Calls per second that `CONCURRENCY` sessions achieve for `window`, each
/// spending its refresh token for the next one: `body(refresh, i)` is the
/// request body of the i-th call of a session.
async fn session_chains(
    base: &str,
    path: &str,
    refresh_tokens: Vec<String>,
    body: fn(&str, usize) -> serde_json::Value,
    window: Duration,
) -> f64 {
    let deadline = Instant::now() + window;
    let started = Instant::now();
    let tasks: Vec<_> = refresh_tokens
        .into_iter()
        .map(|mut refresh| {
            let url = format!("{base}{path}");
            actix_web::rt::spawn(async move {
                let client = awc::Client::builder()
                    .timeout(Duration::from_secs(30))
                    .finish();
                let mut n = 0usize;
                while Instant::now() < deadline {
                    let mut res = client
                        .post(&url)
                        .send_json(&body(&refresh, n))
                        .await
                        .expect("server answers");
                    assert_eq!(res.status().as_u16(), 200, "{url}");
                    let tokens: serde_json::Value = res.json().await.expect("tokens");
                    refresh = tokens["refresh_token"]
                        .as_str()
                        .expect("a refresh token")
                        .to_owned();
                    n += 1;
                }
                n
            })
        })
        .collect();
    let mut total = 0;
    for t in tasks {
        total += t.await.unwrap();
    }
    total as f64 / started.elapsed().as_secs_f64()
}

/// argon2id verifications per second on all cores, the floor of sign-in cost.
fn bare_verifications(hash: &str, count: usize) -> f64 {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let started = Instant::now();
    let threads: Vec<_> = (0..cores)
        .map(|_| {
            let hash = hash.to_owned();
            std::thread::spawn(move || {
                for _ in 0..count / cores {
                    assert!(rapport_server::auth::password::verify(
                        "bench password 123",
                        &hash
                    ));
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    (count / cores * cores) as f64 / started.elapsed().as_secs_f64()
}

fn main() {
    let db = TestDatabase::create(Backend::Sqlite).unwrap();
    let (agent_email, agent_password) = seed::staff(&db, "agent");
    let (admin_email, admin_password) = seed::staff(&db, "admin");
    let hash = rapport_server::auth::password::hash("bench password 123").unwrap();
    let mut server = RapportProcess::serve(
        env!("CARGO_BIN_EXE_rapport-e2e"),
        &db,
        &[],
        &[
            ("RAPPORT_SERVER__WORKERS", "2"),
            ("RAPPORT_LOG__LEVEL", "warn,rapport_server::cli=info"),
        ],
    );
    let addr = server.wait_ready(Duration::from_secs(60));
    let base = format!("http://{addr}");
    let data_dir = db.data_dir().to_path_buf();
    let window = seconds();
    println!(
        "Rapport sign-in and API benchmark ({} cores, release server on SQLite, {CONCURRENCY} clients)",
        std::thread::available_parallelism().map_or(1, |n| n.get())
    );

    actix_web::rt::System::new().block_on(async move {
        let data_dir = data_dir.as_path();
        let client = Rc::new(awc::Client::default());
        let login = |email: String, password: String| {
            let client = client.clone();
            let base = base.clone();
            async move {
                let mut res = client
                    .post(format!("{base}/api/v1/auth/login"))
                    .send_json(&json!({"email": email, "password": password}))
                    .await
                    .unwrap();
                let body: serde_json::Value = res.json().await.unwrap();
                body["access_token"].as_str().unwrap().to_owned()
            }
        };
        let admin = login(admin_email.clone(), admin_password.clone()).await;
        let agent = login(agent_email.clone(), agent_password.clone()).await;
        let agent_id = {
            let mut res = client.get(format!("{base}/api/v1/me")).insert_header(("authorization", format!("Bearer {agent}"))).send().await.unwrap();
            let me: serde_json::Value = res.json().await.unwrap();
            me["id"].as_str().unwrap().to_owned()
        };
        let mut res = client.post(format!("{base}/api/v1/teams")).insert_header(("authorization", format!("Bearer {admin}")))
            .send_json(&json!({"name": "Bench team"})).await.unwrap();
        let team: serde_json::Value = res.json().await.unwrap();
        let team = team["id"].as_str().unwrap().to_owned();
        let res = client.put(format!("{base}/api/v1/teams/{team}/members/{agent_id}")).insert_header(("authorization", format!("Bearer {admin}")))
            .send_json(&json!({"role": "member"})).await.unwrap();
        assert_eq!(res.status().as_u16(), 200);
        for i in 0..100 {
            let team_id = if i % 2 == 0 { Some(team.clone()) } else { None };
            let res = client.post(format!("{base}/api/v1/accounts")).insert_header(("authorization", format!("Bearer {admin}")))
                .send_json(&json!({"name": format!("Account {i:03}"), "domains": [format!("a{i}.example")], "team_id": team_id})).await.unwrap();
            assert_eq!(res.status().as_u16(), 201);
        }

        let verify = bare_verifications(&hash, 64);
        let signed_in = logins(&base, &agent_email, &agent_password, 64).await;
        println!(
            "sign-in: {signed_in:.1} logins/s over HTTP vs {verify:.1} bare argon2id verifications/s: ratio {:.2}",
            signed_in / verify
        );

        let health = throughput(&base, "/healthz", None, window).await;
        let accounts = throughput(&base, "/api/v1/accounts", Some(&agent), window).await;
        let me = throughput(&base, "/api/v1/me", Some(&agent), window).await;
        println!(
            "reads: GET /api/v1/accounts as an agent (50 of 100 accounts visible) {accounts:.0} req/s vs GET /healthz {health:.0} req/s: ratio {:.2}",
            accounts / health
        );
        println!(
            "reads: GET /api/v1/me as an agent {me:.0} req/s vs GET /healthz {health:.0} req/s: ratio {:.2}",
            me / health
        );

        // One person, a contact of two companies with one password.
        let email = "petra@ledger.example";
        let mut companies = Vec::new();
        for name in ["Acme Bench", "Globex Bench"] {
            let mut res = client.post(format!("{base}/api/v1/accounts")).insert_header(("authorization", format!("Bearer {admin}")))
                .send_json(&json!({"name": name})).await.unwrap();
            let account: serde_json::Value = res.json().await.unwrap();
            let id = account["id"].as_str().unwrap().to_owned();
            let res = client.post(format!("{base}/api/v1/accounts/{id}/contacts")).insert_header(("authorization", format!("Bearer {admin}")))
                .send_json(&json!({"name": "Petra Ledger", "emails": [email]})).await.unwrap();
            assert_eq!(res.status().as_u16(), 201);
            companies.push(id);
        }
        let link = rapport_tests::http::mailed_sign_in_link(&client, &base, data_dir, email).await;
        let token = link.split("token=").nth(1).unwrap().to_owned();
        let mut res = client.post(format!("{base}/api/v1/auth/contact/magic-link/redeem")).send_json(&json!({"token": token})).await.unwrap();
        let session: serde_json::Value = res.json().await.unwrap();
        let password = "bench-ledger-password-2026";
        let res = client.post(format!("{base}/api/v1/me/password"))
            .insert_header(("authorization", format!("Bearer {}", session["access_token"].as_str().unwrap())))
            .send_json(&json!({"new_password": password})).await.unwrap();
        assert_eq!(res.status().as_u16(), 200);
        let sessions = || {
            let (client, base) = (client.clone(), base.clone());
            async move {
                let mut chains = Vec::new();
                for _ in 0..CONCURRENCY {
                    let mut res = client.post(format!("{base}/api/v1/auth/contact/login"))
                        .send_json(&json!({"email": email, "password": password})).await.unwrap();
                    assert_eq!(res.status().as_u16(), 200);
                    let t: serde_json::Value = res.json().await.unwrap();
                    chains.push(t["refresh_token"].as_str().unwrap().to_owned());
                }
                chains
            }
        };
        let refreshed = session_chains(&base, "/api/v1/auth/refresh", sessions().await, |r, _| json!({"refresh_token": r}), window).await;
        COMPANIES.with(|c| *c.borrow_mut() = companies.clone());
        let switched = session_chains(&base, "/api/v1/auth/contact/switch", sessions().await, |r, i| {
            let account = COMPANIES.with(|c| c.borrow()[(i + 1) % 2].clone());
            json!({"refresh_token": r, "account_id": account})
        }, window).await;
        println!(
            "switching company: {switched:.0} switches/s vs {refreshed:.0} refreshes/s of the same sessions: ratio {:.2}",
            switched / refreshed
        );
    });
    server.signal("TERM");
    server.wait_exit(Duration::from_secs(30));
}
