//! Group commit for SQLite: many write transactions, one fsync, and the
//! fsync off the writer.
//!
//! With `synchronous = FULL` every SQLite commit pays an fsync of the WAL,
//! and that fsync, not the statements, is what limits concurrent writers.
//! Here every [`crate::Store::write`] runs on one dedicated connection,
//! inside one open transaction (a *batch*), each caller in its own
//! savepoint: a caller holds the connection only while its own statements
//! run. The batch commits when no other caller is queued, when it is
//! [`MAX_MEMBERS`] long or [`MAX_AGE`] old. That connection commits with
//! `synchronous = NORMAL`, so the `COMMIT` only writes the WAL and the next
//! batch can start at once; the [`Flusher`] fsyncs the WAL for every batch
//! committed meanwhile. Every caller returns only after its batch is
//! flushed: nothing is acknowledged before it is on disk.
//!
//! Durability stays exactly that of one `synchronous = FULL` commit per
//! transaction: no member answers before its fsync, and no pooled
//! connection hands back a read before every commit it could have seen is
//! flushed (`Flusher::wait_for_reads`), so no answer or fan-out built from
//! a read shows a write that a power loss could still take back. A caller
//! whose savepoint fails loses only its own writes; a batch whose commit
//! fails fails every member, none of which has answered.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use diesel::connection::{AnsiTransactionManager, SimpleConnection, TransactionManager};

use crate::connection::{self, DbConnection};
use crate::database_url::DatabaseUrl;
use crate::error::StoreError;
use crate::flusher::{BatchEnd, BatchFailure, Flusher};

/// A batch commits once it has this many members, so that under a steady
/// queue the first member does not wait for all the others.
const MAX_MEMBERS: usize = 64;
/// ... or once it has been open this long: the latency a member can add to
/// another's answer. Only a busy writer reaches it (an idle queue commits at
/// once); longer batches spend less of the writer's time in commits
/// (measured in docs/benchmarks.md, "Write path").
const MAX_AGE: Duration = Duration::from_millis(10);

pub(crate) struct GroupCommit {
    writer: Mutex<Writer>,
    /// Callers waiting for the writer: while there are any, the batch is
    /// left open for them.
    queued: AtomicUsize,
    url: DatabaseUrl,
    busy_timeout_ms: u32,
    pub(crate) flusher: Arc<Flusher>,
}

struct Writer {
    /// Opened on first use, and again after a failure left it unusable.
    conn: Option<DbConnection>,
    batch: Option<Batch>,
}

struct Batch {
    end: Arc<BatchEnd>,
    members: usize,
    opened: Instant,
}

