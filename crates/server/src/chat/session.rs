//! One websocket connection: reads client frames, runs them through the
//! chat use cases, and writes what the hub queues for it. A single task per
//! connection, so frames of one client are handled in order and an ack
//! always precedes the echo of the same message.

use std::sync::Arc;
use std::time::Instant;

use actix_ws::{AggregatedMessage, AggregatedMessageStream, CloseCode, CloseReason, ProtocolError};
use rapport_chat::{
    Arrival, BusEvent, CaseSequence, CaseSummary, ClientFrame, Connection, Delivery, ErrorCode,
    Followed, Outbound, PROTOCOL_VERSION, Recheck, ServerFrame, TokenBucket, close,
};
use rapport_domain::{CaseId, EntryId};

use crate::blocking;
use crate::chat::connections::Slot;
use crate::state::AppState;
use crate::usecase::UseCaseError;
use crate::usecase::chat::{self, ChatUser, ThreadPage};

/// Entries per backlog frame.
const BACKLOG_PAGE: i64 = 200;
/// Entries a client without history gets on joining.
const RECENT_ON_JOIN: i64 = 50;
/// The client went away: stop.
struct Gone;

struct Session {
    // Shared, not copied: an idle connection's task holds only pointers.
    state: Arc<AppState>,
    user: Arc<ChatUser>,
    ws: actix_ws::Session,
    conn: rapport_chat::ConnectionId,
    /// The cases followed, each with what was delivered of it.
    followed: Followed,
    bucket: TokenBucket,
    violations: u32,
    /// The person's place under the per-person cap, given back when the
    /// session ends.
    _slot: Slot,
}

/// Admits one connection to the hub and returns the task that serves it
/// until it closes. Not `async` itself: everything is moved into the
/// session once, so the task keeps no second copy of its arguments.
pub fn run(
    state: Arc<AppState>,
    user: ChatUser,
    slot: Slot,
    ws: actix_ws::Session,
    stream: AggregatedMessageStream,
) -> impl std::future::Future<Output = ()> {
    let limits = state.live.limits;
    let connection = state
        .live
        .hub
        .connect(user.person.clone(), limits.send_queue);
    let s = Session {
        bucket: TokenBucket::new(limits.frames_per_second, limits.burst),
        state,
        user: Arc::new(user),
        ws,
        conn: connection.id,
        followed: Followed::default(),
        violations: 0,
        _slot: slot,
    };
    serve(s, connection, stream)
}

async fn serve(mut s: Session, connection: Connection, mut stream: AggregatedMessageStream) {
    // The two limits the loop reads, not the whole set: every byte held
    // across an await is held by every idle connection.
    let (idle_timeout, max_age) = (
        s.state.live.limits.idle_timeout,
        s.state.live.limits.max_connection_age,
    );
    let hub = s.state.live.hub.clone();
    let Connection { id, mailbox } = connection;
    tracing::debug!(connection = %hub.wire_id(id), who = %s.user.person.key(), "chat connection opened");
    let mut heartbeat = tokio::time::interval(s.state.live.limits.heartbeat);
    heartbeat.tick().await;
    let started = Instant::now();
    let mut last_heard = Instant::now();
    let code = if Box::pin(s.hello()).await.is_err() {
        None
    } else {
        loop {
            tokio::select! {
                next = mailbox.next() => match next {
                    Delivery::Close(code) => break Some(code),
                    Delivery::Write(out) => {
                        if Box::pin(s.write(out)).await.is_err() {
                            break None;
                        }
                    }
                },
                msg = stream.recv() => {
                    last_heard = Instant::now();
                    match msg {
                        None | Some(Ok(AggregatedMessage::Close(_))) => break Some(close::NORMAL),
                        // Boxed, here and below: a handler's state lives on
                        // the heap only while it runs, so an idle connection's
                        // task is no larger than this loop.
                        Some(Ok(AggregatedMessage::Text(text))) => match Box::pin(s.on_text(&text)).await {
                            Ok(None) => {}
                            Ok(Some(code)) => break Some(code),
                            Err(Gone) => break None,
                        },
                        Some(Ok(AggregatedMessage::Binary(_))) => {
                            if Box::pin(s.error(ErrorCode::UnsupportedFrame, "frames are JSON text; binary frames are not read", None)).await.is_err() {
                                break None;
                            }
                        }
                        Some(Ok(AggregatedMessage::Ping(bytes))) => {
                            if Box::pin(s.ws.pong(&bytes)).await.is_err() {
                                break None;
                            }
                        }
                        Some(Ok(AggregatedMessage::Pong(_))) => {}
                        Some(Err(ProtocolError::Overflow)) => break Some(close::TOO_BIG),
                        Some(Err(e)) => {
                            tracing::debug!(error = %e, "chat protocol error");
                            break Some(close::POLICY);
                        }
                    }
                }
                _ = gap_wait(s.gap_deadline()) => {
                    if Box::pin(s.fill_gaps()).await.is_err() {
                        break None;
                    }
                }
                _ = heartbeat.tick() => {
                    if last_heard.elapsed() > idle_timeout {
                        break Some(close::IDLE_TIMEOUT);
                    }
                    if started.elapsed() > max_age {
                        break Some(close::REAUTHENTICATE);
                    }
                    if Box::pin(s.ws.ping(b"")).await.is_err() {
                        break None;
                    }
                }
            }
        }
    };
    hub.disconnect(id);
    if let Some(code) = code {
        let reason = CloseReason {
            code: CloseCode::from(code),
            description: Some(close_description(code).to_owned()),
        };
        let _ = Box::pin(s.ws.close(Some(reason))).await;
    }
    tracing::debug!(connection = %hub.wire_id(id), code, "chat connection closed");
}

