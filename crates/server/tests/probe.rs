//! The ten defects a probe of the running server found (issue 19), one test each over
//! real HTTP where the defect was in the service. Each of these failed on the code before
//! the fix.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use common::*;
use funnel_engine::Config;
use funnel_store::Store;
use serde_json::{json, Value};

/// Defect 1: Random method names used to become Prometheus labels, one time series each.
#[test]
fn a_random_method_flood_keeps_metrics_bounded() {
    let dir = tempfile::tempdir().unwrap();
    let (rt, c, running) = start(config(dir.path()));
    let size = || {
        ureq::get(&format!("{}/metrics", c.base))
            .set("X-API-Key", KEY)
            .call()
            .unwrap()
            .into_string()
            .unwrap()
    };
    let agent = ureq::Agent::new();
    for k in 0..3000u32 {
        let method = format!("MX{:08X}", k.wrapping_mul(2_654_435_761));
        let r = agent
            .request(&method, &format!("{}/health/live", c.base))
            .call();
        assert!(matches!(r, Err(ureq::Error::Status(405, _))), "{method}");
    }
    let after = size();
    let methods: std::collections::BTreeSet<&str> = after
        .lines()
        .filter_map(|l| l.split("method=\"").nth(1)?.split('"').next())
        .collect();
    assert!(methods.len() <= 10, "{} method labels", methods.len());
    assert!(methods.contains("OTHER"), "{methods:?}");
    // ~20 KB of series whatever the traffic; 3000 labels made it over 2 MB
    assert!(after.len() < 200_000, "/metrics is {} bytes", after.len());
    rt.block_on(running.stop()).unwrap();
}

/// Defect 2: A millisecond or far-future timestamp is a 400 naming the field and the range, and
/// training keeps working.
#[test]
fn out_of_range_timestamps_are_refused_and_training_keeps_working() {
    let dir = tempfile::tempdir().unwrap();
    let (rt, c, running) = start(config(dir.path()));
    fill(&c);
    for t in [1_796_153_948_808i64, 32_503_680_000, -1] {
        let r = c.post(
            "/api/feedback",
            json!({"feedback_type": "click", "user_id": "u1", "item_id": "i1", "timestamp": t}),
        );
        assert_eq!(r.status(), 400, "{t}: {}", r.body());
        let e = r.body()["error"].as_str().unwrap();
        assert!(
            e.starts_with("timestamp: expected Unix seconds from 0 to"),
            "{e}"
        );
    }
    let r = c.post(
        "/api/feedback",
        json!([{"feedback_type": "click", "user_id": "u1", "item_id": "i1", "timestamp": 5},
               {"feedback_type": "click", "user_id": "u1", "item_id": "i1", "timestamp": 1_796_153_948_808i64}]),
    );
    assert_eq!(r.status(), 400);
    let e = r.body()["error"].as_str().unwrap();
    assert!(
        e.starts_with("[1].timestamp") && e.contains("milliseconds"),
        "{e}"
    );
    assert_eq!(c.post("/api/admin/train", json!({})).status(), 202);
    c.wait_version(1);
    let h = c.get("/health/ready").ok();
    assert_eq!(
        (h["training"].as_str(), h["model_version"].as_u64()),
        (Some("ok"), Some(1))
    );
    assert!(c.len_of("/api/users/u0/neighbors?n=3") > 0);
    rt.block_on(running.stop()).unwrap();
}

