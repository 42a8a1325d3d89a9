//! A real websocket client for the chat: takes a ticket over HTTP, opens
//! `GET /ws` and speaks the JSON protocol.

use std::time::Duration;

use actix_codec::Framed;
use awc::BoxedSocket;
use awc::ws::{Codec, Frame, Message};
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};

use crate::TestApp;

/// How long a test waits for an expected frame.
pub const WAIT: Duration = Duration::from_secs(10);

/// One websocket connection.
pub struct ChatClient {
    framed: Framed<BoxedSocket, Codec>,
    /// The close code the server sent, once it did.
    pub closed: Option<u16>,
}

impl std::fmt::Debug for ChatClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChatClient")
            .field("closed", &self.closed)
            .finish()
    }
}

/// A ticket for `token`'s holder.
pub async fn ticket(base_url: &str, token: &str) -> String {
    let mut res = awc::Client::new()
        .post(format!("{base_url}/api/v1/chat/ticket"))
        .bearer_auth(token)
        .send()
        .await
        .expect("ticket request");
    assert_eq!(res.status().as_u16(), 201, "ticket");
    let body: Value = res.json().await.expect("ticket json");
    body["ticket"].as_str().expect("ticket field").to_owned()
}

impl ChatClient {
    /// Connects as `token`'s holder to the server at `base_url` and reads `hello`.
    pub async fn connect_to(base_url: &str, token: &str) -> (ChatClient, Value) {
        let ticket = ticket(base_url, token).await;
        let mut client = Self::connect_with_ticket(base_url, &ticket)
            .await
            .expect("websocket upgrade");
        let hello = client.next_of("hello").await;
        (client, hello)
    }

    pub async fn connect(app: &TestApp, token: &str) -> (ChatClient, Value) {
        Self::connect_to(&app.base_url, token).await
    }

    /// Opens the websocket with a ticket; the HTTP status when refused.
    pub async fn connect_with_ticket(base_url: &str, ticket: &str) -> Result<ChatClient, u16> {
        let ws_url = base_url.replacen("http://", "ws://", 1);
        match awc::Client::new()
            .ws(format!("{ws_url}/ws?ticket={ticket}"))
            .max_frame_size(16 * 1_048_576)
            .connect()
            .await
        {
            Ok((_, framed)) => Ok(ChatClient {
                framed,
                closed: None,
            }),
            Err(awc::error::WsClientError::InvalidResponseStatus(status)) => Err(status.as_u16()),
            Err(e) => panic!("websocket connect failed: {e}"),
        }
    }

    pub async fn send(&mut self, frame: Value) {
        self.send_text(frame.to_string()).await;
    }

    pub async fn send_text(&mut self, text: String) {
        self.framed
            .send(Message::Text(text.into()))
            .await
            .expect("send frame");
    }

    pub async fn send_binary(&mut self, bytes: Vec<u8>) {
        self.framed
            .send(Message::Binary(bytes.into()))
            .await
            .expect("send frame");
    }

    /// The next JSON frame, or None when the connection closed or `wait`
    /// passed (`closed` tells which).
    pub async fn recv_within(&mut self, wait: Duration) -> Option<Value> {
        loop {
            let Some(next) = tokio::time::timeout(wait, self.framed.next()).await.ok()? else {
                // The socket ended without a close frame.
                self.closed.get_or_insert(1006);
                return None;
            };
            match next {
                Ok(Frame::Text(bytes)) => {
                    return Some(serde_json::from_slice(&bytes).expect("server frames are JSON"));
                }
                Ok(Frame::Ping(p)) => {
                    let _ = self.framed.send(Message::Pong(p)).await;
                }
                Ok(Frame::Close(reason)) => {
                    self.closed = Some(reason.map_or(1005, |r| u16::from(r.code)));
                    return None;
                }
                Ok(_) => {}
                Err(_) => {
                    self.closed.get_or_insert(1006);
                    return None;
                }
            }
        }
    }

    pub async fn recv(&mut self) -> Option<Value> {
        self.recv_within(WAIT).await
    }

    /// Skips frames until one of `kind` arrives (panics after [`WAIT`]).
    pub async fn next_of(&mut self, kind: &str) -> Value {
        self.next_where(kind, |_| true).await
    }

    /// Skips frames until one of `kind` matching `pred` arrives.
    pub async fn next_where(&mut self, kind: &str, pred: impl Fn(&Value) -> bool) -> Value {
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            match self.recv_within(left).await {
                Some(v) if v["type"] == kind && pred(&v) => return v,
                Some(_) => {}
                None => panic!("no `{kind}` frame arrived (closed: {:?})", self.closed),
            }
        }
    }

    /// Whether the server ends the connection within `wait` (frames that
    /// still arrive meanwhile are skipped).
    pub async fn closes_within(&mut self, wait: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + wait;
        while self.closed.is_none() && tokio::time::Instant::now() < deadline {
            self.recv_within(deadline.saturating_duration_since(tokio::time::Instant::now()))
                .await;
        }
        self.closed.is_some()
    }

    /// Every frame that arrives within `wait`.
    pub async fn drain(&mut self, wait: Duration) -> Vec<Value> {
        let mut out = Vec::new();
        while let Some(v) = self.recv_within(wait).await {
            out.push(v);
        }
        out
    }

    /// Joins a case and returns every backlog entry up to the complete page.
    pub async fn join(&mut self, case_id: &str, since: Option<&str>) -> Vec<Value> {
        let mut frame = json!({"type": "join", "case_id": case_id});
        if let Some(s) = since {
            frame["since"] = json!(s);
        }
        self.send(frame).await;
        let mut entries = Vec::new();
        loop {
            let page = self.next_of("backlog").await;
            entries.extend(page["entries"].as_array().expect("entries").iter().cloned());
            if page["complete"] == true {
                return entries;
            }
        }
    }

    /// Sends a chat message and returns its ack.
    pub async fn say(&mut self, case_id: &str, id: &str, body: &str) -> Value {
        self.send(
            json!({"type": "send", "case_id": case_id, "client_message_id": id, "body": body}),
        )
        .await;
        self.next_where("ack", |a| a["client_message_id"] == id)
            .await
    }

    pub async fn close(mut self) {
        let _ = self.framed.send(Message::Close(None)).await;
    }
}
