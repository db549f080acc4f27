//! The feature spec: a TOML file that declares how samples are built (`[samples]`) and
//! which features a raw event turns into (`[[field]]`). Unknown keys, wrong kinds and
//! inconsistent fields are errors that name the file, line and column.
//! `docs/features.md` describes every key.

use std::path::Path;

use funnel_data::Location;
use serde::{Deserialize, Serialize};
use toml::Spanned;

use crate::error::{FeatureError, Result};

/// A parsed, checked feature spec.
#[derive(Debug, Clone, PartialEq)]
pub struct FeatureSpec {
    /// How samples are built from interactions.
    pub samples: SamplesSpec,
    /// The fields, in declaration order: field `f` of every sample is `fields[f]`.
    pub fields: Vec<FieldSpec>,
}

/// What kind of feature a field is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FieldKind {
    /// One token: a vocabulary (with an out-of-vocabulary bucket) or hash buckets.
    Categorical,
    /// A number, transformed, or bucketised into quantile buckets.
    Numeric,
    /// A set of tokens (genres, tags).
    MultiHot,
    /// The last `max_len` tokens of a list (the user's history).
    Sequence,
    /// Explicit cross of two or more raw keys or fields.
    Cross,
}

impl FieldKind {
    fn name(self) -> &'static str {
        match self {
            FieldKind::Categorical => "categorical",
            FieldKind::Numeric => "numeric",
            FieldKind::MultiHot => "multi_hot",
            FieldKind::Sequence => "sequence",
            FieldKind::Cross => "cross",
        }
    }
}

/// A numeric transform, applied in the order declared.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Transform {
    /// `sign(x)·ln(1+|x|)`: `log1p` for non-negative values, still finite for negative ones.
    Log1p,
    /// `(x − mean) / std` with the training mean and standard deviation.
    #[serde(alias = "standardise")]
    Standardize,
    /// `(x − min) / (max − min)` with the training minimum and maximum.
    #[serde(alias = "min_max")]
    Minmax,
    /// Clamp into `clip = [lo, hi]`.
    Clip,
}

/// What a field emits when its value is missing (absent, empty, unparsable, NaN or ±inf).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MissingPolicy {
    /// The out-of-vocabulary bucket (vocabulary fields; their default when single-valued).
    Oov,
    /// Nothing: the field is absent from the sample.
    Skip,
    /// A dedicated "missing" index with value 1.
    Indicator,
    /// The declared `fill` value, as if it had been given.
    Fill,
    /// Numeric value 0 after the transforms (the mean when standardised); the default of
    /// numeric fields that are not bucketised.
    Zero,
}

/// A `fill` value: a number or a token.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum FillValue {
    /// A number (numeric fields; categorical fields read it as its token).
    Num(f64),
    /// A token.
    Token(String),
}

/// One `[[field]]` table. Which keys apply depends on `kind`; see `docs/features.md`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FieldSpec {
    /// The field's name, unique in the spec; also the raw key it reads unless `input` is given.
    pub name: String,
    /// The kind of feature.
    pub kind: FieldKind,
    /// The raw key to read, when it differs from `name` (two fields from one key).
    pub input: Option<String>,
    /// Vocabulary: tokens seen fewer times in training go to the OOV bucket (default 1).
    pub min_count: Option<u64>,
    /// Hash tokens into this many buckets instead of learning a vocabulary.
    pub hash_buckets: Option<u32>,
    /// The missing policy (default: `oov` for vocabulary categorical/cross fields, `skip`
    /// for hashed and list fields and bucketised numbers, `zero` for other numbers).
    pub missing: Option<MissingPolicy>,
    /// The value used with `missing = "fill"` (giving `fill` alone implies it).
    pub fill: Option<FillValue>,
    /// Numeric transforms in order.
    #[serde(default)]
    pub transforms: Vec<Transform>,
    /// Bounds of the `clip` transform.
    pub clip: Option<[f64; 2]>,
    /// Quantile-bucketise into this many one-hot buckets (after the transforms).
    pub buckets: Option<u32>,
    /// Sequence length: the last `max_len` tokens are kept.
    pub max_len: Option<usize>,
    /// Use the vocabulary fitted for another field (e.g. a history of items uses `item_id`'s).
    pub vocab_from: Option<String>,
    /// The raw keys or fields a cross combines.
    #[serde(default)]
    pub of: Vec<String>,
}

impl FieldSpec {
    /// The raw key the field reads.
    pub fn input(&self) -> &str {
        self.input.as_deref().unwrap_or(&self.name)
    }

