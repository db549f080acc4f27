//! Rankers against data whose true click probabilities are known, plus the online,
//! calibration and bad-input contracts of issue 4. Small data: each test runs in well
//! under a second in release mode.

use funnel_data::synthetic::ctr::{generate, CtrData, CtrSpec, Truth};
use funnel_features::SampleSet;
use funnel_rank::{build, evaluate, Params, RankModel};

fn samples(d: &CtrData, range: std::ops::Range<usize>) -> SampleSet {
    let card = d.spec.cardinality as u32;
    let mut s = SampleSet::new();
    let mut feats = Vec::new();
    for i in range {
        feats.clear();
        for (f, &v) in d.sample(i).iter().enumerate() {
            feats.push((f as u32, f as u32 * card + v, 1.0));
        }
        s.push(d.labels[i] as f32, Some((i % 500) as u32), &feats);
    }
    // Every model sees the full index space, whatever the split holds.
    s.n_features = d.spec.fields as u32 * card;
    s.n_fields = d.spec.fields as u32;
    s
}

fn fit_eval(name: &str, set: &[&str], train: &SampleSet, test: &SampleSet) -> f64 {
    let mut m = build(name, &Params::parse(set).unwrap()).unwrap();
    m.fit(train, None).unwrap();
    evaluate(&m.predict(test), test).unwrap().logloss
}

#[test]
fn factorisation_machines_come_within_two_percent_of_the_oracle_on_fm_shaped_truth() {
    let d = generate(&CtrSpec {
        samples: 240_000,
        fields: 5,
        cardinality: 20,
        truth: Truth::Fm,
        seed: 3,
        ..Default::default()
    });
    let (train, test) = (samples(&d, 0..200_000), samples(&d, 200_000..240_000));
    let best = d.oracle_logloss_of(200_000..240_000);
    let lr = fit_eval("lr", &["epochs=3", "alpha=0.1"], &train, &test);
    for (model, set) in [
        ("fm", &["factors=4", "learning_rate=0.1"][..]),
        (
            "ffm",
            &["factors=4", "normalize=false", "learning_rate=0.1"][..],
        ),
    ] {
        let got = fit_eval(model, set, &train, &test);
        eprintln!("oracle {best:.4}, {model} {got:.4}, lr {lr:.4}");
        assert!(got <= best * 1.02, "{model} LogLoss {got} vs oracle {best}");
        assert!(
            got < lr,
            "{model} {got} should beat LR {lr} on interaction data"
        );
    }
}

fn fm_data(samples_n: usize, seed: u64) -> CtrData {
    generate(&CtrSpec {
        samples: samples_n,
        fields: 5,
        cardinality: 20,
        truth: Truth::Fm,
        seed,
        ..Default::default()
    })
}

#[test]
fn one_online_pass_in_stream_order_is_within_0_002_auc_of_the_batch_model() {
    let d = fm_data(240_000, 5);
    let (train, test) = (samples(&d, 0..200_000), samples(&d, 200_000..240_000));
    for (model, batch_set) in [
        ("lr", &["alpha=0.1", "epochs=5", "shuffle=true"][..]),
        ("fm", &["learning_rate=0.1"][..]),
    ] {
        let mut batch = build(model, &Params::parse(batch_set).unwrap()).unwrap();
        batch.fit(&train, None).unwrap();
        let online_set: Vec<&str> = batch_set
            .iter()
            .copied()
            .filter(|s| s.starts_with("alpha") || s.starts_with("learning_rate"))
            .collect();
        let mut online = build(model, &Params::parse(&online_set).unwrap()).unwrap();
        // The stream arrives in pieces, as feedback does while serving.
        for start in (0..train.len()).step_by(10_000) {
            let end = (start + 10_000).min(train.len());
            online
                .partial_fit(&train.select(&(start..end).collect::<Vec<_>>()))
                .unwrap();
        }
        let a = evaluate(&batch.predict(&test), &test).unwrap().auc.unwrap();
        let b = evaluate(&online.predict(&test), &test)
            .unwrap()
            .auc
            .unwrap();
        eprintln!("{model}: batch AUC {a:.4}, one online pass {b:.4}");
        assert!((a - b).abs() <= 0.002, "{model}: batch {a} vs online {b}");
    }
}

