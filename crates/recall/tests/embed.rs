//! The embedding recallers (item2vec, deepwalk, node2vec): they learn taste, report what
//! they skipped, refuse bad parameters naming the key, and embed a new history without a
//! refit.

use funnel_data::{
    load as load_data, split, DataSource, Event, InteractionsBuilder, NoProgress, ReadOptions, Row,
    Split, SplitSpec,
};
use funnel_metrics::evaluate_full_ranking;
use funnel_recall::{build, Params};

const MODELS: [&str; 4] = ["item2vec", "deepwalk", "node2vec", "line"];

fn data() -> Split {
    let src = DataSource {
        path: "synthetic:users=400,items=250,interactions=12000,seed=9".into(),
        format: "synthetic".into(),
        ..Default::default()
    };
    let l = load_data(&src, ReadOptions::default()).unwrap();
    split(&l.main, &SplitSpec::UserTemporal { test_ratio: 0.2 }, 1).unwrap()
}

fn recall20(s: &Split, name: &str, set: &[&str]) -> f64 {
    let mut m = build(name, &Params::parse(set).unwrap()).unwrap();
    m.fit(&s.train, &NoProgress).unwrap();
    evaluate_full_ranking(&s.train, &s.test, &[20], |u, k| {
        m.recommend(u, k)
            .unwrap()
            .into_iter()
            .map(|l| l.into_iter().map(|x| x.0).collect())
            .collect()
    })
    .metrics["recall@20"]
}

#[test]
fn default_embeddings_learn_taste() {
    let s = data();
    let popular = recall20(&s, "popular", &[]);
    for name in MODELS {
        let r = recall20(&s, name, &[]);
        assert!(r > popular * 1.1, "{name}: {r} vs popular {popular}");
    }
    // LINE's orders are different models.
    let first = recall20(&s, "line", &["order=1"]);
    let both = recall20(&s, "line", &["order=both"]);
    assert!(
        first > popular * 1.1 && both > popular * 1.1,
        "{first} {both} vs {popular}"
    );
    // node2vec's p and q change the walks, hence the model.
    let a = recall20(&s, "node2vec", &["p=0.25", "q=4"]);
    let b = recall20(&s, "node2vec", &["p=4", "q=0.25"]);
    assert_ne!(a, b);
}

#[test]
fn skipped_input_is_counted() {
    // u1..u3 share x and y; u4 has one item (no pair); z is under min_count 2.
    let mut b = InteractionsBuilder::new();
    for (u, i, t) in [
        ("u1", "x", 1),
        ("u1", "y", 2),
        ("u1", "z", 3),
        ("u2", "x", 1),
        ("u2", "y", 2),
        ("u3", "y", 1),
        ("u3", "x", 5),
        ("u4", "x", 9),
    ] {
        let mut e = Event::implicit(u, i);
        e.timestamp = Some(t);
        b.push(0, &e);
    }
    let train = b.build().unwrap().remove(0);
    for name in MODELS {
        let mut m = build(name, &Params::parse(&["min_count=2", "dim=8"]).unwrap()).unwrap();
        m.fit(&train, &NoProgress).unwrap();
        let r = m.fit_report().unwrap();
        let seq = &r["sequences"];
        assert_eq!(seq["skipped_sequences"], 1, "{name}: {r}");
        assert_eq!(seq["rare_items"], 1, "{name}: {r}");
        assert_eq!(seq["rare_events"], 1, "{name}: {r}");
        assert_eq!(seq["sequences"], 3, "{name}: {r}");
        assert_eq!(seq["timed"], true);
        // z was never trained: it scores 0 for everyone.
        let z = train.items().get("z").unwrap();
        let v = m.vectors().unwrap();
        assert!(v.item_vectors().row(z as usize).iter().all(|&x| x == 0.0));
    }
    // Nothing to learn from at all is not an error either: every item is untrained.
    let mut b = InteractionsBuilder::new();
    b.push(0, &Event::implicit("a", "x"));
    let lone = b.build().unwrap().remove(0);
    let mut m = build("item2vec", &Params::default()).unwrap();
    m.fit(&lone, &NoProgress).unwrap();
    assert_eq!(m.fit_report().unwrap()["untrained_items"], 1);
    assert!(m.recommend(&[0], 5).unwrap()[0].is_empty());
}

#[test]
fn out_of_range_parameters_name_the_key() {
    for (model, kv, key) in [
        ("item2vec", "window=0", "`window`"),
        ("item2vec", "ns_exponent=-0.5", "`ns_exponent`"),
        ("item2vec", "negatives=0", "`negatives`"),
        ("item2vec", "dim=0", "`dim`"),
        ("item2vec", "min_count=0", "`min_count`"),
        ("item2vec", "recency=1.5", "`recency`"),
        ("item2vec", "min_learning_rate=1", "`min_learning_rate`"),
        ("item2vec", "window_mode=all", "window_mode"),
        ("deepwalk", "walk_length=1", "`walk_length`"),
        ("deepwalk", "graph_window=0", "`graph_window`"),
        ("node2vec", "p=0", "`p`"),
        ("node2vec", "q=-1", "`q`"),
        ("node2vec", "p=inf", "`p`"),
        ("line", "order=3", "order"),
        ("line", "ns_exponent=-1", "`ns_exponent`"),
    ] {
        let e = build(model, &Params::parse(&[kv]).unwrap())
            .err()
            .unwrap_or_else(|| panic!("{model} {kv} was accepted"))
            .to_string();
        assert!(e.contains(key), "{model} {kv}: {e}");
    }
    // item2vec has no walks: p is not one of its keys.
    let e = build("item2vec", &Params::parse(&["p=2"]).unwrap())
        .err()
        .unwrap()
        .to_string();
    assert!(e.contains("unknown parameter `p`"), "{e}");
    // LINE samples edges: it has no window.
    let e = build("line", &Params::parse(&["window=3"]).unwrap())
        .err()
        .unwrap()
        .to_string();
    assert!(e.contains("unknown parameter `window`"), "{e}");
}

#[test]
fn a_new_history_moves_the_user_without_a_refit() {
    let s = data();
    let mut m = build("item2vec", &Params::default()).unwrap();
    m.fit(&s.train, &NoProgress).unwrap();
    let v = m.vectors().unwrap();
    let h = s.train.user_row(3);
    let trained = v.user_vectors().row(3).to_vec();
    let again = v.embed_history(h);
    let close = |a: &[f32], b: &[f32]| a.iter().zip(b).all(|(x, y)| (x - y).abs() < 1e-5);
    assert!(
        close(&trained, &again),
        "the stored vector is the history's"
    );
    // Another user's items as the latest clicks: the vector moves towards them.
    let other = s.train.user_row(200);
    let mut items: Vec<u32> = h.indices.iter().chain(other.indices).copied().collect();
    items.sort_unstable();
    items.dedup();
    let moved = v.embed_history(Row {
        indices: &items,
        values: None,
        times: None,
    });
    assert!(!close(&trained, &moved));
    let recs = m.recommend_for_items(&items, 10).unwrap();
    assert!(recs.iter().all(|(i, _)| items.binary_search(i).is_err()));
}