    /// Whether the field maps tokens through a vocabulary of its own or a shared one
    /// (rather than hashing them). Numeric fields have none.
    pub fn has_vocabulary(&self) -> bool {
        self.kind != FieldKind::Numeric && self.hash_buckets.is_none()
    }

    /// The missing policy with defaults applied.
    pub fn missing_policy(&self) -> MissingPolicy {
        if let Some(m) = self.missing {
            return m;
        }
        if self.fill.is_some() {
            return MissingPolicy::Fill;
        }
        match self.kind {
            FieldKind::Numeric if self.buckets.is_some() => MissingPolicy::Skip,
            FieldKind::Numeric => MissingPolicy::Zero,
            FieldKind::MultiHot | FieldKind::Sequence => MissingPolicy::Skip,
            FieldKind::Categorical | FieldKind::Cross if self.has_vocabulary() => {
                MissingPolicy::Oov
            }
            FieldKind::Categorical | FieldKind::Cross => MissingPolicy::Skip,
        }
    }
}

/// The `[samples]` table: how the sample builder turns interactions into labelled events.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SamplesSpec {
    /// Which interactions are positive.
    pub label: LabelRule,
    /// Items the user never interacted with, sampled as negatives for each positive.
    pub negatives_per_positive: u32,
    /// Each training negative is kept with this probability (in `(0, 1]`); recorded so
    /// that predicted probabilities can be corrected (see [`downsampling_correction`]).
    ///
    /// [`downsampling_correction`]: crate::downsampling_correction
    #[serde(deserialize_with = "keep_rate")]
    pub negative_keep_rate: f64,
    /// Length of the `hist` list of each record (the user's previous items).
    pub history: usize,
    /// How events are split into train and test.
    pub split: SplitRule,
    /// Seed of negative sampling and down-sampling.
    pub seed: u64,
}

impl Default for SamplesSpec {
    fn default() -> Self {
        SamplesSpec {
            label: LabelRule::All,
            negatives_per_positive: 0,
            negative_keep_rate: 1.0,
            history: 10,
            split: SplitRule::Temporal(0.8),
            seed: 0,
        }
    }
}

fn keep_rate<'de, D: serde::Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
    let r = f64::deserialize(d)?;
    if r > 0.0 && r <= 1.0 {
        Ok(r)
    } else {
        Err(serde::de::Error::custom(format!(
            "negative_keep_rate {r}: expected a probability in (0, 1]"
        )))
    }
}

/// A comparison in a label rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compare {
    /// `>=`
    Ge,
    /// `>`
    Gt,
    /// `<=`
    Le,
    /// `<`
    Lt,
    /// `==`
    Eq,
}

/// Which interactions are positive: `"all"`, `"rating >= 4"` (also `value`; `>=`, `>`,
/// `<=`, `<`, `==`), `"type == purchase"` or `"type in click, purchase"` (also `kind`).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(try_from = "String")]
pub enum LabelRule {
    /// Every interaction is positive (negatives then come from sampling).
    All,
    /// The interaction's value (rating) compared with a threshold.
    Value(Compare, f32),
    /// The interaction's feedback type is one of these.
    Kinds(Vec<String>),
}

impl TryFrom<String> for LabelRule {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        LabelRule::parse(&s)
    }
}

impl LabelRule {
    /// Parses a rule.
    pub fn parse(text: &str) -> Result<LabelRule, String> {
        let bad = || {
            format!(
                "label `{text}`: expected \"all\", \"rating >= 4\" (or >, <=, <, ==), \
                 \"type == purchase\" or \"type in click, purchase\""
            )
        };
        let s = text.trim();
        if s == "all" {
            return Ok(LabelRule::All);
        }
        let end = s
            .find(|c: char| !(c.is_alphanumeric() || c == '_'))
            .unwrap_or(s.len());
        let (lhs, rest) = (&s[..end], s[end..].trim_start());
        match lhs {
            "rating" | "value" => {
                let (op, n) = [
                    (">=", Compare::Ge),
                    ("<=", Compare::Le),
                    ("==", Compare::Eq),
                    (">", Compare::Gt),
                    ("<", Compare::Lt),
                ]
                .into_iter()
                .find(|(p, _)| rest.starts_with(p))
                .map(|(p, c)| (c, &rest[p.len()..]))
                .ok_or_else(bad)?;
                let t: f32 = n.trim().parse().map_err(|_| bad())?;
                if !t.is_finite() {
                    return Err(bad());
                }
                Ok(LabelRule::Value(op, t))
            }
            "type" | "kind" => {
                let list = if let Some(r) = rest.strip_prefix("==") {
                    r
                } else if let Some(r) = rest.strip_prefix("in") {
                    let r = r.trim();
                    r.strip_prefix('[')
                        .and_then(|r| r.strip_suffix(']'))
                        .unwrap_or(r)
                } else {
                    return Err(bad());
                };
                let kinds: Vec<String> = list
                    .split(',')
                    .map(|k| k.trim().trim_matches('"').to_string())
                    .collect();
                if kinds.iter().any(String::is_empty) {
                    return Err(bad());
                }
                Ok(LabelRule::Kinds(kinds))
            }
            _ => Err(bad()),
        }
    }

