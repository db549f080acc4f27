//! # funnel-server — the HTTP/JSON service of `funnel serve`
//!
//! axum routes over [`funnel_engine::Engine`] (requests) and [`funnel_store::Store`]
//! (durability): every write goes to the store first and is acknowledged only after its
//! transaction commits; then the engine's in-memory catalogue learns it. The OpenAPI 3
//! spec of every route is served at `/openapi.json` (utoipa), Prometheus metrics at
//! `/metrics`, liveness and readiness at `/health/live` and `/health/ready`.
//!
//! Writes need the `X-API-Key` header; reads too unless `server.open_reads`. Bodies are
//! limited to `server.max_body_bytes`; unknown fields and wrong types are 4xx answers
//! naming the field; a panic in a handler becomes a 500 answer, never a dead server.
#![warn(missing_docs)]

pub mod api;
pub mod error;
mod routes;
mod telemetry;

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

/// The API key: the configured one, or the one saved in `DATA_DIR/api-key` (created on
/// first start).
fn api_key(config: &Config) -> Result<String, StartError> {
    if !config.server.api_key.is_empty() {
        return Ok(config.server.api_key.clone());
    }
    let path = config.server.data_dir.join("api-key");
    let io = |e: std::io::Error| StartError::Io {
        path: path.display().to_string(),
        message: e.to_string(),
    };
    if path.exists() {
        return Ok(std::fs::read_to_string(&path)
            .map_err(io)?
            .trim()
            .to_string());
    }
    use rand::Rng;
    let key: String = (0..32)
        .map(|_| format!("{:x}", rand::rng().random_range(0..16u8)))
        .collect();
    std::fs::write(&path, format!("{key}\n")).map_err(io)?;
    tracing::info!("a new API key is in {}", path.display());
    Ok(key)
}

/// Opens the store, loads the catalogue, starts the background learner and (when there
/// is feedback) a first fit, and serves on `listener` until stopped.
pub async fn start(config: Config, listener: TcpListener) -> Result<Running, StartError> {
    let dir = config.server.data_dir.clone();
    std::fs::create_dir_all(&dir).map_err(|e| StartError::Io {
        path: dir.display().to_string(),
        message: e.to_string(),
    })?;
    let store = if config.server.store.is_empty() {
        Store::open_sqlite(&dir.join("funnel.db")).await?
    } else {
        Store::open(&config.server.store).await?
    };
    let api_key = api_key(&config)?;
    let (items, users, feedback) = (
        store.items().await?,
        store.users().await?,
        store.all_feedback().await?,
    );
    let engine = Engine::new(config.clone());
    engine.load(&items, &users, &feedback);
    tracing::info!(
        "loaded {} items, {} users, {} feedback events from {}",
        items.len(),
        users.len(),
        feedback.len(),
        store.backend().name()
    );
    if config.train.on_start && feedback.len() >= config.train.min_feedback {
        engine.train_in_background();
    }
    engine.start_background();
    let state = AppState {
        engine: engine.clone(),
        store,
        api_key: api_key.clone().into(),
    };
    let app = router(state, config.server.max_body_bytes);
    telemetry::spawn_upkeep();
    let addr = listener.local_addr().map_err(|e| StartError::Io {
        path: config.server.listen.clone(),
        message: e.to_string(),
    })?;
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let handle = tokio::spawn(async move {
        axum::serve(listener, app)
            .with_graceful_shutdown(async move {
                tokio::select! {
                    _ = rx => {},
                    _ = shutdown_signal() => {},
                }
            })
            .await
    });
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
pub fn router(state: AppState, max_body: usize) -> Router {
    routes::routes(state)
        .layer(axum::middleware::from_fn(telemetry::track))
        .layer(DefaultBodyLimit::max(max_body))
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
