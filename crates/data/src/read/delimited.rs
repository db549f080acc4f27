//! Delimited text: CSV, TSV, `::`-separated MovieLens, RecBole atomic files.

use std::path::Path;

use memchr::memmem;

use super::{next_line, open, utf8_message, LineCounter, ReadOptions, ReadReport, Sink};
use crate::error::{BadLine, DataError, Result};
use crate::interactions::Event;

/// Names a column by header name or by 0-based index.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ColumnRef {
    /// Find it by one of the usual names (`user_id`, `userId`, `rating`, …).
    Auto,
    /// Header name (case-insensitive; a RecBole `:type` suffix is ignored).
    Name(String),
    /// 0-based field index.
    Index(usize),
    /// The input has no such column.
    Absent,
}

impl ColumnRef {
    /// Parses `3` as an index, `-` or `none` as absent, anything else as a name.
    pub fn parse(s: &str) -> ColumnRef {
        match s {
            "-" | "none" => ColumnRef::Absent,
            _ => s
                .parse::<usize>()
                .map(ColumnRef::Index)
                .unwrap_or_else(|_| ColumnRef::Name(s.to_string())),
        }
    }
}

/// Which columns hold the user, item, value, timestamp and feedback type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Columns {
    /// User id column.
    pub user: ColumnRef,
    /// Item id column.
    pub item: ColumnRef,
    /// Value column (1 for every event when absent).
    pub value: ColumnRef,
    /// Timestamp column (Unix seconds).
    pub timestamp: ColumnRef,
    /// Feedback type column.
    pub kind: ColumnRef,
}

impl Default for Columns {
    fn default() -> Self {
        Columns {
            user: ColumnRef::Auto,
            item: ColumnRef::Auto,
            value: ColumnRef::Auto,
            timestamp: ColumnRef::Auto,
            kind: ColumnRef::Auto,
        }
    }
}

impl Columns {
    /// Applies a mapping such as `user=0,item=1,value=rating,timestamp=-`.
    pub fn apply_mapping(&mut self, spec: &str) -> Result<()> {
        for part in spec.split(',').filter(|p| !p.is_empty()) {
            let (k, v) = part.split_once('=').ok_or_else(|| {
                DataError::Invalid(format!(
                    "column mapping `{part}`: expected key=column, e.g. user=0 or item=movieId"
                ))
            })?;
            let r = ColumnRef::parse(v.trim());
            match k.trim() {
                "user" => self.user = r,
                "item" => self.item = r,
                "value" | "rating" => self.value = r,
                "timestamp" | "time" => self.timestamp = r,
                "type" | "kind" => self.kind = r,
                other => {
                    return Err(DataError::Invalid(format!(
                        "column mapping key `{other}`: expected one of user, item, value, timestamp, type"
                    )))
                }
            }
        }
        Ok(())
    }
}

pub(crate) const USER_NAMES: &[&str] = &[
    "user",
    "user_id",
    "userid",
    "uid",
    "visitorid",
    "customer_id",
];
pub(crate) const ITEM_NAMES: &[&str] = &[
    "item",
    "item_id",
    "itemid",
    "iid",
    "movieid",
    "movie_id",
    "product_id",
];
pub(crate) const VALUE_NAMES: &[&str] = &["rating", "value", "score", "weight", "count"];
pub(crate) const TIME_NAMES: &[&str] = &["timestamp", "ts", "time", "unix_time"];
pub(crate) const KIND_NAMES: &[&str] = &[
    "type",
    "kind",
    "event",
    "event_type",
    "feedback_type",
    "behavior",
];

/// Options of the delimited reader.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DelimitedOptions {
    /// Field separator (one or more bytes).
    pub delimiter: String,
    /// Whether the first line is a header.
    pub header: bool,
    /// Column mapping.
    pub columns: Columns,
}

impl DelimitedOptions {
    /// Comma-separated with a header.
    pub fn csv() -> Self {
        Self {
            delimiter: ",".into(),
            header: true,
            columns: Columns::default(),
        }
    }
    /// Tab-separated with a header.
    pub fn tsv() -> Self {
        Self {
            delimiter: "\t".into(),
            header: true,
            columns: Columns::default(),
        }
    }
    /// RecBole atomic `.inter` files: tab-separated, `name:type` header.
    pub fn recbole() -> Self {
        Self::tsv()
    }
    /// MovieLens native files, chosen by file name.
    pub fn movielens(path: &Path) -> Result<Self> {
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
        let positional = Columns {
            user: ColumnRef::Index(0),
            item: ColumnRef::Index(1),
            value: ColumnRef::Index(2),
            timestamp: ColumnRef::Index(3),
            kind: ColumnRef::Absent,
        };
        Ok(match name {
            "u.data" => Self {
                delimiter: "\t".into(),
                header: false,
                columns: positional,
            },
            "ratings.dat" => Self {
                delimiter: "::".into(),
                header: false,
                columns: positional,
            },
            "ratings.csv" => Self::csv(),
            _ => {
                return Err(DataError::Invalid(format!(
                    "{}: not a MovieLens ratings file; expected u.data, ratings.dat or ratings.csv",
                    path.display()
                )))
            }
        })
    }
}

