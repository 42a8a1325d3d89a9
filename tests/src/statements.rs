//! Counts the SQL statements this process sends (both backends), for the
//! benchmarks' statements-per-operation figures, and can list them.

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use diesel::connection::{Instrumentation, InstrumentationEvent};

static SENT: AtomicU64 = AtomicU64::new(0);
static LISTING: AtomicBool = AtomicBool::new(false);
static LISTED: Mutex<Vec<String>> = Mutex::new(Vec::new());

struct Count;

impl Instrumentation for Count {
    fn on_connection_event(&mut self, event: InstrumentationEvent<'_>) {
        if let InstrumentationEvent::StartQuery { query, .. } = event {
            SENT.fetch_add(1, Ordering::Relaxed);
            if LISTING.load(Ordering::Relaxed) {
                let sql = query.to_string();
                // The statement, not its bound values.
                let sql = sql.split(" -- binds:").next().unwrap_or_default();
                LISTED.lock().expect("listing lock").push(sql.to_owned());
            }
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
