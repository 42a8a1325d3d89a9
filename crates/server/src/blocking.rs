//! The one way async code calls blocking storage: on actix's blocking
//! pool, inside the caller's tracing span so logs keep the request id.

use rapport_store::{DbConnection, Store, StoreError};

use crate::http::ApiError;

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

/// Runs blocking work (storage, password hashing) off the async executor.
pub async fn run<T, E, F>(f: F) -> Result<T, ApiError>
where
    F: FnOnce() -> Result<T, E> + Send + 'static,
    E: Into<ApiError> + Send + 'static,
    T: Send + 'static,
{
    let span = tracing::Span::current();
    actix_web::web::block(move || span.in_scope(f))
        .await
        .map_err(|e| ApiError::Internal(format!("blocking task failed: {e}")))?
        .map_err(Into::into)
}
