//! The tree models: `gbdt` learns what a linear model cannot, `gbdt_lr` learns it through
//! the leaves and keeps learning online, `lambdamart` ranks within queries, early stopping
//! keeps the best trees, and input the objective cannot take is refused naming the sample.

use funnel_features::SampleSet;
use funnel_rank::{build, Params, Ranker};
use rand::{Rng, SeedableRng};

fn auc(m: &dyn Ranker, s: &SampleSet) -> f64 {
    let p: Vec<f64> = m.predict(s).iter().map(|&x| x as f64).collect();
    let y: Vec<f64> = s.labels.iter().map(|&l| l as f64).collect();
    funnel_metrics::auc(&p, &y, None).unwrap().unwrap()
}

/// Label = (x0 > 0.5) xor (x1 > 0.5), 10% flipped; x2 is noise.
fn xor(n: usize, seed: u64) -> SampleSet {
    let mut rng = rand::rngs::SmallRng::seed_from_u64(seed);
    let mut s = SampleSet::new();
    for _ in 0..n {
        let x: [f32; 3] = [rng.random(), rng.random(), rng.random()];
        let mut y = (x[0] > 0.5) != (x[1] > 0.5);
        if rng.random::<f64>() < 0.1 {
            y = !y;
        }
        s.push(
            y as u8 as f32,
            None,
            &[(0, 0, x[0]), (0, 1, x[1]), (0, 2, x[2])],
        );
    }
    s.n_features = 3;
    s.n_fields = 1;
    s
}

#[test]
fn gbdt_learns_an_interaction_a_linear_model_cannot() {
    let (train, test) = (xor(4000, 1), xor(2000, 2));
    let mut trees = build("gbdt", &Params::default()).unwrap();
    trees.fit(&train, None).unwrap();
    let mut lr = build("lr", &Params::parse(&["epochs=5", "shuffle=true"]).unwrap()).unwrap();
    lr.fit(&train, None).unwrap();
    let (a, b) = (auc(trees.as_ref(), &test), auc(lr.as_ref(), &test));
    // 10% of labels flipped: the best AUC is about 0.9.
    eprintln!("AUC: gbdt {a}, lr {b}");
    assert!(a > 0.85 && b < 0.6, "gbdt {a}, lr {b}");
    // Probabilities are calibrated-ish: the mean prediction is near the positive rate.
    let mean: f32 = trees.predict(&test).iter().sum::<f32>() / test.len() as f32;
    assert!((mean - 0.5).abs() < 0.05, "{mean}");
}

#[test]
fn early_stopping_keeps_the_best_trees() {
    let (train, valid) = (xor(2000, 3), xor(1000, 4));
    let set = [
        "num_trees=500",
        "learning_rate=0.5",
        "num_leaves=63",
        "min_data_in_leaf=2",
    ];
    let mut m = build("gbdt", &Params::parse(&set).unwrap()).unwrap();
    let r = m.fit(&train, Some(&valid)).unwrap();
    assert!(r.epochs < 500, "{r:?}");
    assert!(r.best_epoch < r.epochs, "{r:?}");
    let best = r.validation_logloss[r.best_epoch - 1];
    assert!(r.validation_logloss.iter().all(|&l| l >= best));
}

/// Queries of 20 documents whose grades (0–3) follow a non-linear function of 4
/// features, plus 2 noise features.
fn ranking(queries: usize, seed: u64) -> SampleSet {
    let mut rng = rand::rngs::SmallRng::seed_from_u64(seed);
    let mut s = SampleSet::new();
    for q in 0..queries as u32 {
        for _ in 0..20 {
            let x: Vec<f32> = (0..6).map(|_| rng.random::<f32>() * 2.0 - 1.0).collect();
            let t = 2.0 * x[0] - x[1] * x[1] + x[2] * x[3];
            let grade = ((t + 1.5) / 1.2).clamp(0.0, 3.0).floor();
            let f: Vec<(u32, u32, f32)> = x
                .iter()
                .enumerate()
                .map(|(j, &v)| (0, j as u32, v))
                .collect();
            s.push(grade, Some(q), &f);
        }
    }
    s.n_features = 6;
    s.n_fields = 1;
    s
}

