//! One entry point from "a path and a format name" to interaction matrices.

use std::path::{Path, PathBuf};

use crate::entities::EntityTable;
use crate::error::{DataError, Result};
use crate::interactions::{Event, Interactions, InteractionsBuilder};
use crate::read::{read_events, read_lightgcn, DelimitedOptions, Format, ReadOptions, ReadReport};
use crate::synthetic::{Synthetic, SyntheticSpec};

/// Where the data is and how to read it (what `--data/--format/--test/…` say).
#[derive(Debug, Clone, Default)]
pub struct DataSource {
    /// File, directory, or for `synthetic` a spec such as `users=1000,items=500`.
    pub path: String,
    /// Format name, or `auto` to guess from the path.
    pub format: String,
    /// A separate test file (a "given" split).
    pub test: Option<PathBuf>,
    /// Column mapping, e.g. `user=0,item=2,value=-`.
    pub columns: Option<String>,
    /// Field separator for delimited text (overrides the format's).
    pub delimiter: Option<String>,
    /// Delimited text has no header line.
    pub no_header: bool,
    /// Keep only events whose value is at least this (e.g. rating ≥ 4).
    pub min_value: Option<f32>,
    /// Keep only events of these feedback types.
    pub kinds: Option<Vec<String>>,
}

/// What [`load`] returns.
#[derive(Debug)]
pub struct Loaded {
    /// All interactions, or the train part of a given split.
    pub main: Interactions,
    /// The test part of a given split.
    pub test: Option<Interactions>,
    /// What the readers saw.
    pub report: ReadReport,
    /// Events left out by `min_value`/`kinds` (not errors).
    pub filtered: u64,
    /// User attributes, when the source has them.
    pub users: Option<EntityTable>,
    /// Item attributes, when the source has them.
    pub items: Option<EntityTable>,
    /// The resolved format name.
    pub format: String,
}

/// Guesses a format name from a path.
pub fn guess_format(path: &str) -> Option<&'static str> {
    let p = Path::new(path);
    if p.is_dir() {
        if p.join("train.txt").is_file() {
            return Some("lightgcn");
        }
        if ["u.data", "ratings.dat", "ratings.csv"]
            .iter()
            .any(|f| p.join(f).is_file())
        {
            return Some("movielens");
        }
        if recbole_inter(p).is_some() {
            return Some("recbole");
        }
        return None;
    }
    let name = p.file_name()?.to_str()?;
    Some(match name.rsplit_once('.').map(|(_, e)| e)? {
        _ if ["u.data", "ratings.dat"].contains(&name) => "movielens",
        "csv" => "csv",
        "tsv" | "tab" => "tsv",
        "jsonl" | "ndjson" | "json" => "jsonl",
        "parquet" | "pq" => "parquet",
        "inter" => "recbole",
        "txt" => "lightgcn",
        _ => return None,
    })
}

fn recbole_inter(dir: &Path) -> Option<PathBuf> {
    let name = dir.file_name()?.to_str()?;
    let p = dir.join(format!("{name}.inter"));
    if p.is_file() {
        return Some(p);
    }
    std::fs::read_dir(dir)
        .ok()?
        .flatten()
        .map(|e| e.path())
        .find(|p| p.extension().is_some_and(|e| e == "inter"))
}