    /// Whether an interaction with this value and feedback type is positive.
    pub fn is_positive(&self, value: f32, kind: Option<&str>) -> bool {
        match self {
            LabelRule::All => true,
            LabelRule::Value(op, t) => match op {
                Compare::Ge => value >= *t,
                Compare::Gt => value > *t,
                Compare::Le => value <= *t,
                Compare::Lt => value < *t,
                Compare::Eq => value == *t,
            },
            LabelRule::Kinds(ks) => kind.is_some_and(|k| ks.iter().any(|x| x == k)),
        }
    }
}

/// How events are split into train and test.
#[derive(Debug, Clone, Copy, PartialEq, Deserialize)]
#[serde(try_from = "String")]
pub enum SplitRule {
    /// `"temporal:0.8"`: the earliest 80% of events train, the rest test (one global
    /// cut in time; events at the cut's timestamp all go to train).
    Temporal(f64),
    /// `"none"`: every event trains.
    None,
}

impl TryFrom<String> for SplitRule {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        let t = s.trim();
        if t == "none" {
            return Ok(SplitRule::None);
        }
        t.strip_prefix("temporal:")
            .and_then(|f| f.trim().parse::<f64>().ok())
            .filter(|f| *f > 0.0 && *f <= 1.0)
            .map(SplitRule::Temporal)
            .ok_or_else(|| {
                format!("split `{s}`: expected \"temporal:F\" with F in (0, 1], or \"none\"")
            })
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SpecFile {
    #[serde(default)]
    samples: SamplesSpec,
    #[serde(default)]
    field: Vec<Spanned<FieldSpec>>,
}

impl FeatureSpec {
    /// Reads and checks a spec file.
    pub fn from_file(path: &Path) -> Result<FeatureSpec> {
        let text = std::fs::read_to_string(path).map_err(|e| FeatureError::io(path, e))?;
        FeatureSpec::parse(&text, path)
    }

    /// Parses and checks spec text; `path` names it in errors.
    pub fn parse(text: &str, path: &Path) -> Result<FeatureSpec> {
        let at = |offset: usize| {
            let before = &text[..offset.min(text.len())];
            let line = before.matches('\n').count() as u64 + 1;
            let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
            Location {
                path: path.to_path_buf(),
                line,
                column: Some(column),
            }
        };
        let file: SpecFile = toml::from_str(text).map_err(|e| FeatureError::Spec {
            at: at(e.span().map_or(0, |s| s.start)),
            message: e.message().trim_end().to_string(),
        })?;
        if file.field.is_empty() {
            return Err(FeatureError::Spec {
                at: at(text.len()),
                message: "the spec declares no [[field]]; expected at least one".into(),
            });
        }
        let fields: Vec<FieldSpec> = file.field.iter().map(|f| f.get_ref().clone()).collect();
        for (i, f) in file.field.iter().enumerate() {
            check_field(&fields, i).map_err(|message| FeatureError::Spec {
                at: at(f.span().start),
                message: format!("field `{}`: {message}", fields[i].name),
            })?;
        }
        Ok(FeatureSpec {
            samples: file.samples,
            fields,
        })
    }

