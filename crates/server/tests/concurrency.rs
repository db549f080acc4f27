//! Many requests at once, right after a new version goes live, all answer: the first ones
//! build lazily cached model state (the iALS Gram matrix, with rayon inside) while others
//! wait on it. With the request threads in a rayon pool, a thread waiting inside that
//! build took another request that waited on the same state, and the server hung.

mod common;

use std::time::Duration;

use common::*;

#[test]
fn concurrent_requests_after_each_fit_all_answer() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config(dir.path());
    cfg.server.max_body_bytes = 8 << 20;
    let (rt, c, running) = start(cfg);
    // More than 4096 clicked items: the Gram matrix is then built in parallel blocks.
    let n_items = 9000;
    let mut clicks = Vec::new();
    for u in 0..300 {
        for j in 0..40 {
            clicks.push(
                serde_json::json!({"feedback_type": "click", "user_id": format!("u{u}"),
                "item_id": format!("i{}", (u * 31 + j * 227) % n_items), "timestamp": 2000 + j}),
            );
        }
    }
    for chunk in clicks.chunks(5000) {
        c.post("/api/feedback", serde_json::json!(chunk)).ok();
    }
    let agent = ureq::AgentBuilder::new()
        .timeout(Duration::from_secs(20))
        .build();
    for round in 0..4 {
        running.engine.train_blocking().unwrap();
        let handles: Vec<_> = (0..16)
            .map(|k| {
                let (agent, base) = (agent.clone(), c.base.clone());
                std::thread::spawn(move || {
                    let path = match k % 3 {
                        0 => format!("/api/recommend/u{}?n=5", k % 20),
                        1 => "/api/session/recommend".to_string(),
                        _ => format!("/api/items/i{}/neighbors?n=5", (k * 31) % 9000),
                    };
                    let r = if k % 3 == 1 {
                        agent.post(&format!("{base}{path}")).send_json(
                            serde_json::json!({"feedback": [{"item_id": "i3"}, {"item_id": "i7"}]}),
                        )
                    } else {
                        agent.get(&format!("{base}{path}")).call()
                    };
                    r.map(|r| r.status()).map_err(|e| e.to_string())
                })
            })
            .collect();
        for h in handles {
            assert_eq!(h.join().unwrap(), Ok(200), "round {round}");
        }
    }
    rt.block_on(running.stop()).unwrap();
}
