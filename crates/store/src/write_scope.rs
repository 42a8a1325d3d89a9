//! The write a thread is inside of, if any: the audit events it records,
//! appended at its end ([`crate::audit::append`]); what must wait for its
//! commit ([`after_commit`]); the cases whose append lock it holds, so
//! that it takes each only once; and a guard against starting a second
//! write inside it, which on SQLite would wait forever for the one writer
//! connection.

use std::cell::RefCell;

use rapport_audit::NewEvent;

use crate::error::StoreError;

/// An audit event recorded in the write, and the account a new stream of
/// it belongs to.
pub(crate) type PendingAudit = (NewEvent, Option<String>);

#[derive(Default)]
struct Open {
    after_commit: Vec<Box<dyn FnOnce() + Send>>,
    audit: Vec<PendingAudit>,
    /// Ids of the cases whose rows this write has locked for appending.
    append_locks: Vec<String>,
}

thread_local! {
    static OPEN: RefCell<Option<Open>> = const { RefCell::new(None) };
}

/// Keeps `event` for the end of the write this thread is inside of; hands
/// it back outside a write.
pub(crate) fn defer_audit(event: NewEvent, account: Option<&str>) -> Option<PendingAudit> {
    OPEN.with(|open| match open.borrow_mut().as_mut() {
        Some(open) => {
            open.audit.push((event, account.map(str::to_owned)));
            None
        }
        None => Some((event, account.map(str::to_owned))),
    })
}

/// The audit events recorded so far, in order, to append now.
pub(crate) fn take_audit() -> Vec<PendingAudit> {
    OPEN.with(|open| {
        open.borrow_mut()
            .as_mut()
            .map(|open| std::mem::take(&mut open.audit))
            .unwrap_or_default()
    })
}

/// Where the write stands: a savepoint that rolls back drops the audit
/// events recorded and the append locks taken after this mark (the
/// database releases those locks with it).
pub(crate) struct Mark {
    audit: usize,
    append_locks: usize,
}

pub(crate) fn mark() -> Mark {
    OPEN.with(|open| {
        open.borrow().as_ref().map_or(
            Mark {
                audit: 0,
                append_locks: 0,
            },
            |open| Mark {
                audit: open.audit.len(),
                append_locks: open.append_locks.len(),
            },
        )
    })
}

pub(crate) fn roll_back_to(mark: Mark) {
    OPEN.with(|open| {
        if let Some(open) = open.borrow_mut().as_mut() {
            open.audit.truncate(mark.audit);
            open.append_locks.truncate(mark.append_locks);
        }
    });
}

/// Whether the write this thread is inside of already holds the append
/// lock of `case` (false outside a write).
pub(crate) fn holds_append_lock(case: &str) -> bool {
    OPEN.with(|open| {
        open.borrow()
            .as_ref()
            .is_some_and(|open| open.append_locks.iter().any(|c| c == case))
    })
}

/// The write now holds the append lock of `case`, until it ends.
pub(crate) fn note_append_lock(case: String) {
    OPEN.with(|open| {
        if let Some(open) = open.borrow_mut().as_mut() {
            open.append_locks.push(case);
        }
    });
}

/// Runs `f` once the write this thread is inside of has committed, and not
/// at all if it fails; outside a write, runs it now. For what tells others
/// to look at the database (waking a worker): told before the commit, they
/// could look too early, find nothing, and wait for their next tick.
pub fn after_commit(f: impl FnOnce() + Send + 'static) {
    let now = OPEN.with(|open| match open.borrow_mut().as_mut() {
        Some(open) => {
            open.after_commit.push(Box::new(f));
            None
        }
        None => Some(f),
    });
    if let Some(f) = now {
        f();
    }
}

/// One write on this thread. Dropped without [`WriteScope::committed`], what
/// waited for its commit is dropped with it.
pub(crate) struct WriteScope(());

impl WriteScope {
    pub(crate) fn enter() -> Result<WriteScope, StoreError> {
        OPEN.with(|open| {
            let mut open = open.borrow_mut();
            if open.is_some() {
                return Err(StoreError::NestedWrite);
            }
            *open = Some(Open::default());
            Ok(WriteScope(()))
        })
    }

    /// The write committed: runs what waited for it.
    pub(crate) fn committed(self) {
        let open = OPEN
            .with(|open| open.borrow_mut().take())
            .unwrap_or_default();
        for f in open.after_commit {
            f();
        }
    }
}

impl Drop for WriteScope {
    fn drop(&mut self) {
        OPEN.with(|open| open.borrow_mut().take());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[test]
    fn deferred_work_runs_only_after_a_commit() {
        let ran = Arc::new(AtomicUsize::new(0));
        let counter = |ran: &Arc<AtomicUsize>| {
            let ran = Arc::clone(ran);
            move || {
                ran.fetch_add(1, Ordering::SeqCst);
            }
        };
        let scope = WriteScope::enter().expect("no write open");
        after_commit(counter(&ran));
        assert_eq!(ran.load(Ordering::SeqCst), 0, "not before the commit");
        scope.committed();
        assert_eq!(ran.load(Ordering::SeqCst), 1);

        let scope = WriteScope::enter().expect("no write open");
        after_commit(counter(&ran));
        drop(scope);
        assert_eq!(ran.load(Ordering::SeqCst), 1, "a failed write runs nothing");

        after_commit(counter(&ran));
        assert_eq!(ran.load(Ordering::SeqCst), 2, "outside a write: at once");
    }

    #[test]
    fn a_write_inside_a_write_is_refused() {
        let scope = WriteScope::enter().expect("no write open");
        assert!(matches!(WriteScope::enter(), Err(StoreError::NestedWrite)));
        drop(scope);
        assert!(WriteScope::enter().is_ok());
    }
}