impl std::fmt::Debug for GroupCommit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GroupCommit")
            .field("queued", &self.queued.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

impl GroupCommit {
    pub(crate) fn new(
        url: DatabaseUrl,
        busy_timeout_ms: u32,
        flusher: Arc<Flusher>,
    ) -> GroupCommit {
        GroupCommit {
            writer: Mutex::new(Writer {
                conn: None,
                batch: None,
            }),
            queued: AtomicUsize::new(0),
            url,
            busy_timeout_ms,
            flusher,
        }
    }

    fn lock(&self) -> MutexGuard<'_, Writer> {
        // Every failure inside a member is handled before the lock is
        // released (the batch is failed and the connection closed), so the
        // state behind a poisoned lock is consistent.
        self.writer.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Runs `f` in a savepoint of the open batch and returns once the batch
    /// has ended: `f`'s own error if it failed (its writes undone), or its
    /// value once the batch is committed and on disk.
    pub(crate) fn write<T, E, F>(&self, f: F) -> Result<T, E>
    where
        F: FnOnce(&mut DbConnection) -> Result<T, E>,
        E: From<StoreError> + From<diesel::result::Error>,
    {
        // After a failed fsync nothing more may reach the WAL: what is there
        // would be read (and likely kept) without ever being acknowledged.
        if let Some(reason) = self.flusher.failure() {
            return Err(StoreError::NotDurable(reason).into());
        }
        self.queued.fetch_add(1, Ordering::SeqCst);
        let mut writer = self.lock();
        self.queued.fetch_sub(1, Ordering::SeqCst);

        let end = self.join_batch(&mut writer)?;
        let Some(conn) = writer.conn.as_mut() else {
            unreachable!("join_batch opened the connection");
        };
        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            diesel::Connection::transaction(&mut *conn, f)
        }));
        let result = match result {
            Ok(result) => result,
            Err(panic) => {
                // The savepoint is still open; closing the connection rolls
                // the whole batch back, and its members hear so.
                self.abandon(&mut writer, "a write in the same batch failed");
                drop(writer);
                std::panic::resume_unwind(panic);
            }
        };
        if !in_batch(conn) {
            // A failure that ends the whole transaction (a full disk, an
            // I/O error) or a savepoint that could not be rolled back: the
            // batch is gone, and nobody may write on as if it were open.
            self.abandon(
                &mut writer,
                "the batch's transaction ended early; nothing of it was kept",
            );
        }
        self.commit_if_due(&mut writer);
        drop(writer);
        self.flusher.help();
        // Even a failed member waits: its answer may rest on rows of the
        // batch's other members, which are not yet known to stay.
        let ended = end.wait();
        let value = result?;
        match ended {
            Ok(()) => Ok(value),
            Err(BatchFailure::Commit(reason)) => Err(StoreError::commit_failed(&reason).into()),
            Err(BatchFailure::Flush(reason)) => Err(StoreError::NotDurable(reason).into()),
        }
    }

    /// Opens the connection and the batch when needed and counts the
    /// caller in. A batch that is full or old enough is committed first,
    /// so a long member does not hold back those before it.
    fn join_batch(&self, writer: &mut Writer) -> Result<Arc<BatchEnd>, StoreError> {
        if writer
            .batch
            .as_ref()
            .is_some_and(|b| b.members >= MAX_MEMBERS || b.opened.elapsed() >= MAX_AGE)
        {
            // This caller's own statements come next: the flusher thread
            // syncs meanwhile.
            self.commit(writer, true);
        }
        if writer.conn.is_none() {
            // Reopening must not create an empty database where the real
            // one vanished; `/readyz` reports the missing file.
            if let DatabaseUrl::Sqlite { path } = &self.url
                && !path.exists()
            {
                return Err(StoreError::SqliteFileMissing(path.display().to_string()));
            }
            let mut conn =
                connection::establish(&self.url, self.busy_timeout_ms).map_err(|reason| {
                    StoreError::Connect {
                        url: self.url.redacted(),
                        reason,
                    }
                })?;
            // The flusher makes the commits durable; see the module's doc.
            conn.batch_execute("PRAGMA synchronous = NORMAL")?;
            writer.conn = Some(conn);
        }
        if writer.batch.is_none() {
            let Some(DbConnection::Sqlite(inner)) = writer.conn.as_mut() else {
                unreachable!("group commit runs on SQLite only");
            };
            // IMMEDIATE takes the write lock up front: a deferred transaction
            // that reads first could fail to upgrade when a writer outside
            // this store (the CLI, a backup) got in between.
            AnsiTransactionManager::begin_transaction_sql(inner, "BEGIN IMMEDIATE")?;
            writer.batch = Some(Batch {
                end: Arc::new(BatchEnd::default()),
                members: 0,
                opened: Instant::now(),
            });
        }
        let Some(batch) = writer.batch.as_mut() else {
            unreachable!("the batch was just opened");
        };
        batch.members += 1;
        Ok(batch.end.clone())
    }

    /// Commits the open batch when nobody else is queued to join it, or it
    /// is full or old enough.
    fn commit_if_due(&self, writer: &mut Writer) {
        let Some(batch) = writer.batch.as_ref() else {
            return;
        };
        let due = self.queued.load(Ordering::SeqCst) == 0
            || batch.members >= MAX_MEMBERS
            || batch.opened.elapsed() >= MAX_AGE;
        if due {
            self.commit(writer, false);
        }
    }

    /// Commits the open batch; `wake_flusher` as for `Flusher::committed`.
    fn commit(&self, writer: &mut Writer, wake_flusher: bool) {
        let Some(DbConnection::Sqlite(inner)) = writer.conn.as_mut() else {
            return;
        };
        let number = self.flusher.begin();
        match AnsiTransactionManager::commit_transaction(inner) {
            Ok(()) => {
                if let Some(batch) = writer.batch.take() {
                    self.flusher
                        .committed(number, batch.members, batch.end, wake_flusher);
                }
            }
            Err(e) => {
                self.flusher.commit_failed(number);
                tracing::error!(error = %e, "a group commit failed; its writes are rolled back");
                // Closing the connection rolls back whatever SQLite left
                // open; the next write opens a fresh one.
                self.abandon(writer, &e.to_string());
            }
        }
    }

    /// Fails the open batch and closes the connection, which rolls back
    /// whatever of the batch is still open.
    fn abandon(&self, writer: &mut Writer, why: &str) {
        writer.conn = None;
        if let Some(batch) = writer.batch.take() {
            batch.end.end(Err(BatchFailure::Commit(why.to_owned())));
        }
    }
}

