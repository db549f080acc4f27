//! `kill -9` after a fit, then a restart: the saved version serves at once — same version
//! number, same answers — and no refit runs (issue 13).

mod common;

use std::time::{Duration, Instant};

use common::{spawn, wait_ready, write_config};
use serde_json::{json, Value};

const KEY: &str = "restart";

fn get(base: &str, path: &str) -> Value {
    ureq::get(&format!("{base}{path}"))
        .set("X-API-Key", KEY)
        .call()
        .unwrap()
        .into_json()
        .unwrap()
}

fn post(base: &str, path: &str, body: Value) -> u16 {
    ureq::post(&format!("{base}{path}"))
        .set("X-API-Key", KEY)
        .send_json(body)
        .map_or_else(
            |e| match e {
                ureq::Error::Status(s, _) => s,
                e => panic!("{e}"),
            },
            |r| r.status(),
        )
}

fn answers(base: &str) -> Vec<Value> {
    (0..8)
        .flat_map(|u| {
            [
                get(base, &format!("/api/recommend/u{u}?n=8")),
                get(base, &format!("/api/items/i{u}/neighbors?n=5")),
            ]
        })
        .collect()
}

#[test]
fn a_killed_server_restarts_on_its_saved_version() {
    let dir = tempfile::tempdir().unwrap();
    let (config, base) = write_config(
        dir.path(),
        KEY,
        "[rerank]\nexplore_slots = 0\n[train]\nmin_feedback = 5\n",
    );
    let mut server = spawn(&config);
    wait_ready(&base);
    let items: Vec<Value> = (0..60)
        .map(|i| json!({"item_id": format!("i{i}"), "categories": [format!("c{}", i % 5)], "timestamp": 1000 + i}))
        .collect();
    assert_eq!(post(&base, "/api/items", json!(items)), 200);
    let clicks: Vec<Value> = (0..30)
        .flat_map(|u| {
            (0..8).map(move |j| {
                json!({"feedback_type": "click", "user_id": format!("u{u}"),
                "item_id": format!("i{}", (u * 3 + j * 7) % 60), "timestamp": 2000 + j})
            })
        })
        .collect();
    assert_eq!(post(&base, "/api/feedback", json!(clicks)), 200);
    assert_eq!(post(&base, "/api/admin/train", json!({})), 202);
    let t = Instant::now();
    while get(&base, "/api/admin/train")["last_version"] != 1 {
        assert!(t.elapsed() < Duration::from_secs(60), "no fit");
        std::thread::sleep(Duration::from_millis(50));
    }
    let before = answers(&base);
    server.kill().unwrap(); // SIGKILL
    server.wait().unwrap();

    let mut server = spawn(&config);
    wait_ready(&base);
    let h = get(&base, "/health/ready");
    assert_eq!(h["model_version"], 1, "{h}");
    let after = answers(&base);
    for (k, (a, b)) in before.iter().zip(&after).enumerate() {
        assert_eq!(a, b, "answer {k} changed across the restart");
    }
    let t = get(&base, "/api/admin/train");
    assert_eq!(
        (t["running"].as_bool(), t["last_version"].as_u64()),
        (Some(false), None),
        "a refit ran: {t}"
    );
    server.kill().unwrap();
    server.wait().unwrap();
}
