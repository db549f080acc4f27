//! Calibration against scikit-learn (fixtures from `scripts/calibration_fixtures.py`).

use funnel_rank::Calibration;
use serde_json::Value;

fn cases() -> Vec<Value> {
    let text = include_str!("fixtures/calibration.json");
    let v: Value = serde_json::from_str(text).unwrap();
    v["cases"].as_array().unwrap().clone()
}

fn floats(v: &Value) -> Vec<f64> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().unwrap())
        .collect()
}

#[test]
fn isotonic_matches_scikit_learn() {
    for c in cases() {
        let cal = Calibration::fit_isotonic(&floats(&c["probs"]), &floats(&c["labels"]));
        for (q, want) in floats(&c["queries"]).iter().zip(floats(&c["isotonic"])) {
            let got = cal.apply(*q);
            assert!(
                (got - want).abs() < 1e-9,
                "{} at {q}: {got} vs {want}",
                c["name"]
            );
        }
    }
}

#[test]
fn platt_matches_unpenalised_logistic_regression() {
    for c in cases() {
        let Calibration::Platt { a, b } =
            Calibration::fit_platt(&floats(&c["probs"]), &floats(&c["labels"]))
        else {
            panic!()
        };
        let (wa, wb) = (
            c["platt_a"].as_f64().unwrap(),
            c["platt_b"].as_f64().unwrap(),
        );
        assert!(
            (a - wa).abs() < 1e-5 && (b - wb).abs() < 1e-5,
            "{}: {a},{b} vs {wa},{wb}",
            c["name"]
        );
    }
}
