//! Feedback may say where the item was shown: the position is validated, stored, listed
//! back, survives a restart, and a `lambdamart` ranker with `position_bias=unbiased`
//! learns the position's effect from it in the server's own refit.

mod common;
use common::*;
use serde_json::{json, Value};

#[test]
fn positions_are_stored_and_the_ranker_learns_from_them() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config(dir.path());
    cfg.rank.model = "lambdamart".into();
    cfg.rank
        .params
        .insert("position_bias".into(), "unbiased".into());
    cfg.rank.params.insert("num_trees".into(), "20".into());
    cfg.rank
        .params
        .insert("min_data_in_leaf".into(), "5".into());
    let (rt, c, running) = start(cfg.clone());
    let items: Vec<Value> = (0..60)
        .map(|i| json!({"item_id": format!("i{i}"), "categories": [format!("c{}", i % 3)]}))
        .collect();
    c.post("/api/items", json!(items)).ok();
    // Each user is shown ten items at positions 1–10 (reads) and clicks the ones near
    // the top: clicks fall with the position, whatever the item.
    let mut fb = Vec::new();
    for u in 0..40 {
        for k in 1..=10u32 {
            let item = format!("i{}", (u * 7 + k as usize * 5) % 60);
            let t = 10_000 + u as i64 * 100 + k as i64;
            fb.push(json!({"feedback_type": "read", "user_id": format!("u{u}"),
                           "item_id": item, "timestamp": t, "position": k}));
            if (u + k as usize) % (k as usize + 1) == 0 {
                fb.push(json!({"feedback_type": "click", "user_id": format!("u{u}"),
                               "item_id": item, "timestamp": t + 1, "position": k}));
            }
        }
    }
    assert!(
        c.post("/api/feedback", json!(fb)).ok()["written"]
            .as_u64()
            .unwrap()
            > 400
    );
    // A position that is no position is refused naming the field.
    for bad in [json!(0), json!(-2), json!(1.5), json!("top")] {
        let r = c.post(
            "/api/feedback",
            json!([{"feedback_type": "click", "user_id": "u1", "item_id": "i1", "position": bad}]),
        );
        assert!(
            r.status() == 400 || r.status() == 422,
            "{bad}: {}",
            r.status()
        );
        assert!(
            r.body().to_string().contains("position"),
            "{bad}: {}",
            r.body()
        );
    }
    let listed = c.get("/api/users/u0/feedback").ok();
    let first = &listed.as_array().unwrap()[0];
    assert_eq!(first["position"], 1, "{listed}");
    c.post_empty("/api/admin/train");
    let t = std::time::Instant::now();
    while c.get("/api/admin/train").ok()["last_version"].as_u64() < Some(1) {
        let status = c.get("/api/admin/train").ok();
        assert!(status["last_fit_error"].is_null(), "{status}");
        assert!(t.elapsed().as_secs() < 60, "{status}");
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let m = funnel_rank::RankModel::load(&dir.path().join("models/v1/ranker.funnel")).unwrap();
    assert_eq!(m.ranker.name(), "lambdamart");
    let b = m
        .ranker
        .position_bias()
        .expect("the refit learnt position terms");
    let p: Vec<f64> = b["propensity"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_f64().unwrap())
        .collect();
    assert_eq!(p.len(), 10, "{b}");
    assert!(p[9] < p[0], "clicks fall with the position: {b}");
    // Sampled negatives were never shown: they have a slot of their own.
    assert!(b["unshown"]["propensity"].is_number(), "{b}");
    // Recommendations are ranked by it (positions are training-only).
    let recs = c.get("/api/recommend/u3?n=5").ok();
    assert_eq!(recs.as_array().unwrap().len(), 5, "{recs}");
    rt.block_on(running.stop()).unwrap();
    // Stored: a restart lists the same positions.
    let (rt, c, running) = start(cfg);
    assert_eq!(c.get("/api/users/u0/feedback").ok(), listed);
    rt.block_on(running.stop()).unwrap();
}
