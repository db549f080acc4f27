//! Publishing (issue 13, point 4): a ranker trained elsewhere with `funnel rank train
//! --spec` is uploaded as a new version and served; files that are not servable rankers
//! are refused with a 4xx that says why, and nothing changes.

mod common;

use std::path::Path;
use std::process::Command;

use common::{call, clicks_40_users, download, spawn, wait_for_version, wait_ready, write_config};
use serde_json::{json, Value};

const KEY: &str = "publish";

fn put_file(base: &str, version: u64, name: &str, bytes: &[u8]) -> (u16, Value) {
    let r = ureq::put(&format!("{base}/api/admin/models/{version}/files/{name}"))
        .set("X-API-Key", KEY)
        .set("Content-Type", "application/octet-stream")
        .send_bytes(bytes);
    match r {
        Ok(r) => (r.status(), r.into_json().unwrap()),
        Err(ureq::Error::Status(s, r)) => (s, r.into_json().unwrap()),
        Err(e) => panic!("{e}"),
    }
}

fn funnel(args: &[&str]) {
    let o = Command::new(env!("CARGO_BIN_EXE_funnel"))
        .args(args)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
}

/// A RecBole data set with the server's ids (users u0.., items i0.. with a brand).
fn write_offline_data(dir: &Path) {
    std::fs::create_dir_all(dir).unwrap();
    let mut inter = String::from("user_id:token\titem_id:token\ttimestamp:float\n");
    for u in 0..40 {
        for j in 0..10 {
            inter.push_str(&format!(
                "u{u}\ti{}\t{}\n",
                (u * 7 + j * 6) % 80,
                1_700_000_000 + 3_600 * j + u
            ));
        }
    }
    std::fs::write(dir.join("shop.inter"), inter).unwrap();
    let mut item = String::from("item_id:token\tbrand:token\n");
    for i in 0..80 {
        item.push_str(&format!("i{i}\tb{}\n", i % 4));
    }
    std::fs::write(dir.join("shop.item"), item).unwrap();
}

const SPEC: &str = r#"
[samples]
negatives_per_positive = 2
history = 5

[[field]]
name = "user_id"
kind = "categorical"
hash_buckets = 1024

[[field]]
name = "item_id"
kind = "categorical"

[[field]]
name = "item.brand"
kind = "categorical"

[[field]]
name = "hist"
kind = "sequence"
vocab_from = "item_id"
max_len = 5
"#;

