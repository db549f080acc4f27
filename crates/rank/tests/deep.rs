//! The deep rankers (`widedeep`, `deepfm`, `dcn`, `dcnv2`) beyond the contract every ranker
//! keeps: what they learn that FM cannot, divergence, determinism, online learning of the
//! embeddings alone, and bad input.

use funnel_data::synthetic::ctr::{generate, CtrData, CtrSpec, Truth};
use funnel_features::SampleSet;
use funnel_rank::{build, evaluate, ModelReader, Params, RankModel};

fn samples(d: &CtrData, range: std::ops::Range<usize>) -> SampleSet {
    let card = d.spec.cardinality as u32;
    let mut s = SampleSet::new();
    let mut feats = Vec::new();
    for i in range {
        feats.clear();
        for (f, &v) in d.sample(i).iter().enumerate() {
            feats.push((f as u32, f as u32 * card + v, 1.0));
        }
        s.push(d.labels[i] as f32, None, &feats);
    }
    s.n_features = d.spec.fields as u32 * card;
    s.n_fields = d.spec.fields as u32;
    s
}

fn cross3(n: usize, seed: u64) -> CtrData {
    generate(&CtrSpec {
        samples: n,
        fields: 5,
        cardinality: 12,
        truth: Truth::Cross3,
        seed,
        ..Default::default()
    })
}

fn logloss(model: &str, set: &[&str], train: &SampleSet, test: &SampleSet) -> f64 {
    let mut m = build(model, &Params::parse(set).unwrap()).unwrap();
    m.fit(train, None).unwrap();
    evaluate(&m.predict(test), test).unwrap().logloss
}

/// Truth with a three-way product of fields 0, 1 and 2 on top of FM-shaped pairs: FM and
/// FFM can only fit its pairwise shadow; an MLP over the field embeddings, or DCN-V2's
/// cross layers, represent it.
#[test]
fn deep_models_learn_a_three_way_cross_that_fm_and_ffm_cannot() {
    let d = cross3(120_000, 7);
    let (train, test) = (samples(&d, 0..100_000), samples(&d, 100_000..120_000));
    let oracle = d.oracle_logloss_of(100_000..120_000);
    let fm = logloss("fm", &["factors=8"], &train, &test);
    let ffm = logloss("ffm", &[], &train, &test);
    let pairwise = fm.min(ffm);
    for model in ["deepfm", "dcnv2"] {
        let l = logloss(model, &["epochs=8"], &train, &test);
        println!("{model}: {l:.4} (oracle {oracle:.4}, fm {fm:.4}, ffm {ffm:.4})");
        // the deep model closes at least a third of the pairwise models' gap to the oracle
        assert!(
            l < pairwise - (pairwise - oracle) / 3.0,
            "{model} {l:.4} vs fm {fm:.4} / ffm {ffm:.4}, oracle {oracle:.4}"
        );
    }
}

fn simple(n: usize) -> SampleSet {
    let d = cross3(n, 1);
    samples(&d, 0..n)
}

#[test]
fn a_diverging_run_stops_naming_epoch_step_and_learning_rate() {
    let s = simple(3000);
    for model in ["deepfm", "dcnv2"] {
        let mut m = build(model, &Params::parse(&["learning_rate=10000"]).unwrap()).unwrap();
        let err = m.fit(&s, None).unwrap_err().to_string();
        assert!(
            err.contains("diverged at epoch")
                && err.contains("step")
                && err.contains("learning rate 10000"),
            "{model}: {err}"
        );
    }
}

#[test]
fn non_finite_features_are_refused_naming_the_sample() {
    let mut s = simple(100);
    s.values[7] = f32::NAN;
    let mut m = build("widedeep", &Params::default()).unwrap();
    let err = m.fit(&s, None).unwrap_err().to_string();
    assert!(
        err.contains("sample") && err.contains("non-finite"),
        "{err}"
    );
}

#[test]
fn the_same_seed_gives_the_same_model_on_one_thread_and_on_two() {
    let s = simple(4000);
    let run = |threads: usize| {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap();
        pool.install(|| {
            let mut m = build(
                "dcnv2",
                &Params::parse(&["epochs=2", "cross_rank=4"]).unwrap(),
            )
            .unwrap();
            m.fit(&s, None).unwrap();
            m.predict(&s)
        })
    };
    let one = run(1);
    assert_eq!(one, run(1));
    assert_eq!(one, run(2), "two threads changed the bits");
}

#[test]
fn online_updates_of_the_embeddings_alone_keep_the_dense_layers() {
    let s = simple(3000);
    let more = samples(&cross3(500, 9), 0..500);
    let dir = tempfile::tempdir().unwrap();
    let read = |name: &str, key: &str| {
        ModelReader::open(&dir.path().join(name))
            .unwrap()
            .f32s(key)
            .unwrap()
    };
    let mut m = build(
        "deepfm",
        &Params::parse(&["epochs=2", "online_update=embeddings"]).unwrap(),
    )
    .unwrap();
    m.fit(&s, None).unwrap();
    let mut bundle = RankModel::new(m);
    bundle.save(&dir.path().join("a.funnel")).unwrap();
    bundle.ranker.partial_fit(&more).unwrap();
    bundle.save(&dir.path().join("b.funnel")).unwrap();
    assert_eq!(
        read("a.funnel", "mlp.0.weight"),
        read("b.funnel", "mlp.0.weight")
    );
    assert_ne!(read("a.funnel", "embedding"), read("b.funnel", "embedding"));
    // and with the default, everything learns
    let mut m = build("deepfm", &Params::parse(&["epochs=2"]).unwrap()).unwrap();
    m.fit(&s, None).unwrap();
    let mut bundle = RankModel::new(m);
    bundle.save(&dir.path().join("c.funnel")).unwrap();
    bundle.ranker.partial_fit(&more).unwrap();
    bundle.save(&dir.path().join("d.funnel")).unwrap();
    assert_ne!(
        read("c.funnel", "mlp.0.weight"),
        read("d.funnel", "mlp.0.weight")
    );
}

#[test]
fn samples_with_more_fields_than_the_model_was_trained_on_are_refused() {
    let s = simple(1000);
    let mut m = build("dcn", &Params::parse(&["epochs=1"]).unwrap()).unwrap();
    m.fit(&s, None).unwrap();
    let mut wider = SampleSet::new();
    wider.push(1.0, None, &[(0, 1, 1.0), (7, 3, 1.0)]);
    wider.n_fields = 8;
    wider.n_features = 60;
    let err = m.partial_fit(&wider).unwrap_err().to_string();
    assert!(
        err.contains("8 fields") && err.contains("trained on 5"),
        "{err}"
    );
}

#[test]
fn bad_settings_are_refused_naming_the_key() {
    for (model, set, key) in [
        ("deepfm", "hidden=256,abc", "hidden"),
        ("widedeep", "dropout=1.5", "dropout"),
        ("dcnv2", "structure=sideways", "structure"),
        ("dcnv2", "optimizer=adamax", "optimizer"),
        ("deepfm", "cross_layers=2", "cross_layers"),
        ("fibinet", "bilinear_type=diagonal", "bilinear_type"),
        ("fibinet", "reduction_ratio=0", "reduction_ratio"),
    ] {
        let err = build(model, &Params::parse(&[set]).unwrap())
            .err()
            .unwrap_or_else(|| panic!("{model} took {set}"))
            .to_string();
        assert!(err.contains(key), "{model} {set}: {err}");
    }
}
