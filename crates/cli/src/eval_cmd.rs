//! `funnel eval` and `funnel demo`: fit a recall model, evaluate it by full ranking.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::{bail, Context, Result};
use clap::Args;
use funnel_data::EntityTable;
use funnel_data::{split, Interactions, Split, SplitSpec};
use funnel_metrics::{evaluate_full_ranking, TOPK_METRICS};
use funnel_recall::{build, item_attributes, presets, Params, Recaller};
use serde_json::json;

use crate::data_args::DataArgs;
use crate::progress::Bar;

#[derive(Debug, Args)]
pub struct EvalArgs {
    #[command(flatten)]
    pub data: DataArgs,
    /// Recall model by name: `funnel models` lists them all (popular, itemknn, userknn,
    /// ials, bpr, ease, item2vec, deepwalk, node2vec, line, eges, airbnb).
    #[arg(long)]
    pub model: String,
    /// Model parameter `key=value` (repeatable); overrides the preset.
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub set: Vec<String>,
    /// Named parameter preset (e.g. `gowalla`); see `funnel presets`.
    #[arg(long)]
    pub preset: Option<String>,
    /// Split: given, random:R, leave-last-out, user-temporal:R, global-temporal:R, cut:TS.
    /// Default: given when the data has a test part, else user-temporal:0.2.
    #[arg(long)]
    pub split: Option<String>,
    /// Seed of the random split.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// Cut-offs, comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "10,20")]
    pub k: Vec<usize>,
    /// Write the metrics as JSON here.
    #[arg(long)]
    pub json: Option<PathBuf>,
    /// Save the fitted model here.
    #[arg(long)]
    pub save: Option<PathBuf>,
}

/// Model parameters: preset first, then `--set` overrides.
pub fn model_params(model: &str, preset: Option<&str>, set: &[String]) -> Result<Params> {
    let mut p = Params::parse(set).map_err(anyhow::Error::msg)?;
    if let Some(name) = preset {
        let Some(pairs) = presets::get(model, name) else {
            bail!(
                "no preset `{name}` for model `{model}`; known presets: {}",
                presets::list().join(", ")
            );
        };
        for (k, v) in pairs {
            p.set_default(k, v);
        }
    }
    Ok(p)
}

pub fn make_split(
    train_or_all: Interactions,
    test: Option<Interactions>,
    spec: Option<&str>,
    seed: u64,
) -> Result<Split> {
    let spec = match (spec, &test) {
        (Some(s), _) => SplitSpec::parse(s)?,
        (None, Some(_)) => SplitSpec::Given,
        (None, None) => SplitSpec::UserTemporal { test_ratio: 0.2 },
    };
    Ok(match (spec, test) {
        (SplitSpec::Given, Some(t)) => Split::given(train_or_all, t),
        (SplitSpec::Given, None) => bail!("split `given` needs a test part: --test FILE, or a directory with test.txt"),
        (s, None) => split(&train_or_all, &s, seed)?,
        (s, Some(_)) => bail!("the data already has a test part; split {s:?} would discard it (drop --split or --test)"),
    })
}

