//! `funnel metrics`: score files (`label,score[,user][,weight]`) or ranked lists against truth.

use std::collections::HashMap;
use std::io::BufRead;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use clap::Args;
use funnel_metrics::{auc, ece, gauc, logloss, TopKAccumulator, TOPK_METRICS};
use serde_json::{json, Map, Value};

#[derive(Debug, Args)]
pub struct MetricsArgs {
    /// CSV with a header holding `label` and `score`, optional `user` (enables GAUC) and `weight`.
    #[arg(long, conflicts_with_all = ["truth", "ranked"])]
    pub input: Option<PathBuf>,
    /// CSV `user,item[,relevance]`: the relevant items (graded when `relevance` is given).
    #[arg(long, requires = "ranked")]
    pub truth: Option<PathBuf>,
    /// CSV `user,item,score`: recommendations, ranked by score descending (ties: file order).
    #[arg(long, requires = "truth")]
    pub ranked: Option<PathBuf>,
    /// Cut-offs for ranked lists.
    #[arg(long, value_delimiter = ',', default_value = "5,10,20")]
    pub k: Vec<usize>,
    /// Write the metrics as JSON here.
    #[arg(long)]
    pub json: Option<PathBuf>,
}

/// A small CSV table: header names and rows of fields, with line numbers for errors.
struct Table {
    path: PathBuf,
    header: Vec<String>,
    rows: Vec<(u64, Vec<String>)>,
}

impl Table {
    fn read(path: &Path) -> Result<Table> {
        let f = std::fs::File::open(path)
            .with_context(|| format!("{}: cannot open", path.display()))?;
        let mut lines = std::io::BufReader::new(f).split(b'\n');
        let mut no = 0u64;
        let mut next = |no: &mut u64| -> Result<Option<String>> {
            loop {
                let Some(l) = lines.next() else {
                    return Ok(None);
                };
                *no += 1;
                let l = l.with_context(|| format!("{}: read error", path.display()))?;
                let s = String::from_utf8(l).map_err(|e| {
                    anyhow::anyhow!(
                        "{}:{no}: invalid UTF-8 at byte {}; expected UTF-8 text",
                        path.display(),
                        e.utf8_error().valid_up_to() + 1
                    )
                })?;
                let s = s.trim_end_matches('\r').to_string();
                if !s.trim().is_empty() {
                    return Ok(Some(s));
                }
            }
        };
        let Some(h) = next(&mut no)? else {
            bail!(
                "{}: the file is empty; expected a header line",
                path.display()
            )
        };
        let header: Vec<String> = h
            .trim_start_matches('\u{feff}')
            .split(',')
            .map(|s| s.trim().to_ascii_lowercase())
            .collect();
        let mut rows = Vec::new();
        while let Some(l) = next(&mut no)? {
            let fields: Vec<String> = l.split(',').map(|s| s.trim().to_string()).collect();
            if fields.len() != header.len() {
                bail!(
                    "{}:{no}: expected {} comma-separated fields, found {}",
                    path.display(),
                    header.len(),
                    fields.len()
                );
            }
            rows.push((no, fields));
        }
        if rows.is_empty() {
            bail!("{}: no data lines after the header", path.display());
        }
        Ok(Table {
            path: path.to_path_buf(),
            header,
            rows,
        })
    }

    fn col(&self, name: &str) -> Option<usize> {
        self.header.iter().position(|h| h == name)
    }

    fn need(&self, name: &str) -> Result<usize> {
        self.col(name).with_context(|| {
            format!(
                "{}: no `{name}` column; the header has: {}",
                self.path.display(),
                self.header.join(", ")
            )
        })
    }

    fn numbers(&self, c: usize) -> Result<Vec<f64>> {
        self.rows
            .iter()
            .map(|(no, f)| {
                f[c].parse::<f64>()
                    .ok()
                    .filter(|x| !x.is_nan())
                    .with_context(|| {
                        format!(
                            "{}:{no}, column {} (`{}`): expected a number, found `{}`",
                            self.path.display(),
                            c + 1,
                            self.header[c],
                            f[c]
                        )
                    })
            })
            .collect()
    }
}

fn write_json(path: Option<&PathBuf>, v: &Value) -> Result<()> {
    if let Some(p) = path {
        std::fs::write(p, serde_json::to_string_pretty(v)?)
            .with_context(|| format!("writing {}", p.display()))?;
    }
    Ok(())
}

fn opt(x: Option<f64>) -> Value {
    x.map_or(Value::Null, |v| json!(v))
}

pub fn run(a: &MetricsArgs) -> Result<()> {
    match (&a.input, &a.truth, &a.ranked) {
        (Some(input), _, _) => pointwise(input, a.json.as_ref()),
        (None, Some(t), Some(r)) => ranked(t, r, &a.k, a.json.as_ref()),
        _ => bail!("give --input FILE, or --truth FILE with --ranked FILE"),
    }
}

