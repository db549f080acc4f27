//! Streaming readers of feedback events.
//!
//! Every reader walks its input once, hands each [`Event`] to a sink, and never holds
//! the whole file. Bad lines stop the read with an error naming file, line and column,
//! or, with [`ReadOptions::lenient`], are skipped and counted by reason in the
//! [`ReadReport`] — nothing is dropped silently.

mod delimited;
mod jsonl;
mod lightgcn;
#[cfg(feature = "parquet")]
mod parquet;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

pub use delimited::{ColumnRef, Columns, DelimitedOptions};

use crate::error::{BadLine, DataError, Location, Result};
use crate::interactions::Event;

/// Input formats Funnel reads.
#[derive(Debug, Clone, PartialEq)]
pub enum Format {
    /// Delimited text (CSV, TSV, or any separator), with a header or a column mapping.
    Delimited(DelimitedOptions),
    /// One JSON object per line with the keys of `Columns` (names only).
    JsonLines(Columns),
    /// Parquet with the columns of `Columns` (names only).
    Parquet(Columns),
    /// RecBole atomic file (`.inter`, tab-separated, `name:type` header).
    RecBole,
    /// MovieLens native: `u.data`, `ratings.dat` or `ratings.csv`.
    MovieLens,
    /// LightGCN lists: `uid iid iid …` per line.
    LightGcn,
}

impl Format {
    /// Parses a format name: `csv`, `tsv`, `jsonl`, `parquet`, `recbole`, `movielens`, `lightgcn`.
    pub fn from_name(name: &str) -> Result<Format> {
        Ok(match name {
            "csv" => Format::Delimited(DelimitedOptions::csv()),
            "tsv" => Format::Delimited(DelimitedOptions::tsv()),
            "jsonl" | "json" | "ndjson" => Format::JsonLines(Columns::default()),
            "parquet" => Format::Parquet(Columns::default()),
            "recbole" | "atomic" => Format::RecBole,
            "movielens" | "ml" => Format::MovieLens,
            "lightgcn" => Format::LightGcn,
            other => return Err(DataError::UnknownFormat(other.to_string())),
        })
    }
}

/// Options shared by all readers.
#[derive(Clone, Copy, Default)]
pub struct ReadOptions<'a> {
    /// Skip bad lines (counting them by reason) instead of failing.
    pub lenient: bool,
    /// Called now and then with the number of bytes read so far (for progress bars).
    pub progress: Option<&'a (dyn Fn(u64) + Sync)>,
}

impl std::fmt::Debug for ReadOptions<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReadOptions")
            .field("lenient", &self.lenient)
            .finish()
    }
}

/// What a read saw.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ReadReport {
    /// Data lines (or rows) looked at, header excluded.
    pub lines: u64,
    /// Events handed to the sink.
    pub events: u64,
    /// Lines skipped under `--lenient`, by reason.
    pub skipped: BTreeMap<BadLine, u64>,
    /// The first few skip messages, for the user to look at.
    pub examples: Vec<String>,
}

impl ReadReport {
    /// Total lines skipped.
    pub fn skipped_total(&self) -> u64 {
        self.skipped.values().sum()
    }

    /// Adds another report's counts.
    pub fn merge(&mut self, other: ReadReport) {
        self.lines += other.lines;
        self.events += other.events;
        for (k, v) in other.skipped {
            *self.skipped.entry(k).or_default() += v;
        }
        self.examples.extend(other.examples);
        self.examples.truncate(MAX_EXAMPLES);
    }
}

const MAX_EXAMPLES: usize = 5;

/// A sink for events. `line` is where the event came from (for error messages).
pub type Sink<'s> = dyn FnMut(&Event<'_>) -> Result<()> + 's;

