//! A real OpenID Connect provider for single sign-on tests: oidc-provider
//! (from the npm registry, pinned, into `target/oidc-provider` the first
//! time) run by Node.js on a loopback port, with its own login and consent
//! pages. Without Node.js or the registry the test fails, never skips.

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command};
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
        let log_path = dir.join(format!("idp-{port}.log"));
        let log = std::fs::File::create(&log_path).expect("the provider's log file");
        let mut child = Command::new("node")
            .current_dir(&dir)
            .arg("idp.mjs")
            .arg(config.to_string())
            .stdout(log.try_clone().expect("the provider's log file"))
            .stderr(log)
            .spawn()
            .expect("node runs the identity provider");
        let issuer = format!("http://127.0.0.1:{port}");
        // Ready means this provider answers its discovery document: a bare
        // connect could reach another process that took the port, and the
        // first request otherwise pays for the provider's start-up.
        let deadline = Instant::now() + Duration::from_secs(30);
        while !discovery_names(port, &issuer) {
            if let Ok(Some(status)) = child.try_wait() {
                panic!(
                    "the identity provider exited ({status}) before answering:\n{}",
                    std::fs::read_to_string(&log_path).unwrap_or_default()
                );
            }
            if Instant::now() >= deadline {
                let _ = child.kill();
                let _ = child.wait();
                panic!(
                    "the identity provider did not answer its discovery document within 30 s:\n{}",
                    std::fs::read_to_string(&log_path).unwrap_or_default()
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Idp { issuer, child }
    }
}

/// Whether the provider on `port` answers its discovery document naming
/// `issuer`.
fn discovery_names(port: u16, issuer: &str) -> bool {
    use std::io::{Read, Write};
    let Ok(mut stream) = std::net::TcpStream::connect(("127.0.0.1", port)) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
    let request =
        format!("GET /.well-known/openid-configuration HTTP/1.0\r\nHost: 127.0.0.1:{port}\r\n\r\n");
    let mut answer = String::new();
    stream.write_all(request.as_bytes()).is_ok()
        && stream.read_to_string(&mut answer).is_ok()
        && answer.split_whitespace().nth(1) == Some("200")
        && answer.contains(&format!("\"issuer\":\"{issuer}\""))
}

impl Drop for Idp {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