/// Sleeps until `deadline`, or forever without one. The timer is boxed
/// and made only while a gap is open, so an idle connection's task keeps
/// no room for one.
fn gap_wait(deadline: Option<Instant>) -> impl std::future::Future<Output = ()> {
    let timer = deadline.map(|d| Box::pin(tokio::time::sleep_until(d.into())));
    async move {
        match timer {
            Some(timer) => timer.await,
            None => std::future::pending().await,
        }
    }
}

fn close_description(code: u16) -> &'static str {
    match code {
        close::GOING_AWAY => "server shutting down",
        close::TOO_BIG => "frame over the hard size limit",
        close::POLICY => "too many rate-limited or invalid frames",
        close::IDLE_TIMEOUT => "idle timeout",
        close::REAUTHENTICATE => "connection too old: reconnect with a new ticket",
        close::SLOW_CONSUMER => "send queue full: the client reads too slowly",
        _ => "closed",
    }
}

/// The wire error for a use-case failure: every variant, no fallback.
fn wire_error(e: &UseCaseError) -> (ErrorCode, String) {
    let retry = || {
        tracing::warn!(error = %e, "chat request failed");
        (
            ErrorCode::Unavailable,
            "the server could not complete this; retrying is safe".to_owned(),
        )
    };
    match e {
        // Every chat frame names one case: whatever was missing, it is
        // that case as far as the caller may know.
        UseCaseError::NotFound(what) => (
            ErrorCode::CaseNotFound,
            format!("{what} not found, or not one you may read"),
        ),
        UseCaseError::Forbidden => (ErrorCode::Forbidden, "your role does not allow this".into()),
        UseCaseError::Validation { .. } | UseCaseError::Conflict(_) | UseCaseError::Redacted(_) => {
            (ErrorCode::InvalidInput, e.to_string())
        }
        UseCaseError::RateLimited(_) | UseCaseError::TooManyConnections(_) => {
            (ErrorCode::RateLimited, e.to_string())
        }
        UseCaseError::InvalidCredentials
        | UseCaseError::TotpRequired
        | UseCaseError::InvalidTotp
        | UseCaseError::InvalidRefreshToken
        | UseCaseError::RefreshTokenReused
        | UseCaseError::InvalidMagicLink
        | UseCaseError::PasswordSignInDisabled
        | UseCaseError::SingleSignOnRequired
        | UseCaseError::SingleSignOnRefused(_)
        | UseCaseError::SingleSignOnFailed(_)
        | UseCaseError::InvalidSingleSignOnCode
        | UseCaseError::InvalidSignInCode
        | UseCaseError::InvalidMailChoice
        | UseCaseError::InvalidInvitation
        | UseCaseError::InvalidRatingLink => (ErrorCode::Forbidden, e.to_string()),
        UseCaseError::StorageFull(_) | UseCaseError::Store(_) | UseCaseError::Internal(_) => {
            retry()
        }
    }
}