/// Defect 2, the other half: when fits keep failing, readiness says so (it used to stay
/// a plain 200 while neighbours stayed empty for good). An EASE channel allowed 1 KB of
/// memory fails every fit on purpose.
#[test]
fn readiness_reports_failing_fits() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config(dir.path());
    let tables = Config::from_toml(
        "[[recall.channel]]\nname = \"lin\"\nmodel = \"ease\"\nkind = \"user\"\n\
         params = { max_memory_gb = \"0.000001\" }\n",
    )
    .unwrap();
    cfg.recall.channel = tables.recall.channel;
    let (rt, c, running) = start(cfg);
    fill(&c);
    assert_eq!(c.get("/health/ready").ok()["training"], "never fitted");
    for n in 1..=2u64 {
        assert_eq!(c.post_empty("/api/admin/train").status(), 202);
        let t = Instant::now();
        while c.get("/api/admin/train").ok()["failures_in_a_row"].as_u64() != Some(n) {
            assert!(
                t.elapsed() < Duration::from_secs(30),
                "fit {n} did not fail"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
    let h = c.get("/health/ready").ok();
    assert_eq!(
        (h["training"].as_str(), h["fit_failures_in_a_row"].as_u64()),
        (Some("failing"), Some(2)),
        "{h}"
    );
    let e = h["last_fit_error"].as_str().unwrap();
    assert!(e.contains("lin") && e.contains("GB"), "{e}");
    let m = ureq::get(&format!("{}/metrics", c.base))
        .set("X-API-Key", KEY)
        .call()
        .unwrap()
        .into_string()
        .unwrap();
    assert!(m.contains("funnel_fit_failures_in_a_row 2"), "metrics");
    rt.block_on(running.stop()).unwrap();
}

/// Defect 3: An empty key file used to mean an empty key, which every request "had".
#[test]
fn an_empty_key_file_does_not_open_the_writes() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config(dir.path());
    cfg.server.api_key = String::new();
    std::fs::write(dir.path().join("api-key"), "").unwrap();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let err = rt
        .block_on(async {
            let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            funnel_server::start(cfg.clone(), l).await
        })
        .err()
        .expect("an empty key file must stop the start");
    let e = err.to_string();
    assert!(e.contains("api-key") && e.contains("empty"), "{e}");
    drop(rt);
    // with a generated key, an empty header is still refused
    std::fs::remove_file(dir.path().join("api-key")).unwrap();
    let (rt, c, running) = start(cfg);
    let r = answer(
        ureq::post(&format!("{}/api/items", c.base))
            .set("X-API-Key", "")
            .send_json(json!({"item_id": "x"})),
    );
    assert_eq!(r.status(), 401);
    let key = std::fs::read_to_string(dir.path().join("api-key")).unwrap();
    assert_eq!(key.trim(), running.api_key);
    assert_eq!(key.trim().len(), 32);
    rt.block_on(running.stop()).unwrap();
    // a blank configured key is a config error, not "no key"
    let e = Config::from_toml("[server]\napi_key = \"  \"\n").unwrap_err();
    assert!(e.to_string().contains("server.api_key"), "{e}");
}

/// Per user id: (exists, feedback events) in the store and in the server's catalogue.
fn compare_store_and_catalogue(
    rt: &tokio::runtime::Runtime,
    store: &Store,
    engine: &funnel_engine::Engine,
    users: &[String],
    items: &[String],
) -> usize {
    let mut events = 0;
    let c = engine.catalog();
    for u in users {
        let stored = rt.block_on(store.get_user(u)).unwrap().is_some();
        let feedback = rt.block_on(store.feedback_of_user(u)).unwrap();
        let index = c.user_index(u);
        assert_eq!(stored, index.is_some(), "user {u}");
        let in_memory = index.map_or(0, |x| c.log().iter().filter(|e| e.user == x).count());
        assert_eq!(feedback.len(), in_memory, "feedback of user {u}");
        for f in &feedback {
            assert!(
                rt.block_on(store.get_item(&f.item_id)).unwrap().is_some(),
                "{f:?}"
            );
        }
        events += feedback.len();
    }
    for i in items {
        let stored = rt.block_on(store.get_item(i)).unwrap().is_some();
        assert_eq!(stored, c.item_index(i).is_some(), "item {i}");
        let feedback = rt.block_on(store.feedback_of_item(i)).unwrap();
        for f in &feedback {
            assert!(
                rt.block_on(store.get_user(&f.user_id)).unwrap().is_some(),
                "{f:?}"
            );
        }
    }
    events
}

/// Defect 4: Eight clients mix feedback, deletes and inserts on a few users and items for a few
/// seconds; afterwards the store and the catalogue agree on every user and item, no
/// feedback row outlives its user or item, and a restart finds the same.
fn deletes_racing_feedback(store_url: Option<String>) {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config(dir.path());
    cfg.rank.online = false;
    if let Some(url) = &store_url {
        cfg.server.store = url.clone();
    }
    let run = format!("r{}", funnel_engine::models::now() % 1_000_000_007);
    let users: Vec<String> = (0..6).map(|k| format!("{run}-u{k}")).collect();
    let items: Vec<String> = (0..6).map(|k| format!("{run}-i{k}")).collect();
    let (rt, c, running) = start(cfg.clone());
    let until = Instant::now() + Duration::from_secs(4);
    let requests: usize = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..8usize)
            .map(|w| {
                let (c, users, items) = (&c, &users, &items);
                let on_postgres = store_url.is_some();
                scope.spawn(move || {
                    let mut n = 0usize;
                    let mut t = 1_000 + w as i64;
                    while Instant::now() < until {
                        n += 1;
                        t += 8;
                        let k = (n * 7 + w) % 6;
                        let status = match (w + n) % 8 {
                            0 => c.delete(&format!("/api/users/{}", users[k])).status(),
                            1 => c.delete(&format!("/api/items/{}", items[k])).status(),
                            2 => c
                                .post("/api/users", json!({"user_id": users[k]}))
                                .status(),
                            3 => c
                                .post("/api/items", json!({"item_id": items[k], "categories": ["c"]}))
                                .status(),
                            _ => {
                                let batch: Vec<Value> = (0..3)
                                    .map(|j| json!({"feedback_type": if j == 2 { "read" } else { "click" },
                                        "user_id": users[(k + j) % 6], "item_id": items[(k + 2 * j) % 6],
                                        "timestamp": t}))
                                    .collect();
                                c.post("/api/feedback", json!(batch)).status()
                            }
                        };
                        assert!(
                            status == 200 || status == 404 || (on_postgres && status == 503),
                            "status {status}"
                        );
                    }
                    n
                })
            })
            .collect();
        workers.into_iter().map(|w| w.join().unwrap()).sum()
    });
    let open_store = |rt: &tokio::runtime::Runtime| {
        rt.block_on(async {
            match &store_url {
                Some(u) => Store::open(u).await,
                None => Store::open_sqlite(&dir.path().join("funnel.db")).await,
            }
        })
        .unwrap()
    };
    let store = open_store(&rt);
    let events = compare_store_and_catalogue(&rt, &store, &running.engine, &users, &items);
    eprintln!("{requests} racing requests; {events} feedback events left, store = catalogue");
    assert!(requests > 200, "only {requests} requests in 4 s");
    rt.block_on(running.stop()).unwrap();
    drop(rt);
    // the store's connections belong to the runtime that opened them
    let (rt, _c, running) = start(cfg);
    let store = open_store(&rt);
    compare_store_and_catalogue(&rt, &store, &running.engine, &users, &items);
    rt.block_on(running.stop()).unwrap();
}