fn ndcg(scores: &[f32], s: &SampleSet, k: usize) -> f64 {
    let q = funnel_rank::gbdt::queries(s).unwrap();
    let sc: Vec<f64> = scores.iter().map(|&x| x as f64).collect();
    funnel_metrics::query_metrics(&sc, &s.labels, &q, &[k]).metrics[&format!("ndcg@{k}")]
}

#[test]
fn lambdamart_ranks_within_queries() {
    let (train, test) = (ranking(300, 5), ranking(100, 6));
    let mut m = build("lambdamart", &Params::default()).unwrap();
    m.fit(&train, None).unwrap();
    assert!(!m.predicts_probabilities() && !m.learns_online());
    let trees = ndcg(&m.predict(&test), &test, 5);
    // The single most telling feature, x0, as the ranking.
    let x0: Vec<f32> = (0..test.len()).map(|i| test.row(i).values[0]).collect();
    let baseline = ndcg(&x0, &test, 5);
    eprintln!("NDCG@5: lambdamart {trees}, x0 alone {baseline}");
    assert!(
        trees > 0.9 && trees > baseline + 0.05,
        "lambdamart {trees}, x0 {baseline}"
    );
    // RankNet's unweighted pairs rank too.
    let mut m = build(
        "lambdamart",
        &Params::parse(&["objective=pairwise"]).unwrap(),
    )
    .unwrap();
    m.fit(&train, None).unwrap();
    let pairs = ndcg(&m.predict(&test), &test, 5);
    eprintln!("NDCG@5: pairwise {pairs}");
    assert!(pairs > 0.9, "pairwise {pairs}");
}

#[test]
fn input_the_objective_cannot_take_is_refused_naming_the_sample() {
    let mut s = xor(100, 7);
    s.labels[41] = 2.0;
    let e = build("gbdt", &Params::default())
        .unwrap()
        .fit(&s, None)
        .unwrap_err()
        .to_string();
    assert!(e.contains("sample 42") && e.contains("0 or 1"), "{e}");
    let mut r = ranking(3, 8);
    r.labels[5] = 1.5;
    let e = build("lambdamart", &Params::default())
        .unwrap()
        .fit(&r, None)
        .unwrap_err()
        .to_string();
    assert!(e.contains("sample 6") && e.contains("whole grade"), "{e}");
    // A query's documents must be consecutive.
    let mut r = ranking(3, 8);
    r.groups[45] = 0;
    let e = build("lambdamart", &Params::default())
        .unwrap()
        .fit(&r, None)
        .unwrap_err()
        .to_string();
    assert!(e.contains("sample 46") && e.contains("consecutive"), "{e}");
    for kv in [
        "num_leaves=1",
        "max_bin=300",
        "bagging_fraction=0",
        "learning_rate=-1",
        "objective=poisson",
    ] {
        let e = build("gbdt", &Params::parse(&[kv]).unwrap())
            .err()
            .unwrap()
            .to_string();
        assert!(e.contains(kv.split('=').next().unwrap()), "{kv}: {e}");
    }
}

#[test]
fn gbdt_lr_learns_through_the_leaves_and_online() {
    let (train, test) = (xor(4000, 11), xor(2000, 12));
    let mut m = build(
        "gbdt_lr",
        &Params::parse(&["epochs=3", "shuffle=true"]).unwrap(),
    )
    .unwrap();
    m.fit(&train, None).unwrap();
    let a = auc(m.as_ref(), &test);
    eprintln!("AUC: gbdt_lr {a}");
    assert!(
        a > 0.85 && m.learns_online() && m.predicts_probabilities(),
        "{a}"
    );
    // The world flips (clicks where there were none): the trees stay, and the regression
    // on their leaves follows the new clicks online.
    let flip = |s: &SampleSet| {
        let mut f = s.clone();
        f.labels.iter_mut().for_each(|l| *l = 1.0 - *l);
        f
    };
    let (new_train, new_test) = (flip(&xor(4000, 13)), flip(&test));
    let before = auc(m.as_ref(), &new_test);
    for _ in 0..3 {
        m.partial_fit(&new_train).unwrap();
    }
    let after = auc(m.as_ref(), &new_test);
    eprintln!("AUC on the flipped world: {before} -> {after}");
    assert!(before < 0.2 && after > 0.8, "{before} -> {after}");
    let e = build(
        "gbdt_lr",
        &Params::parse(&["objective=lambdarank"]).unwrap(),
    )
    .err()
    .unwrap()
    .to_string();
    assert!(e.contains("objective"), "{e}");
}

