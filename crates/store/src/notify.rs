//! PostgreSQL LISTEN/NOTIFY on dedicated connections: the transport the
//! server's chat fan-out uses between nodes. A listener keeps one session
//! open (LISTEN registrations live as long as the session); a notifier
//! sends on its own connection so a slow pool never delays chat.

use diesel::connection::SimpleConnection;
use diesel::pg::Pg;
use diesel::query_builder::{AstPass, QueryFragment, QueryId};
use diesel::sql_types::{Array, Text};
use diesel::{Connection, PgConnection, QueryResult, RunQueryDsl};

use crate::database_url::DatabaseUrl;
use crate::error::StoreError;

/// Largest payload PostgreSQL accepts in one NOTIFY, in bytes (less than 8000
/// to keep a margin for the channel name and protocol overhead).
pub const MAX_PAYLOAD_BYTES: usize = 7_900;

fn open(url: &DatabaseUrl) -> Result<PgConnection, StoreError> {
    match url {
        DatabaseUrl::Postgres { url: raw } => {
            PgConnection::establish(raw).map_err(|e| StoreError::Connect {
                url: url.redacted(),
                reason: e.to_string().trim().to_owned(),
            })
        }
        DatabaseUrl::Sqlite { .. } => Err(StoreError::Conflict("LISTEN/NOTIFY needs PostgreSQL")),
    }
}

/// A channel name is an identifier: keep it to what needs no quoting.
fn check_channel(channel: &str) -> Result<(), StoreError> {
    if !channel.is_empty()
        && channel.len() < 64
        && channel
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
    {
        Ok(())
    } else {
        Err(StoreError::Conflict(
            "a notification channel name is lowercase letters, digits and `_`",
        ))
    }
}

/// A session that receives notifications.
pub struct Listener {
    conn: PgConnection,
}

impl std::fmt::Debug for Listener {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Listener")
    }
}

impl Listener {
    pub fn connect(url: &DatabaseUrl, channel: &str) -> Result<Listener, StoreError> {
        check_channel(channel)?;
        let mut conn = open(url)?;
        conn.batch_execute(&format!("LISTEN {channel}"))?;
        Ok(Listener { conn })
    }

    /// The payloads that arrived since the last call, without blocking.
    /// An error means the session is gone: reconnect (and resynchronise,
    /// since notifications sent meanwhile are lost).
    pub fn poll(&mut self) -> Result<Vec<String>, StoreError> {
        let mut out = Vec::new();
        for n in self.conn.notifications_iter() {
            out.push(n?.payload);
        }
        Ok(out)
    }
}

/// A session that sends notifications.
pub struct Notifier {
    conn: PgConnection,
    channel: String,
}

impl std::fmt::Debug for Notifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Notifier")
    }
}

impl Notifier {
    pub fn connect(url: &DatabaseUrl, channel: &str) -> Result<Notifier, StoreError> {
        check_channel(channel)?;
        Ok(Notifier {
            conn: open(url)?,
            channel: channel.to_owned(),
        })
    }

    /// Sends payloads in one statement, so in one round trip and one
    /// transaction (all or none), in their order.
    pub fn send(&mut self, payloads: &[String]) -> Result<(), StoreError> {
        if let Some(p) = payloads.iter().find(|p| p.len() > MAX_PAYLOAD_BYTES) {
            return Err(StoreError::Corrupt(format!(
                "a notification of {} bytes exceeds {MAX_PAYLOAD_BYTES}",
                p.len()
            )));
        }
        if payloads.is_empty() {
            return Ok(());
        }
        NotifyBatch {
            channel: &self.channel,
            payloads,
        }
        .execute(&mut self.conn)?;
        Ok(())
    }
}

/// `pg_notify` for each payload of a batch, in order. Written out rather
/// than as a `sql_query`, which diesel never caches: its text is constant,
/// so the notifier's connection prepares it once.
struct NotifyBatch<'a> {
    channel: &'a str,
    payloads: &'a [String],
}

impl QueryId for NotifyBatch<'_> {
    type QueryId = ();
    const HAS_STATIC_QUERY_ID: bool = false;
}

impl QueryFragment<Pg> for NotifyBatch<'_> {
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, Pg>) -> QueryResult<()> {
        out.push_sql("SELECT pg_notify(");
        out.push_bind_param::<Text, str>(self.channel)?;
        out.push_sql(", p) FROM unnest(");
        out.push_bind_param::<Array<Text>, [String]>(self.payloads)?;
        out.push_sql("::text[]) WITH ORDINALITY AS t (p, n) ORDER BY n");
        Ok(())
    }
}

impl RunQueryDsl<PgConnection> for NotifyBatch<'_> {}
