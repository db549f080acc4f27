//! The feature pipeline and the sample builder, through the public API: fitting and
//! transforming a handmade set, spec files, the builder's time discipline, the saved
//! pipeline in a fresh process, and ml-100k end to end.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use funnel_data::{AttrKind, AttrValue, EntityTable, Event, IdMap};
use funnel_features::{
    build_ctr, build_records, read_interactions, EventLog, FeatureSpec, LabelRule, Pipeline,
    RawRecord, RawValue, SamplesSpec, SplitRule,
};

const SPEC: &str = r#"
[[field]]
name = "user_id"
kind = "categorical"
min_count = 2

[[field]]
name = "user_hashed"
input = "user_id"
kind = "categorical"
hash_buckets = 16

[[field]]
name = "item_id"
kind = "categorical"
missing = "indicator"

[[field]]
name = "gender"
kind = "categorical"
fill = "unknown"

[[field]]
name = "age_std"
input = "age"
kind = "numeric"
transforms = ["standardize"]

[[field]]
name = "age_mm"
input = "age"
kind = "numeric"
transforms = ["minmax"]
missing = "indicator"

[[field]]
name = "age_log_clip"
input = "age"
kind = "numeric"
transforms = ["log1p", "clip"]
clip = [0.0, 1.5]
fill = 0.5

[[field]]
name = "age_bucket"
input = "age"
kind = "numeric"
buckets = 2

[[field]]
name = "genres"
kind = "multi_hot"

[[field]]
name = "hist"
kind = "sequence"
max_len = 2
vocab_from = "item_id"

[[field]]
name = "gender x genres"
kind = "cross"
of = ["gender", "genres"]

[[field]]
name = "age x gender"
kind = "cross"
of = ["age_bucket", "gender"]
hash_buckets = 32
missing = "indicator"
"#;

fn spec() -> FeatureSpec {
    FeatureSpec::parse(SPEC, Path::new("tiny.toml")).unwrap()
}

fn rec(
    user: &str,
    item: &str,
    gender: RawValue,
    age: RawValue,
    genres: &[&str],
    hist: &[&str],
) -> RawRecord {
    RawRecord::new()
        .with("user_id", user)
        .with("item_id", item)
        .with("gender", gender)
        .with("age", age)
        .with("genres", genres)
        .with("hist", hist)
}

fn training() -> Vec<RawRecord> {
    vec![
        rec("u1", "i1", "M".into(), 10.0.into(), &["a", "b"], &[]),
        rec("u1", "i2", "F".into(), 20.0.into(), &["a"], &["i1"]),
        rec(
            "u2",
            "i1",
            "M".into(),
            30.0.into(),
            &["b", "c"],
            &["i1", "i2"],
        ),
        rec(
            "u2",
            "i3",
            RawValue::Missing,
            "40".into(),
            &[],
            &["i1", "i2", "i1"],
        ),
    ]
}

/// Records that exercise every corner: unseen tokens, every kind of missing value,
/// non-finite and extreme numbers, text that is not a number.
fn awkward() -> Vec<RawRecord> {
    let ages = [
        RawValue::Num(f64::NAN),
        RawValue::Num(f64::INFINITY),
        RawValue::Num(f64::NEG_INFINITY),
        RawValue::Num(1e308),
        RawValue::Num(-1e308),
        RawValue::Num(-5.0),
        RawValue::Num(1e-300),
        "abc".into(),
        " 12 ".into(),
        RawValue::Tokens(vec!["7".into()]),
        RawValue::Tokens(vec![]),
        RawValue::Missing,
    ];
    let genders = [
        RawValue::Num(f64::NAN),
        "".into(),
        "M".into(),
        RawValue::Num(1.0),
    ];
    ages.iter()
        .enumerate()
        .map(|(k, a)| {
            rec(
                &format!("u{k}"),
                if k % 3 == 0 { "" } else { "i9" },
                genders[k % genders.len()].clone(),
                a.clone(),
                if k % 2 == 0 { &["a", "zz", "a"] } else { &[] },
                &["i3", "i1", "i2", "i1", "nope"][..k % 6],
            )
        })
        .collect()
}

fn feats(p: &Pipeline, r: &RawRecord) -> Vec<(u32, u32, f32)> {
    let mut out = vec![(9, 9, 9.0)]; // transform must replace, not append
    p.transform(r, &mut out);
    out
}

/// The features of one field as `(index within the field's range, value)`.
fn field(p: &Pipeline, r: &RawRecord, name: &str) -> Vec<(u32, f32)> {
    let f = p.field_index(name).unwrap();
    let start = p.field_range(f).start;
    feats(p, r)
        .into_iter()
        .filter(|x| x.0 == f as u32)
        .map(|(_, i, v)| (i - start, v))
        .collect()
}

fn close(a: f32, b: f64) -> bool {
    (f64::from(a) - b).abs() < 1e-6
}

