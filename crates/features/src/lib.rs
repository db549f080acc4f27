//! # funnel-features — from raw events to the samples rankers learn from
//!
//! The ranking stage's input. A ranker sees a [`SampleSet`]: per sample a label, an
//! optional group (the user, for GAUC) and a sparse list of `(field, index, value)`
//! features. Samples come from
//!
//! * plain files: [`read_libsvm`] (`label idx:val …`) and [`read_libffm`]
//!   (`label field:idx:val …`), whose bad lines are named by file and line;
//! * the declared feature pipeline, in three steps:
//!   1. a [`FeatureSpec`] read from a TOML file says which fields a raw event turns into
//!      (categorical with a vocabulary or hashing, numeric with transforms or quantile
//!      buckets, multi-hot lists, sequences, crosses) and what each does with a missing
//!      value; unknown keys and wrong kinds are errors naming the file and line;
//!   2. [`FeatureSpec::fit`] learns the statistics (vocabularies, means, quantile edges)
//!      from the training records only and returns a [`Pipeline`], plain data saved as
//!      JSON beside the model;
//!   3. [`Pipeline::transform`] turns a [`RawRecord`] into features — the same code at
//!      training and at serving time, bit-identical in any process, never non-finite.
//!
//! [`build_records`] makes the raw records for click-through training from interactions
//! and user/item attribute tables: labels by a rating threshold or feedback type,
//! the user's history strictly before each event, sampled and down-sampled negatives
//! (the keep rate is recorded for calibration), and a split by time. [`build_ctr`] does
//! all of it from a spec file and a RecBole directory. `docs/features.md` describes the
//! spec format and the index layout.
//!
//! ```
//! use std::path::Path;
//! use funnel_features::{FeatureSpec, RawRecord};
//!
//! let spec = FeatureSpec::parse(r#"
//!     [[field]]
//!     name = "item_id"
//!     kind = "categorical"
//!     [[field]]
//!     name = "price"
//!     kind = "numeric"
//!     transforms = ["log1p", "standardize"]
//! "#, Path::new("spec.toml")).unwrap();
//! let train = [
//!     RawRecord::new().with("item_id", "book").with("price", 10.0),
//!     RawRecord::new().with("item_id", "pen").with("price", 2.0),
//! ];
//! let pipeline = spec.fit(&train).unwrap();
//! let mut features = Vec::new();
//! // An unseen item goes to field 0's out-of-vocabulary index 0; a NaN price is
//! // missing, which for a standardised number means 0 (the training mean).
//! let serving = RawRecord::new().with("item_id", "lamp").with("price", f64::NAN);
//! pipeline.transform(&serving, &mut features);
//! assert_eq!(features, [(0, 0, 1.0), (1, 3, 0.0)]);
//! assert_eq!(pipeline.n_features(), 4); // OOV + 2 items, then the price
//! ```
#![warn(missing_docs)]

mod builder;
mod error;
mod fit;
mod pipeline;
mod raw;
pub mod record;
mod sample;
mod spec;
mod stable;
mod text;

pub use builder::{
    build_ctr, build_records, downsampling_correction, read_interactions, CtrData, CtrInfo,
    CtrSamples, EventLog, LoggedEvent,
};
pub use error::{FeatureError, Result};
pub use pipeline::Pipeline;
pub use raw::{RawRecord, RawValue};
pub use sample::{FieldInfo, Row, SampleSet};
pub use spec::{
    Compare, FeatureSpec, FieldKind, FieldSpec, FillValue, LabelRule, MissingPolicy, SamplesSpec,
    SplitRule, Transform,
};
pub use text::{
    apply_positions, apply_query_sizes, parse_bytes, position_sidecar, query_sidecar, read,
    read_libffm, read_libsvm, stream, write_libffm, write_libsvm, write_text, TextFormat,
    TextReport,
};
