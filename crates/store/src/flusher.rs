//! Durability of SQLite's group commit, off the writer.
//!
//! The group-commit writer commits with `synchronous = NORMAL`: its
//! `COMMIT` writes the batch's frames to the WAL and returns without an
//! fsync, so the next batch's statements can run at once. The fsync comes
//! after, off the writer's lock, and marks every commit written before it
//! as durable: one fsync covers every batch committed while the previous
//! one ran. The member whose statements committed its batch runs that fsync
//! itself when no other is running ([`Flusher::help`]), so a lone writer
//! pays no hand-off to another thread; commits that arrive while an fsync
//! runs are left to the `sqlite-flusher` thread, so that no caller keeps
//! flushing for others. Nothing waits for less:
//!
//! - a member of a batch returns (and so is acknowledged: chat `ack`, LMTP
//!   `250`, an HTTP answer, a fan-out) only once its batch is flushed;
//! - a pooled connection goes back to the pool only once every commit
//!   begun before its reads ended is flushed ([`Flusher::wait_for_reads`]),
//!   so what a read returns is never a write a power loss could take back.
//!
//! A failed fsync leaves the WAL's state on disk unknown (the kernel may
//! have dropped the pages it could not write), so from then on no write is
//! acknowledged and the store reports itself failed until the server is
//! restarted and SQLite recovers the WAL from what did reach the disk.

use std::collections::VecDeque;
use std::fs::File;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError, Weak};
use std::time::Duration;

/// Names a file; while it exists, the flusher does not flush. Tests use it
/// to prove that nothing committed but not yet on disk is acknowledged or
/// shown.
pub const HOLD_COMMITS_ENV: &str = "RAPPORT_TEST_HOLD_COMMITS";

/// How often an idle flusher checks whether its store is gone.
const IDLE_CHECK: Duration = Duration::from_millis(200);

pub(crate) struct Flusher {
    /// The number of the latest commit the writer began; set before its
    /// `COMMIT`, so a reader that could see that commit's rows reads a
    /// number at least as large after its reads.
    begun: AtomicU64,
    /// The latest commit on disk. Written only with `state` locked, so
    /// waiters checking it under the lock miss no wake-up; read without the
    /// lock by readers' quick check.
    flushed: AtomicU64,
    state: Mutex<State>,
    /// Signalled when `flushed` moves or the flusher fails.
    advanced: Condvar,
    /// Signalled when commits wait for a flush nobody runs.
    requested: Condvar,
    /// Only the one flushing (see `State::flushing`) touches it.
    wal: Mutex<Wal>,
    hold: Option<PathBuf>,
}

#[derive(Default)]
struct State {
    /// The latest commit whose `COMMIT` returned (or failed).
    committed: u64,
    /// An fsync is running (on the flusher thread or a helping member).
    flushing: bool,
    /// Committed batches waiting for their flush, oldest first.
    waiting: VecDeque<(u64, Arc<BatchEnd>)>,
    /// Writes and batches committed since the last flush, for the log of a
    /// held flush.
    writes: usize,
    batches: usize,
    failed: Option<String>,
}

/// Where the members of one batch wait for it to end: on disk, or failed.
/// Each batch wakes only its own members, not those of later batches.
#[derive(Default)]
pub(crate) struct BatchEnd {
    ended: Mutex<Option<Result<(), BatchFailure>>>,
    done: Condvar,
}

#[derive(Debug, Clone)]
pub(crate) enum BatchFailure {
    /// The commit failed: nothing of the batch was kept.
    Commit(String),
    /// The WAL could not be synced: the batch may or may not be on disk.
    Flush(String),
}

impl BatchEnd {
    pub(crate) fn end(&self, how: Result<(), BatchFailure>) {
        let mut ended = self.ended.lock().unwrap_or_else(PoisonError::into_inner);
        if ended.is_none() {
            *ended = Some(how);
        }
        drop(ended);
        self.done.notify_all();
    }

    pub(crate) fn wait(&self) -> Result<(), BatchFailure> {
        let mut ended = self.ended.lock().unwrap_or_else(PoisonError::into_inner);
        loop {
            if let Some(how) = &*ended {
                return how.clone();
            }
            ended = self
                .done
                .wait(ended)
                .unwrap_or_else(PoisonError::into_inner);
        }
    }
}

