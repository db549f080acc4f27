//! Users and items with attributes: categorical, numeric, multi-valued and text.

use std::path::Path;

use crate::error::{BadLine, DataError, Location, Result};
use crate::ids::IdMap;
use crate::read::{next_line, open, utf8_message};

/// The kind of an attribute.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttrKind {
    /// One token from a vocabulary (gender, occupation, category).
    Categorical,
    /// A number (age, price).
    Numeric,
    /// Several tokens (genres, tags).
    MultiCategorical,
    /// Free text (title).
    Text,
}

/// One attribute value.
#[derive(Debug, Clone, PartialEq)]
pub enum AttrValue {
    /// A token.
    Categorical(String),
    /// A number.
    Numeric(f64),
    /// Several tokens.
    Multi(Vec<String>),
    /// Free text.
    Text(String),
    /// No value given.
    Missing,
}

/// A table of entities (users or items) and their attributes, keyed by external id.
#[derive(Debug, Clone, Default)]
pub struct EntityTable {
    /// Ids of the rows, in row order.
    pub ids: IdMap,
    /// Column names and kinds.
    pub columns: Vec<(String, AttrKind)>,
    /// One row of values per id, in column order.
    pub rows: Vec<Vec<AttrValue>>,
}

impl EntityTable {
    /// The attributes of an entity by external id.
    pub fn get(&self, id: &str) -> Option<&[AttrValue]> {
        self.ids.get(id).map(|r| self.rows[r as usize].as_slice())
    }

    /// Index of a column by name.
    pub fn column(&self, name: &str) -> Option<usize> {
        self.columns.iter().position(|(n, _)| n == name)
    }

    /// Reads a RecBole atomic `.user` or `.item` file: tab-separated, header of
    /// `name:type` with types `token`, `float`, `token_seq`, `float_seq`; the first
    /// column is the id.
    pub fn read_recbole(path: &Path) -> Result<EntityTable> {
        let mut r = open(path)?;
        let mut buf = Vec::new();
        if !next_line(&mut r, &mut buf, path)? {
            return Err(DataError::Empty(path.to_path_buf()));
        }
        let at = |line, column| Location {
            path: path.to_path_buf(),
            line,
            column,
        };
        let header = std::str::from_utf8(&buf)
            .map_err(|e| DataError::Parse {
                at: at(1, None),
                kind: BadLine::Utf8,
                message: utf8_message(e),
            })?
            .to_string();
        let mut columns = Vec::new();
        for (c, h) in header.split('\t').enumerate().skip(1) {
            let (name, ty) = h.split_once(':').unwrap_or((h, "token"));
            let kind = match ty {
                "token" => AttrKind::Categorical,
                "float" => AttrKind::Numeric,
                "token_seq" if name.contains("title") || name.contains("name") => AttrKind::Text,
                "token_seq" | "float_seq" => AttrKind::MultiCategorical,
                other => {
                    return Err(DataError::Parse {
                        at: at(1, Some(c + 1)),
                        kind: BadLine::Json,
                        message: format!("unknown RecBole type `{other}`; expected token, float, token_seq or float_seq"),
                    })
                }
            };
            columns.push((name.to_string(), kind));
        }
        let mut t = EntityTable {
            ids: IdMap::new(),
            columns,
            rows: Vec::new(),
        };
        let mut line = 1u64;
        while next_line(&mut r, &mut buf, path)? {
            line += 1;
            if buf.is_empty() {
                continue;
            }
            let text = std::str::from_utf8(&buf).map_err(|e| DataError::Parse {
                at: at(line, None),
                kind: BadLine::Utf8,
                message: utf8_message(e),
            })?;
            let fields: Vec<&str> = text.split('\t').collect();
            if fields.len() != t.columns.len() + 1 {
                return Err(DataError::Parse {
                    at: at(line, None),
                    kind: BadLine::ColumnCount,
                    message: format!(
                        "expected {} tab-separated fields, found {}",
                        t.columns.len() + 1,
                        fields.len()
                    ),
                });
            }
            let mut row = Vec::with_capacity(t.columns.len());
            for (c, (f, (_, kind))) in fields[1..].iter().zip(&t.columns).enumerate() {
                row.push(if f.is_empty() {
                    AttrValue::Missing
                } else {
                    match kind {
                        AttrKind::Categorical => AttrValue::Categorical(f.to_string()),
                        AttrKind::Text => AttrValue::Text(f.to_string()),
                        AttrKind::MultiCategorical => {
                            AttrValue::Multi(f.split(' ').map(str::to_string).collect())
                        }
                        AttrKind::Numeric => {
                            AttrValue::Numeric(f.parse().map_err(|_| DataError::Parse {
                                at: at(line, Some(c + 2)),
                                kind: BadLine::NotANumber,
                                message: format!("expected a number, found `{f}`"),
                            })?)
                        }
                    }
                });
            }
            let id = t.ids.intern(fields[0]);
            if id as usize == t.rows.len() {
                t.rows.push(row);
            } else {
                t.rows[id as usize] = row;
            }
        }
        Ok(t)
    }
}
