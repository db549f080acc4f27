//! Errors of the data layer. Every parse error names the file, the line (or row)
//! and the column, and says what was expected, so a user can fix the input.

use std::path::PathBuf;

/// Where in an input a problem was found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Location {
    /// The file (or a pseudo-name such as `synthetic`).
    pub path: PathBuf,
    /// 1-based line number (row number for Parquet).
    pub line: u64,
    /// 1-based column (field) number, when the problem is in one field.
    pub column: Option<usize>,
}

impl std::fmt::Display for Location {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", self.path.display(), self.line)?;
        if let Some(c) = self.column {
            write!(f, ", column {c}")?;
        }
        Ok(())
    }
}

/// Why a line could not be used. Also the key under which `--lenient` counts skipped lines.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[non_exhaustive]
pub enum BadLine {
    /// Fewer or more fields than the format needs.
    ColumnCount,
    /// A field that should be a number is not.
    NotANumber,
    /// The line is not valid UTF-8.
    Utf8,
    /// A JSON line is not a JSON object or lacks a needed key.
    Json,
    /// An id field is empty.
    EmptyId,
}

impl BadLine {
    /// A short stable name, used in reports and JSON.
    pub fn name(self) -> &'static str {
        match self {
            BadLine::ColumnCount => "wrong_column_count",
            BadLine::NotANumber => "not_a_number",
            BadLine::Utf8 => "invalid_utf8",
            BadLine::Json => "bad_json",
            BadLine::EmptyId => "empty_id",
        }
    }
}

/// The error type of `funnel-data`.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DataError {
    /// The file could not be opened or read.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// A line is malformed.
    #[error("{at}: {message}")]
    Parse {
        /// Where.
        at: Location,
        /// What kind of problem (used for `--lenient` counts).
        kind: BadLine,
        /// What was expected and what was found.
        message: String,
    },
    /// The input holds no events.
    #[error("{0}: the file holds no events (expected at least one data line)")]
    Empty(PathBuf),
    /// The format name is not known.
    #[error("unknown format `{0}`; expected one of: csv, tsv, jsonl, parquet, recbole, movielens, lightgcn, synthetic")]
    UnknownFormat(String),
    /// Options, a header or a spec are inconsistent.
    #[error("{0}")]
    Invalid(String),
}

/// Result alias of `funnel-data`.
pub type Result<T, E = DataError> = std::result::Result<T, E>;

impl DataError {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        DataError::Io {
            path: path.into(),
            source,
        }
    }
}
