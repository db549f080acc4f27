//! A flood of requests with random method names, no key needed, against `funnel serve` as
//! its own process: its memory and `/metrics` stay bounded. Every method name used to
//! become a Prometheus label: 120k such requests took RSS from 139 to 394 MB and
//! `/metrics` to 268 MB.

mod common;

use common::{spawn, wait_ready, write_config};

fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap()
}

#[cfg(target_os = "linux")]
#[test]
fn random_method_flood_keeps_rss_and_metrics_bounded() {
    let dir = tempfile::tempdir().unwrap();
    let (config, base) = write_config(dir.path(), "k", "");
    let mut server = spawn(&config);
    wait_ready(&base);
    let agent = ureq::Agent::new();
    let flood = |from: u32, n: u32| {
        for k in from..from + n {
            let method = format!("M{:010}", k.wrapping_mul(2_654_435_761));
            let r = agent
                .request(&method, &format!("{base}/health/live"))
                .call();
            assert!(
                matches!(r, Err(ureq::Error::Status(405, _))),
                "{method}: {r:?}"
            );
        }
    };
    flood(0, 2_000); // warm-up: allocator pools, connection buffers
    let before = rss_kib(server.id());
    flood(2_000, 30_000);
    let after = rss_kib(server.id());
    let metrics = ureq::get(&format!("{base}/metrics"))
        .set("X-API-Key", "k")
        .call()
        .unwrap()
        .into_string()
        .unwrap();
    server.kill().unwrap();
    server.wait().unwrap();
    eprintln!(
        "RSS {} -> {} MiB over 30k random-method requests; /metrics {} bytes",
        before / 1024,
        after / 1024,
        metrics.len()
    );
    // 30k labels grew RSS by ~60 MiB and /metrics to ~60 MB before the fix
    assert!(after < before + 16 * 1024, "RSS {before} -> {after} KiB");
    assert!(
        metrics.len() < 200_000,
        "/metrics is {} bytes",
        metrics.len()
    );
}
