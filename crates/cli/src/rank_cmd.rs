//! `funnel rank …`: train, evaluate and apply click-probability models.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{bail, Context, Result};
use clap::{Args, Subcommand};
use funnel_data::synthetic::ctr::{generate, CtrSpec, Truth};
use funnel_features::{SampleSet, TextFormat};
use funnel_rank::{build, evaluate, Params, RankModel};
use serde_json::json;

#[derive(Debug, Subcommand)]
pub enum RankCmd {
    /// Train a ranker and save it.
    Train(TrainArgs),
    /// Train on one file, score another: AUC, GAUC, LogLoss.
    Eval(TrainArgs),
    /// Click probabilities for a file's samples, one per line.
    Predict(PredictArgs),
    /// Write synthetic CTR samples with known click probabilities (train.ffm, test.ffm,
    /// truth.json with the oracle LogLoss of the test samples).
    Synth(SynthArgs),
    /// Build samples from a feature spec and a data set and write them as libffm
    /// (train.ffm and test.ffm with `qid:` = user) plus the fitted pipeline, for peers.
    Export(ExportArgs),
}

#[derive(Debug, Args)]
pub struct ExportArgs {
    /// The feature spec (TOML; see docs/features.md).
    #[arg(long)]
    pub spec: PathBuf,
    /// The data set: a RecBole directory (`.inter`, `.user`, `.item`) or an interactions file.
    #[arg(long)]
    pub data: PathBuf,
    /// Output directory.
    #[arg(long)]
    pub out: PathBuf,
}