#[test]
fn vocabularies_min_count_oov_and_layout() {
    let p = spec().fit(&training()).unwrap();
    assert_eq!(p.n_fields(), 12);
    assert_eq!(p.field_names()[3], "gender");
    let v = |name: &str| {
        p.vocabulary(p.field_index(name).unwrap())
            .map(<[String]>::to_vec)
    };
    // u1 and u2 both reach min_count 2; ties are ordered by token.
    assert_eq!(v("user_id").unwrap(), ["u1", "u2"]);
    assert_eq!(v("item_id").unwrap(), ["i1", "i2", "i3"]);
    // The fill token of the missing gender is counted like any other.
    assert_eq!(v("gender").unwrap(), ["M", "F", "unknown"]);
    assert_eq!(v("genres").unwrap(), ["a", "b", "c"]);
    assert_eq!(v("hist"), v("item_id"));
    assert_eq!(
        v("gender x genres").unwrap(),
        ["M\u{1f}b", "F\u{1f}a", "M\u{1f}a", "M\u{1f}c"]
    );
    assert_eq!(v("user_hashed"), None);
    assert_eq!(v("age_std"), None);
    // Ranges tile the index space in field order.
    let sizes: Vec<u32> = (0..12).map(|f| p.field_range(f).len() as u32).collect();
    assert_eq!(sizes, [3, 16, 5, 4, 1, 2, 1, 2, 4, 4, 5, 33]);
    assert_eq!(p.field_range(0).start, 0);
    for f in 1..12 {
        assert_eq!(p.field_range(f).start, p.field_range(f - 1).end);
    }
    assert_eq!(p.n_features(), p.field_range(11).end);

    let t = training();
    assert_eq!(field(&p, &t[0], "user_id"), [(1, 1.0)]);
    assert_eq!(field(&p, &t[2], "user_id"), [(2, 1.0)]);
    let unseen = rec("u3", "i7", "X".into(), 1.0.into(), &[], &[]);
    assert_eq!(field(&p, &unseen, "user_id"), [(0, 1.0)], "unseen → OOV");
    assert_eq!(field(&p, &unseen, "item_id"), [(0, 1.0)]);
    assert_eq!(field(&p, &unseen, "gender"), [(0, 1.0)]);
    let rare = spec();
    let mut rare = rare.clone();
    rare.fields[0].min_count = Some(3);
    let q = rare.fit(&training()).unwrap();
    assert_eq!(q.vocabulary(0).unwrap().len(), 0);
    assert_eq!(
        field(&q, &t[0], "user_id"),
        [(0, 1.0)],
        "below min_count → OOV"
    );
}

#[test]
fn hashing_is_deterministic_and_in_range() {
    let p = spec().fit(&training()).unwrap();
    let q = spec().fit(&training()[..1]).unwrap();
    for u in ["u1", "u2", "someone", "", "ü"] {
        let r = RawRecord::new().with("user_id", u);
        let a = field(&p, &r, "user_hashed");
        assert_eq!(a, field(&q, &r, "user_hashed"), "hashing is not fitted");
        if u.is_empty() {
            assert!(
                a.is_empty(),
                "empty token is missing; hashed default is skip"
            );
        } else {
            assert!(a.len() == 1 && a[0].0 < 16 && a[0].1 == 1.0);
        }
    }
    // 200 tokens spread over the 16 buckets.
    let mut used = std::collections::HashSet::new();
    for k in 0..200 {
        let r = RawRecord::new().with("user_id", format!("user{k}"));
        used.insert(field(&p, &r, "user_hashed")[0].0);
    }
    assert_eq!(used.len(), 16);
}

#[test]
fn numeric_transforms_and_buckets() {
    let p = spec().fit(&training()).unwrap();
    let t = training();
    let std = 125f64.sqrt();
    for (r, age) in t.iter().zip([10.0, 20.0, 30.0, 40.0]) {
        let s = field(&p, r, "age_std");
        assert!(
            s.len() == 1 && s[0].0 == 0 && close(s[0].1, (age - 25.0) / std),
            "{s:?}"
        );
        let m = field(&p, r, "age_mm");
        assert!(close(m[0].1, (age - 10.0) / 30.0), "{m:?}");
        let l = field(&p, r, "age_log_clip");
        assert!(close(l[0].1, age.ln_1p().min(1.5)), "{l:?}");
        // Two buckets split at the median, 30.
        assert_eq!(field(&p, r, "age_bucket"), [(u32::from(age >= 30.0), 1.0)]);
    }
    // Serving values outside the training range: minmax is not clamped, buckets are.
    let r = RawRecord::new().with("age", 70.0);
    assert!(close(field(&p, &r, "age_mm")[0].1, 2.0));
    assert_eq!(field(&p, &r, "age_bucket"), [(1, 1.0)]);
    let r = RawRecord::new().with("age", -0.5);
    assert!(
        close(field(&p, &r, "age_log_clip")[0].1, 0.0),
        "clip's low bound"
    );
    assert_eq!(field(&p, &r, "age_bucket"), [(0, 1.0)]);
    // Negative input to log1p stays finite: sign(x)·ln(1+|x|), then clipped to 0.
    let r = RawRecord::new().with("age", -1e6);
    assert!(field(&p, &r, "age_log_clip")[0].1 == 0.0);
}

