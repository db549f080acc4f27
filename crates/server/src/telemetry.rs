//! Prometheus metrics: request latency histograms per route, and the engine's counters
//! and last-fit metrics, rendered at `/metrics`.

use std::sync::atomic::Ordering;
use std::sync::OnceLock;
use std::time::Instant;

use std::borrow::Cow;

use axum::extract::{MatchedPath, Request};
use axum::http::{Method, StatusCode};
use axum::middleware::Next;
use axum::response::Response;
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};

use crate::AppState;

/// The process-wide recorder (one per process: tests start several servers).
fn handle() -> &'static PrometheusHandle {
    static H: OnceLock<PrometheusHandle> = OnceLock::new();
    H.get_or_init(|| {
        let recorder = PrometheusBuilder::new()
            .set_buckets(&[
                0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
            ])
            .expect("bucket list is not empty")
            .build_recorder();
        let h = recorder.handle();
        // Another recorder may be installed by an embedding program; then ours only
        // renders what it records through the handle (nothing), which is still valid.
        let _ = metrics::set_global_recorder(recorder);
        h
    })
}

/// Drains histogram samples into their buckets every few seconds. `build_recorder` (which
/// lets several servers share one process) starts no upkeep task of its own, and without
/// one every request's sample would stay in memory until the next scrape — an unbounded
/// growth when nothing scrapes (seen in the 10-minute load run before this existed).
pub fn spawn_upkeep() {
    let h = handle().clone();
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(std::time::Duration::from_secs(5));
        loop {
            tick.tick().await;
            h.run_upkeep();
        }
    });
}

/// A method's label: the standard methods by name, anything else `OTHER`. Clients choose
/// method names freely (`MXYZ…`), and each distinct label is a time series kept for
/// ever: 120k random names once took `/metrics` to 268 MB.
fn method_label(m: &Method) -> &'static str {
    match *m {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        Method::HEAD => "HEAD",
        Method::OPTIONS => "OPTIONS",
        Method::TRACE => "TRACE",
        Method::CONNECT => "CONNECT",
        _ => "OTHER",
    }
}

/// A status's label: its code for the ones HTTP defines (bounded by the handlers),
/// `other` for a code outside 100–599.
fn status_label(s: StatusCode) -> Cow<'static, str> {
    match s.as_u16() {
        c @ 100..=599 => Cow::Owned(c.to_string()),
        _ => Cow::Borrowed("other"),
    }
}

/// Times every request, labelled by the route template (not the raw path, so ids do not
/// explode the label set; unknown paths are `unmatched`), method and status — each from
/// a bounded set.
pub async fn track(req: Request, next: Next) -> Response {
    let start = Instant::now();
    let route: Cow<'static, str> = req
        .extensions()
        .get::<MatchedPath>()
        .map_or(Cow::Borrowed("unmatched"), |p| {
            Cow::Owned(p.as_str().to_string())
        });
    let method = method_label(req.method());
    let res = next.run(req).await;
    let status = status_label(res.status());
    handle(); // make sure the recorder exists before the first sample
    metrics::histogram!("funnel_http_request_duration_seconds",
        "route" => route.clone(), "method" => method, "status" => status.clone())
    .record(start.elapsed().as_secs_f64());
    metrics::counter!("funnel_http_requests_total",
        "route" => route, "method" => method, "status" => status)
    .increment(1);
    res
}

/// The Prometheus text page.
pub fn render(state: &AppState) -> String {
    let h = handle();
    let e = &state.engine;
    let c = &e.counters;
    let load = |a: &std::sync::atomic::AtomicU64| a.load(Ordering::Relaxed);
    metrics::counter!("funnel_recommend_requests_total").absolute(load(&c.recommend_requests));
    metrics::counter!("funnel_recommended_items_total").absolute(load(&c.recommended_items));
    metrics::counter!("funnel_feedback_ingested_total").absolute(load(&c.feedback_ingested));
    metrics::counter!("funnel_online_samples_learnt_total").absolute(load(&c.online_samples));
    metrics::counter!("funnel_fits_total").absolute(load(&c.fits));
    metrics::counter!("funnel_fit_failures_total").absolute(load(&c.fit_failures));
    let (items, users) = e.catalog().counts();
    metrics::gauge!("funnel_items").set(items as f64);
    metrics::gauge!("funnel_users").set(users as f64);
    let (versions, active) = e.versions();
    metrics::gauge!("funnel_model_version_active").set(active as f64);
    metrics::gauge!("funnel_model_versions_kept").set(versions.len() as f64);
    let st = e.train_status();
    metrics::gauge!("funnel_training_running").set(if st.running { 1.0 } else { 0.0 });
    metrics::gauge!("funnel_fit_failures_in_a_row").set(st.failures_in_a_row as f64);
    if let Some(s) = st.last_fit_seconds {
        metrics::gauge!("funnel_last_fit_seconds").set(s);
    }
    for (k, v) in &st.last_metrics {
        metrics::gauge!("funnel_last_fit_metric", "metric" => k.clone()).set(*v);
    }
    h.render()
}