#[derive(Debug, Args)]
pub struct TrainArgs {
    /// Training samples (a libsvm/libffm file); or give --spec and --data.
    #[arg(long, required_unless_present = "spec")]
    pub train: Option<PathBuf>,
    /// Test samples (required by `eval` with --train; with `train`, used for early stopping).
    #[arg(long)]
    pub test: Option<PathBuf>,
    /// A feature spec (TOML): samples are built from --data, split by time as the spec
    /// says, and the fitted pipeline is saved in the model file.
    #[arg(long, requires = "data", conflicts_with_all = ["train", "test"])]
    pub spec: Option<PathBuf>,
    /// The data set for --spec: a RecBole directory or an interactions file.
    #[arg(long, requires = "spec")]
    pub data: Option<PathBuf>,
    /// Format of the sample files: libsvm or libffm.
    #[arg(long, default_value = "libffm")]
    pub format: String,
    /// A ranker `funnel models` lists: lr (FTRL-Proximal), fm, ffm, gbdt, gbdt_lr, lambdamart, or a deep model (widedeep, deepfm, dcnv2, din, …).
    #[arg(long)]
    pub model: String,
    /// Model parameters as key=value (repeatable), e.g. --set factors=8.
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub set: Vec<String>,
    /// Share of negatives the training samples kept (corrects predicted probabilities).
    #[arg(long, default_value_t = 1.0)]
    pub negative_keep_rate: f64,
    /// Fit a calibration map (platt or isotonic) on the newest 10% of training samples.
    #[arg(long)]
    pub calibrate: Option<String>,
    /// Save the model here (`train` needs it).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Write the report as JSON here.
    #[arg(long)]
    pub json: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct PredictArgs {
    /// A model file written by `funnel rank train`.
    #[arg(long)]
    pub model: PathBuf,
    /// Samples to score (libsvm/libffm).
    #[arg(long, required_unless_present = "records", conflicts_with = "records")]
    pub data: Option<PathBuf>,
    /// Raw events to score, one JSON object per line (`{"user_id": "42", "item.class":
    /// ["Comedy"], …}`), turned into features by the pipeline saved with the model.
    #[arg(long)]
    pub records: Option<PathBuf>,
    /// Format of the sample file: libsvm or libffm.
    #[arg(long, default_value = "libffm")]
    pub format: String,
    /// Write probabilities here instead of standard output.
    #[arg(long)]
    pub out: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct SynthArgs {
    /// Output directory.
    #[arg(long)]
    pub out: PathBuf,
    /// Samples in all; the last sixth is the test set.
    #[arg(long, default_value_t = 600_000)]
    pub samples: usize,
    /// Fields per sample.
    #[arg(long, default_value_t = 8)]
    pub fields: usize,
    /// Values per field.
    #[arg(long, default_value_t = 100)]
    pub cardinality: usize,
    /// Shape of the true interactions: fm, ffm, or cross3 (fm plus a three-way term).
    #[arg(long, default_value = "fm")]
    pub truth: String,
    /// Seed.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
}

pub fn run(c: &RankCmd) -> Result<()> {
    match c {
        RankCmd::Train(a) => train(a, false),
        RankCmd::Eval(a) => train(a, true),
        RankCmd::Predict(a) => predict(a),
        RankCmd::Synth(a) => synth(a),
        RankCmd::Export(a) => export(a),
    }
}

fn text_format(name: &str) -> Result<TextFormat> {
    TextFormat::from_name(name)
        .with_context(|| format!("--format `{name}`: expected libsvm or libffm"))
}

fn read_file(path: &Path, format: TextFormat) -> Result<SampleSet> {
    let t = Instant::now();
    let (mut s, report) = funnel_features::read(path, format)?;
    let sidecar = funnel_features::query_sidecar(path);
    if sidecar.is_file() {
        let q = funnel_features::apply_query_sizes(&mut s, &sidecar)?;
        eprintln!("{}: {q} queries", sidecar.display());
    }
    let sidecar = funnel_features::position_sidecar(path);
    if sidecar.is_file() {
        funnel_features::apply_positions(&mut s, &sidecar)?;
        eprintln!("{}: display positions", sidecar.display());
    }
    eprintln!(
        "read {}: {} samples, {} features, {} fields in {:.2} s{}",
        path.display(),
        s.len(),
        s.n_features,
        s.n_fields,
        t.elapsed().as_secs_f64(),
        if report.non_finite > 0 {
            format!(" ({} NaN/inf values read as missing: trees send them their learned way, linear models skip them)", report.non_finite)
        } else {
            String::new()
        }
    );
    Ok(s)
}

fn metrics_json(m: &funnel_rank::RankMetrics) -> serde_json::Value {
    json!({"auc": m.auc, "gauc": m.gauc, "logloss": m.logloss, "ece": m.ece})
}

/// Train and test samples, with the pipeline and keep rate when built from a spec.
struct Loaded {
    train: SampleSet,
    test: Option<SampleSet>,
    pipeline: Option<serde_json::Value>,
    negative_keep_rate: Option<f64>,
}

fn load_samples(a: &TrainArgs) -> Result<Loaded> {
    if let (Some(spec), Some(data)) = (&a.spec, &a.data) {
        let t = Instant::now();
        let (pipeline, train, test, info) = funnel_features::build_ctr(spec, data)?;
        eprintln!(
            "built samples from {} with {}: train {}, test {}, {} features in {} fields ({:.2} s)",
            data.display(),
            spec.display(),
            train.len(),
            test.len(),
            pipeline.n_features(),
            pipeline.n_fields(),
            t.elapsed().as_secs_f64()
        );
        let pipeline_json: serde_json::Value = serde_json::from_str(&pipeline.to_json())?;
        return Ok(Loaded {
            train,
            test: Some(test),
            pipeline: Some(pipeline_json),
            negative_keep_rate: Some(info.negative_keep_rate),
        });
    }
    let format = text_format(&a.format)?;
    let train_path = a
        .train
        .as_deref()
        .context("--train or --spec is required")?;
    Ok(Loaded {
        train: read_file(train_path, format)?,
        test: a
            .test
            .as_deref()
            .map(|p| read_file(p, format))
            .transpose()?,
        pipeline: None,
        negative_keep_rate: None,
    })
}

fn train(a: &TrainArgs, evaluate_test: bool) -> Result<()> {
    let start = Instant::now();
    if evaluate_test && a.test.is_none() && a.spec.is_none() {
        bail!("--test (or --spec with --data) is required by `funnel rank eval`");
    }
    if !evaluate_test && a.out.is_none() {
        bail!("--out is required by `funnel rank train` (where to save the model)");
    }
    if !(a.negative_keep_rate > 0.0 && a.negative_keep_rate <= 1.0) {
        bail!("--negative-keep-rate: expected a number in (0, 1]");
    }
    let params = Params::parse(&a.set).map_err(anyhow::Error::msg)?;
    let ranker = build(&a.model, &params)?;
    let p = ranker.params();
    // One pass in file order (FTRL's default) needs no samples held: learn each block
    // while the next is parsed, in memory bounded by two blocks.
    let one_pass = a.spec.is_none()
        && a.calibrate.is_none()
        && ranker.fits_by_streaming()
        && p["epochs"].as_u64() == Some(1)
        && p["shuffle"].as_bool() == Some(false);
    let mut model = RankModel::new(ranker);
    let (report, test, calib_set, train_samples) = if one_pass {
        let format = text_format(&a.format)?;
        let path = a.train.as_deref().context("--train is required")?;
        let t = Instant::now();
        let mut n = 0usize;
        let read = funnel_features::stream::<anyhow::Error>(path, format, 32 << 20, |s| {
            model.ranker.partial_fit(s)?;
            n += s.len();
            Ok(())
        })
        .with_context(|| format!("learning {} from {}", a.model, path.display()))?;
        let seconds = t.elapsed().as_secs_f64();
        if read.non_finite > 0 {
            eprintln!("{} NaN/inf values read as missing", read.non_finite);
        }
        let report = funnel_rank::FitReport {
            epochs: 1,
            best_epoch: 1,
            train_samples: n,
            seconds,
            examples_per_second: n as f64 / seconds.max(1e-9),
            ..Default::default()
        };
        let test = a
            .test
            .as_deref()
            .map(|p| read_file(p, format))
            .transpose()?;
        model.negative_keep_rate = a.negative_keep_rate;
        (report, test, None, n)
    } else {
        let Loaded {
            train,
            test,
            pipeline,
            negative_keep_rate,
        } = load_samples(a)?;
        model.negative_keep_rate = negative_keep_rate.unwrap_or(a.negative_keep_rate);
        model.pipeline = pipeline;
        // Calibration is fitted on the newest tenth of the training samples, held out.
        let (fit_set, calib_set) = match &a.calibrate {
            Some(_) => {
                let cut = train.len() - (train.len() / 10).max(1);
                let rows = |r: std::ops::Range<usize>| r.collect::<Vec<_>>();
                (
                    train.select(&rows(0..cut)),
                    Some(train.select(&rows(cut..train.len()))),
                )
            }
            None => (train, None),
        };
        // Early stopping looks at the test file only in `train` given one (a separate
        // validation file); `eval` and spec-built samples keep the test set unseen and
        // hold out the newest training samples instead.
        let valid = if evaluate_test || a.spec.is_some() {
            None
        } else {
            test.as_ref()
        };
        let report = model
            .ranker
            .fit(&fit_set, valid)
            .with_context(|| format!("fitting {}", a.model))?;
        (report, test, calib_set, fit_set.len())
    };
    let keep_rate = model.negative_keep_rate;
    eprintln!(
        "fit {}: {} epochs (best {}), {:.2} s, {:.0} examples/s{}",
        a.model,
        report.epochs,
        report.best_epoch,
        report.seconds,
        report.examples_per_second,
        if one_pass {
            " (one streamed pass, parsing included)"
        } else {
            ""
        }
    );
    let mut out = json!({
        "model": a.model,
        "params": model.ranker.params(),
        "fit": report,
        "fit_seconds": report.seconds,
        "examples_per_second": report.examples_per_second,
        "train_samples": train_samples,
        "streamed": one_pass,
        "negative_keep_rate": keep_rate,
    });
    if let Some(b) = model.ranker.position_bias() {
        let fmt = |k: &str| {
            b[k].as_array()
                .into_iter()
                .flatten()
                .map(|v| format!("{:.3}", v.as_f64().unwrap_or(f64::NAN)))
                .collect::<Vec<_>>()
                .join(" ")
        };
        eprintln!(
            "position propensities ({}; positions 1..{}, relative to the top): {}",
            b["method"].as_str().unwrap_or("?"),
            b["positions"].as_array().map_or(0, Vec::len),
            fmt("propensity")
        );
        out["position_bias"] = b;
    }
    if let (Some(method), Some(c)) = (&a.calibrate, &calib_set) {
        let before = evaluate(&model.predict(c), c)?;
        model.calibrate(method, c)?;
        let after = evaluate(&model.predict(c), c)?;
        out["calibration"] = json!({
            "method": method, "samples": c.len(),
            "ece_before": before.ece, "ece_after": after.ece,
        });
    }
    let ranking = !model.ranker.predicts_probabilities();
    if let (true, Some(t), true) = (evaluate_test, &test, ranking) {
        // Scores order documents within queries; they are no probabilities.
        let scores: Vec<f64> = model.predict(t).iter().map(|&x| x as f64).collect();
        let queries = funnel_rank::gbdt::queries(t)?;
        let m = funnel_metrics::query_metrics(&scores, &t.labels, &queries, &[1, 3, 5, 10]);
        let mut metrics = serde_json::Map::new();
        for k in [1, 3, 5, 10] {
            metrics.insert(format!("ndcg@{k}"), json!(m.metrics[&format!("ndcg@{k}")]));
        }
        metrics.insert("map@10".into(), json!(m.metrics["map@10"]));
        out["metrics"] = json!(metrics);
        out["test_samples"] = json!(t.len());
        out["test_queries"] = json!(m.queries);
        out["skipped_queries"] = json!(m.skipped_queries);
        println!(
            "{:<10} NDCG@1 {:.4}  @3 {:.4}  @5 {:.4}  @10 {:.4}  MAP@10 {:.4}  ({} queries; {} without a relevant document skipped)",
            a.model,
            m.metrics["ndcg@1"],
            m.metrics["ndcg@3"],
            m.metrics["ndcg@5"],
            m.metrics["ndcg@10"],
            m.metrics["map@10"],
            m.queries,
            m.skipped_queries
        );
    } else if let (true, Some(t)) = (evaluate_test, &test) {
        let m = evaluate(&model.predict(t), t)?;
        out["metrics"] = metrics_json(&m);
        out["test_samples"] = json!(t.len());
        println!(
            "{:<6} AUC {:.4}  GAUC {}  LogLoss {:.4}  ECE {:.4}",
            a.model,
            m.auc.unwrap_or(f64::NAN),
            m.gauc.map_or("-".to_string(), |g| format!("{g:.4}")),
            m.logloss,
            m.ece
        );
    }
    if let Some(p) = &a.out {
        model.save(p)?;
        eprintln!("saved {}", p.display());
    }
    out["total_seconds"] = json!(start.elapsed().as_secs_f64());
    if let Some(p) = &a.json {
        std::fs::write(p, serde_json::to_string_pretty(&out)?)
            .with_context(|| format!("writing {}", p.display()))?;
    }
    Ok(())
}

fn export(a: &ExportArgs) -> Result<()> {
    let (pipeline, train, test, info) = funnel_features::build_ctr(&a.spec, &a.data)?;
    std::fs::create_dir_all(&a.out).with_context(|| a.out.display().to_string())?;
    funnel_features::write_libffm(&a.out.join("train.ffm"), &train)?;
    funnel_features::write_libffm(&a.out.join("test.ffm"), &test)?;
    pipeline.save(&a.out.join("pipeline.json"))?;
    std::fs::write(
        a.out.join("info.json"),
        serde_json::to_string_pretty(&info)?,
    )?;
    println!(
        "wrote {}: train.ffm ({} samples), test.ffm ({}), {} features in {} fields, pipeline.json, info.json",
        a.out.display(),
        train.len(),
        test.len(),
        pipeline.n_features(),
        pipeline.n_fields()
    );
    Ok(())
}

fn predict(a: &PredictArgs) -> Result<()> {
    use std::io::Write;
    let model = RankModel::load(&a.model)?;
    let probs = match (&a.data, &a.records) {
        (Some(d), _) => model.predict(&read_file(d, text_format(&a.format)?)?),
        (None, Some(r)) => model.predict_records(&read_records(r)?)?,
        (None, None) => bail!("--data or --records is required"),
    };
    let sink: Box<dyn Write> = match &a.out {
        Some(p) => Box::new(std::fs::File::create(p).with_context(|| p.display().to_string())?),
        None => Box::new(std::io::stdout().lock()),
    };
    let mut w = std::io::BufWriter::new(sink);
    for p in probs {
        writeln!(w, "{p}")?;
    }
    w.flush()?;
    Ok(())
}

/// Reads JSON Lines of raw records; a bad line is named by file and line.
fn read_records(path: &Path) -> Result<Vec<funnel_features::RawRecord>> {
    let text = std::fs::read_to_string(path).with_context(|| path.display().to_string())?;
    text.lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(i, l)| {
            serde_json::from_str(l).with_context(|| {
                format!(
                    "{}:{}: expected a JSON object of feature values (strings, numbers, lists of strings or null)",
                    path.display(),
                    i + 1
                )
            })
        })
        .collect()
}

fn synth(a: &SynthArgs) -> Result<()> {
    let truth = match a.truth.as_str() {
        "fm" => Truth::Fm,
        "ffm" => Truth::Ffm,
        "cross3" => Truth::Cross3,
        other => bail!("--truth `{other}`: expected fm, ffm or cross3"),
    };
    if a.samples < 12 {
        bail!("--samples: expected at least 12");
    }
    let d = generate(&CtrSpec {
        samples: a.samples,
        fields: a.fields,
        cardinality: a.cardinality,
        truth,
        seed: a.seed,
        ..Default::default()
    });
    std::fs::create_dir_all(&a.out).with_context(|| a.out.display().to_string())?;
    let cut = a.samples - a.samples / 6;
    let card = a.cardinality as u32;
    let to_set = |r: std::ops::Range<usize>| {
        let mut s = SampleSet::new();
        let mut f = Vec::new();
        for i in r {
            f.clear();
            f.extend(
                d.sample(i)
                    .iter()
                    .enumerate()
                    .map(|(k, &v)| (k as u32, k as u32 * card + v, 1.0f32)),
            );
            s.push(d.labels[i] as f32, None, &f);
        }
        s
    };
    funnel_features::write_libffm(&a.out.join("train.ffm"), &to_set(0..cut))?;
    funnel_features::write_libffm(&a.out.join("test.ffm"), &to_set(cut..a.samples))?;
    let oracle = d.oracle_logloss_of(cut..a.samples);
    let click_rate =
        d.labels[cut..].iter().map(|&y| y as f64).sum::<f64>() / (a.samples - cut) as f64;
    let truth_json = json!({
        "truth": a.truth, "samples": a.samples, "fields": a.fields,
        "cardinality": a.cardinality, "seed": a.seed,
        "test_oracle_logloss": oracle,
        "test_click_rate": click_rate,
    });
    std::fs::write(
        a.out.join("truth.json"),
        serde_json::to_string_pretty(&truth_json)?,
    )?;
    println!(
        "wrote {} (train {} / test {} samples); oracle LogLoss on test {:.4}",
        a.out.display(),
        cut,
        a.samples - cut,
        oracle
    );
    Ok(())
}