fn pointwise(path: &Path, json_out: Option<&PathBuf>) -> Result<()> {
    let t = Table::read(path)?;
    let labels = t.numbers(t.need("label")?)?;
    let scores = t.numbers(t.need("score")?)?;
    if let Some(k) = labels.iter().position(|&y| y != 0.0 && y != 1.0) {
        bail!(
            "{}:{}: label is {}; expected 0 or 1",
            path.display(),
            t.rows[k].0,
            labels[k]
        );
    }
    let weights = t.col("weight").map(|c| t.numbers(c)).transpose()?;
    let a = auc(&scores, &labels, weights.as_deref())?;
    let g = match t.col("user") {
        Some(c) => {
            let mut ids: HashMap<&str, u32> = HashMap::new();
            let users: Vec<u32> = t
                .rows
                .iter()
                .map(|(_, f)| {
                    let n = ids.len() as u32;
                    *ids.entry(f[c].as_str()).or_insert(n)
                })
                .collect();
            Some(gauc(&users, &scores, &labels, weights.as_deref())?)
        }
        None => None,
    };
    let probabilities = scores.iter().all(|s| (0.0..=1.0).contains(s));
    let ll = probabilities
        .then(|| logloss(&scores, &labels, weights.as_deref()))
        .transpose()?;
    let e = probabilities
        .then(|| ece(&scores, &labels, 10))
        .transpose()?;
    let mut m = Map::new();
    m.insert("auc".into(), opt(a));
    m.insert("gauc".into(), opt(g.and_then(|g| g.gauc)));
    m.insert("logloss".into(), opt(ll));
    m.insert("ece".into(), opt(e));
    let v = json!({
        "metrics": m,
        "examples": scores.len(),
        "gauc_users": g.map(|g| g.users),
        "gauc_skipped_users": g.map(|g| g.skipped_users),
    });
    for (k, val) in &m {
        println!(
            "{k:>8}  {}",
            val.as_f64()
                .map_or("n/a".to_string(), |x| format!("{x:.6}"))
        );
    }
    if let Some(g) = g {
        println!(
            "gauc over {} users ({} skipped: one class only)",
            g.users, g.skipped_users
        );
    }
    if !probabilities {
        println!("logloss/ece: n/a (scores are not all in [0, 1])");
    }
    write_json(json_out, &v)
}

fn ranked(truth: &Path, ranked: &Path, ks: &[usize], json_out: Option<&PathBuf>) -> Result<()> {
    if ks.is_empty() || ks.contains(&0) {
        bail!("--k: expected positive cut-offs, e.g. 5,10,20");
    }
    let t = Table::read(truth)?;
    let r = Table::read(ranked)?;
    let (tu, ti) = (t.need("user")?, t.need("item")?);
    let grades_col = t.col("relevance");
    let (ru, ri, rs) = (r.need("user")?, r.need("item")?, r.need("score")?);
    let grades = grades_col.map(|c| t.numbers(c)).transpose()?;
    let mut items: HashMap<String, u32> = HashMap::new();
    let mut intern = |s: &str| {
        let n = items.len() as u32;
        *items.entry(s.to_string()).or_insert(n)
    };
    // Relevant items per user, sorted, with grades.
    let mut rel: HashMap<String, Vec<(u32, f64)>> = HashMap::new();
    for (k, (_, f)) in t.rows.iter().enumerate() {
        let g = grades.as_ref().map_or(1.0, |g| g[k]);
        rel.entry(f[tu].clone())
            .or_default()
            .push((intern(&f[ti]), g));
    }
    let scores = r.numbers(rs)?;
    let mut lists: HashMap<String, Vec<(f64, usize, u32)>> = HashMap::new();
    for (k, (_, f)) in r.rows.iter().enumerate() {
        lists
            .entry(f[ru].clone())
            .or_default()
            .push((scores[k], k, intern(&f[ri])));
    }
    let mut acc = TopKAccumulator::new(ks);
    let mut users: Vec<&String> = rel.keys().collect();
    users.sort();
    for u in users {
        let mut relevant = rel[u].clone();
        relevant.sort_by_key(|x| x.0);
        relevant.dedup_by_key(|x| x.0);
        let ids: Vec<u32> = relevant.iter().map(|x| x.0).collect();
        let g: Vec<f64> = relevant.iter().map(|x| x.1).collect();
        let list: Vec<u32> = lists.get_mut(u).map_or_else(Vec::new, |l| {
            l.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
            l.iter().map(|x| x.2).collect()
        });
        acc.add_user(&list, &ids, grades_col.map(|_| g.as_slice()));
    }
    let m = acc.averages();
    println!("{} users with relevant items", acc.users());
    print!("{:>6}", "K");
    for n in TOPK_METRICS {
        print!(" {n:>10}");
    }
    println!();
    for k in ks {
        print!("{k:>6}");
        for n in TOPK_METRICS {
            print!(" {:>10.6}", m[&format!("{n}@{k}")]);
        }
        println!();
    }
    write_json(json_out, &json!({"metrics": m, "users": acc.users()}))
}
