//! `funnel rank …` end to end: synthetic samples with a known oracle, train / eval /
//! predict, and bad input that must name the file and line.

use std::path::Path;
use std::process::{Command, Output};

fn funnel(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_funnel"))
        .args(args)
        .output()
        .expect("runs")
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

#[test]
fn synth_eval_train_predict() {
    let d = tempfile::tempdir().unwrap();
    let dir = d.path();
    let o = funnel(&[
        "rank",
        "synth",
        "--out",
        s(dir),
        "--samples",
        "60000",
        "--fields",
        "5",
        "--cardinality",
        "20",
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let truth: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("truth.json")).unwrap()).unwrap();
    let oracle = truth["test_oracle_logloss"].as_f64().unwrap();
    let (train, test) = (dir.join("train.ffm"), dir.join("test.ffm"));
    let mut ll = std::collections::BTreeMap::new();
    for m in ["lr", "fm"] {
        let j = dir.join(format!("{m}.json"));
        let o = funnel(&[
            "rank",
            "eval",
            "--train",
            s(&train),
            "--test",
            s(&test),
            "--format",
            "libffm",
            "--model",
            m,
            "--set",
            "shuffle_seed=1",
            "--json",
            s(&j),
        ]);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        let r: serde_json::Value = serde_json::from_slice(&std::fs::read(&j).unwrap()).unwrap();
        let auc = r["metrics"]["auc"].as_f64().unwrap();
        assert!(auc > 0.6, "{m} AUC {auc}");
        ll.insert(m, r["metrics"]["logloss"].as_f64().unwrap());
    }
    assert!(
        ll["fm"] < ll["lr"] && ll["fm"] < oracle * 1.05,
        "{ll:?} oracle {oracle}"
    );
    // Train with calibration, save, predict: one probability per test line.
    let model = dir.join("fm.model");
    let o = funnel(&[
        "rank",
        "train",
        "--train",
        s(&train),
        "--model",
        "fm",
        "--calibrate",
        "isotonic",
        "--out",
        s(&model),
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let probs = dir.join("p.txt");
    let o = funnel(&[
        "rank",
        "predict",
        "--model",
        s(&model),
        "--data",
        s(&test),
        "--out",
        s(&probs),
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let text = std::fs::read_to_string(&probs).unwrap();
    assert_eq!(text.lines().count(), 10_000);
    assert!(text
        .lines()
        .all(|l| l.parse::<f64>().is_ok_and(|p| (0.0..=1.0).contains(&p))));
}

#[test]
fn bad_sample_files_and_parameters_exit_1_naming_file_and_line() {
    let d = tempfile::tempdir().unwrap();
    let bad = d.path().join("bad.svm");
    std::fs::write(&bad, "1 3:1 4:1\n0 3:1 4:x\n").unwrap();
    let o = funnel(&[
        "rank",
        "eval",
        "--train",
        s(&bad),
        "--test",
        s(&bad),
        "--format",
        "libsvm",
        "--model",
        "lr",
    ]);
    assert_eq!(o.status.code(), Some(1));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("bad.svm:2, column 3") && err.contains("value is not a number"),
        "{err}"
    );
    let ok = d.path().join("ok.svm");
    std::fs::write(&ok, "1 3:1\n0 4:1\n").unwrap();
    let o = funnel(&[
        "rank",
        "eval",
        "--train",
        s(&ok),
        "--test",
        s(&ok),
        "--format",
        "libffm",
        "--model",
        "lr",
    ]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        o.status.code() == Some(1) && err.contains("is this a libsvm file?"),
        "{err}"
    );
    let o = funnel(&[
        "rank",
        "eval",
        "--train",
        s(&ok),
        "--test",
        s(&ok),
        "--format",
        "libsvm",
        "--model",
        "fm",
        "--set",
        "factor=3",
    ]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        o.status.code() == Some(1) && err.contains("unknown parameter `factor`"),
        "{err}"
    );
    let o = funnel(&[
        "rank",
        "eval",
        "--train",
        s(&ok),
        "--test",
        s(&ok),
        "--format",
        "csv",
        "--model",
        "lr",
    ]);
    assert_eq!(o.status.code(), Some(1));
    let o = funnel(&["rank", "eval", "--train", s(&ok)]);
    assert_eq!(
        o.status.code(),
        Some(2),
        "a missing --model is a usage error"
    );
}

fn repo() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

#[test]
fn ml100k_from_the_example_spec_eval_and_export() {
    let data = repo().join("../shared/datasets/ml-100k");
    if !data.exists() {
        eprintln!("skipped: {} is absent", data.display());
        return;
    }
    let spec = repo().join("examples/ml-100k-ctr.toml");
    let d = tempfile::tempdir().unwrap();
    let j = d.path().join("lr.json");
    let o = funnel(&[
        "rank",
        "eval",
        "--spec",
        s(&spec),
        "--data",
        s(&data),
        "--model",
        "lr",
        "--json",
        s(&j),
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let r: serde_json::Value = serde_json::from_slice(&std::fs::read(&j).unwrap()).unwrap();
    for k in ["auc", "gauc", "logloss"] {
        assert!(r["metrics"][k].is_number(), "metrics.{k} in {r}");
    }
    assert!(r["metrics"]["auc"].as_f64().unwrap() > 0.65, "{r}");
    assert!(r["test_samples"].as_u64().unwrap() > 15_000);
    let out = d.path().join("export");
    let o = funnel(&[
        "rank",
        "export",
        "--spec",
        s(&spec),
        "--data",
        s(&data),
        "--out",
        s(&out),
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let first = std::fs::read_to_string(out.join("train.ffm")).unwrap();
    let line = first.lines().next().unwrap();
    assert!(
        line.split(' ').nth(1).unwrap().starts_with("qid:"),
        "{line}"
    );
    assert!(out.join("pipeline.json").exists() && out.join("info.json").exists());
    // Serving path: a model trained from the spec scores raw events through its pipeline.
    let model = d.path().join("fm.model");
    let o = funnel(&[
        "rank",
        "train",
        "--spec",
        s(&spec),
        "--data",
        s(&data),
        "--model",
        "fm",
        "--out",
        s(&model),
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let recs = d.path().join("events.jsonl");
    std::fs::write(
        &recs,
        "{\"user_id\": \"196\", \"item_id\": \"242\", \"user.gender\": \"M\", \"item.class\": [\"Comedy\"], \"hist\": [\"302\"]}\n\
         {\"user_id\": \"nobody\", \"item_id\": \"50\"}\n",
    )
    .unwrap();
    let o = funnel(&[
        "rank",
        "predict",
        "--model",
        s(&model),
        "--records",
        s(&recs),
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let text = String::from_utf8(o.stdout).unwrap();
    let probs: Vec<f64> = text.lines().map(|l| l.parse().unwrap()).collect();
    assert!(
        probs.len() == 2 && probs.iter().all(|p| (0.0..=1.0).contains(p)),
        "{text}"
    );
    std::fs::write(&recs, "{\"user_id\": \"1\"}\n[1, 2]\n").unwrap();
    let o = funnel(&[
        "rank",
        "predict",
        "--model",
        s(&model),
        "--records",
        s(&recs),
    ]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        o.status.code() == Some(1) && err.contains("events.jsonl:2"),
        "{err}"
    );
}

#[test]
fn a_bad_feature_spec_exits_1_naming_file_and_line() {
    let d = tempfile::tempdir().unwrap();
    let spec = d.path().join("bad.toml");
    std::fs::write(
        &spec,
        "[[field]]\nname = \"user_id\"\nkind = \"categorical\"\nbukets = 3\n",
    )
    .unwrap();
    let o = funnel(&[
        "rank",
        "eval",
        "--spec",
        s(&spec),
        "--data",
        s(d.path()),
        "--model",
        "lr",
    ]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(
        err.contains("bad.toml:4") && err.contains("bukets"),
        "{err}"
    );
}

/// Click logs with `.query` and `.position` sidecars through `funnel rank eval / train /
/// predict`: `position_bias=unbiased` writes its propensities to the JSON and the model
/// file; sidecars that do not fit the samples are refused naming the file and line.
#[test]
fn lambdamart_learns_from_click_logs_with_positions_and_refuses_bad_sidecars() {
    use rand::{Rng, SeedableRng};
    let d = tempfile::tempdir().unwrap();
    let (train, test) = (d.path().join("clicks.train"), d.path().join("graded.test"));
    let mut rng = rand::rngs::SmallRng::seed_from_u64(3);
    let (mut lines, mut positions, mut graded) = (String::new(), String::new(), String::new());
    let queries = 400;
    for q in 0..queries + 100 {
        for k in 1..=8 {
            let x: Vec<f64> = (0..3).map(|_| rng.random::<f64>()).collect();
            let grade = (x[0] * 3.0).floor();
            let line = format!("0:{:.4} 1:{:.4} 2:{:.4}", x[0], x[1], x[2]);
            if q < queries {
                let click = rng.random::<f64>() < (0.1 + 0.3 * grade) / k as f64;
                lines += &format!("{} {line}\n", click as u8);
                positions += &format!("{k}\n");
            } else {
                graded += &format!("{grade} {line}\n");
            }
        }
    }
    std::fs::write(&train, &lines).unwrap();
    std::fs::write(d.path().join("clicks.train.query"), "8\n".repeat(queries)).unwrap();
    std::fs::write(d.path().join("clicks.train.position"), &positions).unwrap();
    std::fs::write(&test, &graded).unwrap();
    std::fs::write(d.path().join("graded.test.query"), "8\n".repeat(100)).unwrap();
    let (json, model) = (d.path().join("o.json"), d.path().join("m.funnel"));
    let eval = |extra: &[&str]| {
        let mut args = vec![
            "rank",
            "eval",
            "--train",
            s(&train),
            "--test",
            s(&test),
            "--format",
            "libsvm",
            "--model",
            "lambdamart",
            "--set",
            "position_bias=unbiased",
            "--json",
            s(&json),
        ];
        args.extend_from_slice(extra);
        funnel(&args)
    };
    let o = eval(&["--out", s(&model)]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{err}");
    assert!(
        err.contains("position propensities (unbiased; positions 1..8"),
        "{err}"
    );
    let r: serde_json::Value = serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
    assert!(r["metrics"]["ndcg@10"].as_f64().unwrap() > 0.8, "{r}");
    let p = r["position_bias"]["propensity"].as_array().unwrap();
    assert_eq!(p.len(), 8);
    assert!(p[7].as_f64().unwrap() < p[0].as_f64().unwrap(), "{p:?}");
    assert_eq!(r["params"]["position_bias"], "unbiased");
    // The model file keeps them, and predicts without positions (served lists have none).
    let o = funnel(&[
        "rank",
        "predict",
        "--model",
        s(&model),
        "--data",
        s(&test),
        "--format",
        "libsvm",
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(String::from_utf8_lossy(&o.stdout).lines().count(), 800);
    // Bad sidecars: a position below 1, a missing one, group sizes that do not add up.
    let pos = d.path().join("clicks.train.position");
    for (file, text, want) in [
        (
            pos.clone(),
            positions.replacen("1\n", "0\n", 1),
            "clicks.train.position:1",
        ),
        (
            pos.clone(),
            positions[2..].to_string(),
            "positions, but the sample file has 3200",
        ),
        (
            d.path().join("clicks.train.query"),
            "8\n".repeat(queries - 1),
            "add up to 3192, but the sample file has 3200",
        ),
    ] {
        let keep = std::fs::read(&file).unwrap();
        std::fs::write(&file, text).unwrap();
        let o = eval(&[]);
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(
            o.status.code() == Some(1) && err.contains(want),
            "{want}: {err}"
        );
        std::fs::write(&file, keep).unwrap();
    }
    // Unbiased needs positions.
    std::fs::remove_file(&pos).unwrap();
    let o = eval(&[]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        o.status.code() == Some(1) && err.contains("FILE.position"),
        "{err}"
    );
}

/// Trees on one-hot samples (every feature sparse: stored row-wise): `gbdt` and
/// `gbdt_lr` through `rank eval`. `gbdt_lr`'s FTRL is one pass by default, and it once
/// took the streaming path meant for pure online models, fitting no trees and scoring
/// nothing.
#[test]
fn trees_learn_one_hot_samples_and_gbdt_lr_fits_its_trees_first() {
    let d = tempfile::tempdir().unwrap();
    let dir = d.path();
    let o = funnel(&[
        "rank",
        "synth",
        "--out",
        s(dir),
        "--samples",
        "20000",
        "--fields",
        "4",
        "--cardinality",
        "30",
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let (train, test) = (dir.join("train.ffm"), dir.join("test.ffm"));
    for m in ["gbdt", "gbdt_lr"] {
        let j = dir.join(format!("{m}.json"));
        let o = funnel(&[
            "rank",
            "eval",
            "--train",
            s(&train),
            "--test",
            s(&test),
            "--format",
            "libffm",
            "--model",
            m,
            "--json",
            s(&j),
        ]);
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(o.status.success(), "{m}: {err}");
        assert!(!err.contains("streamed"), "{m}: {err}");
        let r: serde_json::Value = serde_json::from_slice(&std::fs::read(&j).unwrap()).unwrap();
        let auc = r["metrics"]["auc"].as_f64().unwrap();
        assert!(auc > 0.65, "{m} AUC {auc}");
        assert!(r["metrics"]["logloss"].as_f64().unwrap() < 0.69, "{r}");
    }
}

/// A deep ranker end to end from the CLI: trained, saved, predicted from its file; a
/// diverging run exits with the epoch, step and learning rate and writes no model file.
#[test]
fn deep_rankers_train_predict_and_diverging_runs_save_nothing() {
    let d = tempfile::tempdir().unwrap();
    let dir = d.path();
    let o = funnel(&[
        "rank",
        "synth",
        "--out",
        s(dir),
        "--samples",
        "12000",
        "--fields",
        "5",
        "--cardinality",
        "20",
        "--truth",
        "cross3",
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let (train, test, model) = (
        dir.join("train.ffm"),
        dir.join("test.ffm"),
        dir.join("m.funnel"),
    );
    let o = funnel(&[
        "rank",
        "train",
        "--train",
        s(&train),
        "--format",
        "libffm",
        "--model",
        "dcnv2",
        "--set",
        "epochs=2",
        "--out",
        s(&model),
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let probs = dir.join("p.txt");
    let o = funnel(&[
        "rank",
        "predict",
        "--model",
        s(&model),
        "--data",
        s(&test),
        "--format",
        "libffm",
        "--out",
        s(&probs),
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let p: Vec<f64> = std::fs::read_to_string(&probs)
        .unwrap()
        .lines()
        .map(|l| l.parse().unwrap())
        .collect();
    assert_eq!(p.len(), 2000);
    assert!(p.iter().all(|&x| x > 0.0 && x < 1.0));
    let bad = dir.join("bad.funnel");
    let o = funnel(&[
        "rank",
        "train",
        "--train",
        s(&train),
        "--format",
        "libffm",
        "--model",
        "deepfm",
        "--set",
        "learning_rate=100000",
        "--out",
        s(&bad),
    ]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(
        err.contains("diverged at epoch") && err.contains("learning rate 100000"),
        "{err}"
    );
    assert!(!bad.exists(), "a diverged run wrote a model file");
}
