//! An LMTP server (RFC 2033) so Postfix, Exim or any MTA can deliver.
//! The reply to DATA comes only after the [`Sink`] has stored the message
//! durably; a refusal or a crash before that leaves the message with the
//! sender, who retries.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};

/// Who the message is from and for, as the MTA said.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Envelope {
    pub mail_from: String,
    pub rcpt_to: Vec<String>,
    /// The client's address, for logs.
    pub peer: String,
}

/// Why a message was not taken.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// 452/451: try again later (storage unavailable).
    Temporary(String),
    /// 554: will never be accepted.
    Permanent(String),
    /// 452: no room to store it now (RFC 3463 4.3.1); the sender retries.
    InsufficientStorage(String),
}

pub type SinkFuture = Pin<Box<dyn Future<Output = Result<(), Refusal>> + Send>>;

/// Stores a received message durably (its bytes and its record) before the
/// server answers 250.
pub trait Sink: Send + Sync + 'static {
    fn accept(&self, envelope: Envelope, raw: Vec<u8>) -> SinkFuture;
}

/// Limits of the listener.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LmtpLimits {
    pub max_message_bytes: usize,
    pub max_recipients: usize,
    pub idle_timeout: Duration,
}

/// Longest command line accepted (RFC 5321 allows 512).
const MAX_LINE: usize = 2_048;

