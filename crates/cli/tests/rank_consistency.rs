//! Served = trained (issue 13): the scores `POST /api/rank` answers are the scores
//! `funnel rank predict` gives, from the version's own `ranker.funnel` and the records the
//! server says it scored, to 1e-6 — the request path builds records and features with the
//! code the offline tools use.

mod common;

use std::process::Command;

use common::{call, clicks_40_users, download, spawn, wait_for_version, wait_ready, write_config};
use serde_json::{json, Value};

const KEY: &str = "consistency";

#[test]
fn served_scores_equal_funnel_rank_predict_on_the_served_records() {
    let dir = tempfile::tempdir().unwrap();
    let (config, base) = write_config(
        dir.path(),
        KEY,
        "[train]\nmin_feedback = 5\n[rank]\ncalibration = \"platt\"\n",
    );
    let mut server = spawn(&config);
    wait_ready(&base);
    // Before any fit there is no ranker: a 503 that says so.
    let (status, body) = call(
        KEY,
        "POST",
        &base,
        "/api/rank",
        Some(json!({"user_id": "u1", "item_ids": ["i1"]})),
    );
    assert_eq!(status, 503, "{body}");
    assert!(
        body["error"].as_str().unwrap().contains("no ranker"),
        "{body}"
    );

    let items: Vec<Value> = (0..80)
        .map(|i| {
            json!({"item_id": format!("i{i}"), "categories": [format!("c{}", i % 6)],
                   "attributes": {"price": 5 + i % 17, "brand": format!("b{}", i % 4),
                                  "tags": [format!("t{}", i % 3), "all"]},
                   "timestamp": 1_000 + i})
        })
        .collect();
    assert_eq!(
        call(KEY, "POST", &base, "/api/items", Some(json!(items))).0,
        200
    );
    let users: Vec<Value> = (0..40)
        .map(|u| json!({"user_id": format!("u{u}"), "attributes": {"age": 20 + u % 30, "segment": format!("s{}", u % 3)}}))
        .collect();
    assert_eq!(
        call(KEY, "POST", &base, "/api/users", Some(json!(users))).0,
        200
    );
    let clicks = clicks_40_users();
    assert_eq!(
        call(KEY, "POST", &base, "/api/feedback", Some(json!(clicks))).0,
        200
    );
    assert_eq!(call(KEY, "POST", &base, "/api/admin/train", None).0, 202);
    wait_for_version(KEY, &base, 1);

    let asked: Vec<String> = (0..100).map(|i| format!("i{}", i % 80)).collect();
    let (status, answer) = call(
        KEY,
        "POST",
        &base,
        "/api/rank",
        Some(
            json!({"user_id": "u3", "item_ids": asked, "context": {"device": "mobile", "hour": 9},
                    "explain": true}),
        ),
    );
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["model_version"], 1);
    let ranked = answer["items"].as_array().unwrap();
    assert_eq!(ranked.len(), 80, "duplicates are scored once");
    let scores: Vec<f64> = ranked
        .iter()
        .map(|i| i["score"].as_f64().unwrap())
        .collect();
    assert!(scores.windows(2).all(|w| w[0] >= w[1]), "highest first");
    assert!(
        scores.first() > scores.last(),
        "the ranker tells items apart"
    );
    // The record holds what the spec reads: the user, the item, the history, the context.
    let rec = &ranked[0]["record"];
    for key in [
        "user_id",
        "user.age",
        "user.segment",
        "item_id",
        "item.price",
        "item.brand",
        "item.tags",
        "item.categories",
        "hist",
        "context.weekday",
    ] {
        assert!(!rec[key].is_null(), "record lacks `{key}`: {rec}");
    }
    assert_eq!(rec["context.device"], "mobile");
    assert_eq!(
        rec["context.hour"], 9.0,
        "request context overrides the clock"
    );
    assert_eq!(rec["hist"].as_array().unwrap().len(), 10);

    // The version's ranker file, as downloaded, scores the same records the same.
    let model = dir.path().join("ranker.funnel");
    let bytes = download(KEY, &base, "/api/admin/models/1/files/ranker.funnel");
    std::fs::write(&model, bytes).unwrap();
    let records = dir.path().join("records.jsonl");
    let lines: Vec<String> = ranked.iter().map(|i| i["record"].to_string()).collect();
    std::fs::write(&records, lines.join("\n")).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_funnel"))
        .args(["rank", "predict", "--model"])
        .arg(&model)
        .arg("--records")
        .arg(&records)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let offline: Vec<f64> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| l.parse().unwrap())
        .collect();
    assert_eq!(offline.len(), scores.len());
    for (k, (a, b)) in scores.iter().zip(&offline).enumerate() {
        assert!((a - b).abs() <= 1e-6, "item {k}: served {a}, offline {b}");
    }

    // Unknown items and users are named; a bad context is a 400.
    let (s, b) = call(
        KEY,
        "POST",
        &base,
        "/api/rank",
        Some(json!({"user_id": "u3", "item_ids": ["i1", "nope"]})),
    );
    assert_eq!(s, 404, "{b}");
    assert!(b["error"].as_str().unwrap().contains("nope"), "{b}");
    let (s, _) = call(
        KEY,
        "POST",
        &base,
        "/api/rank",
        Some(json!({"user_id": "ghost", "item_ids": ["i1"]})),
    );
    assert_eq!(s, 404);
    let (s, b) = call(
        KEY,
        "POST",
        &base,
        "/api/rank",
        Some(json!({"user_id": "u3", "item_ids": ["i1"], "context": {"geo": {"lat": 1}}})),
    );
    assert_eq!(s, 400, "{b}");
    assert!(b["error"].as_str().unwrap().contains("context.geo"), "{b}");
    server.kill().unwrap();
    server.wait().unwrap();
}