/// Resolved 0-based indices.
#[derive(Debug, Clone, Copy)]
struct Resolved {
    user: usize,
    item: usize,
    value: Option<usize>,
    timestamp: Option<usize>,
    kind: Option<usize>,
    /// Exact number of fields every line must have.
    width: usize,
}

fn find(
    header: &[String],
    r: &ColumnRef,
    names: &[&str],
    what: &str,
    path: &Path,
    required: bool,
) -> Result<Option<usize>> {
    let clean = |h: &str| {
        h.split(':')
            .next()
            .unwrap_or(h)
            .trim()
            .trim_matches('"')
            .to_ascii_lowercase()
    };
    match r {
        ColumnRef::Absent => Ok(None),
        ColumnRef::Index(i) if *i < header.len() => Ok(Some(*i)),
        ColumnRef::Index(i) => Err(DataError::Invalid(format!(
            "{}: column {i} for {what} does not exist; the header has {} columns",
            path.display(),
            header.len()
        ))),
        ColumnRef::Name(n) => match header
            .iter()
            .position(|h| clean(h) == n.to_ascii_lowercase())
        {
            Some(i) => Ok(Some(i)),
            None => Err(DataError::Invalid(format!(
                "{}: no column named `{n}` for {what}; the header has: {}",
                path.display(),
                header.join(", ")
            ))),
        },
        ColumnRef::Auto => {
            let hit = header
                .iter()
                .position(|h| names.contains(&clean(h).as_str()));
            if hit.is_none() && required {
                return Err(DataError::Invalid(format!(
                    "{}: no {what} column in the header ({}); expected one named {}, or map it with --columns {what}=NAME",
                    path.display(),
                    header.join(", "),
                    names.join("/")
                )));
            }
            Ok(hit)
        }
    }
}

fn resolve(header: &[String], c: &Columns, path: &Path) -> Result<Resolved> {
    Ok(Resolved {
        user: find(header, &c.user, USER_NAMES, "user", path, true)?.unwrap(),
        item: find(header, &c.item, ITEM_NAMES, "item", path, true)?.unwrap(),
        value: find(header, &c.value, VALUE_NAMES, "value", path, false)?,
        timestamp: find(header, &c.timestamp, TIME_NAMES, "timestamp", path, false)?,
        kind: find(header, &c.kind, KIND_NAMES, "type", path, false)?,
        width: header.len(),
    })
}

/// Positional resolution for header-less input: user, item, value, timestamp.
fn resolve_positional(width: usize, c: &Columns) -> Columns {
    let pick = |r: &ColumnRef, default: usize| match r {
        ColumnRef::Auto if default < width => ColumnRef::Index(default),
        ColumnRef::Auto => ColumnRef::Absent,
        other => other.clone(),
    };
    Columns {
        user: pick(&c.user, 0),
        item: pick(&c.item, 1),
        value: pick(&c.value, 2),
        timestamp: pick(&c.timestamp, 3),
        kind: match &c.kind {
            ColumnRef::Auto => ColumnRef::Absent,
            o => o.clone(),
        },
    }
}

/// Splits `line` by `delim` into `out`.
#[inline]
fn split(
    line: &str,
    delim: &[u8],
    finder: Option<&memmem::Finder<'_>>,
    out: &mut Vec<(usize, usize)>,
) {
    out.clear();
    let b = line.as_bytes();
    let mut start = 0;
    if delim.len() == 1 {
        for p in memchr::memchr_iter(delim[0], b) {
            out.push((start, p));
            start = p + 1;
        }
    } else if let Some(f) = finder {
        for p in f.find_iter(b) {
            out.push((start, p));
            start = p + delim.len();
        }
    }
    out.push((start, b.len()));
}

#[inline]
fn unquote(s: &str) -> &str {
    let s = s.trim();
    if s.len() >= 2 && s.starts_with('"') && s.ends_with('"') {
        &s[1..s.len() - 1]
    } else {
        s
    }
}

/// Parses a timestamp: integer seconds, or a decimal number of seconds.
#[inline]
pub(crate) fn parse_time(s: &str) -> Option<i64> {
    s.parse::<i64>().ok().or_else(|| {
        s.parse::<f64>()
            .ok()
            .filter(|x| x.is_finite())
            .map(|x| x.floor() as i64)
    })
}

