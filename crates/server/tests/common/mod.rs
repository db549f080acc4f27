//! What the HTTP tests share: a blocking JSON client, the test configuration, a server
//! started on a free port, and a small data set.
#![allow(dead_code)]

use std::time::{Duration, Instant};

use funnel_engine::Config;
use serde_json::{json, Value};

pub const KEY: &str = "test-key";

pub struct Client {
    pub base: String,
}

pub enum Answer {
    Ok(Value),
    Err(u16, Value),
}

impl Answer {
    pub fn ok(self) -> Value {
        match self {
            Answer::Ok(v) => v,
            Answer::Err(s, v) => panic!("expected 200, got {s}: {v}"),
        }
    }
    pub fn status(&self) -> u16 {
        match self {
            Answer::Ok(_) => 200,
            Answer::Err(s, _) => *s,
        }
    }
    pub fn body(&self) -> &Value {
        match self {
            Answer::Ok(v) | Answer::Err(_, v) => v,
        }
    }
}

pub fn answer(r: Result<ureq::Response, ureq::Error>) -> Answer {
    match r {
        Ok(r) => {
            let s = r.status();
            let v: Value = r.into_json().unwrap_or(Value::Null);
            if s == 200 {
                Answer::Ok(v)
            } else {
                Answer::Err(s, v)
            }
        }
        Err(ureq::Error::Status(s, r)) => Answer::Err(s, r.into_json().unwrap_or(Value::Null)),
        Err(e) => panic!("transport error: {e}"),
    }
}

impl Client {
    /// A GET with the key (as an authenticated client sends every request).
    pub fn get(&self, path: &str) -> Answer {
        answer(
            ureq::get(&format!("{}{path}", self.base))
                .set("X-API-Key", KEY)
                .call(),
        )
    }
    /// A GET without any key.
    pub fn get_anonymous(&self, path: &str) -> Answer {
        answer(ureq::get(&format!("{}{path}", self.base)).call())
    }
    pub fn post(&self, path: &str, body: Value) -> Answer {
        answer(
            ureq::post(&format!("{}{path}", self.base))
                .set("X-API-Key", KEY)
                .send_json(body),
        )
    }
    pub fn patch(&self, path: &str, body: Value) -> Answer {
        answer(
            ureq::request("PATCH", &format!("{}{path}", self.base))
                .set("X-API-Key", KEY)
                .send_json(body),
        )
    }
    pub fn delete(&self, path: &str) -> Answer {
        answer(
            ureq::delete(&format!("{}{path}", self.base))
                .set("X-API-Key", KEY)
                .call(),
        )
    }
    pub fn post_empty(&self, path: &str) -> Answer {
        answer(
            ureq::post(&format!("{}{path}", self.base))
                .set("X-API-Key", KEY)
                .call(),
        )
    }
    /// The length of the JSON array a GET answers.
    pub fn len_of(&self, path: &str) -> usize {
        self.get(path).ok().as_array().map_or(0, Vec::len)
    }
    pub fn ids(&self, path: &str) -> Vec<String> {
        self.get(path)
            .ok()
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["item_id"].as_str().unwrap().to_string())
            .collect()
    }
    pub fn wait_version(&self, v: u64) {
        let t = Instant::now();
        while self.get("/api/admin/train").ok()["last_version"].as_u64() < Some(v) {
            assert!(
                t.elapsed() < Duration::from_secs(60),
                "fit {v} did not finish"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

pub fn config(dir: &std::path::Path) -> Config {
    let mut c = Config::default();
    c.server.data_dir = dir.to_path_buf();
    c.server.listen = "127.0.0.1:0".into();
    c.server.api_key = KEY.into();
    c.server.max_body_bytes = 64 * 1024;
    c.rerank.explore_max_feedback = 1;
    c.rerank.explore_slots = 1;
    c.rerank.epsilon = 0.0;
    c.rank.online_interval_ms = 20;
    c.train.on_start = false;
    c.train.ials.insert("factors".into(), "8".into());
    c.train.ials.insert("iterations".into(), "4".into());
    c
}

pub fn start(config: Config) -> (tokio::runtime::Runtime, Client, funnel_server::Running) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let running = rt.block_on(async {
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        funnel_server::start(config, l).await.unwrap()
    });
    let client = Client {
        base: format!("http://{}", running.addr),
    };
    (rt, client, running)
}

/// 40 items in 4 categories, 20 users; user u clicks items 2u, 2u+3, … (every item gets a
/// click from someone) and reads u+1.
pub fn fill(c: &Client) {
    let items: Vec<Value> = (0..40)
        .map(|i| json!({"item_id": format!("i{i}"), "categories": [format!("c{}", i % 4)], "timestamp": 1000 + i}))
        .collect();
    assert_eq!(c.post("/api/items", json!(items)).ok()["written"], 40);
    let users: Vec<Value> = (0..20)
        .map(|u| json!({"user_id": format!("u{u}")}))
        .collect();
    assert_eq!(c.post("/api/users", json!(users)).ok()["written"], 20);
    let mut fb = Vec::new();
    for u in 0..20 {
        for j in 0..6 {
            fb.push(json!({"feedback_type": "click", "user_id": format!("u{u}"),
                           "item_id": format!("i{}", (2 * u + 3 * j) % 40), "timestamp": 2000 + j}));
        }
        fb.push(json!({"feedback_type": "read", "user_id": format!("u{u}"),
                       "item_id": format!("i{}", (u + 1) % 40), "timestamp": 2100}));
    }
    let r = c.post("/api/feedback", json!(fb)).ok();
    assert_eq!(r["written"], 140);
    // the same batch again is recognised, not double-counted
    let r = c.post("/api/feedback", json!(fb)).ok();
    assert_eq!(
        (r["written"].as_u64(), r["duplicates"].as_u64()),
        (Some(0), Some(140))
    );
}