impl Session {
    /// Boxed where it is awaited: the frame is built and sent here, so the
    /// connection's task keeps no room for it while idle.
    async fn hello(&mut self) -> Result<(), Gone> {
        let hello = ServerFrame::Hello {
            protocol: PROTOCOL_VERSION,
            connection_id: self.state.live.hub.wire_id(self.conn),
            you: self.user.person.clone(),
            limits: self.state.live.limits.announced(),
        };
        self.send(&hello).await
    }

    /// Runs a chat use case as this connection's person, off the executor.
    async fn call<T, F>(&self, f: F) -> Result<T, UseCaseError>
    where
        F: FnOnce(&AppState, &ChatUser) -> Result<T, UseCaseError> + Send + 'static,
        T: Send + 'static,
    {
        let (state, user) = (self.state.clone(), self.user.clone());
        blocking::call(move || f(&state, &user)).await
    }

    async fn send(&mut self, frame: &ServerFrame) -> Result<(), Gone> {
        let text = serde_json::to_string(frame).map_err(|_| Gone)?;
        self.ws.text(text).await.map_err(|_| Gone)
    }

    async fn error(
        &mut self,
        code: ErrorCode,
        message: &str,
        about: Option<String>,
    ) -> Result<(), Gone> {
        self.send(&ServerFrame::Error {
            code,
            message: message.to_owned(),
            about,
        })
        .await
    }

    async fn use_case_error(&mut self, e: &UseCaseError, about: String) -> Result<(), Gone> {
        let (code, message) = wire_error(e);
        self.error(code, &message, Some(about)).await
    }

    async fn write(&mut self, out: Outbound) -> Result<(), Gone> {
        match out {
            Outbound::Frame(text) => self.ws.text(text.to_string()).await.map_err(|_| Gone),
            Outbound::Entry(e) => {
                let arrival = Arrival {
                    seq: e.seq,
                    shown: Some((e.entry_id, e.frame.clone())),
                };
                self.arrive(e.case_id, arrival).await
            }
            Outbound::Hidden(place) => {
                let (case_id, seq) = *place;
                self.arrive(case_id, Arrival { seq, shown: None }).await
            }
            Outbound::Recheck(r) => {
                let Recheck { case_id, then } = *r;
                self.recheck(case_id, then).await
            }
            Outbound::Resync => {
                let cases: Vec<(CaseId, Option<EntryId>)> =
                    self.followed.iter().map(|(c, f)| (c, f.newest())).collect();
                for (case, newest) in cases {
                    self.catch_up(case, newest).await?;
                }
                Ok(())
            }
        }
    }

    /// Checks again that the cases followed are still the caller's, after
    /// a change that may have taken one away (and takes the caller's record
    /// as it is now); stops following those that are not. `then` is the
    /// change's frame, written only if the case stays followed.
    async fn recheck(
        &mut self,
        case_id: Option<CaseId>,
        then: Option<Arc<str>>,
    ) -> Result<(), Gone> {
        let user = self.user.clone();
        let state = self.state.clone();
        match blocking::call(move || chat::refreshed(&state, &user)).await {
            Ok(Some(now)) => self.user = Arc::new(now),
            // No longer allowed to chat at all: the connection ends.
            Ok(None) => return Err(Gone),
            // Unsure: keep going as before; the next change checks again.
            Err(e) => {
                tracing::warn!(error = %e, "could not re-read a chat user");
                return Ok(());
            }
        }
        let cases: Vec<CaseId> = match case_id {
            Some(c) => vec![c],
            None => self.followed.cases().collect(),
        };
        for case in cases {
            if !self.followed.contains(case) {
                continue;
            }
            let still = self
                .call(move |state, user| chat::follow(state, user, case))
                .await;
            if let Err(e @ UseCaseError::NotFound(_)) = still {
                self.state.live.hub.leave(self.conn, case);
                self.followed.remove(case);
                self.use_case_error(&e, format!("case:{case}")).await?;
            }
        }
        match (case_id, then) {
            (Some(c), Some(frame)) if self.followed.contains(c) => {
                self.ws.text(frame.to_string()).await.map_err(|_| Gone)
            }
            _ => Ok(()),
        }
    }

