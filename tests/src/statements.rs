//! Counts the SQL statements this process sends (both backends), for the
//! benchmarks' statements-per-operation figures, and can list them.

use std::cell::Cell;
use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use diesel::connection::{Instrumentation, InstrumentationEvent};

static SENT: AtomicU64 = AtomicU64::new(0);
static LISTING: AtomicBool = AtomicBool::new(false);
static LISTED: Mutex<Vec<String>> = Mutex::new(Vec::new());
static TIMING: AtomicBool = AtomicBool::new(false);
static TIMED: Mutex<Option<HashMap<String, (u64, Duration)>>> = Mutex::new(None);

thread_local! {
    static STARTED: Cell<Option<Instant>> = const { Cell::new(None) };
}

/// A statement's text without its bound values, cut to what tells it apart.
fn shape(query: &dyn std::fmt::Display) -> String {
    let sql = query.to_string();
    let sql = sql.split(" -- binds:").next().unwrap_or_default();
    sql.chars().take(90).collect()
}

struct Count;

impl Instrumentation for Count {
    fn on_connection_event(&mut self, event: InstrumentationEvent<'_>) {
        match event {
            InstrumentationEvent::StartQuery { query, .. } => {
                SENT.fetch_add(1, Ordering::Relaxed);
                if LISTING.load(Ordering::Relaxed) {
                    LISTED.lock().expect("listing lock").push(shape(query));
                }
                if TIMING.load(Ordering::Relaxed) {
                    STARTED.with(|s| s.set(Some(Instant::now())));
                }
            }
            InstrumentationEvent::FinishQuery { query, .. } => {
                // The clock stops before the statement's text is rendered:
                // rendering its binds costs more than running many of them.
                if let Some(started) = STARTED.with(Cell::take) {
                    let took = started.elapsed();
                    if let Some(timed) = TIMED.lock().expect("timing lock").as_mut() {
                        let slot = timed.entry(shape(query)).or_default();
                        slot.0 += 1;
                        slot.1 += took;
                    }
                }
            }
            _ => {}
        }
    }
}

/// Counts from now on, on every connection opened after this call.
pub fn count_from_now() {
    diesel::connection::set_default_instrumentation(|| Some(Box::new(Count)))
        .expect("the instrumentation can be set");
}

/// Statements sent so far.
pub fn sent() -> u64 {
    SENT.load(Ordering::Relaxed)
}

/// The statements `f` sends, in order.
pub fn listed_during(f: impl FnOnce()) -> Vec<String> {
    LISTED.lock().expect("listing lock").clear();
    LISTING.store(true, Ordering::SeqCst);
    f();
    LISTING.store(false, Ordering::SeqCst);
    std::mem::take(&mut *LISTED.lock().expect("listing lock"))
}

/// What `f` spent in each statement: (statement, times sent, total time),
/// the costliest first.
pub fn timed_during(f: impl FnOnce()) -> Vec<(String, u64, Duration)> {
    *TIMED.lock().expect("timing lock") = Some(HashMap::new());
    TIMING.store(true, Ordering::SeqCst);
    f();
    TIMING.store(false, Ordering::SeqCst);
    let timed = TIMED
        .lock()
        .expect("timing lock")
        .take()
        .unwrap_or_default();
    let mut out: Vec<_> = timed.into_iter().map(|(sql, (n, t))| (sql, n, t)).collect();
    out.sort_by_key(|t| std::cmp::Reverse(t.2));
    out
}
