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