/// A click log simulated over graded relevance (the grades of [`ranking`]): a logging
/// ranker that leans on `z`, a feature unrelated to relevance, shows each query's top
/// `shown` of 30 candidates; a document at position k is examined with probability 1/k
/// and, examined, clicked with 0.05 + 0.95·(2^grade − 1)/7. Returns the click log (with
/// positions) and the queries with all their candidates and true grades.
fn click_log(queries: usize, shown: usize, seed: u64) -> (SampleSet, SampleSet) {
    // Grade, features, the logging ranker's score.
    type Candidate = (f32, Vec<(u32, u32, f32)>, f64);
    let mut rng = rand::rngs::SmallRng::seed_from_u64(seed);
    let (mut clicks, mut graded) = (SampleSet::new(), SampleSet::new());
    for q in 0..queries as u32 {
        let mut docs: Vec<Candidate> = (0..30)
            .map(|_| {
                let x: Vec<f32> = (0..6).map(|_| rng.random::<f32>() * 2.0 - 1.0).collect();
                let t = 2.0 * x[0] - x[1] * x[1] + x[2] * x[3];
                let grade = ((t + 1.5) / 1.2).clamp(0.0, 3.0).floor();
                // x5 is `z`: the logging ranker's favourite, no part of relevance.
                let logged = 0.5 * t as f64 + 2.0 * x[5] as f64 + rng.random::<f64>() * 0.5;
                let f = x
                    .iter()
                    .enumerate()
                    .map(|(j, &v)| (0, j as u32, v))
                    .collect();
                (grade, f, logged)
            })
            .collect();
        for (grade, f, _) in &docs {
            graded.push(*grade, Some(q), f);
        }
        docs.sort_by(|a, b| b.2.total_cmp(&a.2));
        for (k, (grade, f, _)) in docs.iter().take(shown).enumerate() {
            let examined = rng.random::<f64>() < 1.0 / (k + 1) as f64;
            let attractive = 0.05 + 0.95 * (2f64.powf(*grade as f64) - 1.0) / 7.0;
            let click = examined && rng.random::<f64>() < attractive;
            clicks.push(click as u8 as f32, Some(q), f);
            clicks.positions.push(k as u32 + 1);
        }
    }
    for s in [&mut clicks, &mut graded] {
        s.n_features = 6;
        s.n_fields = 1;
    }
    (clicks, graded)
}

