//! Starting and stopping `rapport serve`: prepare the data directory,
//! secrets and database, then run the HTTP server until SIGTERM/SIGINT.

use std::net::{SocketAddr, TcpListener};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use actix_web::dev::{Server, ServerHandle};
use actix_web::middleware::{Compress, from_fn};
use actix_web::{App, HttpServer};
use rapport_store::{PoolOptions, Readiness, Store, StoreError};
use tracing_actix_web::TracingLogger;

use crate::auth::throttle::LoginThrottle;
use crate::auth::token::TokenKeys;
use crate::config::Config;
use crate::http;
use crate::secrets::{SecretError, Secrets};
use crate::state::AppState;

/// Why the server could not start. Each message says what to fix.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StartupError {
    #[error(
        "cannot create the data directory {path} (data_dir): {source}; choose a writable directory with --data-dir or RAPPORT_DATA_DIR"
    )]
    DataDir {
        path: String,
        source: std::io::Error,
    },
    #[error(transparent)]
    Secret(#[from] SecretError),
    #[error("{0}; check database.url (--database-url, RAPPORT_DATABASE_URL)")]
    Database(#[from] StoreError),
    #[error("cannot listen on {addr}: {source}; pick a free address with --bind or RAPPORT_BIND")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error(
        "the database schema is newer than this binary: it has migration(s) {applied}, and this rapport knows migrations up to {known}; run the newer rapport that migrated it (or restore the backup taken before the upgrade)"
    )]
    SchemaNewer { applied: String, known: String },
    #[error(
        "this node's secrets differ from the other nodes' on this database (tokens it signs would be refused elsewhere, and audit exports signed with another key): copy <data_dir>/secrets from a running node into {data_dir}/secrets, or give every node the same auth.jwt_secret and audit.signing_key"
    )]
    SecretsDiffer { data_dir: String },
    #[error("startup task failed: {0}")]
    Task(String),
    #[error("{0}")]
    Mail(String),
}

/// A server that is accepting connections.
pub struct RunningServer {
    /// The address actually bound (port 0 in the config picks a free one).
    pub addr: SocketAddr,
    /// The LMTP listener's address, when `mail.lmtp_bind` is set.
    pub lmtp_addr: Option<SocketAddr>,
    pub handle: ServerHandle,
    pub state: AppState,
    server: Server,
}

impl std::fmt::Debug for RunningServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RunningServer")
            .field("addr", &self.addr)
            .finish_non_exhaustive()
    }
}

impl RunningServer {
    /// Serves until a stop signal or `handle.stop()`, then returns once
    /// in-flight requests have finished (or the shutdown timeout passed).
    pub async fn run(self) -> std::io::Result<()> {
        self.server.await
    }

    /// The server future, for callers that drive it themselves.
    pub fn into_server(self) -> Server {
        self.server
    }
}

/// Opens the store with the pool settings from the config.
pub fn open_store(config: &Config) -> Result<Store, StoreError> {
    let db = &config.settings.database;
    Store::connect(
        &config.database_url,
        &PoolOptions {
            max_size: db.pool_max_size,
            acquire_timeout: Duration::from_secs(db.acquire_timeout_secs),
            sqlite_busy_timeout_ms: db.sqlite_busy_timeout_ms,
        },
    )
}