#[test]
fn quantile_buckets_are_balanced() {
    let spec = FeatureSpec::parse(
        "[[field]]\nname = \"x\"\nkind = \"numeric\"\nbuckets = 4\n\n[[field]]\nname = \"z\"\nkind = \"numeric\"\nbuckets = 4\nmissing = \"indicator\"\n",
        Path::new("q.toml"),
    )
    .unwrap();
    let recs: Vec<RawRecord> = (1..=100)
        .map(|i| RawRecord::new().with("x", f64::from(i)).with("z", 0.0))
        .collect();
    let p = spec.fit(&recs).unwrap();
    let mut counts = [0; 4];
    for r in &recs {
        counts[field(&p, r, "x")[0].0 as usize] += 1;
        // A constant column has no edge: one bucket, then the indicator.
        assert_eq!(field(&p, r, "z"), [(0, 1.0)]);
    }
    assert_eq!(counts, [25; 4]);
    assert_eq!(p.field_range(1).len(), 2);
    assert_eq!(field(&p, &RawRecord::new(), "z"), [(1, 1.0)]);
    assert_eq!(
        field(&p, &RawRecord::new(), "x"),
        [],
        "bucketised default: skip"
    );
}

#[test]
fn lists_sequences_and_crosses() {
    let p = spec().fit(&training()).unwrap();
    let t = training();
    let s2 = 1.0 / 2f64.sqrt();
    let g = field(&p, &t[0], "genres");
    assert!(g.len() == 2 && g[0].0 == 1 && g[1].0 == 2 && close(g[0].1, s2) && close(g[1].1, s2));
    // Repeats add up; unknown tokens share the OOV index.
    let r = RawRecord::new().with("genres", &["b", "a", "b", "x", "y"][..]);
    let s5 = 1.0 / 5f64.sqrt();
    let g = field(&p, &r, "genres");
    assert_eq!(g.iter().map(|x| x.0).collect::<Vec<_>>(), [0, 1, 2]);
    assert!(close(g[0].1, 2.0 * s5) && close(g[1].1, s5) && close(g[2].1, 2.0 * s5));
    assert_eq!(field(&p, &t[3], "genres"), [], "empty list: skip");
    // Sequences keep the last max_len = 2 items, in the item vocabulary's positions but
    // in their own range, position by position.
    let h = field(&p, &t[3], "hist"); // [i1, i2, i1] → [i2, i1]
    assert!(h.len() == 2 && h[0].0 == 2 && h[1].0 == 1, "{h:?}");
    assert!(close(h[0].1, s2) && close(h[1].1, s2));
    // Repeats keep their places, and an unknown item keeps its place at the OOV index.
    let r = RawRecord::new().with("hist", &["i1", "i1"][..]);
    assert_eq!(
        field(&p, &r, "hist")
            .iter()
            .map(|x| x.0)
            .collect::<Vec<_>>(),
        [1, 1]
    );
    let r = RawRecord::new().with("hist", &["zz", "i2"][..]);
    assert_eq!(
        field(&p, &r, "hist")
            .iter()
            .map(|x| x.0)
            .collect::<Vec<_>>(),
        [0, 2]
    );
    let item = field(&p, &t[0], "item_id")[0].0;
    assert_eq!(item, 1);
    assert_ne!(
        p.field_range(p.field_index("hist").unwrap()).start,
        p.field_range(2).start
    );
    // Crosses: gender × every genre; a missing part makes the cross missing (OOV here).
    let c = field(&p, &t[0], "gender x genres"); // M·a, M·b
    assert_eq!(c.iter().map(|x| x.0).collect::<Vec<_>>(), [1, 3]);
    assert!(close(c[0].1, s2));
    assert_eq!(field(&p, &t[3], "gender x genres"), [(0, 1.0)]);
    // A cross of a bucketised field uses the bucket: ages 10 and 20 share bucket 0.
    let a = field(&p, &t[0], "age x gender");
    assert_eq!(
        a,
        field(&p, &t[0].clone().with("age", 20.0), "age x gender")
    );
    assert_ne!(
        a,
        field(&p, &t[0].clone().with("age", 30.0), "age x gender")
    );
    assert!(a.len() == 1 && a[0].0 < 32);
    assert_eq!(
        field(&p, &t[3], "age x gender"),
        [(32, 1.0)],
        "missing gender → indicator"
    );
}

