//! The one way async code calls blocking work (storage, password hashing,
//! file I/O): on the runtime's blocking pool, inside the caller's tracing
//! span so logs keep the request id. [`spawn`] is the primitive; the rest
//! say what the caller gets back.

use std::sync::Arc;

use rapport_store::{DbConnection, Store, StoreError};
use tokio::sync::Semaphore;

use crate::http::ApiError;
use crate::usecase::UseCaseError;

/// A blocking task that did not finish (it panicked or the runtime is
/// shutting down).
#[derive(Debug, thiserror::Error)]
#[error("a blocking task failed: {0}")]
pub struct TaskFailed(String);

impl From<TaskFailed> for ApiError {
    fn from(e: TaskFailed) -> ApiError {
        ApiError::Internal(e.to_string())
    }
}

impl From<TaskFailed> for UseCaseError {
    fn from(e: TaskFailed) -> UseCaseError {
        UseCaseError::Internal(e.to_string())
    }
}

/// How many blocking tasks run at once in the process, once set by
/// [`limit_running`]; more wait their turn as idle futures, not as threads.
static GATE: std::sync::OnceLock<Arc<Semaphore>> = std::sync::OnceLock::new();

/// Lets at most `tasks` blocking tasks run at once in this process (the
/// first call decides). On SQLite a burst (thousands of chat clients
/// reconnecting) would otherwise start hundreds of threads that queue on
/// the one writer and a few connections and spend the cores switching
/// between each other; measured in `docs/benchmarks.md` (Write path).
pub fn limit_running(tasks: usize) {
    let _ = GATE.set(Arc::new(Semaphore::new(tasks.max(1))));
}

/// Runs `f` on the blocking pool and returns what it returned, once its
/// turn has come (see [`limit_running`]).
pub async fn spawn<T, F>(f: F) -> Result<T, TaskFailed>
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    let turn = match GATE.get() {
        Some(gate) => Some(
            Arc::clone(gate)
                .acquire_owned()
                .await
                .map_err(|e| TaskFailed(e.to_string()))?,
        ),
        None => None,
    };
    // The turn goes with the work: a caller that gives up (a client gone)
    // does not free it while the work still runs.
    spawn_unlimited(move || {
        let out = f();
        drop(turn);
        out
    })
    .await
}

/// Runs `f` on the blocking pool at once, whatever runs already: for what
/// must answer during a burst (readiness, the schema check).
pub async fn spawn_unlimited<T, F>(f: F) -> Result<T, TaskFailed>
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    let span = tracing::Span::current();
    tokio::task::spawn_blocking(move || span.in_scope(f))
        .await
        .map_err(|e| TaskFailed(e.to_string()))
}

/// Starts `f` on the blocking pool without waiting for it (a producer that
/// feeds a response stream and ends when its reader does).
pub fn detach<F>(f: F)
where
    F: FnOnce() + Send + 'static,
{
    let span = tracing::Span::current();
    drop(tokio::task::spawn_blocking(move || span.in_scope(f)));
}

/// Runs a use case (or any fallible blocking work) for an HTTP handler.
pub async fn run<T, E, F>(f: F) -> Result<T, ApiError>
where
    F: FnOnce() -> Result<T, E> + Send + 'static,
    E: Into<ApiError> + Send + 'static,
    T: Send + 'static,
{
    spawn(f).await?.map_err(Into::into)
}

/// Runs a use case for a channel that is not HTTP (websocket, LMTP,
/// workers): its error stays the use case's own.
pub async fn call<T, F>(f: F) -> Result<T, UseCaseError>
where
    F: FnOnce() -> Result<T, UseCaseError> + Send + 'static,
    T: Send + 'static,
{
    spawn(f).await?
}

/// Runs `f` with a pooled connection off the async executor.
pub async fn with_conn<T, F>(store: &Store, f: F) -> Result<T, ApiError>
where
    F: FnOnce(&mut DbConnection) -> Result<T, StoreError> + Send + 'static,
    T: Send + 'static,
{
    let store = store.clone();
    run(move || {
        let mut conn = store.conn()?;
        f(&mut conn)
    })
    .await
}
