//! `funnel recommend` and `funnel similar`: query a saved model file.

use std::path::PathBuf;

use anyhow::Result;
use clap::Args;
use funnel_recall::load;
use serde_json::json;

#[derive(Debug, Args)]
pub struct RecommendArgs {
    /// Model file written by `funnel eval --save`.
    #[arg(long)]
    pub model: PathBuf,
    /// External user id.
    #[arg(long)]
    pub user: String,
    /// Number of items.
    #[arg(long, default_value_t = 10)]
    pub k: usize,
}

#[derive(Debug, Args)]
pub struct SimilarArgs {
    /// Model file written by `funnel eval --save`.
    #[arg(long)]
    pub model: PathBuf,
    /// External item id.
    #[arg(long)]
    pub item: String,
    /// Number of items.
    #[arg(long, default_value_t = 10)]
    pub k: usize,
}

fn print(items: &funnel_data::IdMap, list: &[(u32, f32)]) -> Result<()> {
    let v: Vec<_> = list
        .iter()
        .map(|&(i, s)| json!({"item": items.external(i), "score": s}))
        .collect();
    println!("{}", serde_json::to_string_pretty(&v)?);
    Ok(())
}

pub fn recommend(a: &RecommendArgs) -> Result<()> {
    let m = load(&a.model)?;
    let f = m.fitted().expect("a loaded model is fitted");
    let u = f.user(&a.user)?;
    let list = m.recommend(&[u], a.k)?.remove(0);
    print(&f.items, &list)
}

pub fn similar(a: &SimilarArgs) -> Result<()> {
    let m = load(&a.model)?;
    let f = m.fitted().expect("a loaded model is fitted");
    let i = f.item(&a.item)?;
    print(&f.items, &m.similar_items(i, a.k)?)
}

/// `funnel models`: every registered model of each stage, with its parameters — read from
/// the registries, which take them from the models' own constructors.
pub fn models(json_out: Option<&std::path::Path>) -> Result<()> {
    let mut stages: Vec<(&str, &str, Vec<serde_json::Value>)> = Vec::new();
    // A model this build lacks (EASE without its feature) is listed with the reason.
    let entry = |name: &str,
                 summary: &str,
                 params: Result<Vec<funnel_recall::params::ParamDoc>, String>| {
        match params {
            Ok(p) => json!({"name": name, "summary": summary, "parameters": p}),
            Err(e) => json!({"name": name, "summary": summary, "parameters": [], "unavailable": e}),
        }
    };
    let recall = funnel_recall::registry::MODELS
        .iter()
        .map(|e| {
            let mut j = entry(e.name, e.summary, e.parameters().map_err(|x| x.to_string()));
            j["aliases"] = json!(e.aliases);
            j["vectors"] = json!(e.vectors);
            j
        })
        .collect();
    stages.push(("recall", "funnel eval --model NAME --set key=value", recall));
    let rank = funnel_rank::registry::MODELS
        .iter()
        .map(|e| entry(e.name, e.summary, e.parameters().map_err(|x| x.to_string())))
        .collect();
    stages.push((
        "rank",
        "funnel rank eval|train --model NAME --set key=value",
        rank,
    ));
    if let Some(path) = json_out {
        let doc: serde_json::Map<String, serde_json::Value> = stages
            .into_iter()
            .map(|(stage, _, models)| (stage.to_string(), json!(models)))
            .collect();
        let text = serde_json::to_string_pretty(&doc)?;
        if path.as_os_str() == "-" {
            println!("{text}");
        } else {
            std::fs::write(path, text + "\n")?;
        }
        return Ok(());
    }
    for (stage, usage, models) in stages {
        println!("{stage} ({usage})");
        for m in models {
            println!(
                "  {:<10} {}",
                m["name"].as_str().unwrap_or(""),
                m["summary"].as_str().unwrap_or("")
            );
            if let Some(why) = m["unavailable"].as_str() {
                println!("      unavailable: {why}");
            }
            for p in m["parameters"].as_array().into_iter().flatten() {
                println!(
                    "      {:<20} default {:<10} {}",
                    p["key"].as_str().unwrap_or(""),
                    p["default"].as_str().unwrap_or(""),
                    p["expected"].as_str().unwrap_or("")
                );
            }
        }
    }
    Ok(())
}
