//! The contract every recaller passes (as implicit's recommender_base_test): exclusion,
//! ordering, batch = single, save/load round trip, similar items, clear errors.

use std::collections::HashMap;

use funnel_data::{
    load as load_data, split, DataSource, NoProgress, ReadOptions, Split, SplitSpec,
};
use funnel_metrics::evaluate_full_ranking;
use funnel_recall::registry::MODELS;
use funnel_recall::{build, load, registry, Params, RecallError};

fn data() -> Split {
    let src = DataSource {
        path: "synthetic:users=400,items=250,interactions=12000,seed=9".into(),
        format: "synthetic".into(),
        ..Default::default()
    };
    let l = load_data(&src, ReadOptions::default()).unwrap();
    split(&l.main, &SplitSpec::UserTemporal { test_ratio: 0.2 }, 1).unwrap()
}

#[test]
fn every_model_keeps_the_contract() {
    let s = data();
    let dir = tempfile::tempdir().unwrap();
    let users: Vec<u32> = (0..s.train.n_users() as u32).collect();
    for name in MODELS.iter().map(|e| e.name) {
        let mut m = build(name, &Params::default()).unwrap();
        assert!(
            matches!(m.recommend(&[0], 5), Err(RecallError::NotFitted(_))),
            "{name}"
        );
        m.fit(&s.train, &NoProgress).unwrap();
        let recs = m.recommend(&users, 20).unwrap();
        for (&u, list) in users.iter().zip(&recs) {
            assert!(list.len() <= 20, "{name}");
            let hist = s.train.user_row(u).indices;
            assert!(
                list.iter().all(|(i, _)| hist.binary_search(i).is_err()),
                "{name}: user {u} got a training item"
            );
            assert!(
                list.windows(2).all(|w| w[0].1 >= w[1].1),
                "{name}: not sorted"
            );
            let mut ids: Vec<u32> = list.iter().map(|x| x.0).collect();
            ids.sort();
            ids.dedup();
            assert_eq!(ids.len(), list.len(), "{name}: duplicates");
        }
        // Batch and single give the same answer.
        assert_eq!(m.recommend(&[7], 20).unwrap()[0], recs[7], "{name}");
        // Similar items never include the item itself.
        let sim = m.similar_items(3, 10).unwrap();
        assert!(
            !sim.is_empty() && sim.iter().all(|(i, _)| *i != 3),
            "{name}"
        );
        // Session recommendation excludes the given items.
        let ctx = &s.train.user_row(5).indices[..3.min(s.train.user_row(5).len())];
        let r = m.recommend_for_items(ctx, 10).unwrap();
        assert!(r.iter().all(|(i, _)| !ctx.contains(i)), "{name}");
        // Save and load: same recommendations and neighbours.
        let path = dir.path().join(format!("{name}.funnel"));
        m.save(&path).unwrap();
        let back = load(&path).unwrap();
        assert_eq!(back.name(), m.name());
        assert_eq!(
            back.recommend(&users, 20).unwrap(),
            recs,
            "{name}: round trip"
        );
        assert_eq!(back.similar_items(3, 10).unwrap(), sim, "{name}");
        // Unknown ids.
        assert!(matches!(
            m.recommend(&[10_000], 5),
            Err(RecallError::UnknownId { what: "user", .. })
        ));
        let f = back.fitted().unwrap();
        let e = f.user("no-such-user").unwrap_err().to_string();
        assert!(e.contains("unknown user `no-such-user`"), "{e}");
    }
}

#[test]
fn personalised_models_beat_popularity_on_data_with_taste() {
    let s = data();
    let mut recall = HashMap::new();
    for name in MODELS.iter().map(|e| e.name) {
        // 250 items: a small latent space, or the factor models overfit.
        let params = match name {
            "ials" => Params::parse(&["factors=16", "reg=0.1"]).unwrap(),
            "bpr" => Params::parse(&["factors=16"]).unwrap(),
            _ => Params::default(),
        };
        let mut m = build(name, &params).unwrap();
        m.fit(&s.train, &NoProgress).unwrap();
        let r = evaluate_full_ranking(&s.train, &s.test, &[20], |u, k| {
            m.recommend(u, k)
                .unwrap()
                .into_iter()
                .map(|l| l.into_iter().map(|x| x.0).collect())
                .collect()
        });
        recall.insert(name, r.metrics["recall@20"]);
    }
    assert!(recall["itemknn"] > recall["popular"] * 1.1, "{recall:?}");
    assert!(recall["userknn"] > recall["popular"] * 1.1, "{recall:?}");
    assert!(recall["ials"] > recall["popular"] * 1.1, "{recall:?}");
    assert!(recall["bpr"] > recall["popular"] * 1.1, "{recall:?}");
    assert!(recall["ease"] > recall["popular"] * 1.1, "{recall:?}");
}