/// Reads all events of `path` in `format`, calling `sink` for each.
pub fn read_events(
    path: &Path,
    format: &Format,
    opts: ReadOptions<'_>,
    sink: &mut Sink<'_>,
) -> Result<ReadReport> {
    let report =
        match format {
            Format::Delimited(o) => delimited::read(path, o, opts, sink)?,
            Format::RecBole => delimited::read(path, &DelimitedOptions::recbole(), opts, sink)?,
            Format::MovieLens => {
                let file = movielens_file(path)?;
                delimited::read(&file, &DelimitedOptions::movielens(&file)?, opts, sink)?
            }
            Format::JsonLines(c) => jsonl::read(path, c, opts, sink)?,
            Format::LightGcn => lightgcn::read(path, opts, &mut |e| sink(e), &mut |_| {})?,
            #[cfg(feature = "parquet")]
            Format::Parquet(c) => parquet::read(path, c, opts, sink)?,
            #[cfg(not(feature = "parquet"))]
            Format::Parquet(_) => return Err(DataError::Invalid(
                "this build of Funnel has no Parquet support; rebuild with the `parquet` feature"
                    .into(),
            )),
        };
    if report.events == 0 && report.skipped_total() == 0 && !matches!(format, Format::LightGcn) {
        return Err(DataError::Empty(path.to_path_buf()));
    }
    Ok(report)
}

/// Reads a LightGCN list file, also reporting users whose line lists no item.
pub fn read_lightgcn(
    path: &Path,
    opts: ReadOptions<'_>,
    sink: &mut Sink<'_>,
    on_user: &mut dyn FnMut(&str),
) -> Result<ReadReport> {
    lightgcn::read(path, opts, sink, on_user)
}

/// Finds the MovieLens ratings file in a directory (or accepts the file itself).
fn movielens_file(path: &Path) -> Result<PathBuf> {
    if path.is_file() {
        return Ok(path.to_path_buf());
    }
    for name in ["u.data", "ratings.dat", "ratings.csv"] {
        let p = path.join(name);
        if p.is_file() {
            return Ok(p);
        }
    }
    Err(DataError::Invalid(format!(
        "{}: no MovieLens ratings file here; expected u.data, ratings.dat or ratings.csv",
        path.display()
    )))
}

/// Tracks lines and skips during a read.
pub(crate) struct LineCounter<'a> {
    pub path: &'a Path,
    pub lenient: bool,
    pub report: ReadReport,
}

impl<'a> LineCounter<'a> {
    pub fn new(path: &'a Path, lenient: bool) -> Self {
        Self {
            path,
            lenient,
            report: ReadReport::default(),
        }
    }

    /// Handles a bad line: an error when strict, a counted skip when lenient.
    pub fn bad(
        &mut self,
        line: u64,
        column: Option<usize>,
        kind: BadLine,
        message: String,
    ) -> Result<()> {
        let err = DataError::Parse {
            at: Location {
                path: self.path.to_path_buf(),
                line,
                column,
            },
            kind,
            message,
        };
        if !self.lenient {
            return Err(err);
        }
        *self.report.skipped.entry(kind).or_default() += 1;
        if self.report.examples.len() < MAX_EXAMPLES {
            self.report.examples.push(err.to_string());
        }
        Ok(())
    }
}

pub(crate) fn open(path: &Path) -> Result<std::io::BufReader<std::fs::File>> {
    let f = std::fs::File::open(path).map_err(|e| DataError::io(path, e))?;
    Ok(std::io::BufReader::with_capacity(1 << 20, f))
}

/// Reads one line (without its `\n`/`\r\n`) into `buf`; `false` at end of file.
pub(crate) fn next_line(
    r: &mut impl std::io::BufRead,
    buf: &mut Vec<u8>,
    path: &Path,
) -> Result<bool> {
    buf.clear();
    let n = r
        .read_until(b'\n', buf)
        .map_err(|e| DataError::io(path, e))?;
    if n == 0 {
        return Ok(false);
    }
    if buf.last() == Some(&b'\n') {
        buf.pop();
        if buf.last() == Some(&b'\r') {
            buf.pop();
        }
    }
    Ok(true)
}

/// Describes a UTF-8 error: the byte offset in the line.
pub(crate) fn utf8_message(e: std::str::Utf8Error) -> String {
    format!(
        "invalid UTF-8 at byte {} of the line; expected UTF-8 text",
        e.valid_up_to() + 1
    )
}
