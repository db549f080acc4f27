//! # funnel-model — what every model crate shares
//!
//! * [`ModelWriter`] / [`ModelReader`]: versioned, self-describing model files —
//!   safetensors for the arrays plus a JSON header naming the format version, the model
//!   type and its parameters. A file of another model type or a newer version is refused
//!   with a message saying which.
//! * [`Params`]: `key=value` hyper-parameters with typed getters; a key no model reads is
//!   an error, so a typo never passes silently.
//!
//! Recall models (`funnel-recall`) and rankers (`funnel-rank`) both build on it, so a
//! model file and a `--set` flag behave the same in every stage.
#![warn(missing_docs)]

mod error;
pub mod file;
pub mod params;

pub use error::{ModelError, Result};
pub use file::{ModelReader, ModelWriter, FORMAT_VERSION};
pub use params::{ParamDoc, Params};