#[test]
fn deletes_racing_feedback_leave_store_and_catalogue_equal_sqlite() {
    deletes_racing_feedback(None);
}

#[test]
fn deletes_racing_feedback_leave_store_and_catalogue_equal_postgres() {
    match std::env::var("FUNNEL_TEST_POSTGRES_URL") {
        Ok(url) => deletes_racing_feedback(Some(url)),
        Err(_) => {
            assert!(
                std::env::var("FUNNEL_REQUIRE_POSTGRES").is_err(),
                "FUNNEL_REQUIRE_POSTGRES is set but FUNNEL_TEST_POSTGRES_URL is not"
            );
            eprintln!("skipped: set FUNNEL_TEST_POSTGRES_URL to run against PostgreSQL");
        }
    }
}

/// Whether the server closed `s` (EOF or reset) within `within`.
fn closed_within(s: &mut TcpStream, within: Duration) -> bool {
    s.set_read_timeout(Some(within)).unwrap();
    let mut buf = [0u8; 256];
    loop {
        match s.read(&mut buf) {
            Ok(0) => return true,
            Ok(_) => continue, // an error answer before the close is fine
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                return false
            }
            Err(_) => return true,
        }
    }
}

/// Defect 5a: Sockets that never finish their headers are closed after the header timeout.
#[test]
fn half_open_connections_are_closed_within_the_timeout() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config(dir.path());
    cfg.server.header_timeout_ms = 500;
    let (rt, c, running) = start(cfg);
    let addr = running.addr;
    let t0 = Instant::now();
    let mut socks: Vec<TcpStream> = (0..20)
        .map(|k| {
            let mut s = TcpStream::connect(addr).unwrap();
            if k % 2 == 0 {
                s.write_all(b"GET /health/live HTTP/1.1\r\nHost: x\r\n")
                    .unwrap();
            }
            s
        })
        .collect();
    for s in &mut socks {
        assert!(
            closed_within(s, Duration::from_secs(3)),
            "still open after {:?}",
            t0.elapsed()
        );
    }
    assert!(t0.elapsed() < Duration::from_secs(3));
    // a keep-alive connection idle past the timeout is closed too; a normal request works
    let mut s = TcpStream::connect(addr).unwrap();
    s.write_all(b"GET /health/live HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    assert!(closed_within(&mut s, Duration::from_secs(3)));
    assert_eq!(c.get("/health/live").ok()["status"], "ok");
    rt.block_on(running.stop()).unwrap();
}