/// `hist.<name>` sequences take the vocabulary of the candidate's attribute and stay
/// aligned with `hist`: a position whose item lacks the attribute is at the
/// out-of-vocabulary index, and a history none of whose items has it reads as all such.
#[test]
fn history_attribute_sequences_stay_aligned_with_the_history() {
    let spec = FeatureSpec::parse(
        r#"
[[field]]
name = "item.category"
kind = "categorical"

[[field]]
name = "hist"
kind = "sequence"

[[field]]
name = "hist.category"
kind = "sequence"
vocab_from = "item.category"
"#,
        Path::new("din.toml"),
    )
    .unwrap();
    let item = |id: &str, c: &str| {
        (
            id.to_string(),
            vec![("item.category".to_string(), RawValue::from(c))],
        )
    };
    let (a, b) = (item("i1", "shoes"), item("i2", "hats"));
    let none: (String, Vec<(String, RawValue)>) = ("i3".into(), Vec::new());
    let record = |hist: &[&(String, Vec<(String, RawValue)>)]| {
        let mut r = RawRecord::new().with("item.category", "shoes");
        let h: Vec<funnel_features::record::HistoryItem> = hist
            .iter()
            .map(|(id, attrs)| (id.as_str(), &attrs[..]))
            .collect();
        r.set_history(&h);
        r
    };
    let p = spec.fit(&[record(&[&a, &b]), record(&[&b])]).unwrap();
    let cats = |r: &RawRecord| {
        field(&p, r, "hist.category")
            .iter()
            .map(|x| x.0)
            .collect::<Vec<_>>()
    };
    let shoes = field(&p, &record(&[]), "item.category")[0].0;
    let r = record(&[&a, &none, &a]);
    assert_eq!(field(&p, &r, "hist").len(), 3);
    assert_eq!(cats(&r), [shoes, 0, shoes]);
    assert_eq!(cats(&record(&[&none, &none])), [0, 0]);
    assert_eq!(cats(&record(&[])), Vec::<u32>::new());
}

#[test]
fn missing_policies() {
    let p = spec().fit(&training()).unwrap();
    let r = rec(
        "u1",
        "",
        RawValue::Num(f64::NAN),
        RawValue::Num(f64::NAN),
        &[],
        &[],
    );
    assert_eq!(
        field(&p, &r, "item_id"),
        [(4, 1.0)],
        "indicator after the vocabulary"
    );
    assert_eq!(field(&p, &r, "gender"), [(3, 1.0)], "fill = \"unknown\"");
    assert_eq!(field(&p, &r, "age_std"), [(0, 0.0)], "zero: the mean");
    assert_eq!(field(&p, &r, "age_mm"), [(1, 1.0)], "indicator");
    let l = field(&p, &r, "age_log_clip");
    assert!(
        l.len() == 1 && close(l[0].1, 0.5f64.ln_1p()),
        "fill runs through the transforms"
    );
    assert_eq!(field(&p, &r, "age_bucket"), [], "skip");
    assert_eq!(field(&p, &r, "hist"), []);
    // Text that is not a number is missing; numbers written as text are numbers.
    let r = RawRecord::new().with("age", "n/a");
    assert_eq!(field(&p, &r, "age_mm"), [(1, 1.0)]);
    let r = RawRecord::new().with("age", " 40 ");
    assert!(close(field(&p, &r, "age_mm")[0].1, 1.0));
    // A number where a token is expected is its integer text.
    let r = RawRecord::new()
        .with("item_id", 7.0)
        .with("user_id", RawValue::Tokens(vec!["u2".into()]));
    assert_eq!(field(&p, &r, "item_id"), [(0, 1.0)]);
    assert_eq!(field(&p, &r, "user_id"), [(2, 1.0)]);
    let q = FeatureSpec::parse(
        "[[field]]\nname = \"year\"\nkind = \"categorical\"\nmissing = \"skip\"\n",
        Path::new("y.toml"),
    )
    .unwrap()
    .fit(&[RawRecord::new().with("year", "1995")])
    .unwrap();
    assert_eq!(
        field(&q, &RawRecord::new().with("year", 1995.0), "year"),
        [(1, 1.0)]
    );
    assert_eq!(field(&q, &RawRecord::new(), "year"), []);
}

#[test]
fn every_value_is_finite() {
    let p = spec().fit(&training()).unwrap();
    // Fitting on extremes must not poison the statistics either.
    let extremes: Vec<RawRecord> = [1e308, 1e308, -1e308, 5e-324, f64::MAX]
        .iter()
        .map(|&a| rec("u", "i", "M".into(), a.into(), &["a"], &[]))
        .collect();
    let q = spec().fit(&extremes).unwrap();
    let mut n = 0;
    for pipe in [&p, &q] {
        for r in awkward().iter().chain(&training()).chain(&extremes) {
            for (f, i, v) in feats(pipe, r) {
                assert!(v.is_finite(), "field {f} index {i}: {v}");
                assert!(i < pipe.n_features() && f < pipe.n_fields());
                n += 1;
            }
        }
    }
    assert!(n > 100);
}