/// Accepts connections until the listener fails; one task per connection.
pub async fn serve(
    listener: TcpListener,
    hostname: String,
    sink: Arc<dyn Sink>,
    limits: LmtpLimits,
) {
    loop {
        match listener.accept().await {
            Ok((stream, peer)) => {
                let sink = sink.clone();
                let hostname = hostname.clone();
                tokio::spawn(async move {
                    if let Err(e) =
                        session(stream, &peer.to_string(), &hostname, sink, limits).await
                    {
                        tracing::debug!(%peer, error = %e, "LMTP session ended with an error");
                    }
                });
            }
            Err(e) => {
                tracing::warn!(error = %e, "LMTP accept failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}

/// `<addr>` from `FROM:<addr> SIZE=...` / `TO:<addr>`.
fn path_of(arg: &str) -> Option<(String, &str)> {
    let start = arg.find('<')?;
    let end = arg[start..].find('>')? + start;
    Some((arg[start + 1..end].trim().to_owned(), arg[end + 1..].trim()))
}

async fn session(
    stream: TcpStream,
    peer: &str,
    hostname: &str,
    sink: Arc<dyn Sink>,
    limits: LmtpLimits,
) -> std::io::Result<()> {
    let _ = stream.set_nodelay(true);
    let (read, mut write) = stream.into_split();
    let mut reader = BufReader::new(read);
    write
        .write_all(format!("220 {hostname} Rapport LMTP ready\r\n").as_bytes())
        .await?;
    let mut greeted = false;
    let mut envelope: Option<Envelope> = None;
    let mut line = Vec::new();
    loop {
        line.clear();
        let n = match tokio::time::timeout(limits.idle_timeout, read_line(&mut reader, &mut line))
            .await
        {
            Ok(r) => r?,
            Err(_) => {
                write
                    .write_all(b"421 4.4.2 idle timeout, closing\r\n")
                    .await?;
                return Ok(());
            }
        };
        if n == 0 {
            return Ok(());
        }
        if line.len() > MAX_LINE {
            write.write_all(b"500 5.5.2 line too long\r\n").await?;
            continue;
        }
        let text = String::from_utf8_lossy(&line);
        let text = text.trim_end_matches(['\r', '\n']);
        let (verb, arg) = match text.split_once(' ') {
            Some((v, a)) => (v.to_ascii_uppercase(), a.trim()),
            None => (text.to_ascii_uppercase(), ""),
        };
        let reply: String = match verb.as_str() {
            "LHLO" => {
                greeted = true;
                envelope = None;
                format!(
                    "250-{hostname}\r\n250-PIPELINING\r\n250-ENHANCEDSTATUSCODES\r\n250-8BITMIME\r\n250 SIZE {}\r\n",
                    limits.max_message_bytes
                )
            }
            "HELO" | "EHLO" => "500 5.5.1 this is LMTP: use LHLO\r\n".into(),
            "MAIL" if !greeted => "503 5.5.1 LHLO first\r\n".into(),
            "MAIL" => {
                let Some(rest) = arg
                    .get(..5)
                    .filter(|p| p.eq_ignore_ascii_case("FROM:"))
                    .map(|_| &arg[5..])
                else {
                    write
                        .write_all(b"501 5.5.4 syntax: MAIL FROM:<address>\r\n")
                        .await?;
                    continue;
                };
                match path_of(rest) {
                    Some((from, params)) => {
                        let size = params
                            .split_whitespace()
                            .find_map(|p| {
                                p.get(..5)
                                    .filter(|k| k.eq_ignore_ascii_case("SIZE="))
                                    .and(p.get(5..))
                            })
                            .and_then(|v| v.parse::<usize>().ok());
                        if size.is_some_and(|s| s > limits.max_message_bytes) {
                            format!(
                                "552 5.3.4 message larger than {} bytes\r\n",
                                limits.max_message_bytes
                            )
                        } else {
                            envelope = Some(Envelope {
                                mail_from: from,
                                rcpt_to: Vec::new(),
                                peer: peer.to_owned(),
                            });
                            "250 2.1.0 sender ok\r\n".into()
                        }
                    }
                    None => "501 5.1.7 bad sender address syntax\r\n".into(),
                }
            }
            "RCPT" => match envelope.as_mut() {
                None => "503 5.5.1 MAIL first\r\n".into(),
                Some(env) => {
                    let rest = arg
                        .get(..3)
                        .filter(|p| p.eq_ignore_ascii_case("TO:"))
                        .map(|_| &arg[3..]);
                    match rest.and_then(path_of) {
                        Some((to, _)) if !to.is_empty() => {
                            if env.rcpt_to.len() >= limits.max_recipients {
                                "452 4.5.3 too many recipients\r\n".into()
                            } else {
                                env.rcpt_to.push(to.to_ascii_lowercase());
                                "250 2.1.5 recipient ok\r\n".into()
                            }
                        }
                        _ => "501 5.1.3 bad recipient address syntax\r\n".into(),
                    }
                }
            },
            "DATA" => match envelope.take() {
                Some(env) if !env.rcpt_to.is_empty() => {
                    write
                        .write_all(b"354 end data with <CR><LF>.<CR><LF>\r\n")
                        .await?;
                    let (raw, too_big) = read_data(&mut reader, limits).await?;
                    let status = if too_big {
                        format!(
                            "552 5.3.4 message larger than {} bytes\r\n",
                            limits.max_message_bytes
                        )
                    } else {
                        match sink.accept(env.clone(), raw).await {
                            Ok(()) => "250 2.0.0 delivered\r\n".to_owned(),
                            Err(Refusal::Temporary(why)) => {
                                format!("451 4.3.0 {}\r\n", one_line(&why))
                            }
                            Err(Refusal::Permanent(why)) => {
                                format!("554 5.6.0 {}\r\n", one_line(&why))
                            }
                            Err(Refusal::InsufficientStorage(why)) => {
                                format!("452 4.3.1 {}\r\n", one_line(&why))
                            }
                        }
                    };
                    // LMTP answers once per recipient; one store serves all.
                    status.repeat(env.rcpt_to.len())
                }
                Some(_) => "503 5.5.1 RCPT first\r\n".into(),
                None => "503 5.5.1 MAIL first\r\n".into(),
            },
            "RSET" => {
                envelope = None;
                "250 2.0.0 ok\r\n".into()
            }
            "NOOP" => "250 2.0.0 ok\r\n".into(),
            "VRFY" => "252 2.5.0 cannot verify, will try delivery\r\n".into(),
            "QUIT" => {
                write
                    .write_all(format!("221 2.0.0 {hostname} closing\r\n").as_bytes())
                    .await?;
                return Ok(());
            }
            _ => "500 5.5.2 command not recognised\r\n".into(),
        };
        write.write_all(reply.as_bytes()).await?;
    }
}

fn one_line(s: &str) -> String {
    s.replace(['\r', '\n'], " ").chars().take(200).collect()
}

/// Reads one line, but never more than `MAX_LINE + 1` bytes of it into memory.
async fn read_line<R: tokio::io::AsyncBufRead + Unpin>(
    r: &mut R,
    out: &mut Vec<u8>,
) -> std::io::Result<usize> {
    let mut total = 0;
    loop {
        let buf = r.fill_buf().await?;
        if buf.is_empty() {
            return Ok(total);
        }
        let (take, done) = match buf.iter().position(|&b| b == b'\n') {
            Some(i) => (i + 1, true),
            None => (buf.len(), false),
        };
        if out.len() <= MAX_LINE {
            out.extend_from_slice(&buf[..take.min(MAX_LINE + 1 - out.len().min(MAX_LINE + 1))]);
        }
        r.consume(take);
        total += take;
        if done {
            return Ok(total);
        }
    }
}

/// The message after DATA, dot-unstuffed, with CRLF line ends. Past the
/// size limit the rest is read and dropped so the session stays in step.
async fn read_data<R: tokio::io::AsyncBufRead + Unpin>(
    r: &mut R,
    limits: LmtpLimits,
) -> std::io::Result<(Vec<u8>, bool)> {
    let mut raw = Vec::new();
    let mut too_big = false;
    let mut line = Vec::new();
    loop {
        line.clear();
        if r.read_until(b'\n', &mut line).await? == 0 {
            return Err(std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                "connection closed during DATA",
            ));
        }
        let content = line.strip_suffix(b"\n").unwrap_or(&line);
        let content = content.strip_suffix(b"\r").unwrap_or(content);
        if content == b"." {
            return Ok((raw, too_big));
        }
        let content = content.strip_prefix(b".").unwrap_or(content);
        if raw.len() + content.len() + 2 > limits.max_message_bytes {
            too_big = true;
            raw.clear();
            raw.shrink_to_fit();
            continue;
        }
        if !too_big {
            raw.extend_from_slice(content);
            raw.extend_from_slice(b"\r\n");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;
    use tokio::io::AsyncReadExt;

    #[derive(Default)]
    struct Keep(Mutex<Vec<(Envelope, Vec<u8>)>>);

    impl Sink for Keep {
        fn accept(&self, envelope: Envelope, raw: Vec<u8>) -> SinkFuture {
            self.0.lock().expect("lock").push((envelope, raw));
            Box::pin(async { Ok(()) })
        }
    }

    #[tokio::test]
    async fn a_message_is_delivered_with_one_reply_per_recipient() {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let keep = Arc::new(Keep::default());
        let limits = LmtpLimits {
            max_message_bytes: 1_000,
            max_recipients: 10,
            idle_timeout: Duration::from_secs(5),
        };
        tokio::spawn(serve(listener, "desk.example".into(), keep.clone(), limits));
        let mut c = TcpStream::connect(addr).await.expect("connect");
        c.write_all(b"LHLO mx\r\nMAIL FROM:<a@b.example> SIZE=10\r\nRCPT TO:<Support@desk.example>\r\nRCPT TO:<x@desk.example>\r\nDATA\r\n").await.expect("write");
        c.write_all(b"Subject: hi\r\n\r\n..dot line\r\nbody\r\n.\r\nMAIL FROM:<a@b.example> SIZE=5000\r\nQUIT\r\n").await.expect("write");
        let mut out = String::new();
        c.read_to_string(&mut out).await.expect("read");
        assert_eq!(out.matches("250 2.0.0 delivered").count(), 2, "{out}");
        assert!(out.contains("552 5.3.4"), "{out}");
        let got = keep.0.lock().expect("lock");
        assert_eq!(
            got[0].0.rcpt_to,
            vec!["support@desk.example", "x@desk.example"]
        );
        assert_eq!(got[0].1, b"Subject: hi\r\n\r\n.dot line\r\nbody\r\n");
    }
}
