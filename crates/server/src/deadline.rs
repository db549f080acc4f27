//! A deadline for a request's whole body, `server.body_timeout_ms` after the request
//! arrived: a client that trickles its body byte by byte cannot hold a connection for
//! ever (an idle timeout between chunks would not stop it). Only body reads are cut off —
//! a handler is never cancelled once it has its body, so a write is never dropped between
//! the store's commit and the catalogue's update.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::{Body, Bytes, HttpBody};
use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::Response;
use http_body::Frame;
use tokio::time::{Instant, Sleep};

/// The error a body read gets once the deadline has passed (the JSON extractor turns it
/// into a 408 answer).
#[derive(Debug)]
pub struct BodyDeadlineExceeded(pub Duration);

impl std::fmt::Display for BodyDeadlineExceeded {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "the request body did not arrive within {} ms (server.body_timeout_ms)",
            self.0.as_millis()
        )
    }
}

impl std::error::Error for BodyDeadlineExceeded {}

struct DeadlineBody {
    inner: Body,
    timeout: Duration,
    deadline: Instant,
    // Created on the first read: most requests (GETs) never read a body.
    sleep: Option<Pin<Box<Sleep>>>,
}

impl HttpBody for DeadlineBody {
    type Data = Bytes;
    type Error = axum::BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        let deadline = self.deadline;
        let sleep = self
            .sleep
            .get_or_insert_with(|| Box::pin(tokio::time::sleep_until(deadline)));
        if sleep.as_mut().poll(cx).is_ready() {
            return Poll::Ready(Some(Err(Box::new(BodyDeadlineExceeded(self.timeout)))));
        }
        Pin::new(&mut self.inner)
            .poll_frame(cx)
            .map_err(axum::BoxError::from)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
    }
}

/// Middleware: puts the deadline on the request's body.
pub async fn body_deadline(State(timeout): State<Duration>, req: Request, next: Next) -> Response {
    let deadline = Instant::now() + timeout;
    let req = req.map(|inner| {
        Body::new(DeadlineBody {
            inner,
            timeout,
            deadline,
            sleep: None,
        })
    });
    next.run(req).await
}