/// Reads a data source into interaction matrices.
pub fn load(src: &DataSource, opts: ReadOptions<'_>) -> Result<Loaded> {
    let format = match src.format.as_str() {
        "" | "auto" => {
            if src.path.starts_with("synthetic") {
                "synthetic".to_string()
            } else {
                guess_format(&src.path).map(str::to_string).ok_or_else(|| {
                    DataError::Invalid(format!(
                        "{}: cannot guess the format; pass --format NAME",
                        src.path
                    ))
                })?
            }
        }
        f => f.to_string(),
    };
    let parts = if src.test.is_some() { 2 } else { 1 };
    let mut b = InteractionsBuilder::with_parts(parts);
    let mut filtered = 0u64;
    let min_value = src.min_value;
    let kinds = src.kinds.clone();
    let keep = move |e: &Event<'_>| {
        min_value.is_none_or(|m| e.value >= m)
            && kinds
                .as_ref()
                .is_none_or(|ks| e.kind.is_some_and(|k| ks.iter().any(|x| x == k)))
    };
    let mut report = ReadReport::default();
    let (mut users, mut items) = (None, None);

    if format == "synthetic" {
        let spec = src
            .path
            .trim_start_matches("synthetic")
            .trim_start_matches(':');
        let g = Synthetic::new(SyntheticSpec::parse(spec)?);
        g.for_each_event(|e| {
            report.lines += 1;
            report.events += 1;
            if keep(e) {
                b.push(0, e);
            } else {
                filtered += 1;
            }
            Ok(())
        })?;
        users = Some(g.users());
        items = Some(g.items());
    } else if format == "lightgcn" {
        let p = Path::new(&src.path);
        let (train, test) = if p.is_dir() {
            let t = p.join("test.txt");
            (
                p.join("train.txt"),
                src.test.clone().or(t.is_file().then_some(t)),
            )
        } else {
            (p.to_path_buf(), src.test.clone())
        };
        if test.is_some() && parts == 1 {
            b = InteractionsBuilder::with_parts(2);
        }
        for (part, file) in std::iter::once(&train).chain(test.as_ref()).enumerate() {
            let mut touched: Vec<String> = Vec::new();
            let r = read_lightgcn(
                file,
                opts,
                &mut |e| {
                    b.push(part, e);
                    Ok(())
                },
                &mut |u| touched.push(u.to_string()),
            )?;
            for u in touched {
                b.touch_user(&u);
            }
            report.merge(r);
        }
    } else {
        let mut fmt = Format::from_name(&format)?;
        let mut path = PathBuf::from(&src.path);
        if let Format::RecBole = fmt {
            if path.is_dir() {
                let dir = path.clone();
                path = recbole_inter(&dir).ok_or_else(|| {
                    DataError::Invalid(format!(
                        "{}: no .inter file in this directory",
                        dir.display()
                    ))
                })?;
            }
            for (ext, slot) in [("user", &mut users), ("item", &mut items)] {
                let side = path.with_extension(ext);
                if side.is_file() {
                    *slot = Some(EntityTable::read_recbole(&side)?);
                }
            }
        }
        if src.columns.is_some() || src.delimiter.is_some() || src.no_header {
            let mut o = match &fmt {
                Format::Delimited(o) => o.clone(),
                Format::RecBole => DelimitedOptions::recbole(),
                Format::JsonLines(_) | Format::Parquet(_)
                    if src.delimiter.is_none() && !src.no_header =>
                {
                    DelimitedOptions::csv()
                }
                _ => {
                    return Err(DataError::Invalid(format!(
                        "--delimiter/--no-header apply to delimited text, not to format `{format}`"
                    )))
                }
            };
            if let Some(m) = &src.columns {
                o.columns.apply_mapping(m)?;
            }
            if let Some(d) = &src.delimiter {
                o.delimiter = if d == "\\t" || d == "tab" {
                    "\t".into()
                } else {
                    d.clone()
                };
            }
            o.header &= !src.no_header;
            fmt = match fmt {
                Format::JsonLines(_) => Format::JsonLines(o.columns),
                Format::Parquet(_) => Format::Parquet(o.columns),
                _ => Format::Delimited(o),
            };
        }
        for (part, file) in std::iter::once(&path).chain(src.test.as_ref()).enumerate() {
            // Interaction lines are rarely shorter than ~16 bytes.
            let bytes = std::fs::metadata(file).map_or(0, |m| m.len());
            b.reserve(part, (bytes / 16).min(1 << 32) as usize);
            let r = read_events(file, &fmt, opts, &mut |e| {
                if keep(e) {
                    b.push(part, e);
                } else {
                    filtered += 1;
                }
                Ok(())
            })?;
            report.merge(r);
        }
    }
    if b.is_empty() {
        return Err(DataError::Invalid(format!(
            "{}: no events left{}",
            src.path,
            if filtered > 0 {
                format!(" after filtering ({filtered} filtered out)")
            } else {
                String::new()
            }
        )));
    }
    let mut built = b.build()?;
    let test = (built.len() > 1).then(|| built.pop().unwrap());
    let main = built.pop().unwrap();
    Ok(Loaded {
        main,
        test,
        report,
        filtered,
        users,
        items,
        format,
    })
}