#[test]
fn json_round_trip_and_bad_files() {
    let p = spec().fit(&training()).unwrap();
    let d = tempfile::tempdir().unwrap();
    let path = d.path().join("p.json");
    p.save(&path).unwrap();
    let q = Pipeline::load(&path).unwrap();
    assert_eq!(q.to_json(), p.to_json());
    for r in awkward().iter().chain(&training()) {
        let (a, b) = (feats(&p, r), feats(&q, r));
        assert_eq!(format!("{a:?}"), format!("{b:?}"));
    }
    let e = Pipeline::from_json("{\"format\": 1}")
        .unwrap_err()
        .to_string();
    assert!(
        e.starts_with("<memory>: not a saved feature pipeline"),
        "{e}"
    );
    let bumped = p.to_json().replace("\"version\":1", "\"version\":99");
    let e = Pipeline::from_json(&bumped).unwrap_err().to_string();
    assert!(e.contains("version 99"), "{e}");
    let grown = p.to_json().replacen("\"size\":3", "\"size\":4", 1);
    let e = Pipeline::from_json(&grown).unwrap_err().to_string();
    assert!(e.contains("inconsistent"), "{e}");
    let reversed = p.to_json().replace(
        "\"lo\":\"0.0\",\"hi\":\"1.5\"",
        "\"lo\":\"2.0\",\"hi\":\"1.5\"",
    );
    assert_ne!(reversed, p.to_json());
    let e = Pipeline::from_json(&reversed).unwrap_err().to_string();
    assert!(e.contains("inconsistent"), "{e}");
    let e = Pipeline::load(&d.path().join("nope.json"))
        .unwrap_err()
        .to_string();
    assert!(e.contains("nope.json"), "{e}");
}

#[test]
fn transform_set_matches_transform() {
    let p = spec().fit(&training()).unwrap();
    let recs: Vec<RawRecord> = (0..10_000).map(|k| awkward()[k % 12].clone()).collect();
    let labels: Vec<f32> = (0..recs.len()).map(|k| (k % 2) as f32).collect();
    let groups: Vec<u32> = (0..recs.len() as u32).collect();
    let s = p.transform_set(&recs, &labels, &groups);
    assert_eq!(
        (s.len(), s.n_features, s.n_fields),
        (10_000, p.n_features(), 12)
    );
    assert_eq!(s.groups, groups);
    for k in [0, 4095, 4096, 9999] {
        let row = s.row(k);
        let want = feats(&p, &recs[k]);
        assert_eq!(row.label, labels[k]);
        assert_eq!(row.indices, want.iter().map(|x| x.1).collect::<Vec<_>>());
    }
    assert!(p.transform_set(&[], &[], &[]).is_empty());
}

#[test]
fn spec_file_errors_name_file_and_line() {
    let d = tempfile::tempdir().unwrap();
    let path = d.path().join("bad.toml");
    std::fs::write(&path, "[samples]\nlabel = \"all\"\n\n[[field]]\nname = \"a\"\nkind = \"categorical\"\nmin_cout = 2\n").unwrap();
    let e = FeatureSpec::from_file(&path).unwrap_err().to_string();
    assert!(
        e.starts_with(&format!("{}:7, column 1: ", path.display())),
        "{e}"
    );
    assert!(e.contains("unknown field `min_cout`"), "{e}");
    std::fs::write(&path, "[[field]]\nname = \"a\"\nkind = \"numerical\"\n").unwrap();
    let e = FeatureSpec::from_file(&path).unwrap_err().to_string();
    assert!(
        e.starts_with(&format!("{}:3, column 8: ", path.display())),
        "{e}"
    );
    assert!(e.contains("unknown variant `numerical`"), "{e}");
    let e = FeatureSpec::from_file(&d.path().join("none.toml"))
        .unwrap_err()
        .to_string();
    assert!(e.contains("none.toml"), "{e}");
}

// ---- the saved pipeline in a fresh process ----

const CHILD_ENV: &str = "FUNNEL_FEATURES_FRESH_PROCESS_DIR";

/// Every record's features as bytes: count, then field, index and value bits.
fn feature_bytes(p: &Pipeline, recs: &[RawRecord]) -> Vec<u8> {
    let mut bytes = Vec::new();
    let mut out = Vec::new();
    for r in recs {
        p.transform(r, &mut out);
        bytes.extend((out.len() as u32).to_le_bytes());
        for &(f, i, v) in &out {
            bytes.extend(f.to_le_bytes());
            bytes.extend(i.to_le_bytes());
            bytes.extend(v.to_bits().to_le_bytes());
        }
    }
    bytes
}