    /// A live entry of a followed case: written once, in thread order.
    async fn arrive(&mut self, case_id: CaseId, arrival: Arrival) -> Result<(), Gone> {
        let due = match self.followed.get_mut(case_id) {
            Some(f) => f.arrive(arrival, Instant::now()),
            None => return Ok(()),
        };
        self.write_all(due).await
    }

    async fn write_all(&mut self, frames: Vec<Arc<str>>) -> Result<(), Gone> {
        for frame in frames {
            self.ws.text(frame.to_string()).await.map_err(|_| Gone)?;
        }
        Ok(())
    }

    /// The earliest moment a held-back entry stops waiting for the ones
    /// before it.
    fn gap_deadline(&self) -> Option<Instant> {
        self.followed
            .iter()
            .filter_map(|(_, f)| f.gap_deadline())
            .min()
    }

    /// Entries that never arrived live (a lost bus event, an entry no one
    /// published): read them from the database.
    async fn fill_gaps(&mut self) -> Result<(), Gone> {
        let now = Instant::now();
        let late: Vec<(CaseId, Option<EntryId>)> = self
            .followed
            .iter()
            .filter(|(_, f)| f.gap_deadline().is_some_and(|d| d <= now))
            .map(|(c, f)| (c, f.newest()))
            .collect();
        for (case, newest) in late {
            self.catch_up(case, newest).await?;
        }
        Ok(())
    }

    /// Handles one text frame; `Some(code)` closes the connection.
    async fn on_text(&mut self, text: &str) -> Result<Option<u16>, Gone> {
        let limits = self.state.live.limits;
        if text.len() > limits.max_frame_bytes {
            self.error(
                ErrorCode::FrameTooLarge,
                &format!(
                    "frames are at most {} bytes; this one is {}",
                    limits.max_frame_bytes,
                    text.len()
                ),
                None,
            )
            .await?;
            return Ok(None);
        }
        if !self.bucket.try_take() {
            self.violations += 1;
            if self.violations > limits.max_violations {
                return Ok(Some(close::POLICY));
            }
            // Name the message that was dropped, so the client resends it.
            let about = match rapport_chat::parse_client_frame(text) {
                Ok(
                    ClientFrame::Send {
                        client_message_id, ..
                    }
                    | ClientFrame::Start {
                        client_message_id, ..
                    },
                ) => Some(client_message_id),
                _ => None,
            };
            self.error(
                ErrorCode::RateLimited,
                &format!(
                    "at most {} frames per second (bursts of {}); this frame was ignored",
                    limits.frames_per_second, limits.burst
                ),
                about,
            )
            .await?;
            return Ok(None);
        }
        let frame = match rapport_chat::parse_client_frame(text) {
            Ok(f) => f,
            Err(why) => {
                self.error(ErrorCode::MalformedFrame, &why, None).await?;
                return Ok(None);
            }
        };
        self.on_frame(frame).await?;
        Ok(None)
    }