/// Fits and evaluates one model; returns the JSON report. `items`: the source's item
/// attributes, for models with side information.
pub fn fit_and_eval(
    model_name: &str,
    params: &Params,
    s: &Split,
    items: Option<&EntityTable>,
    ks: &[usize],
    save: Option<&PathBuf>,
) -> Result<(serde_json::Value, Box<dyn Recaller>)> {
    if ks.is_empty() || ks.contains(&0) {
        bail!("--k: expected positive cut-offs, e.g. 10,20");
    }
    let mut model = build(model_name, params)?;
    if model.uses_item_attributes() {
        match items {
            Some(t) => {
                eprintln!(
                    "item attributes: {} items, columns {}",
                    t.ids.len(),
                    t.columns
                        .iter()
                        .map(|(c, _)| c.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                );
                model.set_item_attributes(item_attributes(s.train.items(), t));
            }
            None => eprintln!(
                "note: {model_name} uses item attributes, and this source has none (RecBole \
                 data gives them in a .item file beside the .inter)"
            ),
        }
    }
    let bar = Bar::new();
    let t0 = Instant::now();
    model
        .fit(&s.train, &bar)
        .with_context(|| format!("fitting {model_name}"))?;
    let fit_seconds = t0.elapsed().as_secs_f64();
    let t1 = Instant::now();
    let report = evaluate_full_ranking(&s.train, &s.test, ks, |users, k| {
        model
            .recommend(users, k)
            .expect("users come from the split")
            .into_iter()
            .map(|l| l.into_iter().map(|(i, _)| i).collect())
            .collect()
    });
    let eval_seconds = t1.elapsed().as_secs_f64();
    if let Some(path) = save {
        model.save(path)?;
    }
    let mut j = json!({
        "model": model_name,
        "params": params.pairs(),
        "metrics": report.metrics,
        "users_evaluated": report.users,
        "fit_seconds": fit_seconds,
        "eval_seconds": eval_seconds,
        "split": s.report,
    });
    if let Some(fit) = model.fit_report() {
        eprintln!("fit: {fit}");
        j["fit"] = fit;
    }
    Ok((j, model))
}

/// Prints one model's metrics as a table.
pub fn print_table(j: &serde_json::Value, ks: &[usize]) {
    println!(
        "model {}  fit {:.2}s  eval {:.2}s  users {}",
        j["model"].as_str().unwrap_or(""),
        j["fit_seconds"].as_f64().unwrap_or(0.0),
        j["eval_seconds"].as_f64().unwrap_or(0.0),
        j["users_evaluated"]
    );
    let mut header = format!("{:>6}", "K");
    for m in TOPK_METRICS.iter().chain(["coverage", "arp"].iter()) {
        header.push_str(&format!(" {m:>10}"));
    }
    println!("{header}");
    for k in ks {
        let mut row = format!("{k:>6}");
        for m in TOPK_METRICS.iter().chain(["coverage", "arp"].iter()) {
            let v = j["metrics"][format!("{m}@{k}")]
                .as_f64()
                .unwrap_or(f64::NAN);
            row.push_str(&format!(" {v:>10.4}"));
        }
        println!("{row}");
    }
}

pub fn print_split(s: &Split) {
    let r = &s.report;
    eprintln!(
        "split: {} train / {} test interactions, {} test users ({} cold), {} cold items ({} test interactions)",
        r.train_interactions, r.test_interactions, r.test_users, r.cold_users, r.cold_items, r.cold_item_interactions
    );
}

pub fn run(a: &EvalArgs) -> Result<()> {
    let loaded = a.data.load()?;
    let s = make_split(loaded.main, loaded.test, a.split.as_deref(), a.seed)?;
    print_split(&s);
    let params = model_params(&a.model, a.preset.as_deref(), &a.set)?;
    let (mut j, _) = fit_and_eval(
        &a.model,
        &params,
        &s,
        loaded.items.as_ref(),
        &a.k,
        a.save.as_ref(),
    )?;
    j["data"] = json!(a.data.data);
    print_table(&j, &a.k);
    if let Some(p) = &a.json {
        std::fs::write(p, serde_json::to_string_pretty(&j)?)
            .with_context(|| format!("writing {}", p.display()))?;
    }
    Ok(())
}

/// The main job on the embedded default: synthetic data, a temporal split, three models.
pub fn demo(json_out: Option<&PathBuf>) -> Result<()> {
    let spec = "users=3000,items=1500,interactions=100000,seed=42";
    eprintln!(
        "demo: synthetic data ({spec}), per-user temporal split 80/20, full-ranking evaluation"
    );
    let src = funnel_data::DataSource {
        path: format!("synthetic:{spec}"),
        format: "synthetic".into(),
        ..Default::default()
    };
    let loaded = funnel_data::load(&src, Default::default())?;
    let s = make_split(loaded.main, None, Some("user-temporal:0.2"), 42)?;
    print_split(&s);
    let ks = [10, 20];
    let mut all = Vec::new();
    for m in ["popular", "itemknn", "userknn"] {
        let (j, _) = fit_and_eval(m, &Params::default(), &s, None, &ks, None)?;
        print_table(&j, &ks);
        println!();
        all.push(j);
    }
    if let Some(p) = json_out {
        std::fs::write(p, serde_json::to_string_pretty(&all)?)?;
    }
    Ok(())
}