fn serving_records() -> Vec<RawRecord> {
    let mut recs = training();
    recs.extend(awkward());
    // Values whose statistics are awkward floats (1/3, 0.1 + 0.2 …).
    recs.extend((0..50).map(|k| {
        rec(
            &format!("u{}", k % 3),
            &format!("i{}", k % 4),
            ["M", "F"][k % 2].into(),
            RawValue::Num(k as f64 / 3.0 + 0.1),
            &["a", "b", "c"][..k % 4],
            &["i1", "i2", "i3"][..k % 3],
        )
    }));
    recs
}

#[test]
fn saved_pipeline_gives_bit_identical_features_in_a_fresh_process() {
    let train: Vec<RawRecord> = serving_records().into_iter().skip(4).collect();
    let p = spec().fit(&train).unwrap();
    let d = tempfile::tempdir().unwrap();
    p.save(&d.path().join("pipeline.json")).unwrap();
    // The child's own test-harness output is kept out of ours unless it fails.
    let child = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "--ignored",
            "--exact",
            "fresh_process_child",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_ENV, d.path())
        .output()
        .unwrap();
    assert!(
        child.status.success(),
        "child failed:\n{}{}",
        String::from_utf8_lossy(&child.stdout),
        String::from_utf8_lossy(&child.stderr)
    );
    let theirs = std::fs::read(d.path().join("features.bin")).unwrap();
    let ours = feature_bytes(&p, &serving_records());
    assert!(ours.len() > 4 * 1000);
    assert!(
        ours == theirs,
        "the fresh process computed different features"
    );
}

/// Run by the test above in a child process; does nothing when run by hand.
#[test]
#[ignore = "helper run in a child process by saved_pipeline_gives_bit_identical_features_in_a_fresh_process"]
fn fresh_process_child() {
    let Some(dir) = std::env::var_os(CHILD_ENV).map(PathBuf::from) else {
        return;
    };
    let p = Pipeline::load(&dir.join("pipeline.json")).unwrap();
    std::fs::write(
        dir.join("features.bin"),
        feature_bytes(&p, &serving_records()),
    )
    .unwrap();
}

// ---- the sample builder ----

/// A log of `users` users with `per_user` events each over `items` items, times with
/// many ties, ratings 1..=5 and two feedback types.
fn log(users: u32, per_user: u32, items: u32) -> EventLog {
    let mut log = EventLog::new();
    let mut x: u64 = 12345;
    let mut next = || {
        x = x
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (x >> 33) as u32
    };
    for u in 0..users {
        let mut t = 1_000_000 + i64::from(next() % 1000);
        for _ in 0..per_user {
            t += i64::from(next() % 3) * 60; // a third of the steps are ties
            let (user, item) = (format!("u{u}"), format!("i{}", next() % items));
            let rating = (1 + next() % 5) as f32;
            let kind = if rating >= 4.0 { "buy" } else { "view" };
            log.push(&Event {
                user: &user,
                item: &item,
                value: rating,
                timestamp: Some(t),
                kind: Some(kind),
            });
        }
    }
    log
}

fn users_table(n: u32) -> EntityTable {
    EntityTable {
        ids: IdMap::from_externals((0..n).map(|u| format!("u{u}"))),
        columns: vec![
            ("age".into(), AttrKind::Numeric),
            ("gender".into(), AttrKind::Categorical),
        ],
        rows: (0..n)
            .map(|u| {
                vec![
                    if u % 7 == 0 {
                        AttrValue::Missing
                    } else {
                        AttrValue::Numeric(f64::from(20 + u % 40))
                    },
                    AttrValue::Categorical(["M", "F"][u as usize % 2].into()),
                ]
            })
            .collect(),
    }
}

fn samples(label: &str, negatives: u32, keep: f64, history: usize) -> SamplesSpec {
    SamplesSpec {
        label: LabelRule::parse(label).unwrap(),
        negatives_per_positive: negatives,
        negative_keep_rate: keep,
        history,
        split: SplitRule::Temporal(0.8),
        seed: 7,
    }
}

fn token(r: &RawRecord, key: &str) -> String {
    match r.get(key) {
        RawValue::Token(s) => s.clone(),
        other => panic!("{key}: {other:?}"),
    }
}

