//! The contract every registered ranker keeps (the rankers' counterpart of recall's
//! contract test): its parameters are documented and their defaults build it; it learns
//! a signal; probabilities stay in (0, 1); `partial_fit` moves predictions; a save/load
//! round trip predicts the same; unknown keys and foreign files are refused with reasons.

use funnel_features::SampleSet;
use funnel_rank::registry::{self, MODELS};
use funnel_rank::{build, evaluate, Params, RankModel};

/// Feature 1 of field 0 means click, feature 2 no click; field 1 is noise.
fn samples(n: usize, seed: u32) -> SampleSet {
    let mut s = SampleSet::new();
    for i in 0..n as u32 {
        let h = (i.wrapping_mul(2_654_435_761) ^ seed) >> 7;
        let click = h % 3 != 0;
        let signal = if (h >> 3) % 10 < 9 { click } else { !click };
        s.push(
            click as u8 as f32,
            None,
            &[
                (0, if signal { 1 } else { 2 }, 1.0),
                (1, 3 + (h >> 5) % 50, 1.0),
            ],
        );
    }
    s.n_features = 60;
    s.n_fields = 2;
    s
}

#[test]
fn every_ranker_keeps_the_contract() {
    let (train, test) = (samples(6000, 1), samples(2000, 2));
    let dir = tempfile::tempdir().unwrap();
    for e in MODELS {
        let docs = e.parameters().unwrap();
        assert!(!docs.is_empty(), "{}", e.name);
        let pairs: Vec<String> = docs
            .iter()
            .map(|d| format!("{}={}", d.key, d.default))
            .collect();
        let mut m = build(e.name, &Params::parse(&pairs).unwrap())
            .unwrap_or_else(|err| panic!("{}: its own defaults do not build: {err}", e.name));
        assert_eq!(m.name(), e.name);
        m.fit(&train, None).unwrap();
        let p = m.predict(&test);
        assert!(p.iter().all(|&x| x > 0.0 && x < 1.0), "{}", e.name);
        let auc = evaluate(&p, &test).unwrap().auc.unwrap();
        assert!(auc > 0.85, "{}: AUC {auc}", e.name);
        // saved and loaded as the bundle funnel rank train writes: same predictions
        let path = dir.path().join(format!("{}.funnel", e.name));
        let bundle = RankModel::new(m);
        bundle.save(&path).unwrap();
        let back = RankModel::load(&path).unwrap();
        assert_eq!(back.ranker.name(), e.name);
        assert_eq!(back.predict(&test), bundle.predict(&test), "{}", e.name);
        // online learning moves the predictions of what it learns
        let mut m = back.ranker;
        let one = samples(1, 5);
        let before = m.predict(&one)[0];
        let mut flipped = one.clone();
        flipped.labels[0] = 1.0 - flipped.labels[0];
        for _ in 0..50 {
            m.partial_fit(&flipped).unwrap();
        }
        let after = m.predict(&one)[0];
        assert!(
            (after - before) * (flipped.labels[0] - 0.5) > 0.0,
            "{}: {before} -> {after}",
            e.name
        );
        let err = build(e.name, &Params::parse(&["no_such_key=1"]).unwrap())
            .err()
            .unwrap()
            .to_string();
        assert!(err.contains("no_such_key"), "{err}");
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