impl std::fmt::Debug for Flusher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Flusher")
            .field("begun", &self.begun.load(Ordering::Relaxed))
            .field("flushed", &self.flushed.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

impl Flusher {
    /// Starts the flusher of the database at `db` (its WAL is `db-wal`),
    /// holding flushes while `hold` names a file.
    pub(crate) fn start_held_by(db: &Path, hold: Option<PathBuf>) -> Arc<Flusher> {
        let flusher = Arc::new(Flusher {
            begun: AtomicU64::new(0),
            flushed: AtomicU64::new(0),
            state: Mutex::new(State::default()),
            advanced: Condvar::new(),
            requested: Condvar::new(),
            wal: Mutex::new(Wal::new(wal_path(db))),
            hold,
        });
        let weak = Arc::downgrade(&flusher);
        std::thread::Builder::new()
            .name("sqlite-flusher".into())
            .spawn(move || run(&weak))
            .unwrap_or_else(|e| panic!("the SQLite flusher thread could not start: {e}"));
        flusher
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // No code panics while holding this lock.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Numbers the commit the writer is about to run. Called by the writer
    /// only, before its `COMMIT`.
    pub(crate) fn begin(&self) -> u64 {
        self.begun.fetch_add(1, Ordering::SeqCst) + 1
    }

    /// The writer's `COMMIT` of `number` returned: the batch's `writes`
    /// members wait at `end` for its flush. `wake` hands the flush to the
    /// flusher thread; without it the caller is about to [`Flusher::help`].
    pub(crate) fn committed(&self, number: u64, writes: usize, end: Arc<BatchEnd>, wake: bool) {
        let mut state = self.lock();
        if let Some(reason) = &state.failed {
            end.end(Err(BatchFailure::Flush(reason.clone())));
        } else {
            state.waiting.push_back((number, end));
        }
        state.committed = state.committed.max(number);
        state.writes += writes;
        state.batches += 1;
        drop(state);
        if wake {
            self.requested.notify_one();
        }
    }

    /// Runs the fsync on the calling thread when commits wait for one and
    /// none is running. Commits that arrived during it go to the flusher
    /// thread, so the caller returns to wait for its own batch (flushed by
    /// then when it had committed before the fsync began).
    pub(crate) fn help(&self) {
        let Some(target) = self.take_flush() else {
            return;
        };
        self.flush_to(target);
        if self.needs_flush(&self.lock()) {
            self.requested.notify_one();
        }
    }

    /// Claims the next fsync, when one is needed and none is running: the
    /// latest commit it will cover.
    fn take_flush(&self) -> Option<u64> {
        let mut state = self.lock();
        if !self.needs_flush(&state) {
            return None;
        }
        state.flushing = true;
        Some(state.committed)
    }

    /// Commits wait for an fsync that nobody runs.
    fn needs_flush(&self, state: &State) -> bool {
        !state.flushing
            && state.failed.is_none()
            && state.committed > self.flushed.load(Ordering::SeqCst)
    }

    /// The fsync claimed by [`Flusher::take_flush`]: every commit up to
    /// `target` has written its frames, and it takes them all (and perhaps
    /// part of the next, harmlessly).
    fn flush_to(&self, target: u64) {
        if self.held() {
            wait_while_held(self);
        }
        let synced = self
            .wal
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .sync();
        let mut state = self.lock();
        state.flushing = false;
        let mut ended = Vec::new();
        let how = match synced {
            Ok(()) => {
                self.flushed.store(target, Ordering::SeqCst);
                state.writes = 0;
                state.batches = 0;
                while state.waiting.front().is_some_and(|(n, _)| *n <= target) {
                    ended.extend(state.waiting.pop_front().map(|(_, end)| end));
                }
                Ok(())
            }
            Err(e) => {
                let reason = format!(
                    "the SQLite WAL could not be synced ({e}); restart the server to recover it"
                );
                tracing::error!(%reason, "writes are refused from now on");
                state.failed = Some(reason.clone());
                ended.extend(state.waiting.drain(..).map(|(_, end)| end));
                Err(BatchFailure::Flush(reason))
            }
        };
        drop(state);
        self.advanced.notify_all();
        for end in ended {
            end.end(how.clone());
        }
    }

    /// The writer's `COMMIT` of `number` failed. Readers may already wait
    /// for that number, so it still gets its flush mark.
    pub(crate) fn commit_failed(&self, number: u64) {
        let mut state = self.lock();
        state.committed = state.committed.max(number);
        drop(state);
        self.requested.notify_one();
    }

    /// Waits until commit `number` is on disk.
    fn wait_flushed(&self, number: u64) -> Result<(), String> {
        let mut state = self.lock();
        loop {
            if let Some(reason) = &state.failed {
                return Err(reason.clone());
            }
            if self.flushed.load(Ordering::SeqCst) >= number {
                return Ok(());
            }
            state = self
                .advanced
                .wait(state)
                .unwrap_or_else(PoisonError::into_inner);
        }
    }

    /// Waits until every commit begun so far is on disk: called after a
    /// read, before anything it read can be shown. After a failed flush
    /// readers are not held (the store reports itself failed instead).
    pub(crate) fn wait_for_reads(&self) {
        let seen = self.begun.load(Ordering::SeqCst);
        if self.flushed.load(Ordering::SeqCst) >= seen {
            return;
        }
        let _ = self.wait_flushed(seen);
    }

    /// Why the WAL could not be flushed, once that happened.
    pub(crate) fn failure(&self) -> Option<String> {
        self.lock().failed.clone()
    }

    /// Test hook: fsyncs go to `wal` from now on.
    #[cfg(test)]
    pub(crate) fn sync_instead(&self, wal: &Path) {
        *self.wal.lock().unwrap_or_else(PoisonError::into_inner) = Wal::new(wal.to_owned());
    }

    fn held(&self) -> bool {
        self.hold.as_ref().is_some_and(|path| path.exists())
    }
}

/// Where SQLite keeps the WAL of `db`: next to the file the path resolves
/// to, since SQLite follows symbolic links when it opens a database. (A
/// WAL looked for elsewhere would never be found, and never synced.)
fn wal_path(db: &Path) -> PathBuf {
    let db = std::fs::canonicalize(db).unwrap_or_else(|_| db.to_owned());
    let mut name = db.into_os_string();
    name.push("-wal");
    PathBuf::from(name)
}

/// The flusher thread: runs the fsyncs that no committing member runs.
/// Ends when the store is gone.
fn run(flusher: &Weak<Flusher>) {
    loop {
        let Some(flusher) = flusher.upgrade() else {
            return;
        };
        match flusher.take_flush() {
            Some(target) => flusher.flush_to(target),
            None => {
                // Waits with a timeout, so the thread ends soon after its
                // store; a missed signal costs at most that long.
                let state = flusher.lock();
                if !flusher.needs_flush(&state) {
                    let _ = flusher
                        .requested
                        .wait_timeout(state, IDLE_CHECK)
                        .unwrap_or_else(PoisonError::into_inner);
                }
            }
        }
    }
}

/// Test hook: holds the flush while the hold file exists, then logs what
/// was held.
fn wait_while_held(flusher: &Flusher) {
    while flusher.held() {
        std::thread::sleep(Duration::from_millis(5));
    }
    let state = flusher.lock();
    tracing::info!(
        writes = state.writes,
        batches = state.batches,
        "a held flush ended"
    );
}

/// The WAL file, opened by the flusher for its own fsyncs. SQLite deletes
/// the WAL when its last connection closes (after checkpointing all of it
/// into the database, synced) and creates a new one on the next write, so
/// the file is opened again whenever the name points at another one.
struct Wal {
    path: PathBuf,
    open: Option<(File, u64)>,
}

impl Wal {
    fn new(path: PathBuf) -> Wal {
        Wal { path, open: None }
    }

    fn sync(&mut self) -> std::io::Result<()> {
        let current = match std::fs::metadata(&self.path) {
            Ok(meta) => meta.ino(),
            // Checkpointed into the database and removed: nothing to sync.
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                self.open = None;
                return Ok(());
            }
            Err(e) => return Err(e),
        };
        if self.open.as_ref().map(|(_, ino)| *ino) != Some(current) {
            let file = File::open(&self.path)?;
            let ino = file.metadata()?.ino();
            // A new WAL's name must survive a power loss too.
            if let Some(dir) = self.path.parent() {
                File::open(dir)?.sync_all()?;
            }
            self.open = Some((file, ino));
        }
        match &self.open {
            Some((file, _)) => file.sync_data(),
            None => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use std::os::unix::fs::MetadataExt;

    use super::Wal;

    #[test]
    fn the_wal_is_opened_again_when_sqlite_made_a_new_one() {
        let dir = std::env::temp_dir().join(format!("rapport-wal-{}", uuid::Uuid::now_v7()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("db-wal");
        let mut wal = Wal::new(path.clone());
        // No WAL yet: nothing to sync.
        wal.sync().unwrap();
        assert!(wal.open.is_none());
        std::fs::write(&path, b"frames").unwrap();
        wal.sync().unwrap();
        let first = wal.open.as_ref().unwrap().1;
        assert_eq!(first, std::fs::metadata(&path).unwrap().ino());
        std::fs::remove_file(&path).unwrap();
        // Another file under the same name before the old one's inode can be
        // reused: the old one is still open here.
        std::fs::write(&path, b"new frames").unwrap();
        wal.sync().unwrap();
        let second = wal.open.as_ref().unwrap().1;
        assert_ne!(first, second);
        assert_eq!(second, std::fs::metadata(&path).unwrap().ino());
        let _ = std::fs::remove_dir_all(dir);
    }
}