#[test]
fn model_files_of_another_type_or_newer_version_are_refused() {
    let s = data();
    let dir = tempfile::tempdir().unwrap();
    let mut pop = build("popular", &Params::default()).unwrap();
    pop.fit(&s.train, &NoProgress).unwrap();
    let p = dir.path().join("pop.funnel");
    pop.save(&p).unwrap();
    let r = funnel_recall::ModelReader::open(&p).unwrap();
    let e = funnel_recall::ItemKnn::load(&r).unwrap_err().to_string();
    assert!(
        e.contains("this is a `popular` model file, not `itemknn`"),
        "{e}"
    );

    // Same file with the header's version raised.
    let bytes = std::fs::read(&p).unwrap();
    let (_, meta) = safetensors::SafeTensors::read_metadata(&bytes).unwrap();
    let mut header: serde_json::Value =
        serde_json::from_str(&meta.metadata().as_ref().unwrap()["funnel"]).unwrap();
    header["version"] = serde_json::json!(99);
    let st = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    let tensors: Vec<(String, safetensors::tensor::TensorView<'_>)> = st.tensors();
    let newer = safetensors::serialize(
        tensors,
        Some(HashMap::from([("funnel".to_string(), header.to_string())])),
    )
    .unwrap();
    let q = dir.path().join("newer.funnel");
    std::fs::write(&q, newer).unwrap();
    let e = load(&q).err().unwrap().to_string();
    assert!(e.contains("version 99 is newer"), "{e}");

    std::fs::write(dir.path().join("junk"), b"not a model").unwrap();
    let e = load(&dir.path().join("junk")).err().unwrap().to_string();
    assert!(e.contains("not a Funnel model file"), "{e}");
}

#[test]
fn bad_parameters_name_the_key() {
    let e = build("itemknn", &Params::parse(&["neighbours=5"]).unwrap())
        .err()
        .unwrap()
        .to_string();
    assert!(
        e.contains("unknown parameter `neighbours`") && e.contains("neighbors"),
        "{e}"
    );
    let e = build("itemknn", &Params::parse(&["similarity=pearson"]).unwrap())
        .err()
        .unwrap()
        .to_string();
    assert!(
        e.contains("expected one of cosine, asymmetric, jaccard, dot"),
        "{e}"
    );
    let e = build("itemknn", &Params::parse(&["shrink=lots"]).unwrap())
        .err()
        .unwrap()
        .to_string();
    assert!(e.contains("`shrink=lots`: expected a number"), "{e}");
    let e = build("nope", &Params::default()).err().unwrap().to_string();
    assert!(
        e.contains("unknown model `nope`") && e.contains("itemknn"),
        "{e}"
    );
}

#[test]
fn itemknn_options_change_the_model() {
    let s = data();
    let mut lists = Vec::new();
    for set in [
        vec![],
        vec!["weighting=bm25"],
        vec!["weighting=tfidf"],
        vec!["similarity=jaccard"],
        vec!["similarity=asymmetric", "alpha=0.9"],
        vec!["shrink=50"],
    ] {
        let mut m = build("itemknn", &Params::parse(&set).unwrap()).unwrap();
        m.fit(&s.train, &NoProgress).unwrap();
        lists.push(m.similar_items(0, 10).unwrap());
    }
    for i in 1..lists.len() {
        assert_ne!(lists[0], lists[i], "option set {i} had no effect");
    }
    // neighbors caps the list.
    let mut m = build("itemknn", &Params::parse(&["neighbors=3"]).unwrap()).unwrap();
    m.fit(&s.train, &NoProgress).unwrap();
    assert!(m.similar_items(0, 10).unwrap().len() <= 3);
}

/// Every registered model documents the parameters its constructor reads, with defaults
/// that build it again; an unknown key is refused naming the known ones; aliases and the
/// model files' type names resolve to the same entry.
#[test]
fn the_registry_documents_every_model() {
    for e in MODELS {
        let docs = e.parameters().unwrap();
        assert!(!docs.is_empty(), "{}: no parameters", e.name);
        let mut keys: Vec<&str> = docs.iter().map(|d| d.key.as_str()).collect();
        keys.sort();
        keys.dedup();
        assert_eq!(keys.len(), docs.len(), "{}: a key twice", e.name);
        let pairs: Vec<String> = docs
            .iter()
            .map(|d| format!("{}={}", d.key, d.default))
            .collect();
        build(e.name, &Params::parse(&pairs).unwrap())
            .unwrap_or_else(|err| panic!("{}: its own defaults do not build: {err}", e.name));
        let err = build(e.name, &Params::parse(&["no_such_key=1"]).unwrap())
            .err()
            .unwrap()
            .to_string();
        assert!(
            err.contains("no_such_key") && err.contains(&docs[0].key),
            "{err}"
        );
        if let Ok(m) = build(e.name, &Params::default()) {
            assert_eq!(m.vectors().is_some(), e.vectors, "{}: vectors", e.name);
        }
        for a in e.aliases {
            assert_eq!(registry::get(a).unwrap().name, e.name);
        }
        assert!(!e.summary.is_empty());
    }
    let err = build("xgboost", &Params::default())
        .err()
        .unwrap()
        .to_string();
    assert!(
        err.contains("xgboost") && err.contains(&registry::names()),
        "{err}"
    );
}
