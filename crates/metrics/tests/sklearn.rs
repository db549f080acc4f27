//! Funnel's metrics against scikit-learn on committed fixtures (scripts/sklearn_fixtures.py).

use funnel_metrics::{auc, gauc, logloss, TopKAccumulator};
use serde_json::Value;

const TOL: f64 = 1e-9;

fn fixtures() -> Value {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/sklearn.json");
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn floats(v: &Value) -> Vec<f64> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().unwrap())
        .collect()
}

fn close(name: &str, ours: f64, theirs: f64) {
    assert!(
        (ours - theirs).abs() <= TOL,
        "{name}: funnel {ours} vs scikit-learn {theirs}"
    );
}

#[test]
fn auc_and_logloss_equal_sklearn_with_ties_and_weights() {
    let f = fixtures();
    for case in f["pointwise"].as_array().unwrap() {
        let name = case["name"].as_str().unwrap();
        let s = floats(&case["scores"]);
        let y = floats(&case["labels"]);
        let w = (!case["weights"].is_null()).then(|| floats(&case["weights"]));
        close(
            &format!("{name} auc"),
            auc(&s, &y, w.as_deref()).unwrap().unwrap(),
            case["auc"].as_f64().unwrap(),
        );
        close(
            &format!("{name} logloss"),
            logloss(&s, &y, w.as_deref()).unwrap(),
            case["logloss"].as_f64().unwrap(),
        );
    }
}

#[test]
fn gauc_equals_weighted_per_user_sklearn_auc() {
    let f = &fixtures()["gauc"];
    let users: Vec<u32> = f["users"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u.as_u64().unwrap() as u32)
        .collect();
    let g = gauc(&users, &floats(&f["scores"]), &floats(&f["labels"]), None).unwrap();
    close("gauc", g.gauc.unwrap(), f["gauc"].as_f64().unwrap());
    assert_eq!(g.users as u64, f["used"].as_u64().unwrap());
    assert_eq!(g.skipped_users as u64, f["skipped"].as_u64().unwrap());
}

#[test]
fn topk_metrics_equal_sklearn_ndcg_and_average_precision() {
    let f = &fixtures()["ranking"];
    let n_items = f["n_items"].as_u64().unwrap() as usize;
    let ks: Vec<usize> = f["k"]
        .as_object()
        .unwrap()
        .keys()
        .map(|k| k.parse().unwrap())
        .collect();
    let (mut binary, mut graded) = (TopKAccumulator::new(&ks), TopKAccumulator::new(&ks));
    for u in f["users"].as_array().unwrap() {
        let scores = floats(&u["scores"]);
        let rel = floats(&u["relevance"]);
        let mut ranked: Vec<u32> = (0..n_items as u32).collect();
        ranked.sort_by(|&a, &b| scores[b as usize].total_cmp(&scores[a as usize]));
        let relevant: Vec<u32> = (0..n_items as u32)
            .filter(|&i| rel[i as usize] > 0.0)
            .collect();
        let grades: Vec<f64> = relevant.iter().map(|&i| rel[i as usize]).collect();
        binary.add_user(&ranked, &relevant, None);
        graded.add_user(&ranked, &relevant, Some(&grades));
    }
    let (b, g) = (binary.averages(), graded.averages());
    for k in &ks {
        let e = &f["k"][k.to_string()];
        close(
            &format!("ndcg@{k}"),
            b[&format!("ndcg@{k}")],
            e["ndcg_binary"].as_f64().unwrap(),
        );
        close(
            &format!("graded ndcg@{k}"),
            g[&format!("ndcg@{k}")],
            e["ndcg_graded"].as_f64().unwrap(),
        );
        for m in ["recall", "precision", "hr", "mrr"] {
            close(
                &format!("{m}@{k}"),
                b[&format!("{m}@{k}")],
                e[m].as_f64().unwrap(),
            );
        }
    }
    close(
        "map (full list)",
        b[&format!("map@{n_items}")],
        f["map_full"].as_f64().unwrap(),
    );
}