    /// Index of a field by name.
    pub fn field(&self, name: &str) -> Option<usize> {
        self.fields.iter().position(|f| f.name == name)
    }
}

/// Checks field `i` against its kind and the other fields.
fn check_field(fields: &[FieldSpec], i: usize) -> Result<(), String> {
    let f = &fields[i];
    let kind = f.kind.name();
    if f.name.is_empty() {
        return Err("`name` is empty".into());
    }
    if fields[..i].iter().any(|g| g.name == f.name) {
        return Err("another field has the same name".into());
    }
    let numeric = f.kind == FieldKind::Numeric;
    let only = |ok: bool, key: &str, applies: &str| {
        if ok {
            Ok(())
        } else {
            Err(format!(
                "`{key}` does not apply to {kind} fields ({applies})"
            ))
        }
    };
    only(
        f.transforms.is_empty() || numeric,
        "transforms",
        "numeric only",
    )
    .and(only(f.clip.is_none() || numeric, "clip", "numeric only"))
    .and(only(
        f.buckets.is_none() || numeric,
        "buckets",
        "numeric only",
    ))
    .and(only(
        f.max_len.is_none() || f.kind == FieldKind::Sequence,
        "max_len",
        "sequence only",
    ))
    .and(only(
        f.of.is_empty() || f.kind == FieldKind::Cross,
        "of",
        "cross only",
    ))
    .and(only(
        f.input.is_none() || f.kind != FieldKind::Cross,
        "input",
        "a cross reads the keys in `of`",
    ))
    .and(only(
        f.min_count.is_none() || !numeric,
        "min_count",
        "token fields only",
    ))
    .and(only(
        f.hash_buckets.is_none() || !numeric,
        "hash_buckets",
        "token fields only",
    ))
    .and(only(
        f.vocab_from.is_none() || !matches!(f.kind, FieldKind::Numeric | FieldKind::Cross),
        "vocab_from",
        "categorical, multi_hot and sequence fields",
    ))?;

    if f.min_count.is_some() && f.hash_buckets.is_some() {
        return Err("give `min_count` (a vocabulary) or `hash_buckets`, not both".into());
    }
    if f.min_count == Some(0) {
        return Err("`min_count` must be at least 1".into());
    }
    if f.hash_buckets == Some(0) {
        return Err("`hash_buckets` must be at least 1".into());
    }
    if f.max_len == Some(0) {
        return Err("`max_len` must be at least 1".into());
    }
    if let Some(src) = &f.vocab_from {
        if f.min_count.is_some() || f.hash_buckets.is_some() {
            return Err("a field with `vocab_from` takes the other field's vocabulary; drop `min_count`/`hash_buckets`".into());
        }
        let Some(g) = fields.iter().find(|g| &g.name == src) else {
            return Err(format!(
                "`vocab_from = \"{src}\"` names no field of this spec"
            ));
        };
        if g.name == f.name
            || g.vocab_from.is_some()
            || !g.has_vocabulary()
            || g.kind == FieldKind::Cross
        {
            return Err(format!(
                "`vocab_from = \"{src}\"` must name another categorical, multi_hot or sequence \
                 field that learns its own vocabulary (no hash_buckets, no vocab_from)"
            ));
        }
    }
    if f.kind == FieldKind::Cross {
        if f.of.len() < 2 {
            return Err("a cross needs `of` with at least two keys or fields".into());
        }
        if let Some(g) = fields
            .iter()
            .find(|g| f.of.contains(&g.name) && g.kind == FieldKind::Cross)
        {
            return Err(format!(
                "crosses of crosses are not supported; list the keys of `{}` instead",
                g.name
            ));
        }
    }
    if numeric {
        let clips = f.transforms.contains(&Transform::Clip);
        match (clips, f.clip) {
            (true, None) => return Err("the `clip` transform needs `clip = [lo, hi]`".into()),
            (false, Some(_)) => {
                return Err("`clip = [lo, hi]` is given but `transforms` has no \"clip\"".into())
            }
            (true, Some([lo, hi])) if !(lo.is_finite() && hi.is_finite() && lo <= hi) => {
                return Err(format!(
                    "`clip = [{lo}, {hi}]`: expected finite bounds with lo <= hi"
                ))
            }
            _ => {}
        }
        if f.buckets.is_some_and(|b| b < 2) {
            return Err("`buckets` must be at least 2".into());
        }
    }
    let policy = f.missing_policy();
    match policy {
        MissingPolicy::Oov if !f.has_vocabulary() => {
            return Err(format!(
                "`missing = \"oov\"` needs a vocabulary; {kind} fields{} have no OOV bucket \
                 (use \"skip\", \"indicator\" or \"fill\")",
                if numeric { "" } else { " with hash_buckets" }
            ))
        }
        MissingPolicy::Zero if !numeric || f.buckets.is_some() => {
            return Err(
                "`missing = \"zero\"` applies to numeric fields that are not bucketised".into(),
            )
        }
        MissingPolicy::Fill if f.fill.is_none() => {
            return Err("`missing = \"fill\"` needs a `fill` value".into())
        }
        _ => {}
    }
    if f.fill.is_some() && policy != MissingPolicy::Fill {
        return Err(format!(
            "`fill` is given but `missing` is \"{}\"; use missing = \"fill\"",
            serde_json::to_value(policy)
                .ok()
                .and_then(|v| v.as_str().map(str::to_string))
                .unwrap_or_default()
        ));
    }
    if numeric {
        if let Some(FillValue::Token(t)) = &f.fill {
            return Err(format!("`fill = \"{t}\"`: a numeric field needs a number"));
        }
        if let Some(FillValue::Num(x)) = &f.fill {
            if !x.is_finite() {
                return Err("`fill` must be a finite number".into());
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<FeatureSpec> {
        FeatureSpec::parse(text, Path::new("spec.toml"))
    }

    fn err(text: &str) -> String {
        parse(text).unwrap_err().to_string()
    }

    #[test]
    fn parses_a_full_spec_with_defaults() {
        let s = parse(
            r#"
[samples]
label = "rating >= 4"
negatives_per_positive = 2
negative_keep_rate = 0.5
split = "temporal:0.7"

[[field]]
name = "user_id"
kind = "categorical"
min_count = 2

[[field]]
name = "age"
kind = "numeric"
transforms = ["log1p", "standardise", "clip"]
clip = [-3.0, 3.0]
fill = 30

[[field]]
name = "hist"
kind = "sequence"
max_len = 5
vocab_from = "user_id"

[[field]]
name = "a x b"
kind = "cross"
of = ["a", "b"]
hash_buckets = 64
"#,
        )
        .unwrap();
        assert_eq!(s.samples.label, LabelRule::Value(Compare::Ge, 4.0));
        assert_eq!(s.samples.negatives_per_positive, 2);
        assert_eq!(s.samples.split, SplitRule::Temporal(0.7));
        assert_eq!(s.samples.history, 10);
        assert_eq!(s.fields.len(), 4);
        assert_eq!(s.fields[1].missing_policy(), MissingPolicy::Fill);
        assert_eq!(s.fields[0].missing_policy(), MissingPolicy::Oov);
        assert_eq!(s.fields[2].missing_policy(), MissingPolicy::Skip);
        assert_eq!(s.fields[3].missing_policy(), MissingPolicy::Skip);
        assert_eq!(s.field("hist"), Some(2));
        assert_eq!(s.fields[1].transforms[1], Transform::Standardize);
    }

    #[test]
    fn label_and_split_rules() {
        let p = |s: &str| LabelRule::parse(s);
        assert_eq!(p(" all "), Ok(LabelRule::All));
        assert_eq!(p("rating>3.5"), Ok(LabelRule::Value(Compare::Gt, 3.5)));
        assert_eq!(p("value == 1"), Ok(LabelRule::Value(Compare::Eq, 1.0)));
        assert_eq!(p("type == buy"), Ok(LabelRule::Kinds(vec!["buy".into()])));
        let k = p("type in [click, \"buy\"]").unwrap();
        assert_eq!(k, LabelRule::Kinds(vec!["click".into(), "buy".into()]));
        assert!(k.is_positive(0.0, Some("buy")) && !k.is_positive(5.0, Some("view")));
        assert!(!k.is_positive(5.0, None));
        assert!(p("rating >= 4").unwrap().is_positive(4.0, None));
        assert!(!p("rating < 4").unwrap().is_positive(4.0, None));
        for bad in [
            "rating",
            "rating >= x",
            "clicks > 1",
            "type",
            "type in a,,b",
            "",
        ] {
            assert!(p(bad).is_err(), "{bad}");
        }
        assert_eq!(SplitRule::try_from("none".to_string()), Ok(SplitRule::None));
        assert!(SplitRule::try_from("temporal:0".to_string()).is_err());
        assert!(SplitRule::try_from("random:0.8".to_string()).is_err());
    }

    #[test]
    fn unknown_key_names_file_and_line() {
        let e = err("[[field]]\nname = \"a\"\nkind = \"categorical\"\nbukets = 3\n");
        assert!(e.starts_with("spec.toml:4, column 1: "), "{e}");
        assert!(e.contains("unknown field `bukets`"), "{e}");
        let e = err(
            "[samples]\nlabel = \"all\"\nseeds = 1\n[[field]]\nname = \"a\"\nkind = \"numeric\"\n",
        );
        assert!(e.starts_with("spec.toml:3, column 1: "), "{e}");
        let e = err("[sample]\n");
        assert!(
            e.starts_with("spec.toml:1, column 2: ") && e.contains("`sample`"),
            "{e}"
        );
    }

    #[test]
    fn wrong_kind_and_bad_values_name_their_line() {
        let e = err("[[field]]\nname = \"a\"\n\nkind = \"categorial\"\n");
        assert!(e.starts_with("spec.toml:4, column 8: "), "{e}");
        assert!(e.contains("categorial") && e.contains("multi_hot"), "{e}");
        let e = err(
            "[samples]\nlabel = \"rating => 4\"\n[[field]]\nname = \"a\"\nkind = \"numeric\"\n",
        );
        assert!(
            e.starts_with("spec.toml:2, column 9: ") && e.contains("rating >= 4"),
            "{e}"
        );
        let e = err("[samples]\nnegative_keep_rate = 1.5\n");
        assert!(
            e.starts_with("spec.toml:2, ") && e.contains("(0, 1]"),
            "{e}"
        );
        let e = err("[[field]]\nname = \"a\"\nkind = \"numeric\"\nmissing = \"maybe\"\n");
        assert!(
            e.starts_with("spec.toml:4, ") && e.contains("indicator"),
            "{e}"
        );
    }

    #[test]
    fn inconsistent_fields_name_the_field_line() {
        let head = "[[field]]\nname = \"a\"\nkind = \"categorical\"\n\n";
        let cases = [
            ("[[field]]\nname = \"b\"\nkind = \"categorical\"\ntransforms = [\"log1p\"]\n", "`transforms` does not apply"),
            ("[[field]]\nname = \"b\"\nkind = \"numeric\"\ntransforms = [\"clip\"]\n", "needs `clip = [lo, hi]`"),
            ("[[field]]\nname = \"b\"\nkind = \"numeric\"\nclip = [0.0, 1.0]\n", "has no \"clip\""),
            ("[[field]]\nname = \"b\"\nkind = \"numeric\"\ntransforms = [\"clip\"]\nclip = [2.0, 1.0]\n", "lo <= hi"),
            ("[[field]]\nname = \"b\"\nkind = \"numeric\"\nbuckets = 1\n", "at least 2"),
            ("[[field]]\nname = \"b\"\nkind = \"numeric\"\nmissing = \"oov\"\n", "needs a vocabulary"),
            ("[[field]]\nname = \"b\"\nkind = \"numeric\"\nbuckets = 4\nmissing = \"zero\"\n", "not bucketised"),
            ("[[field]]\nname = \"b\"\nkind = \"numeric\"\nfill = \"x\"\n", "needs a number"),
            ("[[field]]\nname = \"b\"\nkind = \"categorical\"\nmissing = \"fill\"\n", "needs a `fill`"),
            ("[[field]]\nname = \"b\"\nkind = \"categorical\"\nmissing = \"skip\"\nfill = \"x\"\n", "use missing = \"fill\""),
            ("[[field]]\nname = \"b\"\nkind = \"categorical\"\nhash_buckets = 8\nmissing = \"oov\"\n", "with hash_buckets have no OOV"),
            ("[[field]]\nname = \"b\"\nkind = \"categorical\"\nhash_buckets = 8\nmin_count = 2\n", "not both"),
            ("[[field]]\nname = \"a\"\nkind = \"numeric\"\n", "same name"),
            ("[[field]]\nname = \"b\"\nkind = \"sequence\"\nvocab_from = \"zzz\"\n", "names no field"),
            ("[[field]]\nname = \"b\"\nkind = \"sequence\"\nvocab_from = \"b\"\n", "must name another"),
            ("[[field]]\nname = \"b\"\nkind = \"cross\"\nof = [\"a\"]\n", "at least two"),
            ("[[field]]\nname = \"b\"\nkind = \"cross\"\nof = [\"a\", \"c\"]\n[[field]]\nname = \"c\"\nkind = \"cross\"\nof = [\"a\", \"b\"]\n", "crosses of crosses"),
            ("[[field]]\nname = \"b\"\nkind = \"categorical\"\nmax_len = 3\n", "`max_len` does not apply"),
        ];
        for (field, want) in cases {
            let e = err(&format!("{head}{field}"));
            assert!(
                e.starts_with("spec.toml:5, column 1: field `"),
                "{field}: {e}"
            );
            assert!(e.contains(want), "{field}: {e}");
        }
        let e = err("[samples]\nseed = 3\n");
        assert!(e.contains("no [[field]]"), "{e}");
    }
}