/// Defect 5b: Past `server.max_connections`, clients wait instead of taking descriptors; they are
/// served as soon as a slot frees.
#[test]
fn the_connection_limit_holds_extra_clients_until_a_slot_frees() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config(dir.path());
    cfg.server.max_connections = 4;
    cfg.server.header_timeout_ms = 60_000;
    let (rt, c, running) = start(cfg);
    let idle: Vec<TcpStream> = (0..4)
        .map(|_| TcpStream::connect(running.addr).unwrap())
        .collect();
    std::thread::sleep(Duration::from_millis(100));
    let base = c.base.clone();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let r = ureq::get(&format!("{base}/health/live"))
            .timeout(Duration::from_secs(20))
            .call();
        tx.send(r.map(|r| r.status()).ok()).unwrap();
    });
    assert!(
        rx.recv_timeout(Duration::from_millis(500)).is_err(),
        "a fifth client was served while four held every slot"
    );
    drop(idle);
    assert_eq!(rx.recv_timeout(Duration::from_secs(5)).unwrap(), Some(200));
    rt.block_on(running.stop()).unwrap();
}

/// Defect 5c: a body trickled byte by byte is cut off at the body deadline with a 408.
#[test]
fn a_trickled_body_gets_a_408_at_the_deadline() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config(dir.path());
    cfg.server.body_timeout_ms = 600;
    let (rt, _c, running) = start(cfg);
    let mut s = TcpStream::connect(running.addr).unwrap();
    let body =
        br#"{"item_id": "slow", "comment": "................................................"}"#;
    write!(
        s,
        "POST /api/items HTTP/1.1\r\nHost: x\r\nX-API-Key: {KEY}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        body.len()
    )
    .unwrap();
    let t0 = Instant::now();
    s.set_read_timeout(Some(Duration::from_millis(100)))
        .unwrap();
    let mut answer = Vec::new();
    for &b in body.iter() {
        if s.write_all(&[b]).is_err() {
            break;
        }
        let mut buf = [0u8; 512];
        match s.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => {
                answer.extend_from_slice(&buf[..n]);
                break;
            }
            Err(_) => {} // nothing yet: keep trickling (100 ms a byte)
        }
    }
    let text = String::from_utf8_lossy(&answer);
    assert!(text.starts_with("HTTP/1.1 408"), "{text}");
    assert!(text.contains("server.body_timeout_ms"), "{text}");
    let took = t0.elapsed();
    assert!(
        took >= Duration::from_millis(500) && took < Duration::from_secs(3),
        "{took:?}"
    );
    rt.block_on(running.stop()).unwrap();
}

/// Defect 6: The data directory, key file and database Funnel creates are its owner's alone.
#[cfg(unix)]
#[test]
fn created_files_are_private() {
    use std::os::unix::fs::PermissionsExt;
    let root = tempfile::tempdir().unwrap();
    let data = root.path().join("fresh/data");
    let mut cfg = config(&data);
    cfg.server.api_key = String::new();
    let (rt, c, running) = start(cfg);
    let r = ureq::post(&format!("{}/api/items", c.base))
        .set("X-API-Key", &running.api_key)
        .send_json(json!({"item_id": "x"}));
    assert_eq!(r.unwrap().status(), 200);
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&data), 0o700);
    assert_eq!(mode(&data.join("api-key")), 0o600);
    for f in ["funnel.db", "funnel.db-wal", "funnel.db-shm"] {
        let p = data.join(f);
        if p.exists() {
            assert_eq!(mode(&p), 0o600, "{f}");
        }
    }
    rt.block_on(running.stop()).unwrap();
}

