//! A real SMTP server on loopback that accepts every message and keeps
//! it, so tests can check what Rapport sent over the wire.

use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// One delivered message.
#[derive(Debug, Clone)]
pub struct Delivered {
    pub mail_from: String,
    pub rcpt_to: Vec<String>,
    pub raw: Vec<u8>,
}

/// The sink; messages arrive on its own thread.
#[derive(Debug, Clone)]
pub struct SmtpSink {
    pub addr: SocketAddr,
    messages: Arc<Mutex<Vec<Delivered>>>,
    /// When set, every message is refused with this reply (e.g. "451 4.3.0 busy").
    refuse: Arc<Mutex<Option<String>>>,
}

impl SmtpSink {
    pub fn start() -> SmtpSink {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the SMTP sink");
        let addr = listener.local_addr().expect("sink address");
        let sink = SmtpSink {
            addr,
            messages: Arc::default(),
            refuse: Arc::default(),
        };
        let (messages, refuse) = (sink.messages.clone(), sink.refuse.clone());
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let (messages, refuse) = (messages.clone(), refuse.clone());
                std::thread::spawn(move || {
                    let _ = session(stream, &messages, &refuse);
                });
            }
        });
        sink
    }

    /// Refuses (Some) or accepts (None) from now on.
    pub fn refuse_with(&self, reply: Option<&str>) {
        *self.refuse.lock().expect("lock") = reply.map(str::to_owned);
    }

    pub fn messages(&self) -> Vec<Delivered> {
        self.messages.lock().expect("lock").clone()
    }

    /// Waits (without blocking the caller's async runtime) until `n` messages arrived.
    pub async fn wait_for(&self, n: usize) -> Vec<Delivered> {
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            let got = self.messages();
            if got.len() >= n {
                return got;
            }
            assert!(
                Instant::now() < deadline,
                "the SMTP sink got {} of {n} messages",
                got.len()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

fn session(
    stream: TcpStream,
    messages: &Mutex<Vec<Delivered>>,
    refuse: &Mutex<Option<String>>,
) -> std::io::Result<()> {
    let mut out = stream.try_clone()?;
    let mut reader = BufReader::new(stream);
    out.write_all(b"220 sink.test ESMTP\r\n")?;
    let (mut from, mut to) = (String::new(), Vec::new());
    let mut line = String::new();
    loop {
        line.clear();
        if reader.read_line(&mut line)? == 0 {
            return Ok(());
        }
        let upper = line.trim_end().to_ascii_uppercase();
        let path = |l: &str| {
            l.split_once('<')
                .and_then(|(_, r)| r.split_once('>'))
                .map(|(a, _)| a.to_owned())
                .unwrap_or_default()
        };
        let reply: String = if upper.starts_with("EHLO") {
            "250-sink.test\r\n250-8BITMIME\r\n250 SIZE 104857600\r\n".into()
        } else if upper.starts_with("HELO") {
            "250 sink.test\r\n".into()
        } else if upper.starts_with("MAIL FROM:") {
            from = path(&line);
            to.clear();
            "250 2.1.0 ok\r\n".into()
        } else if upper.starts_with("RCPT TO:") {
            to.push(path(&line));
            "250 2.1.5 ok\r\n".into()
        } else if upper == "DATA" {
            out.write_all(b"354 go ahead\r\n")?;
            let mut raw = Vec::new();
            loop {
                let mut l = Vec::new();
                if reader.read_until(b'\n', &mut l)? == 0 {
                    return Ok(());
                }
                if l == b".\r\n" || l == b".\n" {
                    break;
                }
                let l = l.strip_prefix(b".").map(<[u8]>::to_vec).unwrap_or(l);
                raw.extend_from_slice(&l);
            }
            match refuse.lock().expect("lock").clone() {
                Some(r) => format!("{r}\r\n"),
                None => {
                    messages.lock().expect("lock").push(Delivered {
                        mail_from: from.clone(),
                        rcpt_to: to.clone(),
                        raw,
                    });
                    "250 2.0.0 queued\r\n".into()
                }
            }
        } else if upper == "QUIT" {
            out.write_all(b"221 bye\r\n")?;
            return Ok(());
        } else if upper == "RSET" || upper == "NOOP" {
            "250 ok\r\n".into()
        } else {
            "502 5.5.2 not implemented\r\n".into()
        };
        out.write_all(reply.as_bytes())?;
    }
}