/// Every record's `hist.category` lists the category of each item in its `hist`, in the
/// same order, with `∅` for items without one: the lists stay aligned.
#[test]
fn builder_writes_history_attributes_aligned_with_the_history() {
    let log = log(30, 30, 40);
    let category = |i: u32| (i % 5 != 0).then(|| format!("c{}", i % 3));
    let items = EntityTable {
        ids: IdMap::from_externals((0..40).map(|i| format!("i{i}"))),
        columns: vec![("category".into(), AttrKind::Categorical)],
        rows: (0..40)
            .map(|i| {
                vec![match category(i) {
                    Some(c) => AttrValue::Categorical(c),
                    None => AttrValue::Missing,
                }]
            })
            .collect(),
    };
    let d = build_records(&samples("rating >= 4", 0, 1.0, 6), &log, None, Some(&items)).unwrap();
    let list = |r: &RawRecord, k: &str| match r.get(k) {
        RawValue::Tokens(t) => t.clone(),
        other => panic!("{k}: {other:?}"),
    };
    let mut positions = 0;
    for r in d.train.records.iter().chain(&d.test.records) {
        let hist = list(r, "hist");
        // absent when no item of the history has a category (the pipeline reads every
        // position as lacking it)
        let cats = match r.get("hist.category") {
            RawValue::Missing => vec![funnel_features::record::NO_VALUE.to_string(); hist.len()],
            _ => list(r, "hist.category"),
        };
        assert_eq!(hist.len(), cats.len());
        for (item, cat) in hist.iter().zip(&cats) {
            let i: u32 = item[1..].parse().unwrap();
            let want = category(i).unwrap_or_else(|| funnel_features::record::NO_VALUE.into());
            assert_eq!(*cat, want, "{item}");
            positions += 1;
        }
    }
    assert!(positions > 1000, "{positions}");
}

#[test]
fn builder_has_no_leakage_and_splits_by_time() {
    let log = log(60, 40, 80);
    let users = users_table(60);
    let d = build_records(&samples("rating >= 4", 0, 1.0, 5), &log, Some(&users), None).unwrap();
    let info = &d.info;
    assert_eq!(info.events, 2400);
    assert_eq!(d.train.len() + d.test.len(), 2400);
    assert_eq!(
        (info.train_events, info.test_events),
        (d.train.len(), d.test.len())
    );
    assert!(
        info.train_events >= 1920 && info.train_events < 2000,
        "{info:?}"
    );
    // Train strictly precedes test.
    let last_train = *d.train.times.iter().max().unwrap();
    let first_test = *d.test.times.iter().min().unwrap();
    assert!(last_train < first_test && info.split_time == Some(first_test));
    let want_pos = log.events.iter().filter(|e| e.value >= 4.0).count();
    assert_eq!(info.positives, want_pos);
    assert_eq!(info.explicit_negatives, 2400 - want_pos);
    let pos = d
        .train
        .labels
        .iter()
        .chain(&d.test.labels)
        .filter(|&&l| l == 1.0)
        .count();
    assert_eq!(pos, want_pos);

    // Every hist is exactly the user's last 5 items strictly before the event.
    let mut by_user: HashMap<String, Vec<(i64, usize, String)>> = HashMap::new();
    for (k, e) in log.events.iter().enumerate() {
        by_user
            .entry(log.users.external(e.user).to_string())
            .or_default()
            .push((e.time.unwrap(), k, log.items.external(e.item).to_string()));
    }
    for part in [&d.train, &d.test] {
        for (k, r) in part.records.iter().enumerate() {
            let u = token(r, "user_id");
            assert_eq!(log.users.external(part.groups[k]), u);
            let t = part.times[k];
            let mut before: Vec<&(i64, usize, String)> =
                by_user[&u].iter().filter(|x| x.0 < t).collect();
            before.sort();
            let want: Vec<String> = before
                .iter()
                .rev()
                .take(5)
                .rev()
                .map(|x| x.2.clone())
                .collect();
            assert_eq!(
                r.get("hist"),
                &RawValue::Tokens(want),
                "record {k} of {u} at {t}"
            );
            assert!(by_user[&u]
                .iter()
                .any(|x| x.0 == t && x.2 == token(r, "item_id")));
        }
    }
    // Attributes come along; a missing one is missing.
    let r = &d.train.records[0];
    let u: u32 = token(r, "user_id")[1..].parse().unwrap();
    assert_eq!(token(r, "user.gender"), ["M", "F"][u as usize % 2]);
    let with_missing = d
        .train
        .records
        .iter()
        .find(|r| token(r, "user_id") == "u7")
        .unwrap();
    assert_eq!(with_missing.get("user.age"), &RawValue::Missing);
}