#[test]
fn down_sampled_negatives_corrected_restore_the_logloss() {
    use rand::{Rng, SeedableRng};
    let d = fm_data(240_000, 7);
    let (train, test) = (samples(&d, 0..200_000), samples(&d, 200_000..240_000));
    let set = Params::parse(&["learning_rate=0.1"]).unwrap();
    let mut full = build("fm", &set).unwrap();
    full.fit(&train, None).unwrap();
    let full_ll = evaluate(&full.predict(&test), &test).unwrap().logloss;
    // Keep every positive and 10% of negatives.
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(1);
    let kept: Vec<usize> = (0..train.len())
        .filter(|&i| train.labels[i] > 0.0 || rng.random::<f64>() < 0.1)
        .collect();
    let mut sampled = build("fm", &set).unwrap();
    sampled.fit(&train.select(&kept), None).unwrap();
    let mut bundle = RankModel::new(sampled);
    let raw = evaluate(&bundle.ranker.predict(&test), &test).unwrap();
    bundle.negative_keep_rate = 0.1;
    let fixed = evaluate(&bundle.predict(&test), &test).unwrap();
    eprintln!(
        "full {full_ll:.4}; 10% negatives: raw {:.4} (ECE {:.4}), corrected {:.4} (ECE {:.4})",
        raw.logloss, raw.ece, fixed.logloss, fixed.ece
    );
    assert!(
        raw.logloss > full_ll * 1.2,
        "down-sampling should hurt before correction"
    );
    assert!(
        fixed.logloss <= full_ll * 1.01,
        "{} vs {full_ll}",
        fixed.logloss
    );
    assert!(fixed.ece < raw.ece / 3.0);
}

#[test]
fn nan_features_never_poison_the_weights() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("nan.svm");
    let mut text = String::new();
    for i in 0..2000 {
        let v = match i % 4 {
            0 => "nan",
            1 => "inf",
            2 => "-inf",
            _ => "1",
        };
        text.push_str(&format!("{} 1:{v} {}:1 3:0.5\n", i % 2, 10 + i % 7));
    }
    std::fs::write(&path, text).unwrap();
    let (s, report) = funnel_features::read_libsvm(&path).unwrap();
    assert_eq!(report.non_finite, 1500);
    for name in ["lr", "fm", "ffm"] {
        let mut m = RankModel::new(build(name, &Params::default()).unwrap());
        m.ranker.fit(&s, None).unwrap();
        m.ranker.partial_fit(&s).unwrap();
        let out = dir.path().join(format!("{name}.model"));
        m.save(&out).unwrap();
        let r = funnel_model::ModelReader::open(&out).unwrap();
        for t in ["bias", "zn", "linear", "factors", "factors_acc"] {
            if r.has(t) {
                assert!(
                    r.f32s(t).unwrap().iter().all(|w| w.is_finite()),
                    "{name} {t}"
                );
            }
        }
        assert!(m.predict(&s).iter().all(|p| p.is_finite()));
    }
    // A set built by hand with a NaN is refused, not learned from.
    let mut bad = SampleSet::new();
    bad.push(1.0, None, &[(0, 1, f32::NAN)]);
    let e = build("fm", &Params::default())
        .unwrap()
        .fit(&bad, None)
        .unwrap_err()
        .to_string();
    assert!(e.contains("sample 1") && e.contains("non-finite"), "{e}");
}

#[test]
fn model_files_round_trip_and_refuse_other_types() {
    let d = fm_data(5_000, 9);
    let s = samples(&d, 0..5_000);
    let dir = tempfile::tempdir().unwrap();
    for name in ["lr", "fm", "ffm"] {
        let mut m = RankModel::new(build(name, &Params::parse(&["epochs=2"]).unwrap()).unwrap());
        m.ranker.fit(&s, None).unwrap();
        m.calibrate("isotonic", &s).unwrap();
        m.negative_keep_rate = 0.5;
        m.pipeline = Some(serde_json::json!({"fields": ["a"]}));
        let p = dir.path().join(format!("{name}.model"));
        m.save(&p).unwrap();
        let back = RankModel::load(&p).unwrap();
        assert_eq!(back.ranker.name(), name);
        assert_eq!(back.predict(&s), m.predict(&s));
        assert_eq!(back.calibration, m.calibration);
        assert_eq!(back.pipeline, m.pipeline);
        // Learning continues from the loaded state exactly as from the original.
        let (mut a, mut b) = (m, back);
        a.ranker.partial_fit(&s).unwrap();
        b.ranker.partial_fit(&s).unwrap();
        assert_eq!(a.predict(&s), b.predict(&s));
    }
    let other = dir.path().join("other.model");
    funnel_model::ModelWriter::new("itemknn", serde_json::json!({}))
        .write(&other)
        .unwrap();
    let e = RankModel::load(&other).unwrap_err().to_string();
    assert!(e.contains("`itemknn` model file, not a ranker"), "{e}");
    let e = build("fm", &Params::parse(&["factor=3"]).unwrap())
        .err()
        .unwrap()
        .to_string();
    assert!(e.contains("unknown parameter `factor`"), "{e}");
}

