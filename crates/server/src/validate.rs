//! What the API accepts, one function per kind of field: each answers 400 naming the
//! field and the accepted range. docs/serve.md ("Bounds") lists the same rules.

use axum::http::StatusCode;
use funnel_engine::config::ServerConfig;
use funnel_engine::models::now;

use crate::error::ApiError;

/// Longest id (user, item, feedback type, category), bytes.
pub const MAX_ID: usize = 256;
/// Most items in one list answer.
pub const MAX_N: usize = 1000;
/// Deepest page offset.
pub const MAX_OFFSET: usize = 10_000;
/// Largest feedback value, in absolute terms: it stays an exact-enough f32 in training
/// (1e308 became infinity there).
pub const MAX_ABS_VALUE: f64 = 1e9;

/// A field's name in messages: `name`, or `[k].name` inside a batch of several records.
/// Formatted only when a message is written, not once per field checked.
#[derive(Debug, Clone, Copy)]
pub struct Field<'a> {
    index: Option<usize>,
    name: &'a str,
}

/// Field `name` of record `k` of `n`.
pub fn field(k: usize, n: usize, name: &str) -> Field<'_> {
    Field {
        index: (n > 1).then_some(k),
        name,
    }
}

impl std::fmt::Display for Field<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.index {
            Some(k) => write!(f, "[{k}].{}", self.name),
            None => f.write_str(self.name),
        }
    }
}

/// Characters no id may hold: control characters, and the invisible and bidirectional
/// formatting ones that make an id display as another (`U+202E` reverses the text after
/// it).
fn forbidden_in_id(c: char) -> bool {
    c.is_control()
        || matches!(c,
            '\u{061C}' | '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}'
            | '\u{2060}'..='\u{2069}' | '\u{FEFF}')
}

/// An id: 1 to [`MAX_ID`] bytes, no control or invisible formatting characters.
pub fn id(what: impl std::fmt::Display + Copy, id: &str) -> Result<(), ApiError> {
    if id.is_empty() || id.len() > MAX_ID {
        return Err(ApiError::bad(format!(
            "{what}: expected 1 to {MAX_ID} bytes, got {}",
            id.len()
        )));
    }
    text(what, id)?;
    if let Some(c) = id.chars().find(|&c| forbidden_in_id(c)) {
        return Err(ApiError::bad(format!(
            "{what}: U+{:04X} is not allowed in an id (control and invisible formatting \
             characters are refused)",
            c as u32
        )));
    }
    Ok(())
}

/// Free text: anything but NUL, which PostgreSQL text cannot hold (so neither backend
/// accepts it; found by schemathesis against the PostgreSQL-backed server, where it was
/// a 503).
pub fn text(what: impl std::fmt::Display + Copy, s: &str) -> Result<(), ApiError> {
    if s.contains('\0') {
        return Err(ApiError::bad(format!(
            "{what}: the NUL character (\\u0000) is not allowed"
        )));
    }
    Ok(())
}

/// Categories are ids.
pub fn categories(what: impl std::fmt::Display + Copy, v: &[String]) -> Result<(), ApiError> {
    v.iter().try_for_each(|c| id(what, c))
}

/// A timestamp in Unix seconds: from 0 (1970) to now + `server.max_clock_skew_seconds`.
/// Everything accepted fits the 2^32-second span training needs, and nothing sits in the
/// future to stay first in `latest` for ever.
pub fn timestamp(
    what: impl std::fmt::Display + Copy,
    t: i64,
    server: &ServerConfig,
) -> Result<(), ApiError> {
    let skew = server.max_clock_skew_seconds.min(i64::MAX as u64) as i64;
    let top = now().saturating_add(skew);
    if (0..=top).contains(&t) {
        return Ok(());
    }
    let hint = if t > top && t / 1000 <= top {
        " (milliseconds? divide by 1000)"
    } else {
        ""
    };
    Err(ApiError::bad(format!(
        "{what}: expected Unix seconds from 0 to {top} (now + server.max_clock_skew_seconds), \
         got {t}{hint}"
    )))
}

/// A feedback value: finite, at most [`MAX_ABS_VALUE`] either way.
pub fn value(what: impl std::fmt::Display + Copy, v: f64) -> Result<(), ApiError> {
    if v.is_finite() && v.abs() <= MAX_ABS_VALUE {
        return Ok(());
    }
    Err(ApiError::bad(format!(
        "{what}: expected a finite number from -{MAX_ABS_VALUE:e} to {MAX_ABS_VALUE:e}, got {v}"
    )))
}

/// The deepest display position feedback may carry.
pub const MAX_POSITION: i64 = 100_000;

/// A display position: a whole number from 1 (the top) to [`MAX_POSITION`].
pub fn position(what: impl std::fmt::Display + Copy, p: i64) -> Result<u32, ApiError> {
    if (1..=MAX_POSITION).contains(&p) {
        return Ok(p as u32);
    }
    Err(ApiError::bad(format!(
        "{what}: expected the position the item was shown at, a whole number from 1 (the top) \
         to {MAX_POSITION}, got {p}"
    )))
}