#[test]
fn a_ranker_trained_elsewhere_is_published_and_bad_files_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let (config, base) = write_config(dir.path(), KEY, "[train]\nmin_feedback = 5\n");
    let mut server = spawn(&config);
    wait_ready(&base);
    let items: Vec<Value> = (0..80)
        .map(
            |i| json!({"item_id": format!("i{i}"), "attributes": {"brand": format!("b{}", i % 4)}}),
        )
        .collect();
    assert_eq!(
        call(KEY, "POST", &base, "/api/items", Some(json!(items))).0,
        200
    );
    let clicks = clicks_40_users();
    assert_eq!(
        call(KEY, "POST", &base, "/api/feedback", Some(json!(clicks))).0,
        200
    );
    assert_eq!(call(KEY, "POST", &base, "/api/admin/train", None).0, 202);
    wait_for_version(KEY, &base, 1);

    // Offline: the same users and items, trained by `funnel rank train --spec`.
    let data = dir.path().join("shop");
    write_offline_data(&data);
    let spec = dir.path().join("spec.toml");
    std::fs::write(&spec, SPEC).unwrap();
    let model = dir.path().join("ffm.funnel");
    let p = |p: &Path| p.to_str().unwrap().to_string();
    funnel(&[
        "rank",
        "train",
        "--spec",
        &p(&spec),
        "--data",
        &p(&data),
        "--model",
        "ffm",
        "--out",
        &p(&model),
    ]);
    let good = std::fs::read(&model).unwrap();

    // Refused, each with its reason; the active version stays 1.
    let refused = |version: u64, name: &str, bytes: &[u8], status: u16, says: &str| {
        let (s, b) = put_file(&base, version, name, bytes);
        assert_eq!(s, status, "{name}: {b}");
        let msg = b["error"].as_str().unwrap();
        assert!(msg.contains(says), "expected `{says}` in: {msg}");
        assert_eq!(
            call(KEY, "GET", &base, "/api/admin/models", None).1["active"],
            1
        );
    };
    refused(5, "ranker.funnel", b"not a model", 400, "ranker.funnel");
    let recall_model = download(KEY, &base, "/api/admin/models/1/files/itemknn.funnel");
    refused(5, "ranker.funnel", &recall_model, 400, "not a ranker");
    // the header's format version, bumped in place (same length: offsets stay valid)
    let from: &[u8] = b"\\\"version\\\":1";
    let mut newer = good.clone();
    let at = newer
        .windows(from.len())
        .rposition(|w| w == from) // the file's own, after the pipeline's in key order
        .expect("the header names its version");
    newer[at + from.len() - 1] = b'7';
    assert_ne!(newer, good);
    refused(5, "ranker.funnel", &newer, 400, "newer");
    // trained on sample files: no pipeline to turn the server's records into features
    let ffm = dir.path().join("train.ffm");
    std::fs::write(&ffm, "1 0:1:1 1:2:1\n0 0:3:1 1:4:1\n".repeat(20)).unwrap();
    let plain = dir.path().join("plain.funnel");
    funnel(&[
        "rank",
        "train",
        "--train",
        &p(&ffm),
        "--model",
        "fm",
        "--out",
        &p(&plain),
    ]);
    refused(
        5,
        "ranker.funnel",
        &std::fs::read(&plain).unwrap(),
        400,
        "no feature pipeline",
    );
    // a spec reading a key the server's records never have
    let odd_spec = dir.path().join("odd.toml");
    std::fs::write(
        &odd_spec,
        format!("{SPEC}\n[[field]]\nname = \"price\"\nkind = \"numeric\"\n"),
    )
    .unwrap();
    let odd = dir.path().join("odd.funnel");
    funnel(&[
        "rank",
        "train",
        "--spec",
        &p(&odd_spec),
        "--data",
        &p(&data),
        "--model",
        "lr",
        "--out",
        &p(&odd),
    ]);
    refused(
        5,
        "ranker.funnel",
        &std::fs::read(&odd).unwrap(),
        400,
        "`price`",
    );
    // (refused before the body is read: a small one, so the client is not cut off mid-send)
    refused(5, "itemknn.funnel", b"x", 400, "ranker.funnel");
    refused(1, "ranker.funnel", &good, 409, "version 1 exists");

    // Accepted: version 5 serves the uploaded ranker beside version 1's recall models.
    let (s, info) = put_file(&base, 5, "ranker.funnel", &good);
    assert_eq!(s, 200, "{info}");
    assert_eq!(info["version"], 5);
    assert_eq!(info["published"], true);
    assert!(info["models"]
        .as_array()
        .unwrap()
        .contains(&json!("ranker:ffm")));
    let v = call(KEY, "GET", &base, "/api/admin/models", None).1;
    assert_eq!(v["active"], 5);
    let (s, a) = call(
        KEY,
        "POST",
        &base,
        "/api/rank",
        Some(json!({"user_id": "u3", "item_ids": ["i1", "i2", "i3"]})),
    );
    assert_eq!(s, 200, "{a}");
    assert_eq!(a["model_version"], 5);
    // the served scores are the uploaded model's own (no online learning happened)
    let (_, r) = call(
        KEY,
        "POST",
        &base,
        "/api/rank",
        Some(json!({"user_id": "u3", "item_ids": ["i1", "i2", "i3"], "explain": true})),
    );
    let records = dir.path().join("records.jsonl");
    let items = r["items"].as_array().unwrap();
    let lines: Vec<String> = items.iter().map(|i| i["record"].to_string()).collect();
    std::fs::write(&records, lines.join("\n")).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_funnel"))
        .args([
            "rank",
            "predict",
            "--model",
            &p(&model),
            "--records",
            &p(&records),
        ])
        .output()
        .unwrap();
    let offline: Vec<f64> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| l.parse().unwrap())
        .collect();
    for (i, o) in items.iter().zip(&offline) {
        assert!((i["score"].as_f64().unwrap() - o).abs() <= 1e-6);
    }
    let (s, page) = call(KEY, "GET", &base, "/api/recommend/u3?n=5", None);
    assert_eq!(s, 200);
    assert_eq!(page.as_array().unwrap().len(), 5);
    // and it is on disk like a fitted version: a restart serves it
    assert_eq!(
        download(KEY, &base, "/api/admin/models/5/files/ranker.funnel"),
        good
    );
    server.kill().unwrap();
    server.wait().unwrap();
    let mut server = spawn(&config);
    wait_ready(&base);
    assert_eq!(
        call(KEY, "GET", &base, "/api/admin/models", None).1["active"],
        5
    );
    // the next fit numbers above the published version
    assert_eq!(call(KEY, "POST", &base, "/api/admin/train", None).0, 202);
    wait_for_version(KEY, &base, 6);
    server.kill().unwrap();
    server.wait().unwrap();
}