pub(super) fn read(
    path: &Path,
    o: &DelimitedOptions,
    opts: ReadOptions<'_>,
    sink: &mut Sink<'_>,
) -> Result<ReadReport> {
    if o.delimiter.is_empty() {
        return Err(DataError::Invalid("the delimiter must not be empty".into()));
    }
    let mut r = open(path)?;
    let mut lc = LineCounter::new(path, opts.lenient);
    let delim = o.delimiter.as_bytes();
    let finder = (delim.len() > 1).then(|| memmem::Finder::new(delim));
    let mut buf = Vec::with_capacity(256);
    let mut spans: Vec<(usize, usize)> = Vec::with_capacity(8);
    let mut line_no = 0u64;
    let mut bytes = 0u64;
    let mut res: Option<Resolved> = None;

    if o.header {
        loop {
            if !next_line(&mut r, &mut buf, path)? {
                return Err(DataError::Empty(path.to_path_buf()));
            }
            line_no += 1;
            bytes += buf.len() as u64 + 1;
            if !buf.iter().all(u8::is_ascii_whitespace) {
                break;
            }
        }
        let text = std::str::from_utf8(&buf).map_err(|e| DataError::Parse {
            at: crate::error::Location {
                path: path.into(),
                line: line_no,
                column: None,
            },
            kind: BadLine::Utf8,
            message: format!("header: {}", utf8_message(e)),
        })?;
        let header: Vec<String> = {
            let text = text.trim_start_matches('\u{feff}');
            let mut f = Vec::new();
            split(text, delim, finder.as_ref(), &mut f);
            f.iter().map(|&(a, b)| text[a..b].to_string()).collect()
        };
        res = Some(resolve(&header, &o.columns, path)?);
    }

    let sep_name = match o.delimiter.as_str() {
        "\t" => "tab".to_string(),
        d => format!("`{d}`"),
    };
    while next_line(&mut r, &mut buf, path)? {
        line_no += 1;
        bytes += buf.len() as u64 + 1;
        if line_no % 65536 == 0 {
            if let Some(p) = opts.progress {
                p(bytes);
            }
        }
        if buf.is_empty() || buf.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        lc.report.lines += 1;
        let text = match std::str::from_utf8(&buf) {
            Ok(t) => t,
            Err(e) => {
                lc.bad(line_no, None, BadLine::Utf8, utf8_message(e))?;
                continue;
            }
        };
        split(text, delim, finder.as_ref(), &mut spans);
        let field = |c: usize| &text[spans[c].0..spans[c].1];
        let rs = match res {
            Some(r) => r,
            None => {
                // No header: the first data line fixes the width.
                let c = resolve_positional(spans.len(), &o.columns);
                let names: Vec<String> = (0..spans.len()).map(|i| i.to_string()).collect();
                let r = resolve(&names, &c, path)?;
                res = Some(r);
                r
            }
        };
        if spans.len() != rs.width {
            lc.bad(
                line_no,
                None,
                BadLine::ColumnCount,
                format!(
                    "expected {} fields separated by {sep_name}, found {}",
                    rs.width,
                    spans.len()
                ),
            )?;
            continue;
        }
        let user = unquote(field(rs.user));
        let item = unquote(field(rs.item));
        if user.is_empty() || item.is_empty() {
            let col = if user.is_empty() { rs.user } else { rs.item };
            lc.bad(
                line_no,
                Some(col + 1),
                BadLine::EmptyId,
                "expected a non-empty id".into(),
            )?;
            continue;
        }
        let value = match rs.value {
            None => 1.0,
            Some(c) => match unquote(field(c)).parse::<f32>() {
                Ok(v) if v.is_finite() => v,
                _ => {
                    lc.bad(
                        line_no,
                        Some(c + 1),
                        BadLine::NotANumber,
                        format!("expected a number for the value, found `{}`", field(c)),
                    )?;
                    continue;
                }
            },
        };
        let timestamp = match rs.timestamp {
            None => None,
            Some(c) => match parse_time(unquote(field(c))) {
                Some(t) => Some(t),
                None => {
                    lc.bad(
                        line_no,
                        Some(c + 1),
                        BadLine::NotANumber,
                        format!("expected a Unix timestamp in seconds, found `{}`", field(c)),
                    )?;
                    continue;
                }
            },
        };
        let kind = rs.kind.map(|c| unquote(field(c)));
        sink(&Event {
            user,
            item,
            value,
            timestamp,
            kind,
        })?;
        lc.report.events += 1;
    }
    if let Some(p) = opts.progress {
        p(bytes);
    }
    Ok(lc.report)
}
