//! Model files: safetensors for the arrays plus a JSON header in the safetensors
//! metadata under the key `funnel`:
//!
//! ```json
//! {"format": "funnel-model", "version": 1, "model": "itemknn", "params": {...}, "funnel": "0.1.0"}
//! ```
//!
//! A file from another model type, or from a newer format version, is refused with a
//! message saying which.

use std::collections::HashMap;
use std::path::Path;

use funnel_data::{CsrMatrix, IdMap};
use safetensors::{Dtype, SafeTensors};
use serde_json::{json, Value};

use crate::error::{ModelError, Result};

/// The newest model file version this build reads and the one it writes.
pub const FORMAT_VERSION: u64 = 1;
const HEADER_KEY: &str = "funnel";

/// Collects arrays and writes a model file.
#[derive(Debug)]
pub struct ModelWriter {
    header: Value,
    tensors: Vec<(String, Dtype, Vec<usize>, Vec<u8>)>,
}

impl ModelWriter {
    /// A writer for model type `model` with its parameters.
    pub fn new(model: &str, params: Value) -> Self {
        ModelWriter {
            header: json!({
                "format": "funnel-model",
                "version": FORMAT_VERSION,
                "model": model,
                "params": params,
                "funnel": env!("CARGO_PKG_VERSION"),
            }),
            tensors: Vec::new(),
        }
    }

    /// Adds a JSON value to the header under `key` (e.g. the fitted feature pipeline or a
    /// calibration map: small, human-readable state that travels with the arrays).
    pub fn header(&mut self, key: &str, value: Value) -> &mut Self {
        self.header[key] = value;
        self
    }

    /// Adds a `u32` array.
    pub fn u32s(&mut self, name: &str, v: &[u32]) -> &mut Self {
        self.tensors.push((
            name.into(),
            Dtype::U32,
            vec![v.len()],
            v.iter().flat_map(|x| x.to_le_bytes()).collect(),
        ));
        self
    }
    /// Adds a `u64` array.
    pub fn u64s(&mut self, name: &str, v: &[u64]) -> &mut Self {
        self.tensors.push((
            name.into(),
            Dtype::U64,
            vec![v.len()],
            v.iter().flat_map(|x| x.to_le_bytes()).collect(),
        ));
        self
    }
    /// Adds an `f32` array with a shape.
    pub fn f32s(&mut self, name: &str, shape: Vec<usize>, v: &[f32]) -> &mut Self {
        self.tensors.push((
            name.into(),
            Dtype::F32,
            shape,
            v.iter().flat_map(|x| x.to_le_bytes()).collect(),
        ));
        self
    }
    /// Adds an id map as `name.offsets` (u64) and `name.bytes` (u8).
    pub fn ids(&mut self, name: &str, ids: &IdMap) -> &mut Self {
        let mut offsets = vec![0u64];
        let mut bytes = Vec::new();
        for s in ids.externals() {
            bytes.extend_from_slice(s.as_bytes());
            offsets.push(bytes.len() as u64);
        }
        self.u64s(&format!("{name}.offsets"), &offsets);
        let n = bytes.len();
        self.tensors
            .push((format!("{name}.bytes"), Dtype::U8, vec![n], bytes));
        self
    }
    /// Adds a sparse matrix as `name.shape`, `name.indptr`, `name.indices` and, when present, `name.values`.
    pub fn csr(&mut self, name: &str, m: &CsrMatrix) -> &mut Self {
        self.u64s(
            &format!("{name}.shape"),
            &[m.n_rows() as u64, m.n_cols() as u64],
        );
        self.u64s(&format!("{name}.indptr"), m.indptr());
        self.u32s(&format!("{name}.indices"), m.indices());
        if let Some(v) = m.values() {
            self.f32s(&format!("{name}.values"), vec![v.len()], v);
        }
        self
    }

    /// Writes the file.
    pub fn write(&self, path: &Path) -> Result<()> {
        let views: Vec<(String, safetensors::tensor::TensorView<'_>)> = self
            .tensors
            .iter()
            .map(|(n, d, s, b)| {
                (
                    n.clone(),
                    safetensors::tensor::TensorView::new(*d, s.clone(), b)
                        .expect("shape matches bytes"),
                )
            })
            .collect();
        let meta: HashMap<String, String> =
            HashMap::from([(HEADER_KEY.to_string(), self.header.to_string())]);
        let bytes =
            safetensors::serialize(views, Some(meta)).map_err(|e| ModelError::ModelFile {
                path: path.display().to_string(),
                message: format!("cannot serialise: {e}"),
            })?;
        std::fs::write(path, bytes).map_err(|e| ModelError::Io {
            path: path.display().to_string(),
            source: e,
        })
    }
}

/// A model file read into memory, its header checked.
#[derive(Debug)]
pub struct ModelReader {
    path: String,
    bytes: Vec<u8>,
    header: Value,
}

impl ModelReader {
    /// Reads a file and checks that it is a Funnel model of a version this build reads.
    pub fn open(path: &Path) -> Result<Self> {
        let p = path.display().to_string();
        let bytes = std::fs::read(path).map_err(|e| ModelError::Io {
            path: p.clone(),
            source: e,
        })?;
        let bad = |m: String| ModelError::ModelFile {
            path: p.clone(),
            message: m,
        };
        let (_, meta) = SafeTensors::read_metadata(&bytes).map_err(|e| {
            bad(format!(
                "not a Funnel model file (expected safetensors with a `funnel` header): {e}"
            ))
        })?;
        let text = meta
            .metadata()
            .as_ref()
            .and_then(|m| m.get(HEADER_KEY))
            .ok_or_else(|| {
                bad("a safetensors file without a `funnel` header; not a Funnel model".into())
            })?;
        let header: Value = serde_json::from_str(text)
            .map_err(|e| bad(format!("the `funnel` header is not JSON: {e}")))?;
        if header["format"] != "funnel-model" {
            return Err(bad(format!(
                "header format is {}, expected \"funnel-model\"",
                header["format"]
            )));
        }
        let version = header["version"]
            .as_u64()
            .ok_or_else(|| bad("the header has no version".into()))?;
        if version > FORMAT_VERSION {
            return Err(bad(format!(
                "model file format version {version} is newer than this Funnel reads (up to {FORMAT_VERSION}); upgrade Funnel"
            )));
        }
        Ok(ModelReader {
            path: p,
            bytes,
            header,
        })
    }

