//! # funnel-features — from raw events to the samples rankers learn from
//!
//! A ranker sees a [`SampleSet`]: per sample a label, an optional group (the user, for
//! GAUC) and a sparse list of `(field, index, value)` features. Samples come from
//!
//! * plain files: [`read_libsvm`] (`label idx:val …`) and [`read_libffm`]
//!   (`label field:idx:val …`), whose bad lines are named by file and line;
//! * the declared feature pipeline (a spec file fitted on training data, saved with the
//!   model, applied the same way when serving).
#![warn(missing_docs)]

mod builder;
mod error;
mod fit;
mod pipeline;
mod raw;
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
pub use sample::{Row, SampleSet};
pub use spec::{
    Compare, FeatureSpec, FieldKind, FieldSpec, FillValue, LabelRule, MissingPolicy, SamplesSpec,
    SplitRule, Transform,
};
pub use text::{
    parse_bytes, read, read_libffm, read_libsvm, write_libffm, write_libsvm, write_text,
    TextFormat, TextReport,
};