#[test]
fn sampled_negatives_are_unseen_and_downsampling_is_recorded() {
    let log = log(200, 50, 400);
    let d = build_records(&samples("all", 4, 0.25, 3), &log, None, None).unwrap();
    let info = &d.info;
    assert_eq!(info.positives, 10_000);
    assert_eq!(
        info.sampled_negatives, 40_000,
        "every user has unseen items"
    );
    assert_eq!(info.negative_keep_rate, 0.25);
    let neg = |s: &funnel_features::CtrSamples| s.labels.iter().filter(|&&l| l == 0.0).count();
    let train_negatives = 4 * info.train_events;
    let kept = neg(&d.train);
    assert_eq!(kept + info.dropped_negatives, train_negatives);
    let rate = kept as f64 / train_negatives as f64;
    assert!(
        (rate - 0.25).abs() < 0.015,
        "kept {kept} of {train_negatives}: {rate}"
    );
    assert_eq!(
        neg(&d.test),
        4 * info.test_events,
        "test negatives are all kept"
    );
    let seen: std::collections::HashSet<(u32, u32)> =
        log.events.iter().map(|e| (e.user, e.item)).collect();
    for part in [&d.train, &d.test] {
        for (k, r) in part.records.iter().enumerate() {
            let item = log.items.get(&token(r, "item_id")).unwrap();
            assert_eq!(
                seen.contains(&(part.groups[k], item)),
                part.labels[k] == 1.0
            );
        }
    }
    // The same seed gives the same samples.
    let again = build_records(&samples("all", 4, 0.25, 3), &log, None, None).unwrap();
    assert_eq!(again.train.records, d.train.records);
}

#[test]
fn builder_labels_by_type_and_rejects_bad_inputs() {
    let log = log(20, 10, 30);
    let d = build_records(&samples("type == buy", 0, 1.0, 2), &log, None, None).unwrap();
    let buys = log
        .events
        .iter()
        .filter(|e| log.kinds.external(e.kind.unwrap()) == "buy")
        .count();
    assert_eq!(d.info.positives, buys);
    let e = build_records(&samples("all", 0, 1.0, 2), &log, None, None).unwrap_err();
    assert!(
        e.to_string().contains("every training sample is positive"),
        "{e}"
    );
    let mut untimed = EventLog::new();
    untimed.push(&Event::implicit("a", "x"));
    let e = build_records(&samples("all", 1, 1.0, 2), &untimed, None, None).unwrap_err();
    assert!(e.to_string().contains("needs a timestamp"), "{e}");
    let mut s = samples("all", 1, 1.0, 2);
    s.split = SplitRule::None;
    untimed.push(&Event::implicit("a", "y"));
    untimed.push(&Event::implicit("b", "x"));
    let d = build_records(&s, &untimed, None, None).unwrap();
    // `a` has seen both items, so only `b`'s event gets a sampled negative.
    assert_eq!(
        (d.train.len(), d.test.len(), d.info.sampled_negatives),
        (4, 0, 1)
    );
    // Without times, file order is time: the second event of `a` sees the first.
    assert_eq!(
        d.train.records[1].get("hist"),
        &RawValue::Tokens(vec!["x".into()])
    );
    let e = build_records(&s, &EventLog::new(), None, None).unwrap_err();
    assert!(e.to_string().contains("no interactions"), "{e}");
}

// ---- ml-100k end to end ----

fn ml100k() -> Option<PathBuf> {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/datasets/ml-100k");
    if p.join("ml-100k.inter").is_file() {
        Some(p)
    } else {
        println!("skipped: {} is absent", p.display());
        None
    }
}

#[test]
fn ml100k_ctr_samples_from_the_example_spec() {
    let Some(dir) = ml100k() else { return };
    let spec = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/ml-100k-ctr.toml");
    let start = std::time::Instant::now();
    let (p, train, test, info) = build_ctr(&spec, &dir).unwrap();
    let took = start.elapsed();
    println!(
        "ml-100k: {info:?}, {} features, {} train nnz, {took:?}",
        p.n_features(),
        train.nnz()
    );
    assert_eq!(info.events, 100_000);
    assert_eq!(info.positives, 55_375, "ratings >= 4");
    assert_eq!(info.explicit_negatives, 44_625);
    assert_eq!((info.users, info.items), (943, 1682));
    assert_eq!(train.len() + test.len(), 100_000);
    assert_eq!(train.len(), info.train_events);
    assert!((80_000..80_100).contains(&train.len()), "{}", train.len());
    let positives = train
        .labels
        .iter()
        .chain(&test.labels)
        .filter(|&&l| l == 1.0)
        .count();
    assert_eq!(positives, 55_375);
    assert_eq!(train.n_fields, p.n_fields());
    assert_eq!(train.n_features, p.n_features());
    assert_eq!(train.groups.len(), train.len());
    assert!(train
        .values
        .iter()
        .chain(&test.values)
        .all(|v| v.is_finite()));
    assert!(train
        .indices
        .iter()
        .chain(&test.indices)
        .all(|&i| i < p.n_features()));
    // Fitted on train only: the item vocabulary lacks items first rated in the test part.
    let items = p
        .vocabulary(p.field_index("item_id").unwrap())
        .unwrap()
        .len();
    assert!(items < 1682, "{items}");
    assert!(took.as_secs_f64() < 5.0, "took {took:?}");

    // read_interactions also takes the .inter file itself.
    let (log, users, items) = read_interactions(&dir.join("ml-100k.inter")).unwrap();
    assert_eq!(log.len(), 100_000);
    assert!(users.is_some() && items.is_some());
}