/// Everything before the first request: data directory, secrets, database,
/// migrations, the installation row. Blocking, so it runs off the executor.
fn prepare(config: Arc<Config>) -> Result<AppState, StartupError> {
    let data_dir = &config.settings.data_dir;
    crate::durable::private_dir(data_dir)
        .and_then(|()| crate::durable::make_private(data_dir))
        .map_err(|source| StartupError::DataDir {
            path: data_dir.display().to_string(),
            source,
        })?;
    let store = open_store(&config)?;
    tracing::info!(database = %store.url(), "database connected");
    for risk in rapport_store::privileges::audit_risks(&mut *store.conn()?)? {
        tracing::warn!("{risk}");
    }
    refuse_newer_schema(&store)?;
    let mut pending_at_start = Vec::new();
    let schema_current = if config.settings.database.migrate_on_start {
        let applied = store.migrate()?.applied;
        for version in &applied {
            tracing::info!(version, "migration applied");
        }
        crate::usecase::system::record_schema_migrated(&store, &applied)?;
        true
    } else {
        let wait = Duration::from_secs(config.settings.database.acquire_timeout_secs);
        match store.readiness(wait)? {
            Readiness::Ready => true,
            Readiness::MigrationsPending(pending) => {
                tracing::warn!(
                    pending = pending.join(", "),
                    "migrations are pending and database.migrate_on_start is false; \
                     the API answers 503 migrations_pending and /readyz 503 until `rapport migrate` runs"
                );
                pending_at_start = pending;
                false
            }
        }
    };
    if schema_current {
        let instance = rapport_store::instance::ensure(&mut *store.conn()?)?;
        tracing::info!(instance_id = %instance.id, "installation identified");
    }
    if schema_current && rapport_store::staff::count(&mut *store.conn()?)? == 0 {
        let program = std::env::args().next().unwrap_or_else(|| "rapport".into());
        tracing::warn!(
            "no staff account exists yet; create the first admin with: \
             {program} admin create --email you@example.com --name \"Your Name\""
        );
    }
    let mut state = state_for(config, store)?;
    state.schema = crate::schema_gate::SchemaGate::new(&pending_at_start);
    if schema_current && state.store.backend() == rapport_store::Backend::Postgres {
        same_secrets_as_the_other_nodes(&state)?;
    }
    Ok(state)
}

/// Nodes on one PostgreSQL must sign with the same secrets, or tokens from
/// one are refused by another and exports are signed with another key: a
/// node whose secrets differ from those recorded refuses to start.
fn same_secrets_as_the_other_nodes(state: &AppState) -> Result<(), StartupError> {
    use secrecy::ExposeSecret;
    let ours = rapport_app::secrets::fingerprint(
        state.secrets.jwt.expose_secret().as_bytes(),
        &state.secrets.audit.public_key().to_base64(),
    );
    let recorded =
        rapport_store::instance::shared_secrets_fingerprint(&mut *state.store.conn()?, &ours)?;
    if recorded == ours {
        Ok(())
    } else {
        Err(StartupError::SecretsDiffer {
            data_dir: state.config.settings.data_dir.display().to_string(),
        })
    }
}

/// Refuses a database migrated by a newer release: this binary would
/// misread tables it does not know.
pub fn refuse_newer_schema(store: &Store) -> Result<(), StartupError> {
    match store.schema_newer_than_binary()? {
        Some((applied, known)) => Err(StartupError::SchemaNewer {
            applied: applied.join(", "),
            known,
        }),
        None => Ok(()),
    }
}

/// The application state over an open store: secrets, token keys and
/// sign-in throttles. Used at startup and by benchmarks that call the use
/// cases without HTTP.
pub fn state_for(config: Arc<Config>, store: Store) -> Result<AppState, StartupError> {
    let secrets = Secrets::resolve(&config)?;
    let auth = &config.settings.auth;
    let tokens = Arc::new(TokenKeys::new(&secrets.jwt, auth));
    let throttle = Arc::new(LoginThrottle::new(
        auth.login_free_attempts,
        Duration::from_secs(auth.login_max_delay_secs),
    ));
    // An office behind one IP, a client company with many contacts: their
    // limits start later, so one guesser cannot lock all of them out.
    let shared_throttle = Arc::new(LoginThrottle::new(
        auth.login_free_attempts.saturating_mul(4),
        Duration::from_secs(auth.login_max_delay_secs),
    ));
    let notifier = crate::notify::Notifier::default();
    let mail = crate::mail::Mail::new(&config, &secrets);
    let live = crate::chat::Chat::new(&config);
    let chat = rapport_app::chat::ChatState::new(
        Arc::new(live.clone()),
        &config.settings.instance.name,
        config.settings.chat.max_connections_per_person,
    );
    Ok(AppState {
        app: rapport_app::AppState {
            mail,
            store,
            secrets: Arc::new(secrets),
            tokens,
            throttle,
            shared_throttle,
            chat,
            notifier,
            storage: crate::storage_health::StorageHealth::default(),
            reads: Arc::default(),
            public_url: Arc::from(config.public_url(config.settings.server.bind)),
            config,
        },
        live,
        webhooks: crate::webhooks::Dispatcher::default(),
        schema: crate::schema_gate::SchemaGate::new(&[]),
    })
}

