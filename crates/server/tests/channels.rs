//! Channels as data (issue 13): `[[recall.channel]]` tables put any registered recall
//! model behind the service — here ItemKNN as item-to-item neighbours, iALS through the
//! HNSW index, EASE scoring the history — with no code naming them.

mod common;

use std::collections::BTreeSet;

use common::*;
use funnel_engine::Config;

fn channel_config(dir: &std::path::Path) -> Config {
    let tables = Config::from_toml(
        r#"
[[recall.channel]]
name = "cooc"
model = "itemknn"
kind = "item_to_item"
quota = 50

[[recall.channel]]
name = "taste"
model = "ials"
kind = "vectors"
quota = 50
params = { factors = "8", iterations = "4" }

[[recall.channel]]
name = "lin"
model = "ease"
kind = "user"
quota = 50
params = { reg = "10" }
"#,
    )
    .unwrap();
    let mut cfg = config(dir);
    cfg.recall.channel = tables.recall.channel;
    cfg.rerank.explore_slots = 0;
    cfg
}

#[test]
fn configured_channels_serve_train_and_persist() {
    let dir = tempfile::tempdir().unwrap();
    let (rt, c, running) = start(channel_config(dir.path()));
    fill(&c);
    assert_eq!(c.post_empty("/api/admin/train").status(), 202);
    c.wait_version(1);
    let status = c.get("/api/admin/train").ok();
    for k in ["cooc.recall@20", "taste.recall@20", "lin.recall@20"] {
        assert!(
            status["last_metrics"][k].as_f64().is_some(),
            "{k}: {status}"
        );
    }
    let models = c.get("/api/admin/models").ok();
    let kinds: Vec<(String, String)> = models["versions"][0]["channels"]
        .as_array()
        .unwrap()
        .iter()
        .map(|ch| {
            (
                ch["name"].as_str().unwrap().into(),
                ch["kind"].as_str().unwrap().into(),
            )
        })
        .collect();
    assert_eq!(
        kinds,
        [
            ("cooc".to_string(), "item_to_item".to_string()),
            ("taste".into(), "vectors".into()),
            ("lin".into(), "user".into())
        ]
    );
    // every model channel brings candidates, and answers name it
    let mut seen = BTreeSet::new();
    for u in 0..20 {
        for r in c
            .get(&format!("/api/recommend/u{u}?n=10"))
            .ok()
            .as_array()
            .unwrap()
        {
            seen.insert(r["channel"].as_str().unwrap().to_string());
        }
    }
    for name in ["cooc", "taste", "lin"] {
        assert!(seen.contains(name), "{name} never recalled: {seen:?}");
        let only = c
            .get(&format!("/api/recommend/u3?n=5&channels={name}"))
            .ok();
        let list = only.as_array().unwrap();
        assert!(!list.is_empty(), "{name}");
        assert!(list.iter().all(|r| r["channel"] == name), "{name}: {only}");
    }
    // the default channels' names are not this server's
    let r = c.get("/api/recommend/u3?channels=mf");
    assert_eq!(r.status(), 400);
    let e = r.body()["error"].as_str().unwrap();
    assert!(e.contains("cooc, taste, lin, popular, latest"), "{e}");
    // the OpenAPI document lists them
    let spec = c.get("/openapi.json").ok();
    let names =
        &spec["components"]["schemas"]["SessionRequest"]["properties"]["channels"]["items"]["enum"];
    assert_eq!(
        names,
        &serde_json::json!(["cooc", "taste", "lin", "popular", "latest"])
    );
    // neighbours from the first channel that has them; user neighbours from the vectors
    assert!(c.len_of("/api/items/i0/neighbors?n=3") > 0);
    assert!(c.len_of("/api/users/u0/neighbors?n=3") > 0);
    let before: Vec<_> = (0..6)
        .map(|u| c.get(&format!("/api/recommend/u{u}?n=10")).ok())
        .collect();
    rt.block_on(running.stop()).unwrap();
    // saved per channel, and served again after a restart
    for f in [
        "cooc.funnel",
        "taste.funnel",
        "taste.hnsw",
        "lin.funnel",
        "ranker.funnel",
    ] {
        assert!(dir.path().join("models/v1").join(f).is_file(), "{f}");
    }
    assert!(!dir.path().join("models/v1/cooc.hnsw").exists());
    let (rt, c, running) = start(channel_config(dir.path()));
    let after: Vec<_> = (0..6)
        .map(|u| c.get(&format!("/api/recommend/u{u}?n=10")).ok())
        .collect();
    assert_eq!(before, after);
    rt.block_on(running.stop()).unwrap();
}

/// Embedding recall as channels (issue 15): item2vec's neighbours as item-to-item, its
/// vectors through the HNSW index; a user's new clicks move their vector recall at once,
/// with no refit.
#[test]
fn item2vec_serves_as_item_to_item_and_vectors() {
    let dir = tempfile::tempdir().unwrap();
    let tables = Config::from_toml(
        r#"
[[recall.channel]]
name = "i2i"
model = "item2vec"
kind = "item_to_item"
quota = 50
params = { dim = "16", epochs = "30" }

[[recall.channel]]
name = "emb"
model = "deepwalk"
kind = "vectors"
quota = 50
params = { dim = "16" }

[[recall.channel]]
name = "side"
model = "eges"
kind = "vectors"
quota = 50
params = { dim = "16", epochs = "30" }

[[recall.channel]]
name = "book"
model = "airbnb"
kind = "item_to_item"
quota = 50
params = { dim = "16", epochs = "30" }
"#,
    )
    .unwrap();
    let mut cfg = config(dir.path());
    cfg.recall.channel = tables.recall.channel;
    cfg.rerank.explore_slots = 0;
    let (rt, c, running) = start(cfg);
    fill(&c);
    assert_eq!(c.post_empty("/api/admin/train").status(), 202);
    c.wait_version(1);
    // eges learns from the catalogue's categories, airbnb's markets are those categories.
    for name in ["i2i", "emb", "side", "book"] {
        let list = c
            .get(&format!("/api/recommend/u3?n=5&channels={name}"))
            .ok();
        let list = list.as_array().unwrap();
        assert!(!list.is_empty(), "{name}");
        assert!(list.iter().all(|r| r["channel"] == name), "{name}");
    }
    assert!(c.len_of("/api/items/i0/neighbors?n=3") > 0);
    let before = c.ids("/api/recommend/u3?n=10&channels=emb");
    // u3 clicks what u10 clicked: the vectors channel answers from the new history.
    let fb: Vec<serde_json::Value> = (0..6)
        .map(|j| {
            serde_json::json!({"feedback_type": "click", "user_id": "u3",
                               "item_id": format!("i{}", (20 + 3 * j) % 40), "timestamp": 3000 + j})
        })
        .collect();
    assert_eq!(
        c.post("/api/feedback", serde_json::json!(fb)).ok()["written"],
        6
    );
    let after = c.ids("/api/recommend/u3?n=10&channels=emb");
    assert_ne!(before, after, "new clicks left the vector recall unchanged");
    let models = c.get("/api/admin/models").ok();
    assert_eq!(
        models["versions"].as_array().unwrap().len(),
        1,
        "no refit happened"
    );
    rt.block_on(running.stop()).unwrap();
}