/// Whether the connection is still inside its batch, with no savepoint
/// of a member left open.
fn in_batch(conn: &mut DbConnection) -> bool {
    let status =
        <DbConnection as diesel::Connection>::TransactionManager::transaction_manager_status_mut(
            conn,
        );
    matches!(status.transaction_depth(), Ok(Some(depth)) if depth.get() == 1)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use std::time::Duration;

    use diesel::RunQueryDsl;
    use diesel::connection::SimpleConnection;

    use crate::{DatabaseUrl, PoolOptions, Store, StoreError};

    fn store(name: &str) -> (Store, std::path::PathBuf) {
        let dir = std::env::temp_dir().join(format!(
            "rapport-group-commit-{name}-{}",
            uuid::Uuid::now_v7()
        ));
        let url = DatabaseUrl::Sqlite {
            path: dir.join("test.db"),
        };
        let store = Store::connect(&url, &PoolOptions::default()).unwrap();
        store
            .write(|c| {
                c.batch_execute("CREATE TABLE t (x INTEGER NOT NULL)")?;
                Ok::<_, StoreError>(())
            })
            .unwrap();
        (store, dir)
    }

    fn rows(store: &Store) -> Vec<i64> {
        #[derive(diesel::QueryableByName)]
        struct Row {
            #[diesel(sql_type = diesel::sql_types::BigInt)]
            x: i64,
        }
        let rows: Vec<Row> = diesel::sql_query("SELECT x FROM t ORDER BY x")
            .load(&mut *store.conn().unwrap())
            .unwrap();
        rows.into_iter().map(|r| r.x).collect()
    }

    /// Removes the test's files once its store is closed (the pool may
    /// still be opening a connection, so a leftover is not a failure).
    fn gone(store: Store, dir: std::path::PathBuf) {
        drop(store);
        let _ = std::fs::remove_dir_all(dir);
    }

    fn insert(c: &mut crate::DbConnection, x: i64) -> Result<(), StoreError> {
        c.batch_execute(&format!("INSERT INTO t (x) VALUES ({x})"))?;
        Ok(())
    }

    /// The fault the flusher guards against, injected: with flushes held,
    /// a committed write is in the WAL but not on disk. Its writer is not
    /// answered, and a pooled connection that could have read it does not
    /// come back from its drop, until the flush.
    #[test]
    fn nothing_is_answered_or_read_back_before_its_flush() {
        let dir = std::env::temp_dir().join(format!(
            "rapport-group-commit-held-{}",
            uuid::Uuid::now_v7()
        ));
        let url = DatabaseUrl::Sqlite {
            path: dir.join("test.db"),
        };
        let hold = dir.join("hold");
        let store =
            Store::connect_held_by(&url, &PoolOptions::default(), Some(hold.clone())).unwrap();
        store
            .write(|c| {
                c.batch_execute("CREATE TABLE t (x INTEGER NOT NULL)")?;
                Ok::<_, StoreError>(())
            })
            .unwrap();

        std::fs::write(&hold, b"").unwrap();
        // A failed assertion below must not leave the writer held forever.
        struct Release<'a>(&'a std::path::Path);
        impl Drop for Release<'_> {
            fn drop(&mut self) {
                let _ = std::fs::remove_file(self.0);
            }
        }
        let release = Release(&hold);
        let (answered, answers) = std::sync::mpsc::channel();
        std::thread::scope(|scope| {
            let writer = answered.clone();
            let store = &store;
            scope.spawn(move || {
                store.write(|c| insert(c, 1)).unwrap();
                writer.send("write").unwrap();
            });
            // Committed: a pooled connection reads the row at once, but
            // its drop waits for the flush.
            let reader = answered.clone();
            let (read, seen) = std::sync::mpsc::channel();
            scope.spawn(move || {
                let deadline = std::time::Instant::now() + Duration::from_secs(10);
                let mut conn = store.conn().unwrap();
                while count(&mut conn) == 0 {
                    assert!(std::time::Instant::now() < deadline, "never committed");
                    std::thread::sleep(Duration::from_millis(5));
                }
                read.send(()).unwrap();
                drop(conn);
                reader.send("read").unwrap();
            });
            seen.recv_timeout(Duration::from_secs(10)).unwrap();
            std::thread::sleep(Duration::from_millis(300));
            let early = answers.try_recv().ok();
            drop(release);
            assert_eq!(early, None, "nothing before the flush");
            let mut both = [
                answers.recv_timeout(Duration::from_secs(10)).unwrap(),
                answers.recv_timeout(Duration::from_secs(10)).unwrap(),
            ];
            both.sort_unstable();
            assert_eq!(both, ["read", "write"]);
        });
        gone(store, dir);
    }

    /// A disk that refuses an fsync: the writes it covered fail, every
    /// later write is refused before it reaches the WAL, the store reports
    /// itself failed, and reads are not held.
    #[test]
    fn after_a_failed_fsync_no_write_is_acknowledged_or_taken() {
        let (store, dir) = store("fsync-fails");
        store.write(|c| insert(c, 1)).unwrap();
        // A WAL path under a regular file: its fsync fails with ENOTDIR.
        let not_a_dir = dir.join("not-a-directory");
        std::fs::write(&not_a_dir, b"").unwrap();
        let flusher = store.flusher().cloned().unwrap();
        flusher.sync_instead(&not_a_dir.join("test.db-wal"));

        let refused = store.write(|c| insert(c, 2));
        assert!(
            matches!(refused, Err(StoreError::NotDurable(_))),
            "{refused:?}"
        );
        let later = store.write(|c| insert(c, 3));
        assert!(matches!(later, Err(StoreError::NotDurable(_))), "{later:?}");
        assert!(matches!(
            store.readiness(Duration::from_secs(2)),
            Err(StoreError::NotDurable(_))
        ));
        // The write whose fsync failed may be there (its `COMMIT` ran); the
        // one after the failure never reached the database.
        let kept = rows(&store);
        assert!(kept == [1] || kept == [1, 2], "{kept:?}");
        gone(store, dir);
    }

    fn count(conn: &mut crate::DbConnection) -> i64 {
        diesel::dsl::sql::<diesel::sql_types::BigInt>("SELECT count(*) FROM t")
            .get_result(conn)
            .unwrap()
    }

    #[test]
    fn writers_at_once_keep_their_own_writes_and_lose_only_their_own() {
        let (store, dir) = store("members");
        std::thread::scope(|scope| {
            for w in 0..8_i64 {
                let store = &store;
                scope.spawn(move || {
                    for i in 0..50 {
                        let x = w * 100 + i;
                        let result = store.write(|c| {
                            insert(c, x)?;
                            // Every tenth write changes its mind after writing.
                            if i % 10 == 9 {
                                return Err(StoreError::Conflict("undone"));
                            }
                            Ok(())
                        });
                        assert_eq!(result.is_ok(), i % 10 != 9, "write {x}");
                    }
                });
            }
        });
        let expected: Vec<i64> = (0..8)
            .flat_map(|w| (0..50).filter(|i| i % 10 != 9).map(move |i| w * 100 + i))
            .collect();
        assert_eq!(rows(&store), expected);
        gone(store, dir);
    }

    #[test]
    fn a_write_that_ends_the_whole_transaction_fails_and_keeps_nothing() {
        // What SQLite does on a full disk or an I/O error: the whole
        // transaction is rolled back under the batch's feet.
        let (store, dir) = store("ended");
        store.write(|c| insert(c, 1)).unwrap();
        let ended = store.write(|c| {
            insert(c, 2)?;
            c.batch_execute("ROLLBACK")?;
            Ok::<_, StoreError>(())
        });
        assert!(ended.is_err(), "{ended:?}");
        store.write(|c| insert(c, 3)).unwrap();
        assert_eq!(rows(&store), [1, 3]);
        gone(store, dir);
    }

    #[test]
    fn a_write_that_panics_keeps_nothing_and_the_next_one_works() {
        let (store, dir) = store("panic");
        store.write(|c| insert(c, 1)).unwrap();
        let panicked = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            store.write(|c| -> Result<(), StoreError> {
                insert(c, 2)?;
                panic!("a bug in a write");
            })
        }));
        assert!(panicked.is_err());
        store.write(|c| insert(c, 3)).unwrap();
        assert_eq!(rows(&store), [1, 3]);
        gone(store, dir);
    }
}
