//! The service over real HTTP: a scripted client inserts items, users and feedback, gets
//! recommendations, sees a just-clicked item excluded and a new item explored, retrains
//! while requests keep flowing, rolls back, and gets clear errors for bad requests.

use std::time::{Duration, Instant};

use serde_json::{json, Value};

mod common;
use common::*;

#[test]
fn a_scripted_client_gets_the_whole_funnel() {
    let dir = tempfile::tempdir().unwrap();
    let (rt, c, running) = start(config(dir.path()));
    fill(&c);
    // every item has feedback, so nothing is "new" yet; no models: popular + latest only
    let recs = c.get("/api/recommend/u0?n=10").ok();
    assert_eq!(recs.as_array().unwrap().len(), 10);

    assert!(c.post_empty("/api/admin/train").body()["started"]
        .as_bool()
        .unwrap());
    c.wait_version(1);
    let status = c.get("/api/admin/train").ok();
    let m = &status["last_metrics"];
    for k in ["itemknn.recall@20", "mf.recall@20", "ranker.auc"] {
        assert!(m[k].as_f64().is_some(), "{k} missing in {status}");
    }

    // recommendations exclude what u0 has seen and say where they came from
    let seen: Vec<String> = c
        .get("/api/users/u0/feedback")
        .ok()
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["item_id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(seen.len(), 7);
    let recs = c.get("/api/recommend/u0?n=10").ok();
    let recs = recs.as_array().unwrap();
    assert_eq!(recs.len(), 10);
    for r in recs {
        assert!(!seen.contains(&r["item_id"].as_str().unwrap().to_string()));
        let ch = r["channel"].as_str().unwrap();
        assert!(
            ["popular", "latest", "itemknn", "mf", "explore"].contains(&ch),
            "{ch}"
        );
        assert!(r["score"].as_f64().unwrap().is_finite());
    }
    let channels: Vec<&str> = recs
        .iter()
        .map(|r| r["channel"].as_str().unwrap())
        .collect();
    assert!(
        channels.iter().any(|c| *c == "itemknn" || *c == "mf"),
        "no personalised channel in {channels:?}"
    );

    // a just-clicked item is excluded from the next answer
    let first = recs[0]["item_id"].as_str().unwrap().to_string();
    c.post(
        "/api/feedback",
        json!({"feedback_type": "click", "user_id": "u0", "item_id": first}),
    )
    .ok();
    let again = c.ids("/api/recommend/u0?n=20");
    assert!(!again.contains(&first), "{first} was just clicked");

    // per-request exclusions, categories and channels
    let excl = again[0].clone();
    assert!(!c
        .ids(&format!("/api/recommend/u0?n=20&exclude={excl}"))
        .contains(&excl));
    for id in c.ids("/api/recommend/u0?n=5&category=c1") {
        let it = c.get(&format!("/api/items/{id}")).ok();
        assert_eq!(it["categories"], json!(["c1"]), "{id}");
    }
    let only_pop = c.get("/api/recommend/u0?n=5&channels=popular").ok();
    assert!(only_pop
        .as_array()
        .unwrap()
        .iter()
        .all(|r| r["channel"] == "popular" || r["channel"] == "explore"));

    // a new item (no feedback) is shown: in the exploration slot, unless the ranker put
    // it in the list already (then no other item is new enough to be explored)
    c.post(
        "/api/items",
        json!({"item_id": "fresh", "categories": ["c0"]}),
    )
    .ok();
    let recs = c.get("/api/recommend/u1?n=10").ok();
    let explored: Vec<&Value> = recs
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["channel"] == "explore")
        .collect();
    let fresh = recs
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["item_id"] == "fresh")
        .unwrap_or_else(|| panic!("the new item is not shown: {recs}"));
    if fresh["channel"] == "explore" {
        assert_eq!(explored.len(), 1, "{recs}");
    } else {
        assert!(explored.is_empty(), "{recs}");
    }

    // popularity follows feedback at once
    for u in 0..8 {
        c.post(
            "/api/feedback",
            json!({"feedback_type": "like", "user_id": format!("fan{u}"), "item_id": "i39"}),
        )
        .ok();
    }
    assert_eq!(c.get("/api/popular?n=1").ok()[0]["id"], "i39");

    // sessions: visitors not stored as users
    let s = c
        .post(
            "/api/session/recommend",
            json!({"feedback": [{"item_id": "i0"}, {"item_id": "i3", "feedback_type": "read"}], "n": 5}),
        )
        .ok();
    let s: Vec<&str> = s
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["item_id"].as_str().unwrap())
        .collect();
    assert_eq!(s.len(), 5);
    assert!(!s.contains(&"i0") && !s.contains(&"i3"));

    // neighbours
    assert!(c.len_of("/api/items/i0/neighbors?n=3") > 0);
    assert!(c.len_of("/api/users/u0/neighbors?n=3") > 0);

    // hidden and deleted items are never recommended
    let hide = c.ids("/api/recommend/u2?n=1")[0].clone();
    let r = answer(
        ureq::request("PATCH", &format!("{}/api/items/{hide}", c.base))
            .set("X-API-Key", KEY)
            .send_json(json!({"hidden": true})),
    );
    assert_eq!(r.ok()["hidden"], true);
    assert!(!c.ids("/api/recommend/u2?n=40").contains(&hide));
    let gone = c.ids("/api/recommend/u3?n=1")[0].clone();
    let r = answer(
        ureq::delete(&format!("{}/api/items/{gone}", c.base))
            .set("X-API-Key", KEY)
            .call(),
    );
    assert_eq!(r.status(), 200);
    assert_eq!(c.get(&format!("/api/items/{gone}")).status(), 404);
    assert!(!c.ids("/api/recommend/u3?n=40").contains(&gone));

    // retrain while a client keeps asking: no failed request; then roll back
    let base = c.base.clone();
    let hammer = std::thread::spawn(move || {
        let c = Client { base };
        let mut n = 0;
        let t = Instant::now();
        while t.elapsed() < Duration::from_millis(1500) {
            assert_eq!(c.get("/api/recommend/u4?n=10").status(), 200);
            n += 1;
        }
        n
    });
    std::thread::sleep(Duration::from_millis(100));
    c.post_empty("/api/admin/train");
    c.wait_version(2);
    let served = hammer.join().unwrap();
    assert!(served > 10, "only {served} requests during the swap");
    let v = c.get("/api/admin/models").ok();
    assert_eq!(v["active"], 2);
    assert_eq!(v["versions"].as_array().unwrap().len(), 2);
    assert_eq!(c.post_empty("/api/admin/models/1/activate").status(), 200);
    assert_eq!(c.get("/api/admin/models").ok()["active"], 1);
    assert_eq!(c.post_empty("/api/admin/models/99/activate").status(), 404);

    // the online ranker has learnt the feedback sent since the fit
    let t = Instant::now();
    while running
        .engine
        .counters
        .online_samples
        .load(std::sync::atomic::Ordering::Relaxed)
        == 0
    {
        assert!(t.elapsed() < Duration::from_secs(5), "online learner idle");
        std::thread::sleep(Duration::from_millis(20));
    }

    // metrics and the spec
    let metrics = ureq::get(&format!("{}/metrics", c.base))
        .set("Authorization", &format!("Bearer {KEY}"))
        .call()
        .unwrap()
        .into_string()
        .unwrap();
    assert!(metrics.contains(
        "funnel_http_request_duration_seconds_bucket{route=\"/api/recommend/{user_id}\""
    ));
    assert!(metrics.contains("funnel_feedback_ingested_total"));
    assert!(metrics.contains("funnel_last_fit_metric{metric=\"mf.recall@20\"}"));
    let spec = c.get("/openapi.json").ok();
    assert!(spec["openapi"].as_str().unwrap().starts_with("3."));
    assert!(spec["paths"]["/api/recommend/{user_id}"]["get"].is_object());
    rt.block_on(running.stop()).unwrap();
}

