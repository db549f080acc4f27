//! The contract every registered ranker keeps (the rankers' counterpart of recall's
//! contract test): its parameters are documented and their defaults build it; it learns
//! a signal; probabilities stay in (0, 1); `partial_fit` moves predictions; a save/load
//! round trip predicts the same; unknown keys and foreign files are refused with reasons.

use funnel_features::SampleSet;
use funnel_rank::registry::{self, MODELS};
use funnel_rank::{build, evaluate, Params, RankModel};

/// Feature 1 of field 0 means click, feature 2 no click; field 1 is noise; field 2 is a
/// history of two noise tokens in field 1's vocabulary (as a spec's `hist` with
/// `vocab_from`), so that models attending over histories (DIN) have one.
fn samples(n: usize, seed: u32) -> SampleSet {
    use funnel_features::FieldInfo;
    let mut s = SampleSet::new();
    let w = 1.0 / 2f32.sqrt();
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
                (2, 63 + (h >> 9) % 50, w),
                (2, 63 + (h >> 13) % 50, w),
            ],
        );
    }
    s.n_features = 120;
    s.n_fields = 3;
    let field = |name: &str, sequence, offset, vocab_of| FieldInfo {
        name: name.into(),
        sequence,
        offset,
        vocab_of,
    };
    s.schema = Some(std::sync::Arc::new(vec![
        field("signal", false, 0, None),
        field("noise", false, 2, None),
        field("hist", true, 62, Some(1)),
    ]));
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
        if m.predicts_probabilities() {
            assert!(p.iter().all(|&x| x > 0.0 && x < 1.0), "{}", e.name);
        }
        let auc = if m.predicts_probabilities() {
            evaluate(&p, &test).unwrap().auc.unwrap()
        } else {
            // Ranking scores: AUC needs only their order.
            let s: Vec<f64> = p.iter().map(|&x| x as f64).collect();
            let y: Vec<f64> = test.labels.iter().map(|&l| l as f64).collect();
            funnel_metrics::auc(&s, &y, None).unwrap().unwrap()
        };
        assert!(auc > 0.85, "{}: AUC {auc}", e.name);
        // saved and loaded as the bundle funnel rank train writes: same predictions
        let path = dir.path().join(format!("{}.funnel", e.name));
        let bundle = RankModel::new(m);
        bundle.save(&path).unwrap();
        let back = RankModel::load(&path).unwrap();
        assert_eq!(back.ranker.name(), e.name);
        assert_eq!(back.predict(&test), bundle.predict(&test), "{}", e.name);
        let err = build(e.name, &Params::parse(&["no_such_key=1"]).unwrap())
            .err()
            .unwrap()
            .to_string();
        assert!(err.contains("no_such_key"), "{err}");
        // online learning moves the predictions of what it learns; batch models say
        // they do not learn online
        let mut m = back.ranker;
        if !m.learns_online() {
            let err = m.partial_fit(&samples(1, 5)).unwrap_err().to_string();
            assert!(err.contains("batch"), "{}: {err}", e.name);
            continue;
        }
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

/// `predict_shared` (a request's user features once, each candidate's own) gives what
/// `predict` gives for the merged rows: exactly, or within float rounding for FM, which
/// computes the shared part once — with and without instance normalisation.
#[test]
fn predicting_with_shared_features_equals_predicting_merged_rows() {
    let train = samples(3000, 3);
    for (name, extra) in [
        ("lr", ""),
        ("fm", ""),
        ("fm", "normalize=true"),
        ("ffm", ""),
        ("gbdt", ""),
        ("gbdt_lr", ""),
        ("widedeep", ""),
        ("deepfm", ""),
        ("nfm", ""),
        ("pnn", ""),
        ("pnn", "product=outer"),
        ("autoint", ""),
        ("xdeepfm", ""),
        ("afm", ""),
        ("fibinet", ""),
        ("fibinet", "bilinear_type=all"),
        ("din", "history_links=0:1:0"),
        ("dcnv2", "cross_rank=4"),
    ] {
        let mut set: Vec<&str> = vec![if name == "gbdt" {
            "num_trees=20"
        } else {
            "epochs=2"
        }];
        if !extra.is_empty() {
            set.push(extra);
        }
        // three fields: 0 and 2 shared by every row, 1 each row's own
        let mut s = SampleSet::new();
        for k in 0..train.len() {
            let r = train.row(k);
            s.push(
                r.label,
                None,
                &[
                    (0, r.indices[0], 1.0),
                    (1, r.indices[1], 1.0),
                    (2, 60 + (k as u32 % 7), 0.5),
                ],
            );
        }
        s.n_features = 70;
        s.n_fields = 3;
        let mut m = build(name, &Params::parse(&set).unwrap()).unwrap();
        m.fit(&s, None).unwrap();
        let mut shared = SampleSet::new();
        shared.push(0.0, None, &[(0, 1, 1.0), (2, 63, 0.5)]);
        let (mut own, mut merged) = (SampleSet::new(), SampleSet::new());
        for j in 3..53 {
            own.push(0.0, None, &[(1, j, 1.0)]);
            merged.push(0.0, None, &[(0, 1, 1.0), (1, j, 1.0), (2, 63, 0.5)]);
        }
        // a feature the model never saw, among the row's own
        own.push(0.0, None, &[(1, 1_000, 1.0)]);
        merged.push(0.0, None, &[(0, 1, 1.0), (1, 1_000, 1.0), (2, 63, 0.5)]);
        for set in [&mut shared, &mut own, &mut merged] {
            set.n_features = 70;
            set.n_fields = 3;
        }
        let split = m.predict_shared(&shared, &own);
        let full = m.predict(&merged);
        assert_eq!(split.len(), full.len());
        for (a, b) in split.iter().zip(&full) {
            if name == "fm" {
                assert!((a - b).abs() < 1e-6, "{name} {extra}: {a} vs {b}");
            } else {
                assert_eq!(a, b, "{name}");
            }
        }
    }
}
