//! `kill -9` during a bulk feedback ingest: after a restart every acknowledged event is
//! there, and the batch that was in flight is there whole or not at all — the user it
//! created included (that user once committed before the batch, on its own).

mod common;

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{spawn, wait_ready, write_config};
use serde_json::{json, Value};

const KEY: &str = "durable";
const USERS: usize = 50;
const BATCH: usize = 400;

/// Event `k` of batch `batch`; the first one names a user of the batch's own, `n{batch}`.
fn event(batch: usize, k: usize) -> Value {
    let user = if k == 0 {
        format!("n{batch}")
    } else {
        format!("d{}", k % USERS)
    };
    json!({"feedback_type": "click", "user_id": user,
           "item_id": format!("j{}", k % 97), "timestamp": (batch * BATCH + k) as i64})
}

#[test]
fn acknowledged_feedback_survives_kill_9() {
    let dir = tempfile::tempdir().unwrap();
    let (config, base) = write_config(dir.path(), KEY, "[train]\non_start = false\n");
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
    let batch_users = (0..=in_flight).map(|b| format!("n{b}"));
    for u in (0..USERS).map(|u| format!("d{u}")).chain(batch_users) {
        let Ok(r) = ureq::get(&format!("{base}/api/users/{u}/feedback"))
            .set("X-API-Key", KEY)
            .call()
        else {
            continue; // a batch user that never made it
        };
        let list: Vec<Value> = r.into_json().unwrap();
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
    let user_of = |b: usize| {
        ureq::get(&format!("{base}/api/users/n{b}"))
            .set("X-API-Key", KEY)
            .call()
            .is_ok()
    };
    assert!(acked.iter().all(|&b| user_of(b)));
    assert_eq!(
        user_of(in_flight),
        partial == BATCH,
        "the in-flight batch's new user outlived the batch ({partial} of {BATCH} events)"
    );
    assert_eq!(stored.len(), acked.len() * BATCH + partial);
    server.kill().unwrap();
    server.wait().unwrap();
}
