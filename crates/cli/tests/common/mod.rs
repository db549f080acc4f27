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
