//! JSON Lines: one object per line, e.g. `{"user": "u1", "item": "i9", "rating": 4, "timestamp": 881250949}`.

use std::path::Path;

use serde_json::{Map, Value};

use super::delimited::{
    ColumnRef, Columns, ITEM_NAMES, KIND_NAMES, TIME_NAMES, USER_NAMES, VALUE_NAMES,
};
use super::{next_line, open, utf8_message, LineCounter, ReadOptions, ReadReport, Sink};
use crate::error::{BadLine, Result};
use crate::interactions::Event;

fn key<'a>(
    obj: &'a Map<String, Value>,
    r: &ColumnRef,
    names: &[&str],
) -> Option<(&'a str, &'a Value)> {
    match r {
        ColumnRef::Name(n) => obj.get_key_value(n.as_str()).map(|(k, v)| (k.as_str(), v)),
        ColumnRef::Auto => obj
            .iter()
            .find(|(k, _)| names.contains(&k.to_ascii_lowercase().as_str()))
            .map(|(k, v)| (k.as_str(), v)),
        _ => None,
    }
}

fn id_text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

pub(super) fn read(
    path: &Path,
    c: &Columns,
    opts: ReadOptions<'_>,
    sink: &mut Sink<'_>,
) -> Result<ReadReport> {
    let mut r = open(path)?;
    let mut lc = LineCounter::new(path, opts.lenient);
    let mut buf = Vec::new();
    let mut line_no = 0u64;
    let mut bytes = 0u64;
    while next_line(&mut r, &mut buf, path)? {
        line_no += 1;
        bytes += buf.len() as u64 + 1;
        if line_no % 65536 == 0 {
            if let Some(p) = opts.progress {
                p(bytes);
            }
        }
        if buf.iter().all(u8::is_ascii_whitespace) {
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
        let obj: Map<String, Value> = match serde_json::from_str(text) {
            Ok(o) => o,
            Err(e) => {
                lc.bad(
                    line_no,
                    Some(e.column()),
                    BadLine::Json,
                    format!("expected one JSON object per line: {e}"),
                )?;
                continue;
            }
        };
        let (user, item) = match (
            key(&obj, &c.user, USER_NAMES).and_then(|(_, v)| id_text(v)),
            key(&obj, &c.item, ITEM_NAMES).and_then(|(_, v)| id_text(v)),
        ) {
            (Some(u), Some(i)) => (u, i),
            _ => {
                lc.bad(
                    line_no,
                    None,
                    BadLine::Json,
                    "expected a `user` and an `item` key with a string or number id".into(),
                )?;
                continue;
            }
        };
        let value = match key(&obj, &c.value, VALUE_NAMES) {
            None => 1.0,
            Some((_, v)) => match v.as_f64() {
                Some(x) if x.is_finite() => x as f32,
                _ => {
                    lc.bad(
                        line_no,
                        None,
                        BadLine::NotANumber,
                        format!("expected a number for the value, found {v}"),
                    )?;
                    continue;
                }
            },
        };
        let timestamp = match key(&obj, &c.timestamp, TIME_NAMES) {
            None => None,
            Some((_, v)) => match v.as_i64().or_else(|| v.as_f64().map(|x| x.floor() as i64)) {
                Some(t) => Some(t),
                None => {
                    lc.bad(
                        line_no,
                        None,
                        BadLine::NotANumber,
                        format!("expected a Unix timestamp in seconds, found {v}"),
                    )?;
                    continue;
                }
            },
        };
        let kind = key(&obj, &c.kind, KIND_NAMES).and_then(|(_, v)| v.as_str());
        sink(&Event {
            user: &user,
            item: &item,
            value,
            timestamp,
            kind,
        })?;
        lc.report.events += 1;
    }
    Ok(lc.report)
}