/// Prepares everything and binds the listener. The returned server is not
/// yet polled: call [`RunningServer::run`] or spawn its future.
pub async fn start(config: Config) -> Result<RunningServer, StartupError> {
    let config = Arc::new(config);
    // The port first: a port in use is reported before anything is
    // migrated or generated.
    let server_settings = &config.settings.server;
    let listener =
        TcpListener::bind(server_settings.bind).map_err(|source| StartupError::Bind {
            addr: server_settings.bind,
            source,
        })?;
    let addr = listener.local_addr().map_err(|source| StartupError::Bind {
        addr: server_settings.bind,
        source,
    })?;
    let prepared = Arc::clone(&config);
    let mut state = crate::blocking::spawn(move || prepare(prepared))
        .await
        .map_err(|e| StartupError::Task(e.to_string()))??;
    state.public_url = Arc::from(config.public_url(addr));
    if config.settings.server.public_url.trim().is_empty() {
        tracing::info!(public_url = %state.public_url, "links in mail point to {} (server.public_url is not set: set it to the address people use)", state.public_url);
    } else {
        tracing::info!(public_url = %state.public_url, "links in mail point to {}", state.public_url);
    }
    let app_state = state.clone();
    let mut builder = HttpServer::new(move || {
        App::new()
            .wrap(http::error_bodies_as_problems())
            .wrap(from_fn(http::watch_storage))
            .wrap(from_fn(http::wait_for_schema))
            .wrap(from_fn(http::request_log_and_id))
            .wrap(http::security_headers())
            .wrap(Compress::default())
            .wrap(TracingLogger::<http::client_address::RequestSpan>::new())
            .configure(http::configure(app_state.clone()))
    })
    .shutdown_timeout(server_settings.shutdown_timeout_secs)
    // Chat frames are small and must go out at once, not wait for the
    // client's delayed ACK (Nagle's algorithm costs up to 40 ms a frame).
    .tcp_nodelay(true)
    // The CLI installs its own handlers before it announces readiness
    // (see `cli::serve`); an embedding test must not stop on a signal.
    .disable_signals();
    if server_settings.workers > 0 {
        builder = builder.workers(server_settings.workers);
    }
    let server = builder
        .listen(listener)
        .map_err(|source| StartupError::Bind {
            addr: server_settings.bind,
            source,
        })?
        .run();
    spawn_sla_worker(state.clone());
    spawn_chat_digest_worker(state.clone());
    spawn_offline_email_consumer(state.clone());
    spawn_case_digest_worker(state.clone());
    spawn_upkeep(state.clone());
    crate::webhooks::spawn(state.clone());
    spawn_audit_checkpoints(state.clone());
    state.live.start_transport(&state);
    state.schema.watch(state.store.clone());
    let transport =
        crate::mail::transport::Transport::from_config(&config).map_err(StartupError::Mail)?;
    crate::mail::worker::spawn(state.clone(), Arc::new(transport));
    let lmtp_addr = match config.settings.mail.lmtp_bind.trim() {
        "" => None,
        bind => {
            let bind: SocketAddr = bind.parse().map_err(|_| {
                StartupError::Mail(format!(
                    "mail.lmtp_bind `{bind}` is not an address such as 127.0.0.1:2424"
                ))
            })?;
            let addr = crate::mail::lmtp_door::start(&state, bind)
                .map_err(|source| StartupError::Bind { addr: bind, source })?;
            tracing::info!(lmtp = %addr, "LMTP listener ready at lmtp://{addr}");
            Some(addr)
        }
    };
    tracing::info!(bus = state.live.transport(), node = %state.live.hub.node(), "live chat ready");
    Ok(RunningServer {
        addr,
        lmtp_addr,
        handle: server.handle(),
        state,
        server,
    })
}

