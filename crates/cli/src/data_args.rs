//! The flags that say where data is and how to read it, shared by every command.

use std::path::PathBuf;

use anyhow::Result;
use clap::Args;
use funnel_data::{load, DataSource, Loaded, ReadOptions};

use crate::progress::Bar;

#[derive(Debug, Clone, Args)]
pub struct DataArgs {
    /// Data: a file, a directory (LightGCN train.txt/test.txt, RecBole, MovieLens), or
    /// `synthetic[:users=N,items=N,interactions=N,seed=N]`.
    #[arg(long)]
    pub data: String,
    /// Format: auto, csv, tsv, jsonl, parquet, recbole, movielens, lightgcn, synthetic.
    #[arg(long, default_value = "auto")]
    pub format: String,
    /// A separate test file (makes the split `given`).
    #[arg(long)]
    pub test: Option<PathBuf>,
    /// Column mapping for delimited/JSON/Parquet input, e.g. `user=0,item=1,value=-,timestamp=3`.
    #[arg(long)]
    pub columns: Option<String>,
    /// Field separator for delimited text (`tab` for tabs).
    #[arg(long)]
    pub delimiter: Option<String>,
    /// Delimited text has no header line.
    #[arg(long)]
    pub no_header: bool,
    /// Keep only events whose value is at least this (e.g. 4 for ratings >= 4).
    #[arg(long)]
    pub min_value: Option<f32>,
    /// Keep only these feedback types (comma-separated).
    #[arg(long, value_delimiter = ',')]
    pub kinds: Option<Vec<String>>,
    /// Skip malformed lines (counted and reported by reason) instead of stopping.
    #[arg(long)]
    pub lenient: bool,
}

impl DataArgs {
    pub fn source(&self) -> DataSource {
        DataSource {
            path: self.data.clone(),
            format: self.format.clone(),
            test: self.test.clone(),
            columns: self.columns.clone(),
            delimiter: self.delimiter.clone(),
            no_header: self.no_header,
            min_value: self.min_value,
            kinds: self.kinds.clone(),
        }
    }

    /// Loads the data, with a progress bar over the bytes of the input and a summary of
    /// skipped lines on stderr.
    pub fn load(&self) -> Result<Loaded> {
        let total: u64 = [Some(PathBuf::from(&self.data)), self.test.clone()]
            .iter()
            .flatten()
            .map(|p| dir_size(p))
            .sum();
        let bar = Bar::bytes("reading", total);
        let cb = |b: u64| bar.set_position(b);
        let loaded = load(
            &self.source(),
            ReadOptions {
                lenient: self.lenient,
                progress: Some(&cb),
            },
        )?;
        bar.done();
        let r = &loaded.report;
        if r.skipped_total() > 0 {
            eprintln!(
                "warning: skipped {} of {} lines (--lenient):",
                r.skipped_total(),
                r.lines
            );
            for (reason, n) in &r.skipped {
                eprintln!("  {:>10}  {}", n, reason.name());
            }
            for e in &r.examples {
                eprintln!("  e.g. {e}");
            }
        }
        if loaded.filtered > 0 {
            eprintln!(
                "note: {} events left out by --min-value/--kinds",
                loaded.filtered
            );
        }
        Ok(loaded)
    }
}

fn dir_size(p: &std::path::Path) -> u64 {
    if p.is_dir() {
        std::fs::read_dir(p).map_or(0, |d| {
            d.flatten()
                .filter_map(|e| e.metadata().ok())
                .map(|m| m.len())
                .sum()
        })
    } else {
        std::fs::metadata(p).map_or(0, |m| m.len())
    }
}
