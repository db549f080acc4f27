//! # funnel-server — the HTTP/JSON service of `funnel serve`
//!
//! axum routes over [`funnel_engine::Engine`] (requests) and [`funnel_store::Store`]
//! (durability): every write goes to the store first and is acknowledged only after its
//! transaction commits; then the engine's in-memory catalogue learns it. The OpenAPI 3
//! spec of every route is served at `/openapi.json` (utoipa), Prometheus metrics at
//! `/metrics`, liveness and readiness at `/health/live` and `/health/ready`.
//!
//! Writes need the API key (`X-API-Key` or `Authorization: Bearer`); so do user records,
//! feedback histories, admin status and `/metrics` unless the config opens them, and
//! recommendation reads when `server.open_reads = false` ([`keys`]). Bodies are limited
//! to `server.max_body_bytes`, connections to `server.max_connections`, headers and
//! bodies to their timeouts ([`listen`]); unknown fields, wrong types and values out of
//! their documented bounds are 4xx answers naming the field; a panic in a handler becomes
//! a 500 answer, never a dead server.
#![warn(missing_docs)]

pub mod api;
mod deadline;
pub mod error;
mod gate;
pub mod keys;
pub mod listen;
mod routes;
mod service;
mod telemetry;
mod validate;
mod workers;

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;

use axum::extract::DefaultBodyLimit;
use axum::Router;
use funnel_engine::{Config, Engine};
use funnel_store::Store;
use tokio::net::TcpListener;

pub use routes::ApiDoc;

/// What every handler sees.
#[derive(Clone)]
pub struct AppState {
    /// The engine.
    pub engine: Arc<Engine>,
    /// The store.
    pub store: Store,
    /// The key writes need.
    pub api_key: Arc<str>,
    /// Orders writes naming the same user or item (store commit, then catalogue).
    pub gate: Arc<gate::WriteGate>,
    /// The OpenAPI document, with this config's channel names.
    pub openapi: Arc<str>,
    /// Threads for CPU-bound engine work, one per core: requests beyond them wait their
    /// turn in order instead of sharing the cores (which stretches every one of them).
    pub cpu: Arc<workers::Workers>,
}

/// A running server.
pub struct Running {
    /// The address it listens on (port 0 in the config picks a free one).
    pub addr: SocketAddr,
    /// The engine (tests look inside).
    pub engine: Arc<Engine>,
    /// The API key.
    pub api_key: String,
    handle: tokio::task::JoinHandle<std::io::Result<()>>,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
}

impl Running {
    /// Stops accepting, finishes open requests, returns.
    pub async fn stop(mut self) -> std::io::Result<()> {
        if let Some(s) = self.shutdown.take() {
            let _ = s.send(());
        }
        self.handle.await.unwrap_or(Ok(()))
    }

    /// Waits until the server ends (ctrl-c or SIGTERM when started by [`serve`]).
    pub async fn wait(mut self) -> std::io::Result<()> {
        let h = &mut self.handle;
        h.await.unwrap_or(Ok(()))
    }
}

/// Errors while starting.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The store could not be opened.
    #[error(transparent)]
    Store(#[from] funnel_store::StoreError),
    /// Files in the data directory.
    #[error("{path}: {message}")]
    Io {
        /// The file or directory.
        path: String,
        /// What failed.
        message: String,
    },
}

/// Creates the data directory (mode 0700) and the SQLite file (0600) when they do not
/// exist yet; existing ones keep the permissions their owner gave them.
pub fn prepare_data_dir(config: &Config) -> Result<(), StartError> {
    let dir = &config.server.data_dir;
    let io = |path: &std::path::Path| {
        let path = path.display().to_string();
        move |e: std::io::Error| StartError::Io {
            path,
            message: e.to_string(),
        }
    };
    if !dir.exists() {
        let mut b = std::fs::DirBuilder::new();
        b.recursive(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::DirBuilderExt;
            b.mode(0o700);
        }
        b.create(dir).map_err(io(dir))?;
    }
    if config.server.store.is_empty() {
        let db = dir.join("funnel.db");
        let mut o = std::fs::OpenOptions::new();
        o.write(true).create_new(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            o.mode(0o600);
        }
        // SQLite gives its -wal and -shm files the database file's mode.
        match o.open(&db) {
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(io(&db)(e)),
        }
    }
    Ok(())
}

