//! Model hyper-parameters from `--set key=value` pairs, with typed getters that name
//! the model, the key and what was expected when a value is wrong or a key unknown.

use std::collections::BTreeMap;
use std::str::FromStr;

use crate::error::{ModelError, Result};

/// `key=value` parameters of one model. Keys not read by the model are an error
/// (see [`Params::finish`]), so a typo never passes silently.
///
/// Every key a model reads is recorded with its default and what it expects, so a
/// model's parameter list is whatever its constructor reads — building it with empty
/// parameters and calling [`Params::documented`] lists them, and no second list can drift.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Params {
    values: BTreeMap<String, String>,
    used: std::cell::RefCell<Vec<ParamDoc>>,
}

/// A parameter a model reads.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ParamDoc {
    /// The `--set` key.
    pub key: String,
    /// Its value when not set.
    pub default: String,
    /// What a value must be.
    pub expected: String,
}

impl Params {
    /// Parses `key=value` strings.
    pub fn parse<S: AsRef<str>>(pairs: &[S]) -> std::result::Result<Params, String> {
        let mut p = Params::default();
        for s in pairs {
            let s = s.as_ref();
            let (k, v) = s
                .split_once('=')
                .ok_or_else(|| format!("--set `{s}`: expected key=value"))?;
            p.values.insert(k.trim().to_string(), v.trim().to_string());
        }
        Ok(p)
    }

    /// Sets a value unless one is given already (presets sit under user overrides).
    pub fn set_default(&mut self, key: &str, value: &str) {
        self.values
            .entry(key.to_string())
            .or_insert_with(|| value.to_string());
    }

    /// All pairs.
    pub fn pairs(&self) -> &BTreeMap<String, String> {
        &self.values
    }

    /// A typed value, or `default` when absent.
    pub fn get<T: FromStr + std::fmt::Display>(
        &self,
        model: &'static str,
        key: &str,
        default: T,
        expected: &str,
    ) -> Result<T> {
        self.record(key, default.to_string(), expected.to_string());
        self.value(model, key, default, expected)
    }

    fn record(&self, key: &str, default: String, expected: String) {
        let mut used = self.used.borrow_mut();
        if !used.iter().any(|d| d.key == key) {
            used.push(ParamDoc {
                key: key.to_string(),
                default,
                expected,
            });
        }
    }

    fn value<T: FromStr>(
        &self,
        model: &'static str,
        key: &str,
        default: T,
        expected: &str,
    ) -> Result<T> {
        match self.values.get(key) {
            None => Ok(default),
            Some(v) => v.parse().map_err(|_| ModelError::Param {
                model,
                message: format!("`{key}={v}`: expected {expected}"),
            }),
        }
    }

    /// One of a fixed set of words.
    pub fn choice(
        &self,
        model: &'static str,
        key: &str,
        default: &str,
        options: &[&str],
    ) -> Result<String> {
        self.record(
            key,
            default.to_string(),
            format!("one of {}", options.join(", ")),
        );
        let v: String = self.value(model, key, default.to_string(), "a word")?;
        if options.contains(&v.as_str()) {
            Ok(v)
        } else {
            Err(ModelError::Param {
                model,
                message: format!("`{key}={v}`: expected one of {}", options.join(", ")),
            })
        }
    }

    /// The parameters read so far, in the order the model read them.
    pub fn documented(&self) -> Vec<ParamDoc> {
        self.used.borrow().clone()
    }

    /// Fails on keys the model did not read.
    pub fn finish(&self, model: &'static str) -> Result<()> {
        let used = self.used.borrow();
        let unknown: Vec<&String> = self
            .values
            .keys()
            .filter(|k| !used.iter().any(|d| &d.key == *k))
            .collect();
        if let Some(k) = unknown.first() {
            let mut known: Vec<&str> = used.iter().map(|d| d.key.as_str()).collect();
            known.sort();
            known.dedup();
            return Err(ModelError::Param {
                model,
                message: format!(
                    "unknown parameter `{k}`; this model takes: {}",
                    known.join(", ")
                ),
            });
        }
        Ok(())
    }
}
