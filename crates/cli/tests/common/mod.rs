//! What the tests that start `funnel serve` as a process share.
#![allow(dead_code)]

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

pub fn spawn(config: &std::path::Path) -> Child {
    Command::new(env!("CARGO_BIN_EXE_funnel"))
        .args(["serve", "--config"])
        .arg(config)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

pub fn wait_ready(base: &str) {
    let t = Instant::now();
    loop {
        if let Ok(r) = ureq::get(&format!("{base}/health/ready")).call() {
            if r.status() == 200 {
                return;
            }
        }
        assert!(
            t.elapsed() < Duration::from_secs(30),
            "server did not start"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A server's config file in `dir` (data in `dir/data`, a free port, `key`), with `extra`
/// TOML after the `[server]` table; returns the file and the base URL.
pub fn write_config(dir: &std::path::Path, key: &str, extra: &str) -> (std::path::PathBuf, String) {
    let port = free_port();
    let config = dir.join("funnel.toml");
    std::fs::write(
        &config,
        format!(
            "[server]\nlisten = \"127.0.0.1:{port}\"\ndata_dir = \"{}\"\napi_key = \"{key}\"\n{extra}",
            dir.join("data").display()
        ),
    )
    .unwrap();
    (config, format!("http://127.0.0.1:{port}"))
}

/// `method path` with the key and an optional JSON body: the status and the JSON answer
/// (null when the body is not JSON).
pub fn call(
    key: &str,
    method: &str,
    base: &str,
    path: &str,
    body: Option<serde_json::Value>,
) -> (u16, serde_json::Value) {
    let r = ureq::request(method, &format!("{base}{path}")).set("X-API-Key", key);
    let r = match body {
        Some(b) => r.send_json(b),
        None => r.call(),
    };
    match r {
        Ok(r) => (r.status(), r.into_json().unwrap_or(serde_json::Value::Null)),
        Err(ureq::Error::Status(s, r)) => (s, r.into_json().unwrap_or(serde_json::Value::Null)),
        Err(e) => panic!("{e}"),
    }
}

/// The bytes of `GET path`, with the key.
pub fn download(key: &str, base: &str, path: &str) -> Vec<u8> {
    use std::io::Read;
    let mut out = Vec::new();
    ureq::get(&format!("{base}{path}"))
        .set("X-API-Key", key)
        .call()
        .unwrap()
        .into_reader()
        .read_to_end(&mut out)
        .unwrap();
    out
}

/// Waits (at most a minute) until the trainer reports `version` as its last fit.
pub fn wait_for_version(key: &str, base: &str, version: u64) {
    let t = Instant::now();
    while call(key, "GET", base, "/api/admin/train", None).1["last_version"] != version {
        assert!(
            t.elapsed() < Duration::from_secs(60),
            "no fit to version {version}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Ten timed clicks from each of 40 users over 80 items (user `u` clicks `(7u + 6j) % 80`,
/// an hour apart) — the data the ranking tests train on, served and offline.
pub fn clicks_40_users() -> Vec<serde_json::Value> {
    (0..40)
        .flat_map(|u| {
            (0..10).map(move |j| {
                serde_json::json!({"feedback_type": "click", "user_id": format!("u{u}"),
                       "item_id": format!("i{}", (u * 7 + j * 6) % 80),
                       "timestamp": 1_700_000_000 + 3_600 * j + u})
            })
        })
        .collect()
}