    async fn on_frame(&mut self, frame: ClientFrame) -> Result<(), Gone> {
        let name = frame.name();
        match frame {
            ClientFrame::Ping { nonce } => self.send(&ServerFrame::Pong { nonce }).await,
            ClientFrame::Join { case_id, since } => self.join(case_id, since).await,
            ClientFrame::Leave { case_id } => {
                self.state.live.hub.leave(self.conn, case_id);
                self.followed.remove(case_id);
                Ok(())
            }
            ClientFrame::Start {
                client_message_id,
                body,
                subject,
                category,
            } => self.start(client_message_id, body, subject, category).await,
            ClientFrame::Send {
                case_id,
                client_message_id,
                body,
                note,
            } => {
                if !self.require_joined(case_id, name).await? {
                    return Ok(());
                }
                self.send_message(case_id, client_message_id, body, note)
                    .await
            }
            ClientFrame::Category { case_id, category } => {
                if !self.require_joined(case_id, name).await? {
                    return Ok(());
                }
                let (state, user) = (self.state.clone(), self.user.clone());
                let done = blocking::call(move || {
                    chat::choose_category(&state, &user, case_id, &category)
                })
                .await;
                match done {
                    Ok(_) => Ok(()),
                    Err(e) => self.use_case_error(&e, name.into()).await,
                }
            }
            ClientFrame::Typing {
                case_id,
                active,
                note,
            } => {
                if !self.require_joined(case_id, name).await? {
                    return Ok(());
                }
                if note && !self.user.is_staff() {
                    return self
                        .error(
                            ErrorCode::InvalidInput,
                            "only staff write internal notes",
                            Some(name.into()),
                        )
                        .await;
                }
                let hub = &self.state.live.hub;
                hub.publish(BusEvent::Typing {
                    case_id,
                    who: self.user.person.clone(),
                    active,
                    note,
                    connection: Some(hub.wire_id(self.conn)),
                });
                Ok(())
            }
            ClientFrame::Read { case_id, entry_id } => {
                if !self.require_joined(case_id, name).await? {
                    return Ok(());
                }
                let moved = self
                    .call(move |state, user| chat::mark_read(state, user, case_id, entry_id))
                    .await;
                match moved {
                    Ok(true) => {
                        self.state.live.hub.publish(BusEvent::Read {
                            case_id,
                            who: self.user.person.clone(),
                            entry_id,
                        });
                        Ok(())
                    }
                    Ok(false) => Ok(()),
                    Err(e) => self.use_case_error(&e, name.into()).await,
                }
            }
        }
    }

    async fn require_joined(&mut self, case_id: CaseId, frame: &str) -> Result<bool, Gone> {
        if self.followed.contains(case_id) {
            return Ok(true);
        }
        self.error(
            ErrorCode::NotJoined,
            "join the case first",
            Some(frame.to_owned()),
        )
        .await?;
        Ok(false)
    }

    async fn check_message(&mut self, client_message_id: &str, body: &str) -> Result<bool, Gone> {
        let max = self.state.live.limits.max_message_chars;
        if let Err(e) = crate::usecase::case::check_client_message_id(Some(client_message_id)) {
            self.error(ErrorCode::InvalidInput, &e.to_string(), None)
                .await?;
            return Ok(false);
        }
        let chars = body.chars().count();
        if chars > max {
            self.error(
                ErrorCode::MessageTooLong,
                &format!("messages are at most {max} characters; this one is {chars}"),
                Some(client_message_id.to_owned()),
            )
            .await?;
            return Ok(false);
        }
        Ok(true)
    }

    async fn ack(
        &mut self,
        client_message_id: String,
        entry: &rapport_store::case::Entry,
        duplicate: bool,
    ) -> Result<(), Gone> {
        self.send(&ServerFrame::Ack {
            client_message_id,
            case_id: entry.case_id,
            entry_id: entry.id,
            created_at: entry.created_at,
            duplicate,
        })
        .await
    }

    async fn send_message(
        &mut self,
        case_id: CaseId,
        client_message_id: String,
        body: String,
        note: bool,
    ) -> Result<(), Gone> {
        if !self.check_message(&client_message_id, &body).await? {
            return Ok(());
        }
        let cmid = client_message_id.clone();
        let posted = self
            .call(move |state, user| chat::send(state, user, case_id, &cmid, &body, note))
            .await;
        match posted {
            Ok(p) => {
                self.ack(client_message_id, &p.entry, p.duplicate).await?;
                // A reply to a case closed long ago opened a new one: follow it.
                if p.case.id != case_id && !self.followed.contains(p.case.id) {
                    self.join(p.case.id, None).await?;
                }
                Ok(())
            }
            Err(e) => self.use_case_error(&e, client_message_id).await,
        }
    }

