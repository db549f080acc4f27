//! Parquet, read row by row (row groups are decoded one at a time, never the whole file).

use std::path::Path;

use parquet::file::reader::{FileReader, SerializedFileReader};
use parquet::record::Field;

use super::delimited::{
    ColumnRef, Columns, ITEM_NAMES, KIND_NAMES, TIME_NAMES, USER_NAMES, VALUE_NAMES,
};
use super::{LineCounter, ReadOptions, ReadReport, Sink};
use crate::error::{BadLine, DataError, Result};
use crate::interactions::Event;

fn column(
    names: &[String],
    r: &ColumnRef,
    defaults: &[&str],
    what: &str,
    path: &Path,
    required: bool,
) -> Result<Option<usize>> {
    let hit = match r {
        ColumnRef::Absent => return Ok(None),
        ColumnRef::Index(i) => Some(*i).filter(|i| *i < names.len()),
        ColumnRef::Name(n) => names.iter().position(|c| c.eq_ignore_ascii_case(n)),
        ColumnRef::Auto => names
            .iter()
            .position(|c| defaults.contains(&c.to_ascii_lowercase().as_str())),
    };
    if hit.is_none() && (required || !matches!(r, ColumnRef::Auto)) {
        return Err(DataError::Invalid(format!(
            "{}: no Parquet column for {what}; the file has: {}",
            path.display(),
            names.join(", ")
        )));
    }
    Ok(hit)
}

fn text(f: &Field) -> Option<String> {
    Some(match f {
        Field::Str(s) => s.clone(),
        Field::Int(x) => x.to_string(),
        Field::Long(x) => x.to_string(),
        Field::UInt(x) => x.to_string(),
        Field::ULong(x) => x.to_string(),
        Field::Short(x) => x.to_string(),
        Field::Bytes(b) => String::from_utf8(b.data().to_vec()).ok()?,
        _ => return None,
    })
}

fn number(f: &Field) -> Option<f64> {
    Some(match f {
        Field::Float(x) => *x as f64,
        Field::Double(x) => *x,
        Field::Int(x) => *x as f64,
        Field::Long(x) => *x as f64,
        Field::UInt(x) => *x as f64,
        Field::ULong(x) => *x as f64,
        Field::Short(x) => *x as f64,
        Field::Byte(x) => *x as f64,
        Field::Bool(b) => *b as u8 as f64,
        Field::TimestampMillis(x) => (*x / 1000) as f64,
        Field::TimestampMicros(x) => (*x / 1_000_000) as f64,
        _ => return None,
    })
}

pub(super) fn read(
    path: &Path,
    c: &Columns,
    opts: ReadOptions<'_>,
    sink: &mut Sink<'_>,
) -> Result<ReadReport> {
    let file = std::fs::File::open(path).map_err(|e| DataError::io(path, e))?;
    let reader = SerializedFileReader::new(file).map_err(|e| {
        DataError::Invalid(format!(
            "{}: not a readable Parquet file: {e}",
            path.display()
        ))
    })?;
    let schema = reader.metadata().file_metadata().schema_descr();
    let names: Vec<String> = schema
        .columns()
        .iter()
        .map(|c| c.name().to_string())
        .collect();
    let u = column(&names, &c.user, USER_NAMES, "user", path, true)?.unwrap();
    let i = column(&names, &c.item, ITEM_NAMES, "item", path, true)?.unwrap();
    let v = column(&names, &c.value, VALUE_NAMES, "value", path, false)?;
    let t = column(&names, &c.timestamp, TIME_NAMES, "timestamp", path, false)?;
    let k = column(&names, &c.kind, KIND_NAMES, "type", path, false)?;
    let mut lc = LineCounter::new(path, opts.lenient);
    let rows = reader
        .get_row_iter(None)
        .map_err(|e| DataError::Invalid(format!("{}: cannot read rows: {e}", path.display())))?;
    for (n, row) in rows.enumerate() {
        let row_no = n as u64 + 1;
        let row =
            row.map_err(|e| DataError::Invalid(format!("{}: row {row_no}: {e}", path.display())))?;
        lc.report.lines += 1;
        let fields: Vec<&Field> = row.get_column_iter().map(|(_, f)| f).collect();
        let (Some(user), Some(item)) = (text(fields[u]), text(fields[i])) else {
            lc.bad(
                row_no,
                Some(u + 1),
                BadLine::EmptyId,
                "expected string or integer ids for user and item".into(),
            )?;
            continue;
        };
        let value = match v.map(|c| number(fields[c])) {
            None => 1.0,
            Some(Some(x)) if x.is_finite() => x as f32,
            Some(_) => {
                lc.bad(
                    row_no,
                    v.map(|c| c + 1),
                    BadLine::NotANumber,
                    "expected a number for the value".into(),
                )?;
                continue;
            }
        };
        let timestamp = match t.map(|c| number(fields[c])) {
            None => None,
            Some(Some(x)) => Some(x.floor() as i64),
            Some(None) => {
                lc.bad(
                    row_no,
                    t.map(|c| c + 1),
                    BadLine::NotANumber,
                    "expected a Unix timestamp".into(),
                )?;
                continue;
            }
        };
        let kind = k.and_then(|c| text(fields[c]));
        sink(&Event {
            user: &user,
            item: &item,
            value,
            timestamp,
            kind: kind.as_deref(),
        })?;
        lc.report.events += 1;
    }
    Ok(lc.report)
}