/// At most `server.max_batch` records in one request.
pub fn batch(server: &ServerConfig, n: usize) -> Result<(), ApiError> {
    let max = server.max_batch;
    if n > max {
        return Err(ApiError {
            status: StatusCode::PAYLOAD_TOO_LARGE,
            message: format!("{n} records in one request; at most {max} (server.max_batch)"),
        });
    }
    Ok(())
}

/// `n` (default 10) and `offset` (default 0) of a list.
pub fn page(n: Option<usize>, offset: Option<usize>) -> Result<(usize, usize), ApiError> {
    let n = n.unwrap_or(10);
    let offset = offset.unwrap_or(0);
    if n > MAX_N {
        return Err(ApiError::bad(format!(
            "n: expected at most {MAX_N}, got {n}"
        )));
    }
    if offset > MAX_OFFSET {
        return Err(ApiError::bad(format!(
            "offset: expected at most {MAX_OFFSET}, got {offset}"
        )));
    }
    Ok((n, offset))
}

/// Attributes: a JSON object (absent or null = empty).
pub fn attributes(v: Option<serde_json::Value>) -> Result<serde_json::Value, ApiError> {
    match v {
        None | Some(serde_json::Value::Null) => Ok(serde_json::Value::Object(Default::default())),
        Some(o @ serde_json::Value::Object(_)) => Ok(o),
        Some(_) => Err(ApiError {
            status: StatusCode::UNPROCESSABLE_ENTITY,
            message: "attributes: expected a JSON object".into(),
        }),
    }
}

/// `expires_at` or `ttl_seconds` (any time; one in the past means expired).
pub fn expiry(expires_at: Option<i64>, ttl: Option<u64>) -> Result<Option<i64>, ApiError> {
    match (expires_at, ttl) {
        (Some(_), Some(_)) => Err(ApiError::bad("give expires_at or ttl_seconds, not both")),
        (e, None) => Ok(e),
        (None, Some(t)) => Ok(Some(now().saturating_add(t.min(i64::MAX as u64) as i64))),
    }
}

/// Most keys in a request's `context`.
pub const MAX_CONTEXT_KEYS: usize = 64;

/// A request's `context`: an object of at most [`MAX_CONTEXT_KEYS`] id-like keys whose
/// values are numbers, strings, booleans, lists of those, or null.
pub fn context(
    v: Option<serde_json::Value>,
) -> Result<Vec<(String, funnel_features::RawValue)>, ApiError> {
    let Some(v) = v else {
        return Ok(Vec::new());
    };
    let serde_json::Value::Object(map) = v else {
        return Err(ApiError::bad("context: expected a JSON object"));
    };
    if map.len() > MAX_CONTEXT_KEYS {
        return Err(ApiError::bad(format!(
            "context: expected at most {MAX_CONTEXT_KEYS} keys, got {}",
            map.len()
        )));
    }
    let mut out = Vec::with_capacity(map.len());
    for (k, v) in map {
        id("context key", &k)?;
        let nested = match &v {
            serde_json::Value::Array(a) => a.iter().any(|x| x.is_array() || x.is_object()),
            serde_json::Value::Object(_) => true,
            _ => false,
        };
        let raw = funnel_features::record::raw_from_json(&v).filter(|_| !nested);
        match raw {
            Some(r) => out.push((k, r)),
            None => {
                return Err(ApiError::bad(format!(
                    "context.{k}: expected a number, string, boolean, list of those, or null"
                )))
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_refuse_control_and_invisible_characters() {
        id("user_id", "alice").unwrap();
        id("user_id", "Zoë 日本").unwrap();
        for bad in [
            "a\u{202E}b",
            "a\nb",
            "a\u{7}",
            "a\u{200B}",
            "\u{FEFF}a",
            "a\u{85}",
        ] {
            let e = id("user_id", bad).unwrap_err().message;
            assert!(e.starts_with("user_id: U+"), "{bad:?}: {e}");
        }
        assert!(id("user_id", "a\0b").unwrap_err().message.contains("NUL"));
        assert!(id("item_id", "").is_err());
        assert!(id("item_id", &"x".repeat(257)).is_err());
    }

    #[test]
    fn timestamps_and_values_have_bounds() {
        let s = ServerConfig::default();
        timestamp("timestamp", 0, &s).unwrap();
        timestamp("timestamp", now() + 3600, &s).unwrap();
        let e = timestamp("timestamp", 1_796_153_948_808, &s)
            .unwrap_err()
            .message;
        assert!(e.contains("from 0 to") && e.contains("milliseconds"), "{e}");
        assert!(timestamp("timestamp", 32_503_680_000, &s).is_err()); // year 3000
        assert!(timestamp("timestamp", -1, &s).is_err());
        assert!(timestamp("timestamp", i64::MAX, &s).is_err());
        value("value", -1e9).unwrap();
        for v in [1e308, -1e308, f64::NAN, f64::INFINITY, 1.5e9] {
            assert!(value("value", v).is_err(), "{v}");
        }
    }
}
