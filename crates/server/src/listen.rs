//! Accepting connections, with the limits a public socket needs: at most
//! `server.max_connections` served at once (the rest wait in the kernel's backlog, so
//! the process never runs out of file descriptors for its store), and a deadline for each
//! request's headers, which also closes keep-alive connections left idle that long. A
//! client that opens sockets and never finishes a request holds a slot for
//! `server.header_timeout_ms` at most.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;

/// How long a shutdown waits for requests in flight.
const DRAIN: Duration = Duration::from_secs(10);

/// Connection limits.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Connections served at once.
    pub max_connections: usize,
    /// Deadline for a request's headers (and for an idle keep-alive connection).
    pub header_timeout: Duration,
}

/// `max_connections` lowered to what the open-file limit leaves after `reserve`
/// descriptors (store, files, listener), raising the soft limit towards the hard one first.
pub fn connection_cap(max_connections: usize, reserve: usize) -> usize {
    #[cfg(unix)]
    {
        use rustix::process::{getrlimit, setrlimit, Resource};
        let want = (max_connections + reserve) as u64;
        let mut lim = getrlimit(Resource::Nofile);
        if lim.current.is_some_and(|c| c < want) {
            let raised = lim.maximum.map_or(want, |m| m.min(want));
            let _ = setrlimit(
                Resource::Nofile,
                rustix::process::Rlimit {
                    current: Some(raised),
                    maximum: lim.maximum,
                },
            );
            lim = getrlimit(Resource::Nofile);
        }
        if let Some(c) = lim.current {
            let allowed = (c as usize).saturating_sub(reserve).max(1);
            if allowed < max_connections {
                tracing::warn!(
                    "server.max_connections = {max_connections}, but the open-file limit \
                     ({c}) leaves room for {allowed}; serving at most {allowed} at once"
                );
                return allowed;
            }
        }
    }
    max_connections
}

/// Serves `app` on `listener` until `shutdown` resolves, then lets requests in flight
/// finish (for a few seconds at most).
pub async fn serve(
    listener: TcpListener,
    app: Router,
    limits: Limits,
    shutdown: impl Future<Output = ()>,
) -> std::io::Result<()> {
    let slots = Arc::new(Semaphore::new(limits.max_connections));
    let graceful = GracefulShutdown::new();
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout);
    tokio::pin!(shutdown);
    loop {
        let slot = tokio::select! {
            s = slots.clone().acquire_owned() => s.expect("the semaphore is never closed"),
            _ = &mut shutdown => break,
        };
        let stream = tokio::select! {
            r = listener.accept() => match r {
                Ok((stream, _)) => stream,
                Err(e) => {
                    // Out of descriptors or a reset before accept: not fatal. Wait a
                    // little on the first kind rather than spinning.
                    if !matches!(
                        e.kind(),
                        std::io::ErrorKind::ConnectionAborted | std::io::ErrorKind::ConnectionReset
                    ) {
                        tracing::warn!("accept: {e}");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                    }
                    continue;
                }
            },
            _ = &mut shutdown => break,
        };
        let _ = stream.set_nodelay(true);
        let conn =
            http.serve_connection(TokioIo::new(stream), TowerToHyperService::new(app.clone()));
        let conn = graceful.watch(conn);
        tokio::spawn(async move {
            // Errors here are the client's (reset, header timeout): nothing to report.
            let _ = conn.await;
            drop(slot);
        });
    }
    drop(listener);
    if tokio::time::timeout(DRAIN, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!("shutdown: requests still running after {DRAIN:?}; stopping anyway");
    }
    Ok(())
}
