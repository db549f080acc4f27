//! The `funnel` binary's contracts: flags, JSON keys, exit codes, error messages.

use std::path::Path;
use std::process::{Command, Output};

use serde_json::Value;

fn funnel(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_funnel"))
        .args(args)
        .output()
        .expect("run funnel")
}

fn ok(args: &[&str]) -> String {
    let o = funnel(args);
    assert!(
        o.status.success(),
        "funnel {args:?} failed: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8(o.stdout).unwrap()
}

fn fails(args: &[&str]) -> String {
    let o = funnel(args);
    assert_eq!(
        o.status.code(),
        Some(1),
        "funnel {args:?} should exit 1; stderr: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8(o.stderr).unwrap()
}

fn read_json(p: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap()
}

const SYN: &str = "synthetic:users=300,items=200,interactions=6000,seed=4";

#[test]
fn eval_json_contract() {
    let d = tempfile::tempdir().unwrap();
    let out = d.path().join("m.json");
    let table = ok(&[
        "eval",
        "--data",
        SYN,
        "--model",
        "itemknn",
        "--set",
        "neighbors=50",
        "--k",
        "10,20",
        "--json",
        out.to_str().unwrap(),
    ]);
    assert!(table.contains("recall") && table.contains("ndcg"));
    let j = read_json(&out);
    assert_eq!(j["model"], "itemknn");
    for k in [10, 20] {
        for m in ["hr", "precision", "recall", "ndcg", "mrr", "map"] {
            let v = j["metrics"][format!("{m}@{k}")]
                .as_f64()
                .unwrap_or_else(|| panic!("{m}@{k} missing"));
            assert!((0.0..=1.0).contains(&v));
        }
    }
    assert!(
        j["metrics"]["recall@20"].as_f64().unwrap() >= j["metrics"]["recall@10"].as_f64().unwrap()
    );
    assert!(
        j["fit_seconds"].as_f64().unwrap() >= 0.0 && j["eval_seconds"].as_f64().unwrap() >= 0.0
    );
    assert_eq!(j["params"]["neighbors"], "50");
}

#[test]
fn eval_every_split_and_given_files() {
    for split in [
        "random:0.2",
        "leave-last-out",
        "user-temporal:0.25",
        "global-temporal:0.2",
        "cut:1620000000",
    ] {
        ok(&[
            "eval", "--data", SYN, "--model", "popular", "--split", split, "--k", "5",
        ]);
    }
    let d = tempfile::tempdir().unwrap();
    std::fs::write(
        d.path().join("train.csv"),
        "user,item\na,x\na,y\nb,x\nb,z\nc,y\n",
    )
    .unwrap();
    std::fs::write(d.path().join("test.csv"), "user,item\nc,x\nd,z\n").unwrap();
    let out = d.path().join("m.json");
    let o = funnel(&[
        "eval",
        "--data",
        d.path().join("train.csv").to_str().unwrap(),
        "--test",
        d.path().join("test.csv").to_str().unwrap(),
        "--model",
        "userknn",
        "--k",
        "2",
        "--json",
        out.to_str().unwrap(),
    ]);
    assert!(o.status.success());
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(
        stderr.contains("1 cold"),
        "cold users are reported: {stderr}"
    );
    assert_eq!(read_json(&out)["split"]["cold_users"], 1);
}

#[test]
fn metrics_from_a_score_file() {
    let d = tempfile::tempdir().unwrap();
    let f = d.path().join("s.csv");
    std::fs::write(
        &f,
        "user,label,score\nu1,1,0.9\nu1,0,0.4\nu2,1,0.4\nu2,0,0.4\nu3,1,0.8\n",
    )
    .unwrap();
    let out = d.path().join("m.json");
    ok(&[
        "metrics",
        "--input",
        f.to_str().unwrap(),
        "--json",
        out.to_str().unwrap(),
    ]);
    let j = read_json(&out);
    let auc = funnel_metrics::auc(&[0.9, 0.4, 0.4, 0.4, 0.8], &[1.0, 0.0, 1.0, 0.0, 1.0], None)
        .unwrap()
        .unwrap();
    assert!((j["metrics"]["auc"].as_f64().unwrap() - auc).abs() < 1e-12);
    // u1: 1.0 over 2 impressions, u2: 0.5 over 2, u3 skipped.
    assert!((j["metrics"]["gauc"].as_f64().unwrap() - 0.75).abs() < 1e-12);
    assert_eq!(j["gauc_skipped_users"], 1);
    assert!(j["metrics"]["logloss"].as_f64().unwrap() > 0.0);
    let e = fails(&[
        "metrics",
        "--input",
        d.path().join("nope.csv").to_str().unwrap(),
    ]);
    assert!(e.contains("nope.csv"));
    std::fs::write(&f, "label,score\n1,0.3\n0,high\n").unwrap();
    let e = fails(&["metrics", "--input", f.to_str().unwrap()]);
    assert!(
        e.contains("s.csv:3, column 2 (`score`): expected a number, found `high`"),
        "{e}"
    );
}

#[test]
fn metrics_from_ranked_lists() {
    let d = tempfile::tempdir().unwrap();
    let (t, r) = (d.path().join("t.csv"), d.path().join("r.csv"));
    std::fs::write(&t, "user,item\na,1\na,2\nb,3\n").unwrap();
    // a: ranks 2 (hit) then 5 then 1 (hit); b: no list at all.
    std::fs::write(&r, "user,item,score\na,1,0.1\na,2,0.9\na,5,0.5\n").unwrap();
    let out = d.path().join("m.json");
    ok(&[
        "metrics",
        "--truth",
        t.to_str().unwrap(),
        "--ranked",
        r.to_str().unwrap(),
        "--k",
        "1,3",
        "--json",
        out.to_str().unwrap(),
    ]);
    let m = &read_json(&out)["metrics"];
    assert_eq!(m["hr@1"], 0.5);
    assert_eq!(m["recall@3"], 0.5);
    assert!((m["precision@3"].as_f64().unwrap() - (2.0 / 3.0) / 2.0).abs() < 1e-12);
    assert!((m["map@3"].as_f64().unwrap() - (1.0 + 2.0 / 3.0) / 2.0 / 2.0).abs() < 1e-12);
}

#[test]
fn malformed_input_exits_1_with_location() {
    let d = tempfile::tempdir().unwrap();
    let cases: [(&str, &[u8], &str, &str); 5] = [
        (
            "cols.csv",
            b"user,item,rating\nu,i,1\nu,i\n",
            "csv",
            "cols.csv:3: expected 3 fields separated by `,`, found 2",
        ),
        (
            "num.csv",
            b"user,item,rating\nu,i,abc\n",
            "csv",
            "num.csv:2, column 3: expected a number for the value, found `abc`",
        ),
        (
            "empty.csv",
            b"",
            "csv",
            "empty.csv: the file holds no events",
        ),
        (
            "utf.csv",
            b"user,item\n\xc3\x28,i\n",
            "csv",
            "utf.csv:2: invalid UTF-8 at byte 1",
        ),
        (
            "any.csv",
            b"user,item\nu,i\n",
            "excel",
            "unknown format `excel`",
        ),
    ];
    for (name, body, fmt, want) in cases {
        let p = d.path().join(name);
        std::fs::write(&p, body).unwrap();
        let e = fails(&[
            "data",
            "stats",
            "--data",
            p.to_str().unwrap(),
            "--format",
            fmt,
        ]);
        assert!(e.contains(want), "{name}: {e}");
    }
    // --lenient reads on and reports what it skipped.
    let p = d.path().join("mixed.csv");
    std::fs::write(&p, "user,item,rating\nu,i,1\nu,j\nv,i,x\nv,k,2\n").unwrap();
    let o = funnel(&["data", "stats", "--data", p.to_str().unwrap(), "--lenient"]);
    assert!(o.status.success());
    let e = String::from_utf8_lossy(&o.stderr);
    assert!(
        e.contains("skipped 2 of 4 lines")
            && e.contains("wrong_column_count")
            && e.contains("not_a_number"),
        "{e}"
    );
}

#[test]
fn saved_models_answer_recommend_and_similar() {
    let d = tempfile::tempdir().unwrap();
    let model = d.path().join("m.funnel");
    ok(&[
        "eval",
        "--data",
        SYN,
        "--model",
        "itemknn",
        "--save",
        model.to_str().unwrap(),
        "--k",
        "5",
    ]);
    let recs: Value = serde_json::from_str(&ok(&[
        "recommend",
        "--model",
        model.to_str().unwrap(),
        "--user",
        "u3",
        "--k",
        "4",
    ]))
    .unwrap();
    assert_eq!(recs.as_array().unwrap().len(), 4);
    let sim: Value = serde_json::from_str(&ok(&[
        "similar",
        "--model",
        model.to_str().unwrap(),
        "--item",
        "i1",
        "--k",
        "3",
    ]))
    .unwrap();
    assert!(sim.as_array().unwrap().iter().all(|x| x["item"] != "i1"));
    let e = fails(&[
        "recommend",
        "--model",
        model.to_str().unwrap(),
        "--user",
        "ghost",
    ]);
    assert!(e.contains("unknown user `ghost`"), "{e}");
    let e = fails(&[
        "similar",
        "--model",
        model.to_str().unwrap(),
        "--item",
        "ghost",
    ]);
    assert!(e.contains("unknown item `ghost`"), "{e}");
}

#[test]
fn usage_errors_exit_2_and_demo_runs() {
    assert_eq!(
        funnel(&["eval", "--model", "itemknn"]).status.code(),
        Some(2)
    );
    assert_eq!(funnel(&["no-such-command"]).status.code(), Some(2));
    let e = fails(&[
        "eval", "--data", SYN, "--model", "itemknn", "--preset", "nowhere",
    ]);
    assert!(e.contains("no preset `nowhere`"), "{e}");
    let out = ok(&["demo"]);
    assert!(out.contains("model itemknn") && out.contains("model userknn"));
}
