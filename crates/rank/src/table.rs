//! The sparse embedding table: one row of `dim` parameters per feature, each with its
//! AdaGrad accumulator, grown on demand as new features arrive (online learning), with
//! initial values that depend only on the seed and the row, never on arrival order.

use funnel_model::{ModelReader, ModelWriter};

use crate::error::Result;
use crate::online::init_row;

/// Rows of parameters and their accumulators.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct FactorTable {
    /// Parameters per row.
    pub dim: usize,
    /// `rows × dim` values.
    pub values: Vec<f32>,
    /// `rows × dim` squared-gradient sums (start at 1, as libffm's).
    pub acc: Vec<f32>,
}

impl FactorTable {
    pub fn new(dim: usize) -> Self {
        FactorTable {
            dim,
            values: Vec::new(),
            acc: Vec::new(),
        }
    }

    pub fn rows(&self) -> usize {
        self.values.len() / self.dim.max(1)
    }

    /// Grows to `rows` rows; new rows get seeded random values of standard deviation `std`.
    pub fn grow(&mut self, rows: usize, seed: u64, std: f32) {
        let (old, d) = (self.rows(), self.dim);
        if rows <= old {
            return;
        }
        self.values.resize(rows * d, 0.0);
        self.acc.resize(rows * d, 1.0);
        for i in old..rows {
            init_row(seed, i as u64, std, &mut self.values[i * d..(i + 1) * d]);
        }
    }

    /// Writes `name` and `name_acc` with `shape` (whose product is the value count).
    pub fn write(&self, w: &mut ModelWriter, name: &str, shape: Vec<usize>) {
        w.f32s(name, shape.clone(), &self.values);
        w.f32s(&format!("{name}_acc"), shape, &self.acc);
    }

    /// Reads what [`FactorTable::write`] wrote.
    pub fn read(r: &ModelReader, name: &str, dim: usize) -> Result<Self> {
        Ok(FactorTable {
            dim,
            values: r.f32s(name)?,
            acc: r.f32s(&format!("{name}_acc"))?,
        })
    }
}
