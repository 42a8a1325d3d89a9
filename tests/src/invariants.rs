//! What must hold after every end-to-end test, whatever it did: the audit
//! log verifies (every stream gap-free from 1, each event linked to the one
//! before and hashing to what it says, the head on the last event), and
//! every outgoing email is accounted for (sent with a time, failed with a
//! reason, or still queued).

use diesel::prelude::*;
use rapport_audit::{ChainHead, EventHash, StreamName};
use rapport_store::schema::{audit_streams, outbox};
use rapport_store::{DatabaseUrl, PoolOptions, Readiness, Store};

use crate::TestDatabase;

/// Panics naming the first thing that does not hold.
pub fn check(db: &TestDatabase) {
    let url = DatabaseUrl::parse(&db.url).expect("test database URL");
    // A test that took the database away, or never migrated it, leaves
    // nothing to check.
    let Ok(store) = Store::connect(&url, &PoolOptions::default()) else {
        return;
    };
    if store.readiness(std::time::Duration::from_secs(5)).ok() != Some(Readiness::Ready) {
        return;
    }
    let mut conn = store.conn().expect("a connection");
    audit_log_verifies(&mut conn);
    outbox_is_accounted_for(&mut conn);
}

fn audit_log_verifies(conn: &mut rapport_store::DbConnection) {
    let streams: Vec<String> = audit_streams::table
        .select(audit_streams::stream)
        .load(conn)
        .expect("audit streams");
    for name in streams {
        let stream = StreamName::parse(&name).expect("a stream name");
        // The head first: events appended meanwhile come after it.
        let head = rapport_store::audit::head(conn, &stream).expect("stream head");
        let events =
            rapport_store::audit::stream_events(conn, &stream, i64::MAX).expect("stream events");
        let mut last = ChainHead::EMPTY;
        for event in events.iter().take_while(|e| e.seq <= head.seq) {
            assert_eq!(
                event.seq,
                last.seq + 1,
                "{name}: a gap before seq {}",
                event.seq
            );
            assert_eq!(
                event.prev, last.hash,
                "{name}: seq {} links elsewhere",
                event.seq
            );
            assert_eq!(
                event.computed_hash().expect("hashable"),
                event.hash,
                "{name}: seq {} was changed after it was sealed",
                event.seq
            );
            last = event.head();
        }
        assert_eq!(
            last.seq, head.seq,
            "{name}: the head is past the last event"
        );
        assert_eq!(last.hash, head.hash, "{name}: the head names another event");
        assert!(head.seq > 0 || head.hash == EventHash::GENESIS);
    }
}

fn outbox_is_accounted_for(conn: &mut rapport_store::DbConnection) {
    type Row = (
        String,
        String,
        Option<chrono::NaiveDateTime>,
        Option<String>,
    );
    let rows: Vec<Row> = outbox::table
        .select((
            outbox::id,
            outbox::status,
            outbox::sent_at,
            outbox::last_error,
        ))
        .load(conn)
        .expect("outbox");
    for (id, status, sent_at, last_error) in rows {
        match status.as_str() {
            "sent" => assert!(sent_at.is_some(), "outbox {id}: sent without a time"),
            "failed" => assert!(last_error.is_some(), "outbox {id}: failed without a reason"),
            "pending" => assert!(sent_at.is_none(), "outbox {id}: queued yet sent"),
            other => panic!("outbox {id}: unknown status {other}"),
        }
    }
}