/// Emails contacts the chat answers they missed, once the wait
/// `chat.offline_email_after_secs` is over (checked a few times within it).
fn spawn_chat_digest_worker(state: AppState) {
    let wait = state.config.settings.chat.offline_email_after_secs;
    spawn_periodic(
        state,
        Duration::from_secs((wait / 4).clamp(1, 15)),
        "emailing missed chat answers",
        |state| {
            crate::usecase::chat::send_due_offline_digests(state, chrono::Utc::now())?;
            Ok(())
        },
    );
}

/// Mails contacts who chose a digest of the cases of their function once
/// `cases.notice_digest_secs` has passed since the oldest it holds
/// (checked every minute).
fn spawn_case_digest_worker(state: AppState) {
    spawn_periodic(
        state,
        Duration::from_secs(60),
        "mailing case digests",
        |state| {
            crate::usecase::notices::send_due_digests(state, chrono::Utc::now())?;
            Ok(())
        },
    );
}

/// Reads the change log for chat answers no contact was there to see and
/// schedules their digests (every second; a restart goes on from the
/// persisted cursor, only new answers count the first time).
fn spawn_offline_email_consumer(state: AppState) {
    let cursor: Arc<Mutex<Option<crate::changes::Cursor>>> = Arc::default();
    spawn_periodic(
        state,
        Duration::from_secs(1),
        "scheduling emails of missed chat answers",
        move |state| {
            let mut guard = cursor.lock().unwrap_or_else(|e| e.into_inner());
            if guard.is_none() {
                let mut conn = state.store.conn()?;
                let newest = rapport_store::changes::last_id(&mut conn)?;
                *guard = Some(crate::changes::Cursor::starting_at(
                    rapport_store::consumer_cursor::cursor(
                        &mut conn,
                        crate::usecase::chat::OFFLINE_EMAIL,
                        newest,
                    )?,
                ));
            }
            if let Some(c) = guard.as_mut() {
                crate::usecase::chat::email_absent_contacts(state, c)?;
            }
            Ok(())
        },
    );
}

/// Hourly: forgets reply parents waited for too long and committed
/// changes every consumer has long read, single sign-on attempts of
/// yesterday, case events digests carried a month ago, spent chat tickets
/// long expired, and removes
/// attachment files no entry refers to.
fn spawn_upkeep(state: AppState) {
    spawn_periodic(state, Duration::from_secs(3600), "hourly upkeep", |state| {
        let now = chrono::Utc::now();
        let parents = crate::usecase::mail::forget_stale_awaited_parents(state, now)?;
        if parents > 0 {
            tracing::info!(parents, "stopped waiting for reply parents that never came");
        }
        let changes = crate::changes::forget_old(state, now)?;
        tracing::debug!(changes, "old committed changes forgotten");
        let attempts = crate::usecase::sso::forget_old_attempts(state, now)?;
        tracing::debug!(attempts, "old single sign-on attempts forgotten");
        let tickets = crate::usecase::chat::forget_spent_tickets(state, now)?;
        tracing::debug!(tickets, "spent chat tickets forgotten");
        let notices = crate::usecase::notices::forget_sent(state, now)?;
        tracing::debug!(notices, "case notices digests carried long ago forgotten");
        let files = crate::usecase::case::sweep_attachment_files(state)?;
        if files > 0 {
            tracing::info!(files, "removed attachment files no entry refers to");
        }
        Ok(())
    });
}