/// Defect 9: Bounds: values, feedback types, characters in ids, duplicate ids in one batch.
#[test]
fn values_types_and_ids_have_bounds() {
    let dir = tempfile::tempdir().unwrap();
    let (rt, c, running) = start(config(dir.path()));
    let fb = |extra: Value| {
        let mut e = json!({"feedback_type": "click", "user_id": "u", "item_id": "i"});
        e.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        c.post("/api/feedback", e)
    };
    for v in [1e308, -1e308, 2e9] {
        let r = fb(json!({ "value": v }));
        assert_eq!(r.status(), 400, "{v}");
        assert!(r.body()["error"]
            .as_str()
            .unwrap()
            .starts_with("value: expected a finite number"));
    }
    assert_eq!(fb(json!({"value": 2.5e3})).status(), 200);
    let r = fb(json!({"feedback_type": "clik"}));
    assert_eq!(r.status(), 400);
    let e = r.body()["error"].as_str().unwrap();
    assert!(
        e.contains("`clik`") && e.contains("feedback.other") && e.contains("click"),
        "{e}"
    );
    for bad in ["u\u{202E}1", "u\u{1}", "u\n", "\u{200B}u"] {
        let r = fb(json!({ "user_id": bad }));
        assert_eq!(r.status(), 400, "{bad:?}");
        assert!(r.body()["error"]
            .as_str()
            .unwrap()
            .starts_with("user_id: U+"));
        assert_eq!(c.post("/api/items", json!({"item_id": bad})).status(), 400);
        assert_eq!(
            c.post("/api/items", json!({"item_id": "ok", "categories": [bad]}))
                .status(),
            400
        );
    }
    let r = c.post(
        "/api/items",
        json!({"item_id": "late", "timestamp": i64::MAX}),
    );
    assert_eq!(r.status(), 400);
    assert!(r.body()["error"]
        .as_str()
        .unwrap()
        .starts_with("timestamp:"));
    assert_eq!(c.post("/api/items", json!({"item_id": "i"})).status(), 200);
    assert_eq!(
        c.patch("/api/items/i", json!({"timestamp": i64::MAX}))
            .status(),
        400
    );
    // the latest list is not captured by a far-future item
    assert_eq!(c.get("/api/latest?n=1").ok()[0]["id"], "i");
    // one id twice in a batch: the last record is written once
    let r = c.post(
        "/api/items",
        json!([{"item_id": "d", "comment": "first"}, {"item_id": "e"}, {"item_id": "d", "comment": "second"}]),
    )
    .ok();
    assert_eq!(
        (r["written"].as_u64(), r["duplicates"].as_u64()),
        (Some(2), Some(1))
    );
    assert_eq!(c.get("/api/items/d").ok()["comment"], "second");
    let r = c
        .post("/api/users", json!([{"user_id": "w"}, {"user_id": "w"}]))
        .ok();
    assert_eq!(
        (r["written"].as_u64(), r["duplicates"].as_u64()),
        (Some(1), Some(1))
    );
    // configured other types are accepted and count as seen
    rt.block_on(running.stop()).unwrap();
    let mut cfg = config(dir.path());
    cfg.feedback.other = vec!["dislike".into()];
    let (rt, c, running) = start(cfg);
    let r = c.post(
        "/api/feedback",
        json!({"feedback_type": "dislike", "user_id": "u", "item_id": "d"}),
    );
    assert_eq!(r.ok()["written"], 1);
    rt.block_on(running.stop()).unwrap();
}

/// Defect 10: Feedback histories, user records, admin status and `/metrics` need the key unless
/// the config opens them; recommendations stay open by default.
#[test]
fn user_data_and_admin_routes_need_the_key_by_default() {
    let dir = tempfile::tempdir().unwrap();
    let closed = [
        "/api/users/u0",
        "/api/users/u0/feedback",
        "/api/users/u0/neighbors",
        "/api/items/i0/feedback",
        "/api/admin/train",
        "/api/admin/models",
        "/metrics",
    ];
    let open = [
        "/api/recommend/u0",
        "/api/popular",
        "/api/latest",
        "/api/items/i0",
        "/health/ready",
    ];
    {
        let (rt, c, running) = start(config(dir.path()));
        fill(&c);
        for p in closed {
            assert_eq!(c.get_anonymous(p).status(), 401, "{p}");
            assert_eq!(c.get(p).status(), 200, "{p}");
            let bearer = ureq::get(&format!("{}{p}", c.base))
                .set("Authorization", &format!("Bearer {KEY}"))
                .call();
            assert_eq!(bearer.map(|r| r.status()).ok(), Some(200), "{p}");
            let wrong = ureq::get(&format!("{}{p}", c.base))
                .set("Authorization", "Bearer nope")
                .call();
            assert!(matches!(wrong, Err(ureq::Error::Status(401, _))), "{p}");
        }
        for p in open {
            assert_eq!(c.get_anonymous(p).status(), 200, "{p}");
        }
        rt.block_on(running.stop()).unwrap();
    }
    let mut cfg = config(dir.path());
    cfg.server.open_user_data = true;
    cfg.server.open_admin = true;
    let (rt, c, running) = start(cfg);
    for p in closed {
        assert_eq!(c.get_anonymous(p).status(), 200, "{p}");
    }
    rt.block_on(running.stop()).unwrap();
}