/// Opens the store, loads the catalogue, starts the background learner and (when there
/// is feedback) a first fit, and serves on `listener` until stopped.
pub async fn start(config: Config, listener: TcpListener) -> Result<Running, StartError> {
    let dir = config.server.data_dir.clone();
    prepare_data_dir(&config)?;
    let store = if config.server.store.is_empty() {
        Store::open_sqlite(&dir.join("funnel.db")).await?
    } else {
        Store::open(&config.server.store).await?
    };
    let api_key = keys::load_or_create(&config)?;
    let orphans = store.delete_orphan_feedback().await?;
    if orphans > 0 {
        tracing::warn!(
            "removed {orphans} feedback events of users or items deleted earlier \
             (left behind by a version that let deletes and feedback interleave)"
        );
    }
    let (items, users, feedback) = (
        store.items().await?,
        store.users().await?,
        store.all_feedback().await?,
    );
    let engine = Engine::new(config.clone());
    engine.load(&items, &users, &feedback);
    let restored = if config.train.save_versions {
        engine.restore_versions(dir.join("models"))
    } else {
        None
    };
    tracing::info!(
        "loaded {} items, {} users, {} feedback events from {}",
        items.len(),
        users.len(),
        feedback.len(),
        store.backend().name()
    );
    if restored.is_none() && config.train.on_start && feedback.len() >= config.train.min_feedback {
        engine.train_in_background();
    }
    engine.start_background();
    let state = AppState {
        engine: engine.clone(),
        store,
        api_key: api_key.clone().into(),
        gate: Default::default(),
        openapi: routes::openapi_document(&config.channel_names()).into(),
        cpu: Arc::new(
            workers::Workers::new(std::thread::available_parallelism().map_or(2, |n| n.get()))
                .map_err(|e| StartError::Io {
                    path: "request threads".into(),
                    message: e.to_string(),
                })?,
        ),
    };
    let app = router(state, &config.server);
    telemetry::spawn_upkeep();
    let addr = listener.local_addr().map_err(|e| StartError::Io {
        path: config.server.listen.clone(),
        message: e.to_string(),
    })?;
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let limits = listen::Limits {
        // A few descriptors stay for the store's pool, the listener and files.
        max_connections: listen::connection_cap(config.server.max_connections, 64),
        header_timeout: std::time::Duration::from_millis(config.server.header_timeout_ms),
    };
    let handle = tokio::spawn(listen::serve(listener, app, limits, async move {
        tokio::select! {
            _ = rx => {},
            _ = shutdown_signal() => {},
        }
    }));
    Ok(Running {
        addr,
        engine,
        api_key,
        handle,
        shutdown: Some(tx),
    })
}

async fn shutdown_signal() {
    #[cfg(unix)]
    {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .expect("install the SIGTERM handler");
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {},
            _ = term.recv() => {},
        }
    }
    #[cfg(not(unix))]
    let _ = tokio::signal::ctrl_c().await;
}

/// Binds `config.server.listen` and serves until ctrl-c or SIGTERM.
pub async fn serve(config: Config) -> Result<(), StartError> {
    let listener = TcpListener::bind(&config.server.listen)
        .await
        .map_err(|e| StartError::Io {
            path: config.server.listen.clone(),
            message: format!("cannot listen: {e}"),
        })?;
    let running = start(config, listener).await?;
    tracing::info!("listening on http://{}", running.addr);
    running.wait().await.map_err(|e| StartError::Io {
        path: "server".into(),
        message: e.to_string(),
    })
}

/// The application's routes with their layers.
pub fn router(state: AppState, server: &funnel_engine::config::ServerConfig) -> Router {
    routes::routes(state)
        .layer(axum::middleware::from_fn(telemetry::track))
        .layer(DefaultBodyLimit::max(server.max_body_bytes))
        .layer(axum::middleware::from_fn_with_state(
            std::time::Duration::from_millis(server.body_timeout_ms),
            deadline::body_deadline,
        ))
        .layer(tower_http::catch_panic::CatchPanicLayer::custom(
            |_: Box<dyn std::any::Any + Send>| {
                use axum::response::IntoResponse;
                error::ApiError {
                    status: axum::http::StatusCode::INTERNAL_SERVER_ERROR,
                    message: "internal error (a bug: please report it)".into(),
                }
                .into_response()
            },
        ))
}

/// Reads a file's contents for `funnel serve --config`.
pub fn read_config(path: &Path) -> Result<Config, funnel_engine::EngineError> {
    Config::from_file(path)
}