/// Trained on clicks, plain LambdaMART learns that the logging ranker's favourite gets
/// clicked; `position_bias=unbiased` learns how clicks fall with the position instead,
/// ranks the true grades clearly better, and reports propensities that fall as 1/k does.
#[test]
fn unbiased_lambdamart_undoes_the_position_bias_of_clicks() {
    let (clicks, _) = click_log(3000, 10, 21);
    let (_, graded) = click_log(300, 10, 22);
    let fit = |bias: &str| {
        let mut m = build(
            "lambdamart",
            &Params::parse(&[&format!("position_bias={bias}")]).unwrap(),
        )
        .unwrap();
        m.fit(&clicks, None).unwrap();
        m
    };
    let (none, unbiased, ipw) = (fit("none"), fit("unbiased"), fit("ipw"));
    let [a, b, c] = [&none, &unbiased, &ipw].map(|m| ndcg(&m.predict(&graded), &graded, 10));
    let p = unbiased.position_bias().unwrap();
    eprintln!("NDCG@10 on the true grades: none {a:.4}, unbiased {b:.4}, ipw {c:.4}; {p}");
    assert!(none.position_bias().is_none());
    assert!(b > a + 0.02, "none {a}, unbiased {b}");
    let t: Vec<f64> = p["propensity"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_f64().unwrap())
        .collect();
    // Ten positions logged, ten bins; examination is 1/k, and the estimate follows it.
    assert_eq!((t.len(), t[0]), (10, 1.0));
    for (k, &x) in t.iter().enumerate() {
        let truth = 1.0 / (k + 1) as f64;
        assert!(
            (x - truth).abs() < 0.1 + 0.25 * truth,
            "position {}: {x} vs {truth}",
            k + 1
        );
    }
    // The Hu et al. propensities are estimated and fall with the position too.
    let q = ipw.position_bias().unwrap();
    let t: Vec<f64> = q["clicked"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_f64().unwrap())
        .collect();
    assert!(t[0] == 1.0 && t[9] < t[1] && t[1] < 1.0, "{t:?}");
    // Without positions the correction is refused, saying where they go.
    let mut bare = clicks.clone();
    bare.positions.clear();
    let e = build(
        "lambdamart",
        &Params::parse(&["position_bias=unbiased"]).unwrap(),
    )
    .unwrap()
    .fit(&bare, None)
    .unwrap_err()
    .to_string();
    assert!(e.contains(".position"), "{e}");
    // Trees on clicks as labels alone have no pairs to correct.
    let e = build("gbdt", &Params::parse(&["position_bias=unbiased"]).unwrap())
        .err()
        .unwrap()
        .to_string();
    assert!(e.contains("position_bias"), "{e}");
}

/// 30% of rows have x0 missing and are mostly clicked, 30% have x0 = 0 and are not,
/// the rest are clicked when x0 > 0.8: only a tree that sends missing values their own
/// way can tell the first two groups apart.
fn with_missing(n: usize, seed: u64) -> SampleSet {
    let mut rng = rand::rngs::SmallRng::seed_from_u64(seed);
    let mut s = SampleSet::new();
    for i in 0..n {
        let u: f64 = rng.random();
        let x: f32 = rng.random();
        let noise: f32 = rng.random();
        let (y, x0) = if u < 0.3 {
            (rng.random::<f64>() < 0.9, None)
        } else if u < 0.6 {
            (false, Some(0.0))
        } else {
            (x > 0.8, Some(x))
        };
        let mut f = vec![(0, 1, noise)];
        match x0 {
            Some(v) if v != 0.0 => f.push((0, 0, v)),
            Some(_) => {}
            None => s.missing.push((i as u32, 0)),
        }
        s.push(y as u8 as f32, None, &f);
    }
    s.n_features = 2;
    s.n_fields = 1;
    s
}

#[test]
fn missing_values_go_the_learned_way_and_survive_the_model_file() {
    let (train, test) = (with_missing(4000, 31), with_missing(2000, 32));
    let mut m = build("gbdt", &Params::default()).unwrap();
    m.fit(&train, None).unwrap();
    let learnt = auc(m.as_ref(), &test);
    // The same rows with missing read as absent (0): the two groups merge.
    let (mut train0, mut test0) = (train.clone(), test.clone());
    train0.missing.clear();
    test0.missing.clear();
    let mut z = build("gbdt", &Params::default()).unwrap();
    z.fit(&train0, None).unwrap();
    let as_zero = auc(z.as_ref(), &test0);
    eprintln!("AUC: missing learnt {learnt:.4}, missing as 0 {as_zero:.4}");
    assert!(
        learnt > 0.93 && learnt > as_zero + 0.08,
        "{learnt} vs {as_zero}"
    );
    // Saved and loaded, the model routes missing values the same way.
    let d = tempfile::tempdir().unwrap();
    let path = d.path().join("m.funnel");
    funnel_rank::RankModel::new(m).save(&path).unwrap();
    let back = funnel_rank::RankModel::load(&path).unwrap();
    let fresh = build("gbdt", &Params::default()).map(|mut x| {
        x.fit(&train, None).unwrap();
        x
    });
    assert_eq!(back.ranker.predict(&test), fresh.unwrap().predict(&test));
    // A model that never saw a feature missing reads a missing value as 0.
    let p_missing = z.predict(&test);
    let p_zero = z.predict(&test0);
    assert_eq!(p_missing, p_zero);
}
