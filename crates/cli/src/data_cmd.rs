//! `funnel data stats` and `funnel data synth`.

use std::io::Write;
use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::{Args, Subcommand};
use funnel_data::{Interactions, Progress, Synthetic, SyntheticSpec};
use serde_json::{json, Value};

use crate::data_args::DataArgs;
use crate::progress::Bar;

#[derive(Debug, Subcommand)]
pub enum DataCmd {
    /// Counts, density, activity and popularity skew, time range, memory.
    Stats {
        #[command(flatten)]
        data: DataArgs,
        /// Write the statistics as JSON here.
        #[arg(long)]
        json: Option<PathBuf>,
    },
    /// Write the synthetic data set as CSV (`user,item,rating,timestamp,type`).
    Synth(SynthArgs),
}

#[derive(Debug, Args)]
pub struct SynthArgs {
    /// Generator spec, e.g. `users=100000,items=20000,interactions=10000000,seed=1`.
    #[arg(long, default_value = "")]
    pub spec: String,
    /// Output CSV file.
    #[arg(long)]
    pub out: PathBuf,
    /// Also write `users.csv` / `items.csv` side features next to the output.
    #[arg(long)]
    pub features: bool,
}

fn quantiles(mut v: Vec<u32>) -> Value {
    if v.is_empty() {
        return Value::Null;
    }
    v.sort_unstable();
    let q = |p: f64| v[((v.len() - 1) as f64 * p).round() as usize];
    let mean = v.iter().map(|&x| x as f64).sum::<f64>() / v.len() as f64;
    json!({"min": v[0], "median": q(0.5), "mean": mean, "p99": q(0.99), "max": v[v.len() - 1]})
}

fn stats(m: &Interactions) -> Value {
    let user_counts: Vec<u32> = (0..m.n_users())
        .map(|u| m.csr().row_len(u) as u32)
        .collect();
    let mut item_counts = m.item_counts();
    let active_items = item_counts.iter().filter(|&&c| c > 0).count();
    item_counts.sort_unstable_by(|a, b| b.cmp(a));
    let top = (m.n_items() / 100).max(1);
    let top_share = item_counts[..top.min(item_counts.len())]
        .iter()
        .map(|&c| c as f64)
        .sum::<f64>()
        / m.nnz().max(1) as f64;
    let times = m.csr().times().map(|t| {
        let (lo, hi) = (
            t.iter().min().copied().unwrap_or(0),
            t.iter().max().copied().unwrap_or(0),
        );
        json!({"first": m.absolute_time(lo), "last": m.absolute_time(hi)})
    });
    json!({
        "users": m.n_users(),
        "items": m.n_items(),
        "interactions": m.nnz(),
        "density": m.nnz() as f64 / (m.n_users() as f64 * m.n_items() as f64).max(1.0),
        "items_with_interactions": active_items,
        "interactions_per_user": quantiles(user_counts),
        "interactions_per_item": quantiles(m.item_counts()),
        "top_1pct_items_share": top_share,
        "has_values": m.csr().values().is_some(),
        "time_range": times,
        "memory_bytes_csr": m.csr().memory_bytes(),
    })
}

pub fn run(cmd: &DataCmd) -> Result<()> {
    match cmd {
        DataCmd::Stats { data, json: out } => {
            let loaded = data.load()?;
            let mut v = json!({"format": loaded.format, "lines": loaded.report.lines, "skipped": loaded.report.skipped_total()});
            v["main"] = stats(&loaded.main);
            if let Some(t) = &loaded.test {
                v["test"] = stats(t);
            }
            if let Some(u) = &loaded.users {
                v["user_attributes"] = json!(u.columns.iter().map(|(n, _)| n).collect::<Vec<_>>());
            }
            if let Some(i) = &loaded.items {
                v["item_attributes"] = json!(i.columns.iter().map(|(n, _)| n).collect::<Vec<_>>());
            }
            println!("{}", serde_json::to_string_pretty(&v)?);
            if let Some(p) = out {
                std::fs::write(p, serde_json::to_string_pretty(&v)?)?;
            }
            Ok(())
        }
        DataCmd::Synth(a) => synth(a),
    }
}

fn synth(a: &SynthArgs) -> Result<()> {
    let spec = SyntheticSpec::parse(&a.spec)?;
    let g = Synthetic::new(spec.clone());
    let f =
        std::fs::File::create(&a.out).with_context(|| format!("creating {}", a.out.display()))?;
    let mut w = std::io::BufWriter::with_capacity(1 << 20, f);
    writeln!(w, "user,item,rating,timestamp,type")?;
    let bar = Bar::new();
    bar.start("generating", spec.interactions);
    let mut n = 0u64;
    g.for_each_event(|e| {
        writeln!(
            w,
            "{},{},{},{},{}",
            e.user,
            e.item,
            e.value,
            e.timestamp.unwrap_or(0),
            e.kind.unwrap_or("")
        )
        .map_err(|err| funnel_data::DataError::Invalid(format!("{}: {err}", a.out.display())))?;
        n += 1;
        if n % 65536 == 0 {
            bar.inc(65536);
        }
        Ok(())
    })?;
    w.flush()?;
    bar.finish();
    if a.features {
        let dir = a.out.parent().unwrap_or(std::path::Path::new("."));
        for (name, table) in [("users.csv", g.users()), ("items.csv", g.items())] {
            let mut w = std::io::BufWriter::new(std::fs::File::create(dir.join(name))?);
            let cols: Vec<&str> = table.columns.iter().map(|(n, _)| n.as_str()).collect();
            writeln!(w, "id,{}", cols.join(","))?;
            for (id, row) in table.ids.externals().zip(&table.rows) {
                let vals: Vec<String> = row
                    .iter()
                    .map(|v| match v {
                        funnel_data::AttrValue::Categorical(s)
                        | funnel_data::AttrValue::Text(s) => s.clone(),
                        funnel_data::AttrValue::Numeric(x) => x.to_string(),
                        funnel_data::AttrValue::Multi(v) => v.join("|"),
                        funnel_data::AttrValue::Missing => String::new(),
                    })
                    .collect();
                writeln!(w, "{id},{}", vals.join(","))?;
            }
        }
    }
    eprintln!("wrote {n} interactions to {}", a.out.display());
    Ok(())
}