#[test]
fn bad_requests_get_clear_4xx_answers() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config(dir.path());
    cfg.server.max_batch = 100;
    let (rt, c, running) = start(cfg);
    // no key, wrong key
    let r = answer(ureq::post(&format!("{}/api/items", c.base)).send_json(json!({"item_id": "a"})));
    assert_eq!(r.status(), 401);
    let r = answer(
        ureq::post(&format!("{}/api/items", c.base))
            .set("X-API-Key", "nope")
            .send_json(json!({"item_id": "a"})),
    );
    assert_eq!(r.status(), 401);
    // unknown field, wrong type, element of a batch
    let r = c.post("/api/items", json!({"item_id": "a", "colour": "red"}));
    assert_eq!(r.status(), 422);
    assert!(
        r.body()["error"].as_str().unwrap().contains("colour"),
        "{}",
        r.body()
    );
    let r = c.post("/api/items", json!({"item_id": "a", "hidden": "yes"}));
    assert_eq!(r.status(), 422);
    assert!(
        r.body()["error"].as_str().unwrap().contains("hidden")
            || r.body()["error"].as_str().unwrap().contains("bool")
    );
    let r = c.post(
        "/api/feedback",
        json!([{"feedback_type": "click", "user_id": "u", "item_id": "i"}, {"feedback_type": "click", "user_id": "u"}]),
    );
    assert_eq!(r.status(), 422);
    assert!(
        r.body()["error"].as_str().unwrap().contains("[1]")
            && r.body()["error"].as_str().unwrap().contains("item_id"),
        "{}",
        r.body()
    );
    let r = c.post("/api/items", json!({"item_id": ""}));
    assert_eq!(r.status(), 400);
    let r = c.post("/api/users", json!({"user_id": "a\0b"}));
    assert_eq!(r.status(), 400);
    assert!(r.body()["error"].as_str().unwrap().contains("NUL"));
    let r = c.post("/api/items", json!({"item_id": "a", "categories": ["x\0"]}));
    assert_eq!(r.status(), 400);
    let r = c.post("/api/items", json!({"item_id": "a", "attributes": [1, 2]}));
    assert_eq!(r.status(), 422);
    // syntax error, wrong content type, too large
    let r = answer(
        ureq::post(&format!("{}/api/items", c.base))
            .set("X-API-Key", KEY)
            .set("Content-Type", "application/json")
            .send_string("{\"item_id\": "),
    );
    assert_eq!(r.status(), 400);
    let r = answer(
        ureq::post(&format!("{}/api/items", c.base))
            .set("X-API-Key", KEY)
            .set("Content-Type", "text/plain")
            .send_string("{}"),
    );
    assert_eq!(r.status(), 415);
    // more records than server.max_batch
    let many: Vec<Value> = (0..150)
        .map(|i| json!({"item_id": format!("item-{i}")}))
        .collect();
    let r = c.post("/api/items", json!(many));
    assert_eq!(r.status(), 413);
    assert!(r.body()["error"].as_str().unwrap().contains("max_batch"));
    // a body over server.max_body_bytes (64 KiB here); written whole over a raw socket
    // first (it fits in the loopback buffers), so the answer cannot race the upload
    {
        use std::io::{Read, Write};
        let addr = c.base.trim_start_matches("http://");
        let mut s = std::net::TcpStream::connect(addr).unwrap();
        let body = format!("{{\"item_id\": \"{}\"}}", "x".repeat(70_000));
        write!(s, "POST /api/items HTTP/1.1\r\nHost: x\r\nX-API-Key: {KEY}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}", body.len()).unwrap();
        let mut head = [0u8; 12];
        s.read_exact(&mut head).unwrap();
        assert_eq!(&head, b"HTTP/1.1 413");
    }
    // query parameters
    c.post("/api/users", json!({"user_id": "u"})).ok();
    assert_eq!(c.get("/api/recommend/u?n=abc").status(), 400);
    assert_eq!(c.get("/api/recommend/u?n=100000").status(), 400);
    assert_eq!(
        c.get("/api/recommend/u?offset=99999999999999999999")
            .status(),
        400
    );
    assert_eq!(c.get("/api/recommend/u?channels=magic").status(), 400);
    assert_eq!(c.get("/api/recommend/u?bogus=1").status(), 400);
    // unknown ids, models not trained yet
    assert_eq!(c.get("/api/recommend/nobody").status(), 404);
    assert_eq!(c.get("/api/items/nothing").status(), 404);
    // before the first fit: no neighbours yet, not an error
    assert_eq!(c.get("/api/users/u/neighbors").ok(), json!([]));
    assert_eq!(c.get("/api/recommend/u?channels=").status(), 400);
    assert_eq!(c.post("/api/feedback", json!({"feedback_type": "click", "user_id": "u", "item_id": "i", "timestamp": -9223372036854775809.0})).status(), 422);
    assert_eq!(
        c.post(
            "/api/feedback",
            json!({"feedback_type": "click", "user_id": "u", "item_id": "i", "timestamp": 12.5})
        )
        .status(),
        422
    );
    assert_eq!(c.post("/api/feedback", json!({"feedback_type": "click", "user_id": "u", "item_id": "i", "timestamp": 1700000000.0})).ok()["written"], 1);
    assert_eq!(c.get("/api/admin/models/x/activate").status(), 405);
    assert_eq!(c.post_empty("/api/admin/models/x/activate").status(), 400);
    // the server is still fine
    assert_eq!(c.get("/health/ready").ok()["status"], "ok");
    rt.block_on(running.stop()).unwrap();
}

#[test]
fn a_restart_finds_everything_acknowledged() {
    let dir = tempfile::tempdir().unwrap();
    {
        let (rt, c, running) = start(config(dir.path()));
        fill(&c);
        rt.block_on(running.stop()).unwrap();
    }
    let (rt, c, running) = start(config(dir.path()));
    let h = c.get("/health/ready").ok();
    assert_eq!(
        (h["items"].as_u64(), h["users"].as_u64()),
        (Some(40), Some(20))
    );
    assert_eq!(
        c.get("/api/users/u5/feedback")
            .ok()
            .as_array()
            .unwrap()
            .len(),
        7
    );
    // popularity was rebuilt from the stored feedback
    assert_eq!(
        c.get("/api/popular?n=40").ok().as_array().unwrap().len(),
        40
    );
    rt.block_on(running.stop()).unwrap();
}