#[test]
fn learning_a_streamed_file_block_by_block_equals_one_pass_over_it_in_memory() {
    let d = fm_data(20_000, 13);
    let s = samples(&d, 0..20_000);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.ffm");
    funnel_features::write_libffm(&path, &s).unwrap();
    let (whole, _) = funnel_features::read_libffm(&path).unwrap();
    let mut batch = build("lr", &Params::default()).unwrap();
    batch.fit(&whole, None).unwrap();
    let mut streamed = build("lr", &Params::default()).unwrap();
    funnel_features::stream::<funnel_rank::RankError>(
        &path,
        funnel_features::TextFormat::Libffm,
        1 << 16,
        |block| streamed.partial_fit(block),
    )
    .unwrap();
    assert_eq!(batch.predict(&whole), streamed.predict(&whole));
}

#[test]
fn ftrl_l1_zeroes_weights_and_sgd_learns_too() {
    use funnel_rank::FtrlLr;
    let d = fm_data(30_000, 17);
    let s = samples(&d, 0..30_000);
    let weights = |l1: &str| {
        let mut m = FtrlLr::from_params(&Params::parse(&["alpha=0.1", l1]).unwrap()).unwrap();
        m.learn_set(&s).unwrap();
        m.weights()
    };
    let dense = weights("l1=0");
    let sparse = weights("l1=100");
    let zeros = |w: &[f32]| w.iter().filter(|&&x| x == 0.0).count();
    assert_eq!(
        zeros(&dense),
        0,
        "every feature occurs, so no weight is exactly 0 without L1"
    );
    assert!(
        zeros(&sparse) > sparse.len() / 3,
        "{} of {} zero",
        zeros(&sparse),
        sparse.len()
    );
    for model in ["fm", "ffm"] {
        let mut m = build(
            model,
            &Params::parse(&["optimizer=sgd", "learning_rate=0.05"]).unwrap(),
        )
        .unwrap();
        m.fit(&s, None).unwrap();
        let auc = evaluate(&m.predict(&s), &s).unwrap().auc.unwrap();
        assert!(auc > 0.8, "{model} with SGD: AUC {auc}");
    }
}

#[test]
fn raw_records_are_scored_through_the_pipeline_saved_with_the_model() {
    use funnel_features::{FeatureSpec, RawRecord};
    let spec = FeatureSpec::parse(
        "[[field]]\nname = \"user\"\nkind = \"categorical\"\n\
         [[field]]\nname = \"item\"\nkind = \"categorical\"\n\
         [[field]]\nname = \"price\"\nkind = \"numeric\"\ntransforms = [\"log1p\", \"standardize\"]\n",
        std::path::Path::new("spec.toml"),
    )
    .unwrap();
    // Users like cheap items; u0 also likes item i1.
    let mut records = Vec::new();
    let mut labels = Vec::new();
    for n in 0..3000u32 {
        let (u, i, price) = (n % 7, n % 5, (n % 11) as f64 * 3.0);
        let click = price < 12.0 || (u == 0 && i == 1);
        records.push(
            RawRecord::new()
                .with("user", format!("u{u}"))
                .with("item", format!("i{i}"))
                .with("price", price),
        );
        labels.push(click as u8 as f32);
    }
    let pipeline = spec.fit(&records).unwrap();
    let samples = pipeline.transform_set(&records, &labels, &[]);
    let mut model = RankModel::new(build("fm", &Params::parse(&["epochs=5"]).unwrap()).unwrap());
    model.ranker.fit(&samples, None).unwrap();
    model.pipeline = Some(serde_json::from_str(&pipeline.to_json()).unwrap());
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("m.model");
    model.save(&path).unwrap();
    let served = RankModel::load(&path).unwrap();
    // The served model, from raw records, gives exactly the offline predictions.
    assert_eq!(
        served.predict_records(&records).unwrap(),
        model.predict(&samples)
    );
    let p = served.predict_records(&records[..12]).unwrap();
    assert!(p[0] > 0.7 && p[5] < 0.3, "{p:?}"); // price 0 vs price 15
                                                // A model trained on plain files says it has no pipeline.
    let plain = RankModel::new(build("lr", &Params::default()).unwrap());
    assert!(plain
        .predict_records(&records)
        .unwrap_err()
        .to_string()
        .contains("no pipeline"));
}
