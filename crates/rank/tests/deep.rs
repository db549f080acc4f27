//! The deep rankers beyond the contract every ranker keeps: what they learn that FM
//! cannot (a three-way cross; for DIN, clicks that hang on the history matching the
//! candidate), divergence, determinism, online learning of the embeddings alone, and bad
//! input.

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

/// A click log whose truth hangs on the user's history: a click is likely when the
/// candidate's category is among those of the items the user saw before. The samples
/// carry a schema as a feature spec would make it: `hist` takes `item_id`'s vocabulary,
/// `hist.category` `item.category`'s.
struct HistoryLog {
    train: SampleSet,
    test: SampleSet,
    oracle: f64,
}

fn history_log(n_train: usize, n_test: usize, seed: u64) -> HistoryLog {
    use funnel_features::FieldInfo;
    const USERS: u32 = 400;
    const ITEMS: u32 = 240;
    const CATS: u32 = 12;
    const HIST: usize = 8;
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut next = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    let category = |i: u32| (i.wrapping_mul(7) + i / 5) % CATS;
    let item_bias: Vec<f64> = (0..ITEMS)
        .map(|i| ((i * 37 % 101) as f64 / 101.0 - 0.5) * 0.8)
        .collect();
    let favourite = |u: u32| [(u * 5) % CATS, (u * 5 + 3) % CATS];
    // layout: user, item_id, item.category, hist, hist.category
    let sizes = [USERS + 1, ITEMS + 1, CATS + 1, ITEMS + 1, CATS + 1];
    let mut offsets = [0u32; 5];
    for f in 1..5 {
        offsets[f] = offsets[f - 1] + sizes[f - 1];
    }
    let schema: Vec<FieldInfo> = [
        "user_id",
        "item_id",
        "item.category",
        "hist",
        "hist.category",
    ]
    .iter()
    .enumerate()
    .map(|(f, name)| FieldInfo {
        name: name.to_string(),
        sequence: f >= 3,
        offset: offsets[f],
        vocab_of: match f {
            3 => Some(1),
            4 => Some(2),
            _ => None,
        },
    })
    .collect();
    let schema = std::sync::Arc::new(schema);
    let mut make = |n: usize| {
        let mut s = SampleSet::new();
        let mut loss = 0.0;
        let mut feats = Vec::new();
        for _ in 0..n {
            let u = (next() % USERS as u64) as u32;
            let fav = favourite(u);
            let hist: Vec<u32> = (0..HIST)
                .map(|_| loop {
                    let i = (next() % ITEMS as u64) as u32;
                    if next() % 10 < 2 || fav.contains(&category(i)) {
                        break i;
                    }
                })
                .collect();
            let j = (next() % ITEMS as u64) as u32;
            let matched = hist.iter().any(|&h| category(h) == category(j));
            let z = -1.2 + item_bias[j as usize] + if matched { 2.4 } else { 0.0 };
            let p = 1.0 / (1.0 + (-z).exp());
            let click = (next() % 1_000_000) as f64 / 1e6 < p;
            loss -= if click { p.ln() } else { (1.0 - p).ln() };
            feats.clear();
            feats.push((0, offsets[0] + 1 + u, 1.0));
            feats.push((1, offsets[1] + 1 + j, 1.0));
            feats.push((2, offsets[2] + 1 + category(j), 1.0));
            let w = 1.0 / (HIST as f32).sqrt();
            for &h in &hist {
                feats.push((3, offsets[3] + 1 + h, w));
            }
            for &h in &hist {
                feats.push((4, offsets[4] + 1 + category(h), w));
            }
            s.push(click as u8 as f32, None, &feats);
        }
        s.n_features = offsets[4] + sizes[4];
        s.n_fields = 5;
        s.schema = Some(schema.clone());
        (s, loss / n as f64)
    };
    let (train, _) = make(n_train);
    let (test, oracle) = make(n_test);
    HistoryLog {
        train,
        test,
        oracle,
    }
}

/// DIN attends from the candidate over the history and finds the matching category;
/// DeepFM, which pools the history, and FM do worse.
#[test]
fn din_beats_deepfm_when_clicks_hang_on_the_history_matching_the_candidate() {
    let d = history_log(80_000, 20_000, 3);
    let fm = logloss("fm", &["factors=8"], &d.train, &d.test);
    let deepfm = logloss("deepfm", &["epochs=8"], &d.train, &d.test);
    let din = logloss("din", &["epochs=8"], &d.train, &d.test);
    println!(
        "din {din:.4}, deepfm {deepfm:.4}, fm {fm:.4}, oracle {:.4}",
        d.oracle
    );
    assert!(din < deepfm - 0.004, "din {din:.4} vs deepfm {deepfm:.4}");
    assert!(din < fm, "din {din:.4} vs fm {fm:.4}");
    assert!(
        din < d.oracle * 1.1,
        "din {din:.4} vs oracle {:.4}",
        d.oracle
    );
}

/// DIN needs to know its history fields: samples without a schema (a libffm file) are
/// refused with the reason, unless the links are given.
#[test]
fn din_without_a_history_schema_is_refused_naming_what_it_needs() {
    let d = history_log(2_000, 10, 5);
    let mut plain = d.train.clone();
    plain.schema = None;
    let mut m = build("din", &Params::parse(&["epochs=1"]).unwrap()).unwrap();
    let err = m.fit(&plain, None).unwrap_err().to_string();
    assert!(
        err.contains("--spec") && err.contains("vocab_from"),
        "{err}"
    );
    // the same links by hand: hist (3) in item_id's rows (1), hist.category (4) in item.category's (2)
    let schema = d.train.schema.clone().unwrap();
    let shift = |h: usize, q: usize| schema[q].offset as i64 - schema[h].offset as i64;
    let links = format!("history_links=3:1:{},4:2:{}", shift(3, 1), shift(4, 2));
    let mut m = build("din", &Params::parse(&["epochs=1", &links]).unwrap()).unwrap();
    m.fit(&plain, None).unwrap();
    assert_eq!(m.predict(&d.test).len(), d.test.len());
    // links to fields the samples lack are refused, naming the key
    let mut m = build("din", &Params::parse(&["history_links=3:9:0"]).unwrap()).unwrap();
    let err = m.fit(&plain, None).unwrap_err().to_string();
    assert!(err.contains("history_links"), "{err}");
}
