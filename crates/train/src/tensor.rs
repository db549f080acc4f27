//! A dense row-major `f32` matrix: a batch of rows, each a vector of features.
//!
//! The values sit behind an `Arc`: a layer that keeps its input for the backward pass
//! keeps a clone, which costs a reference count, not a copy; writing to a shared tensor
//! copies it first (`Arc::make_mut`), so sharing is never visible.

use std::sync::Arc;

use crate::error::ShapeError;

/// A dense row-major matrix of `rows × cols` `f32` values.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Tensor {
    rows: usize,
    cols: usize,
    data: Arc<Vec<f32>>,
}

impl Tensor {
    /// A matrix of zeros.
    pub fn zeros(rows: usize, cols: usize) -> Self {
        Tensor {
            rows,
            cols,
            data: Arc::new(vec![0.0; rows * cols]),
        }
    }

    /// A matrix over `data` (row-major); the length must be `rows × cols`.
    pub fn from_vec(rows: usize, cols: usize, data: Vec<f32>) -> Result<Self, ShapeError> {
        if data.len() != rows * cols {
            return Err(ShapeError {
                op: "tensor",
                left_name: "the shape",
                left: (rows, cols),
                right_name: "the data",
                right: (data.len(), 1),
                expected: "rows × cols values",
            });
        }
        Ok(Tensor {
            rows,
            cols,
            data: Arc::new(data),
        })
    }

    /// A matrix whose element `(i, j)` is `f(i, j)`.
    pub fn from_fn(rows: usize, cols: usize, mut f: impl FnMut(usize, usize) -> f32) -> Self {
        let mut data = Vec::with_capacity(rows * cols);
        for i in 0..rows {
            for j in 0..cols {
                data.push(f(i, j));
            }
        }
        Tensor {
            rows,
            cols,
            data: Arc::new(data),
        }
    }

    /// Rows (the batch).
    pub fn rows(&self) -> usize {
        self.rows
    }

    /// Columns (the width).
    pub fn cols(&self) -> usize {
        self.cols
    }

    /// `(rows, cols)`.
    pub fn shape(&self) -> (usize, usize) {
        (self.rows, self.cols)
    }

    /// The values, row-major.
    pub fn data(&self) -> &[f32] {
        &self.data
    }

    /// The values, row-major, to write (copied first if another tensor shares them).
    pub fn data_mut(&mut self) -> &mut [f32] {
        let v: &mut Vec<f32> = Arc::make_mut(&mut self.data);
        v
    }

    /// The buffer.
    pub fn into_vec(self) -> Vec<f32> {
        Arc::try_unwrap(self.data).unwrap_or_else(|shared| (*shared).clone())
    }

    /// Element `(i, j)`.
    pub fn get(&self, i: usize, j: usize) -> f32 {
        self.data[i * self.cols + j]
    }

    /// Row `i`.
    pub fn row(&self, i: usize) -> &[f32] {
        &self.data[i * self.cols..(i + 1) * self.cols]
    }

    /// Row `i`, to write.
    pub fn row_mut(&mut self, i: usize) -> &mut [f32] {
        let c = self.cols;
        &mut self.data_mut()[i * c..(i + 1) * c]
    }

    /// The same values seen as `rows × cols` (same count).
    pub fn reshape(self, rows: usize, cols: usize) -> Result<Self, ShapeError> {
        if rows * cols != self.data.len() {
            return Err(ShapeError {
                op: "reshape",
                left_name: "the tensor",
                left: self.shape(),
                right_name: "the new shape",
                right: (rows, cols),
                expected: "the same number of values",
            });
        }
        Ok(Tensor {
            rows,
            cols,
            data: self.data,
        })
    }

    /// Columns side by side: `[a | b | …]`, every part with the same rows.
    pub fn concat_cols(parts: &[&Tensor]) -> Result<Self, ShapeError> {
        let rows = parts.first().map_or(0, |t| t.rows);
        for p in parts {
            if p.rows != rows {
                return Err(ShapeError {
                    op: "concat",
                    left_name: "the first part",
                    left: parts[0].shape(),
                    right_name: "another part",
                    right: p.shape(),
                    expected: "the same number of rows",
                });
            }
        }
        let cols = parts.iter().map(|p| p.cols).sum();
        let mut data = Vec::with_capacity(rows * cols);
        for i in 0..rows {
            for p in parts {
                data.extend_from_slice(p.row(i));
            }
        }
        Ok(Tensor {
            rows,
            cols,
            data: Arc::new(data),
        })
    }

    /// The columns `[start, start + width)` as a new matrix.
    pub fn slice_cols(&self, start: usize, width: usize) -> Tensor {
        assert!(start + width <= self.cols, "slice beyond the columns");
        let mut data = Vec::with_capacity(self.rows * width);
        for i in 0..self.rows {
            data.extend_from_slice(&self.row(i)[start..start + width]);
        }
        Tensor {
            rows: self.rows,
            cols: width,
            data: Arc::new(data),
        }
    }

    /// Whether every value is finite.
    pub fn is_finite(&self) -> bool {
        self.data.iter().all(|x| x.is_finite())
    }
}
