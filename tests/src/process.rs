use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::database::TestDatabase;

const READY_MARKER: &str = "Rapport is ready at http://";

fn command(bin: &str) -> Command {
    let mut cmd = Command::new(bin);
    // The developer's own settings must not leak into a test.
    for (key, _) in std::env::vars() {
        if key.starts_with("RAPPORT_")
            || ["RUST_LOG", "MALLOC_ARENA_MAX", "GLIBC_TUNABLES"].contains(&key.as_str())
        {
            cmd.env_remove(key);
        }
    }
    cmd
}

/// Runs `rapport ARGS` to completion.
pub fn run_rapport(bin: &str, args: &[&str], env: &[(&str, &str)]) -> Output {
    command(bin)
        .args(args)
        .envs(env.iter().copied())
        .output()
        .expect("rapport runs")
}

/// `rapport serve` running as a child process.
#[derive(Debug)]
pub struct RapportProcess {
    child: Child,
    stderr: Arc<Mutex<Vec<String>>>,
    ready: mpsc::Receiver<SocketAddr>,
    pub addr: Option<SocketAddr>,
}

impl RapportProcess {
    /// Starts `rapport serve` on a free port with `db` and its data dir.
    pub fn serve(bin: &str, db: &TestDatabase, extra_args: &[&str], env: &[(&str, &str)]) -> Self {
        let mut cmd = command(bin);
        cmd.arg("--bind")
            .arg("127.0.0.1:0")
            .arg("--data-dir")
            .arg(db.data_dir())
            .arg("--database-url")
            .arg(&db.url)
            .args(extra_args)
            .arg("serve")
            // One worker unless the caller asks for more.
            .env("RAPPORT_SERVER__WORKERS", "1")
            .envs(env.iter().copied())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().expect("rapport serve starts");
        let stderr = child.stderr.take().expect("piped stderr");
        let lines = Arc::new(Mutex::new(Vec::new()));
        let (tx, ready) = mpsc::channel();
        let sink = Arc::clone(&lines);
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if let Some(rest) = line.split(READY_MARKER).nth(1) {
                    let addr: String = rest
                        .chars()
                        .take_while(|c| !c.is_whitespace() && *c != '"')
                        .collect();
                    if let Ok(addr) = addr.parse() {
                        let _ = tx.send(addr);
                    }
                }
                sink.lock().expect("log lock").push(line);
            }
        });
        RapportProcess {
            child,
            stderr: lines,
            ready,
            addr: None,
        }
    }

    /// Waits until the server logs that it is ready; returns its address.
    pub fn wait_ready(&mut self, timeout: Duration) -> SocketAddr {
        match self.ready.recv_timeout(timeout) {
            Ok(addr) => {
                self.addr = Some(addr);
                addr
            }
            Err(_) => panic!(
                "rapport serve did not become ready in {timeout:?}; stderr:\n{}",
                self.stderr_text()
            ),
        }
    }

    /// The LMTP listener's address, from the server's log (when
    /// `mail.lmtp_bind` is set; call after [`RapportProcess::wait_ready`]).
    pub fn lmtp_addr(&self) -> Option<SocketAddr> {
        self.stderr
            .lock()
            .expect("log lock")
            .iter()
            .find_map(|l| l.split("lmtp://").nth(1))
            .map(|rest| {
                rest.chars()
                    .take_while(|c| !c.is_whitespace() && *c != '"')
                    .collect::<String>()
            })
            .and_then(|a| a.parse().ok())
    }

    /// The child's process id (to read its memory use from /proc).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn stderr_text(&self) -> String {
        self.stderr.lock().expect("log lock").join("\n")
    }

    pub fn signal(&self, signal: &str) {
        let status = Command::new("kill")
            .arg(format!("-{signal}"))
            .arg(self.child.id().to_string())
            .status()
            .expect("kill runs");
        assert!(status.success(), "kill -{signal} failed");
    }

    /// Waits for the process to exit on its own.
    pub fn wait_exit(&mut self, timeout: Duration) -> ExitStatus {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                // Let the reader thread drain the last lines.
                std::thread::sleep(Duration::from_millis(50));
                return status;
            }
            if Instant::now() > deadline {
                panic!(
                    "rapport did not exit within {timeout:?}; stderr:\n{}",
                    self.stderr_text()
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for RapportProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
