//! A real OpenID Connect provider for single sign-on tests: oidc-provider
//! (from the npm registry, pinned, into `target/oidc-provider` the first
//! time) run by Node.js on a loopback port, with its own login and consent
//! pages. Without Node.js or the registry the test fails, never skips.

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

const PROVIDER_VERSION: &str = "8.8.1";

/// Installs oidc-provider once per test run however many tests ask.
fn installed() -> PathBuf {
    static DIR: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    DIR.get_or_init(|| {
        let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/oidc-provider");
        if !dir.join("node_modules/oidc-provider/package.json").exists() {
            std::fs::create_dir_all(&dir).expect("target/oidc-provider");
            let status = Command::new("npm")
                .args(["install", "--no-audit", "--no-fund", "--prefix"])
                .arg(&dir)
                .arg(format!("oidc-provider@{PROVIDER_VERSION}"))
                .status()
                .expect("npm runs (oidc-provider is fetched from the npm registry)");
            assert!(
                status.success(),
                "npm install oidc-provider@{PROVIDER_VERSION} failed"
            );
        }
        let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("data/idp.mjs");
        std::fs::copy(&script, dir.join("idp.mjs")).expect("idp.mjs copied next to its modules");
        dir
    })
    .clone()
}

/// A free loopback port (bound and released: the provider and the server
/// must know each other's addresses before either starts).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .expect("a loopback port")
        .local_addr()
        .expect("its address")
        .port()
}

/// A client registered at the provider.
#[derive(Debug)]
pub struct IdpClient {
    pub id: String,
    pub secret: String,
    pub redirect_uri: String,
}

/// A running provider; stopped when dropped.
#[derive(Debug)]
pub struct Idp {
    pub issuer: String,
    child: Child,
}

impl Idp {
    /// Starts a provider knowing `clients` and `users` (login → claims,
    /// e.g. `{"email": …, "email_verified": true, "name": …}`).
    pub fn start(clients: &[IdpClient], users: Value) -> Idp {
        let dir = installed();
        let port = free_port();
        let config = json!({
            "port": port,
            "clients": clients.iter().map(|c| json!({
                "client_id": c.id,
                "client_secret": c.secret,
                "redirect_uris": [c.redirect_uri],
                "grant_types": ["authorization_code"],
                "response_types": ["code"],
            })).collect::<Vec<_>>(),
            "users": users,
        });
        let child = Command::new("node")
            .current_dir(&dir)
            .arg("idp.mjs")
            .arg(config.to_string())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("node runs the identity provider");
        let issuer = format!("http://127.0.0.1:{port}");
        let deadline = Instant::now() + Duration::from_secs(20);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "the identity provider did not start"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        Idp { issuer, child }
    }
}

impl Drop for Idp {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