    async fn start(
        &mut self,
        client_message_id: String,
        body: String,
        subject: Option<String>,
        category: Option<String>,
    ) -> Result<(), Gone> {
        if !self.check_message(&client_message_id, &body).await? {
            return Ok(());
        }
        let cmid = client_message_id.clone();
        let started = self
            .call(move |state, user| {
                chat::start(
                    state,
                    user,
                    &cmid,
                    &body,
                    subject.as_deref(),
                    category.as_deref(),
                )
            })
            .await;
        match started {
            Ok((case, entry, duplicate)) => {
                self.ack(client_message_id, &entry, duplicate).await?;
                self.join(case.id, None).await
            }
            Err(e) => self.use_case_error(&e, client_message_id).await,
        }
    }

    /// Follows a case: authorise, enter the room, then send what the client
    /// missed (so nothing committed in between is lost; repeats are dropped).
    async fn join(&mut self, case_id: CaseId, since: Option<EntryId>) -> Result<(), Gone> {
        let following = self
            .call(move |state, user| chat::follow(state, user, case_id))
            .await;
        let following = match following {
            Ok(f) => f,
            Err(e) => return self.use_case_error(&e, "join".into()).await,
        };
        let hub = self.state.live.hub.clone();
        let max = self.state.live.limits.max_joined_cases;
        if let Err(e) = hub.join(self.conn, case_id, following.team_staff.clone(), max) {
            return self
                .error(ErrorCode::TooManyCases, &e.to_string(), Some("join".into()))
                .await;
        }
        self.followed.insert(case_id, CaseSequence::after(since));
        match since {
            Some(_) => {
                self.backlog_pages(case_id, since, following.summary)
                    .await?
            }
            None => {
                let checked = following.clone();
                let recent = self
                    .call(move |state, user| chat::recent(state, user, &checked, RECENT_ON_JOIN))
                    .await;
                match recent {
                    Ok(page) => {
                        self.send_backlog(case_id, following.summary, page, true)
                            .await?
                    }
                    Err(e) => return self.use_case_error(&e, "join".into()).await,
                }
            }
        }
        if self.user.is_contact() && hub.online_staff(&following.team_staff).is_empty() {
            self.send(&ServerFrame::Notice {
                case_id,
                code: "team_offline".into(),
                text: "No one from the team is online right now. Leave your message: \
                       the answer will appear here and also come by email."
                    .into(),
            })
            .await?;
        }
        Ok(())
    }

    /// After events may have been lost: what came after the newest entry delivered.
    async fn catch_up(&mut self, case_id: CaseId, newest: Option<EntryId>) -> Result<(), Gone> {
        match self
            .call(move |state, user| chat::follow(state, user, case_id))
            .await
        {
            Ok(f) => self.backlog_pages(case_id, newest, f.summary).await,
            Err(e) => {
                // Access may be gone: stop following.
                self.state.live.hub.leave(self.conn, case_id);
                self.followed.remove(case_id);
                self.use_case_error(&e, "join".into()).await
            }
        }
    }

    async fn backlog_pages(
        &mut self,
        case_id: CaseId,
        mut cursor: Option<EntryId>,
        summary: CaseSummary,
    ) -> Result<(), Gone> {
        loop {
            let (state, user) = (self.state.clone(), self.user.clone());
            let page =
                blocking::call(move || chat::backlog(&state, &user, case_id, cursor, BACKLOG_PAGE))
                    .await;
            let page = match page {
                Ok(p) => p,
                Err(e) => return self.use_case_error(&e, "join".into()).await,
            };
            let complete = page.entries.len() < BACKLOG_PAGE as usize;
            cursor = page.entries.last().map(|e| e.id).or(cursor);
            self.send_backlog(case_id, summary.clone(), page, complete)
                .await?;
            if complete {
                return Ok(());
            }
        }
    }

    /// A backlog frame, then the live entries it lets through.
    async fn send_backlog(
        &mut self,
        case_id: CaseId,
        case: CaseSummary,
        page: ThreadPage,
        complete: bool,
    ) -> Result<(), Gone> {
        let due = match self.followed.get_mut(case_id) {
            Some(f) => f.caught_up(
                page.through,
                page.entries.last().map(|e| e.id),
                Instant::now(),
            ),
            None => Vec::new(),
        };
        self.send(&ServerFrame::Backlog {
            case_id,
            case,
            entries: page.entries,
            complete,
        })
        .await?;
        self.write_all(due).await
    }
}
