//! `kill -9` during a bulk feedback ingest: after a restart every acknowledged event is
//! there, and the batch that was in flight is there whole or not at all.

use std::collections::HashSet;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

const KEY: &str = "durable";
const USERS: usize = 50;
const BATCH: usize = 400;

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn spawn(config: &std::path::Path) -> Child {
    Command::new(env!("CARGO_BIN_EXE_funnel"))
        .args(["serve", "--config"])
        .arg(config)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

fn wait_ready(base: &str) {
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

fn event(batch: usize, k: usize) -> Value {
    json!({"feedback_type": "click", "user_id": format!("d{}", k % USERS),
           "item_id": format!("j{}", k % 97), "timestamp": (batch * BATCH + k) as i64})
}

#[test]
fn acknowledged_feedback_survives_kill_9() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let config = dir.path().join("funnel.toml");
    std::fs::write(
        &config,
        format!(
            "[server]\nlisten = \"127.0.0.1:{port}\"\ndata_dir = \"{}\"\napi_key = \"{KEY}\"\n\n[train]\non_start = false\n",
            dir.path().join("data").display()
        ),
    )
    .unwrap();
    let mut server = spawn(&config);
    wait_ready(&base);

    let acked = Arc::new(Mutex::new(Vec::<usize>::new()));
    let writer = {
        let (acked, base) = (acked.clone(), base.clone());
        std::thread::spawn(move || {
            for b in 0.. {
                let events: Vec<Value> = (0..BATCH).map(|k| event(b, k)).collect();
                match ureq::post(&format!("{base}/api/feedback"))
                    .set("X-API-Key", KEY)
                    .send_json(json!(events))
                {
                    Ok(r) if r.status() == 200 => acked.lock().unwrap().push(b),
                    _ => return b, // the server died mid-request
                }
            }
            unreachable!()
        })
    };
    let t = Instant::now();
    while acked.lock().unwrap().len() < 8 {
        assert!(t.elapsed() < Duration::from_secs(60), "ingest too slow");
        std::thread::sleep(Duration::from_millis(5));
    }
    server.kill().unwrap(); // SIGKILL: no shutdown hook runs
    server.wait().unwrap();
    let in_flight = writer.join().unwrap();
    let acked = acked.lock().unwrap().clone();
    assert!(acked.len() >= 8);

    let mut server = spawn(&config);
    wait_ready(&base);
    let mut stored: HashSet<(String, String, i64)> = HashSet::new();
    for u in 0..USERS {
        let list: Vec<Value> = ureq::get(&format!("{base}/api/users/d{u}/feedback"))
            .call()
            .unwrap()
            .into_json()
            .unwrap();
        for f in list {
            stored.insert((
                f["user_id"].as_str().unwrap().into(),
                f["item_id"].as_str().unwrap().into(),
                f["timestamp"].as_i64().unwrap(),
            ));
        }
    }
    let key = |v: &Value| {
        (
            v["user_id"].as_str().unwrap().to_string(),
            v["item_id"].as_str().unwrap().to_string(),
            v["timestamp"].as_i64().unwrap(),
        )
    };
    for &b in &acked {
        for k in 0..BATCH {
            assert!(
                stored.contains(&key(&event(b, k))),
                "acknowledged event {k} of batch {b} lost"
            );
        }
    }
    let partial = (0..BATCH)
        .filter(|&k| stored.contains(&key(&event(in_flight, k))))
        .count();
    assert!(
        partial == 0 || partial == BATCH,
        "the in-flight batch is half there ({partial} of {BATCH})"
    );
    assert_eq!(stored.len(), acked.len() * BATCH + partial);
    server.kill().unwrap();
    server.wait().unwrap();
}