/// Signs a checkpoint of the audit log every `audit.checkpoint_interval_secs`
/// when events were added.
fn spawn_audit_checkpoints(state: AppState) {
    let every = Duration::from_secs(state.config.settings.audit.checkpoint_interval_secs);
    let urls = state.config.settings.audit.witness_urls.clone();
    // Checkpoints made but not yet taken by every witness URL: sent from
    // the async side (the checkpoint itself is made on a blocking thread).
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<serde_json::Value>();
    spawn_periodic(state.clone(), every, "audit checkpoint", move |state| {
        if let Some(c) = crate::usecase::audit_tree::checkpoint(state, chrono::Utc::now())? {
            tracing::info!(tree_size = c.tree_size, root = %c.root_hash, "audit checkpoint signed");
            let instance = rapport_store::instance::ensure(&mut *state.store.conn()?)?
                .id
                .to_string();
            let _ = tx.send(crate::usecase::audit_tree::as_json(&instance, &c));
        }
        Ok(())
    });
    if urls.is_empty() {
        return;
    }
    actix_web::rt::spawn(async move {
        let client = awc::Client::builder()
            .timeout(Duration::from_secs(10))
            .disable_redirects()
            .finish();
        let mut waiting: Vec<(String, serde_json::Value)> = Vec::new();
        loop {
            // A new checkpoint, or the interval: then the ones a witness
            // refused before are tried again.
            match tokio::time::timeout(every, rx.recv()).await {
                Ok(Some(c)) => waiting.extend(urls.iter().map(|u| (u.clone(), c.clone()))),
                Ok(None) => return,
                Err(_) => {}
            }
            let mut still = Vec::new();
            for (url, c) in waiting.drain(..) {
                match client.post(&url).send_json(&c).await {
                    Ok(res) if res.status().is_success() => {}
                    Ok(res) => {
                        tracing::warn!(%url, status = %res.status(), "an audit witness refused a checkpoint; trying again later");
                        still.push((url, c));
                    }
                    Err(e) => {
                        tracing::warn!(%url, error = %e, "an audit witness could not be reached; trying again later");
                        still.push((url, c));
                    }
                }
            }
            // A witness gone for long keeps at most a day of checkpoints here.
            let keep = 1_440;
            if still.len() > keep {
                still.drain(..still.len() - keep);
            }
            waiting = still;
        }
    });
}

/// Checks SLA clocks every `sla.check_interval_secs` for the life of the
/// server. Marks are made once even when several nodes check.
fn spawn_sla_worker(state: AppState) {
    let every = Duration::from_secs(state.config.settings.sla.check_interval_secs);
    spawn_periodic(state, every, "SLA check", |state| {
        let marks = crate::usecase::sla::tick(state, chrono::Utc::now())?;
        if marks > 0 {
            tracing::info!(marks, "SLA warnings and breaches recorded");
        }
        Ok(())
    });
}

/// Runs `work` off the async threads every `every` for the life of the
/// server; a failed round is logged and the next one tries again.
fn spawn_periodic(
    state: AppState,
    every: Duration,
    what: &'static str,
    work: impl Fn(&AppState) -> Result<(), crate::usecase::UseCaseError> + Send + Sync + 'static,
) {
    let work = Arc::new(work);
    actix_web::rt::spawn(async move {
        let mut interval = tokio::time::interval(every);
        interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            interval.tick().await;
            if !state.schema.is_current() {
                continue;
            }
            let (state, work) = (state.clone(), work.clone());
            match crate::blocking::spawn(move || work(&state)).await {
                Ok(Ok(())) => {}
                Ok(Err(e)) => {
                    tracing::warn!(error = %e, "{what} failed; retrying at the next interval")
                }
                Err(e) => tracing::error!(error = %e, "{what} task failed"),
            }
        }
    });
}