    /// The model type named in the header.
    pub fn model(&self) -> &str {
        self.header["model"].as_str().unwrap_or("")
    }

    /// Refuses a file of another model type.
    pub fn expect_model(&self, model: &str) -> Result<()> {
        if self.model() != model {
            return Err(ModelError::ModelFile {
                path: self.path.clone(),
                message: format!("this is a `{}` model file, not `{model}`", self.model()),
            });
        }
        Ok(())
    }

    /// The parameters stored in the header.
    pub fn params(&self) -> &Value {
        &self.header["params"]
    }

    /// A header entry added with [`ModelWriter::header`] (`Value::Null` when absent).
    pub fn header(&self, key: &str) -> &Value {
        &self.header[key]
    }

    /// The file, as given.
    pub fn path(&self) -> &str {
        &self.path
    }

    fn raw(&self, name: &str, dtype: Dtype) -> Result<Vec<u8>> {
        let st = SafeTensors::deserialize(&self.bytes).map_err(|e| ModelError::ModelFile {
            path: self.path.clone(),
            message: e.to_string(),
        })?;
        let t = st.tensor(name).map_err(|_| ModelError::ModelFile {
            path: self.path.clone(),
            message: format!("missing tensor `{name}`"),
        })?;
        if t.dtype() != dtype {
            return Err(ModelError::ModelFile {
                path: self.path.clone(),
                message: format!("tensor `{name}` is {:?}, expected {dtype:?}", t.dtype()),
            });
        }
        Ok(t.data().to_vec())
    }

    /// Whether a tensor exists.
    pub fn has(&self, name: &str) -> bool {
        SafeTensors::deserialize(&self.bytes).is_ok_and(|st| st.tensor(name).is_ok())
    }
    /// A `u32` array.
    pub fn u32s(&self, name: &str) -> Result<Vec<u32>> {
        Ok(self
            .raw(name, Dtype::U32)?
            .chunks_exact(4)
            .map(|c| u32::from_le_bytes(c.try_into().unwrap()))
            .collect())
    }
    /// A `u64` array.
    pub fn u64s(&self, name: &str) -> Result<Vec<u64>> {
        Ok(self
            .raw(name, Dtype::U64)?
            .chunks_exact(8)
            .map(|c| u64::from_le_bytes(c.try_into().unwrap()))
            .collect())
    }
    /// An `f32` array.
    pub fn f32s(&self, name: &str) -> Result<Vec<f32>> {
        Ok(self
            .raw(name, Dtype::F32)?
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes(c.try_into().unwrap()))
            .collect())
    }
    /// An id map.
    pub fn ids(&self, name: &str) -> Result<IdMap> {
        let offsets = self.u64s(&format!("{name}.offsets"))?;
        let bytes = self.raw(&format!("{name}.bytes"), Dtype::U8)?;
        let text = String::from_utf8(bytes).map_err(|_| ModelError::ModelFile {
            path: self.path.clone(),
            message: format!("ids `{name}` are not UTF-8"),
        })?;
        Ok(IdMap::from_externals(
            offsets
                .windows(2)
                .map(|w| &text[w[0] as usize..w[1] as usize]),
        ))
    }
    /// A sparse matrix written by [`ModelWriter::csr`].
    pub fn csr(&self, name: &str) -> Result<CsrMatrix> {
        let shape = self.u64s(&format!("{name}.shape"))?;
        let values_name = format!("{name}.values");
        let values = if self.has(&values_name) {
            Some(self.f32s(&values_name)?)
        } else {
            None
        };
        CsrMatrix::from_parts(
            shape[0] as usize,
            shape[1] as usize,
            self.u64s(&format!("{name}.indptr"))?,
            self.u32s(&format!("{name}.indices"))?,
            values,
            None,
        )
        .map_err(|m| ModelError::ModelFile {
            path: self.path.clone(),
            message: format!("matrix `{name}`: {m}"),
        })
    }
}
