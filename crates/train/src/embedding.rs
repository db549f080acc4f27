//! Row-sparse embedding tables: pooled lookups of bags of rows, gradients kept only for
//! the rows a batch touched, and optimisers that update only those rows.

use crate::Tensor;
use rayon::prelude::*;

/// Bags of weighted row ids: bag `b` pools `ids[offsets[b]..offsets[b + 1]]`, each row
/// times its weight (sum pooling; weights `1/n` give the mean, a mask is a zero weight).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Bags {
    /// Start of each bag in `ids`, then the end of the last one.
    pub offsets: Vec<usize>,
    /// Row ids.
    pub ids: Vec<u32>,
    /// One weight per id.
    pub weights: Vec<f32>,
}

impl Bags {
    /// No bags yet.
    pub fn new() -> Self {
        Bags {
            offsets: vec![0],
            ids: Vec::new(),
            weights: Vec::new(),
        }
    }

    /// Adds a row to the bag being built.
    pub fn push(&mut self, id: u32, weight: f32) {
        self.ids.push(id);
        self.weights.push(weight);
    }

    /// Closes the bag being built (an empty bag pools to zeros).
    pub fn close(&mut self) {
        self.offsets.push(self.ids.len());
    }

    /// Number of closed bags.
    pub fn len(&self) -> usize {
        self.offsets.len() - 1
    }

    /// Whether no bag is closed.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Empties the bags, keeping their buffers.
    pub fn clear(&mut self) {
        self.offsets.truncate(1);
        self.ids.clear();
        self.weights.clear();
    }

    fn bag(&self, b: usize) -> (&[u32], &[f32]) {
        let r = self.offsets[b]..self.offsets[b + 1];
        (&self.ids[r.clone()], &self.weights[r])
    }
}

/// How a table's touched rows are updated.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum SparseRule {
    /// Plain SGD.
    Sgd,
    /// AdaGrad per value (PyTorch's `Adagrad` on sparse gradients).
    AdaGrad {
        /// Added to the root of the accumulator.
        eps: f32,
    },
    /// AdaGrad with one accumulator per row (the mean of the squared gradient), as large
    /// production tables use it: a quarter of the memory of per-value state at `dim = 4`.
    RowwiseAdaGrad {
        /// Added to the root of the accumulator.
        eps: f32,
    },
    /// Adam whose moments move only for touched rows (PyTorch's `SparseAdam`, TF's
    /// LazyAdam); bias correction uses the global step.
    LazyAdam {
        /// First-moment decay.
        beta1: f32,
        /// Second-moment decay.
        beta2: f32,
        /// Added to the root of the second moment.
        eps: f32,
    },
    /// Adam over every row at every step, as a dense `nn.Embedding` under `torch.optim.Adam`
    /// updates it: untouched rows get the L2 gradient and their decaying momentum, so rows
    /// not seen lately shrink (a strong regulariser of rare features; each step costs the
    /// whole table, so it suits small tables only).
    DenseAdam {
        /// First-moment decay.
        beta1: f32,
        /// Second-moment decay.
        beta2: f32,
        /// Added to the root of the second moment.
        eps: f32,
    },
}

impl SparseRule {
    /// Optimiser slots per row for a table of width `dim`.
    fn slots(self, dim: usize) -> usize {
        match self {
            SparseRule::Sgd => 0,
            SparseRule::AdaGrad { .. } => dim,
            SparseRule::RowwiseAdaGrad { .. } => 1,
            SparseRule::LazyAdam { .. } | SparseRule::DenseAdam { .. } => 2 * dim,
        }
    }
}

const UNTOUCHED: u32 = u32::MAX;

/// A `rows × dim` table of trainable rows with a row-sparse gradient.
#[derive(Debug, Clone, PartialEq)]
pub struct EmbeddingTable {
    /// Values per row.
    pub dim: usize,
    /// The rows, row-major.
    pub values: Vec<f32>,
    /// L2 penalty added to the gradient of every touched row.
    pub l2: f32,
    /// Frozen tables are not updated.
    pub frozen: bool,
    init_std: f32,
    seed: u64,
    state: Vec<f32>,
    /// Position of each row in `touched`, or `UNTOUCHED`.
    slot: Vec<u32>,
    touched: Vec<u32>,
    grads: Vec<f32>,
}

impl EmbeddingTable {
    /// A table whose row `r` starts uniform with standard deviation `init_std`, drawn from
    /// `(seed, r)` alone — so rows added later (online learning) get the values they would
    /// have had in a table made that big at once.
    pub fn new(rows: usize, dim: usize, init_std: f32, seed: u64) -> Self {
        let mut t = EmbeddingTable {
            dim,
            values: Vec::new(),
            l2: 0.0,
            frozen: false,
            init_std,
            seed,
            state: Vec::new(),
            slot: Vec::new(),
            touched: Vec::new(),
            grads: Vec::new(),
        };
        t.grow(rows);
        t
    }

    /// A table over given values (as read from a model file).
    pub fn from_values(dim: usize, values: Vec<f32>, init_std: f32, seed: u64) -> Self {
        let rows = values.len() / dim.max(1);
        EmbeddingTable {
            dim,
            values,
            l2: 0.0,
            frozen: false,
            init_std,
            seed,
            state: Vec::new(),
            slot: vec![UNTOUCHED; rows],
            touched: Vec::new(),
            grads: Vec::new(),
        }
    }

    /// Rows held.
    pub fn rows(&self) -> usize {
        self.values.len() / self.dim.max(1)
    }

    /// Adds rows up to `rows` (never shrinks).
    pub fn grow(&mut self, rows: usize) {
        let have = self.rows();
        if rows <= have {
            return;
        }
        self.values.resize(rows * self.dim, 0.0);
        for r in have..rows {
            crate::init::uniform_row(
                self.seed,
                r as u64,
                self.init_std,
                &mut self.values[r * self.dim..(r + 1) * self.dim],
            );
        }
        self.slot.resize(rows, UNTOUCHED);
    }

    /// Row `r`.
    pub fn row(&self, r: usize) -> &[f32] {
        &self.values[r * self.dim..(r + 1) * self.dim]
    }

    /// One pooled vector per bag (`bags.len() × dim`); ids beyond the table (features
    /// never trained) pool as zeros.
    pub fn lookup(&self, bags: &Bags) -> Tensor {
        let dim = self.dim;
        let rows = self.rows();
        let mut out = Tensor::zeros(bags.len(), dim);
        let pool = |b: usize, o: &mut [f32]| {
            let (ids, ws) = bags.bag(b);
            for (&id, &w) in ids.iter().zip(ws) {
                if (id as usize) < rows {
                    let e = &self.values[id as usize * dim..(id as usize + 1) * dim];
                    o.iter_mut().zip(e).for_each(|(o, e)| *o += w * e);
                }
            }
        };
        if bags.ids.len() * dim < 1 << 16 {
            for (b, o) in out.data_mut().chunks_exact_mut(dim.max(1)).enumerate() {
                pool(b, o);
            }
        } else {
            out.data_mut()
                .par_chunks_mut(dim.max(1))
                .with_min_len(256)
                .enumerate()
                .for_each(|(b, o)| pool(b, o));
        }
        out
    }

    /// Accumulates the gradient of each touched row from the pooled vectors' gradients
    /// (`bags.len() × dim`), in bag order.
    pub fn backward(&mut self, bags: &Bags, d_pooled: &Tensor) {
        assert_eq!(
            d_pooled.shape(),
            (bags.len(), self.dim),
            "embedding: gradient shape"
        );
        let rows = self.rows();
        let dim = self.dim;
        for b in 0..bags.len() {
            let (ids, ws) = bags.bag(b);
            let d = d_pooled.row(b);
            for (&id, &w) in ids.iter().zip(ws) {
                if id as usize >= rows {
                    continue;
                }
                let mut s = self.slot[id as usize];
                if s == UNTOUCHED {
                    s = self.touched.len() as u32;
                    self.slot[id as usize] = s;
                    self.touched.push(id);
                    self.grads.resize(self.grads.len() + dim, 0.0);
                }
                let g = &mut self.grads[s as usize * dim..(s as usize + 1) * dim];
                g.iter_mut().zip(d).for_each(|(g, d)| *g += w * d);
            }
        }
    }

    /// The gradient accumulated for row `r` since the last step, if it was touched.
    pub fn grad_of(&self, r: usize) -> Option<&[f32]> {
        let s = *self.slot.get(r)?;
        (s != UNTOUCHED).then(|| &self.grads[s as usize * self.dim..(s as usize + 1) * self.dim])
    }

    /// Rows touched since the last step, in first-touch order.
    pub fn touched(&self) -> &[u32] {
        &self.touched
    }

    /// Sum of squared gradient values (for clipping by global norm).
    pub fn grad_sq_norm(&self) -> f64 {
        self.grads.iter().map(|&g| g as f64 * g as f64).sum()
    }

    /// Scales the accumulated gradient.
    pub fn scale_grad(&mut self, s: f32) {
        self.grads.iter_mut().for_each(|g| *g *= s);
    }

    /// Updates the touched rows by `rule` with step size `lr` (`t` is the 1-based global
    /// step, for Adam's bias correction) and clears the gradient.
    pub fn step(&mut self, rule: SparseRule, lr: f32, t: u64) {
        if let SparseRule::DenseAdam { beta1, beta2, eps } = rule {
            return self.dense_adam(beta1, beta2, eps, lr, t);
        }
        let dim = self.dim;
        let slots = rule.slots(dim);
        if self.state.len() < self.rows() * slots {
            self.state.resize(self.rows() * slots, 0.0);
        }
        for (k, &r) in self.touched.iter().enumerate() {
            let r = r as usize;
            self.slot[r] = UNTOUCHED;
            if self.frozen {
                continue;
            }
            let g = &mut self.grads[k * dim..(k + 1) * dim];
            let w = &mut self.values[r * dim..(r + 1) * dim];
            if self.l2 > 0.0 {
                g.iter_mut()
                    .zip(w.iter())
                    .for_each(|(g, w)| *g += self.l2 * w);
            }
            let st = &mut self.state[r * slots..(r + 1) * slots];
            match rule {
                SparseRule::Sgd => w.iter_mut().zip(g.iter()).for_each(|(w, g)| *w -= lr * g),
                SparseRule::AdaGrad { eps } => {
                    for j in 0..dim {
                        st[j] += g[j] * g[j];
                        w[j] -= lr * g[j] / (st[j].sqrt() + eps);
                    }
                }
                SparseRule::RowwiseAdaGrad { eps } => {
                    st[0] += g.iter().map(|g| g * g).sum::<f32>() / dim as f32;
                    let s = lr / (st[0].sqrt() + eps);
                    w.iter_mut().zip(g.iter()).for_each(|(w, g)| *w -= s * g);
                }
                SparseRule::LazyAdam { beta1, beta2, eps }
                | SparseRule::DenseAdam { beta1, beta2, eps } => {
                    let c1 = 1.0 - beta1.powi(t as i32);
                    let c2 = (1.0 - beta2.powi(t as i32)).sqrt();
                    let (m, v) = st.split_at_mut(dim);
                    for j in 0..dim {
                        m[j] = beta1 * m[j] + (1.0 - beta1) * g[j];
                        v[j] = beta2 * v[j] + (1.0 - beta2) * g[j] * g[j];
                        w[j] -= lr * (m[j] / c1) / (v[j].sqrt() / c2 + eps);
                    }
                }
            }
        }
        self.touched.clear();
        self.grads.clear();
    }

    fn dense_adam(&mut self, beta1: f32, beta2: f32, eps: f32, lr: f32, t: u64) {
        let dim = self.dim;
        if self.state.len() < self.values.len() * 2 {
            self.state.resize(self.values.len() * 2, 0.0);
        }
        let c1 = 1.0 - beta1.powi(t as i32);
        let c2 = (1.0 - beta2.powi(t as i32)).sqrt();
        let mut g = vec![0.0f32; dim];
        for r in 0..self.rows() {
            let s = self.slot[r];
            match s {
                UNTOUCHED => g.iter_mut().for_each(|x| *x = 0.0),
                s => g.copy_from_slice(&self.grads[s as usize * dim..(s as usize + 1) * dim]),
            }
            self.slot[r] = UNTOUCHED;
            if self.frozen {
                continue;
            }
            let w = &mut self.values[r * dim..(r + 1) * dim];
            let st = &mut self.state[r * 2 * dim..(r + 1) * 2 * dim];
            let (m, v) = st.split_at_mut(dim);
            for j in 0..dim {
                let gj = g[j] + self.l2 * w[j];
                m[j] = beta1 * m[j] + (1.0 - beta1) * gj;
                v[j] = beta2 * v[j] + (1.0 - beta2) * gj * gj;
                w[j] -= lr * (m[j] / c1) / (v[j].sqrt() / c2 + eps);
            }
        }
        self.touched.clear();
        self.grads.clear();
    }

    /// Forgets the gradient without updating (a step that was refused).
    pub fn zero_grad(&mut self) {
        for &r in &self.touched {
            self.slot[r as usize] = UNTOUCHED;
        }
        self.touched.clear();
        self.grads.clear();
    }

    /// Forgets the optimiser's slots.
    pub fn reset_state(&mut self) {
        self.state.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_touched_rows_get_gradients_and_move() {
        let mut t = EmbeddingTable::new(1000, 4, 0.1, 7);
        let before = t.values.clone();
        let mut bags = Bags::new();
        bags.push(3, 1.0);
        bags.push(5, 0.5);
        bags.close();
        bags.close(); // empty bag
        bags.push(3, 2.0);
        bags.close();
        let pooled = t.lookup(&bags);
        for j in 0..4 {
            assert!((pooled.get(0, j) - (t.row(3)[j] + 0.5 * t.row(5)[j])).abs() < 1e-7);
            assert_eq!(pooled.get(1, j), 0.0);
        }
        let d = Tensor::from_fn(3, 4, |i, j| (i + j) as f32);
        t.backward(&bags, &d);
        assert_eq!(t.touched(), &[3, 5]);
        // row 3: 1·d0 + 2·d2; row 5: 0.5·d0
        assert_eq!(t.grad_of(3).unwrap(), &[4.0, 7.0, 10.0, 13.0]);
        assert_eq!(t.grad_of(5).unwrap(), &[0.0, 0.5, 1.0, 1.5]);
        assert!(t.grad_of(4).is_none());
        t.step(
            SparseRule::LazyAdam {
                beta1: 0.9,
                beta2: 0.999,
                eps: 1e-8,
            },
            0.01,
            1,
        );
        for r in 0..1000 {
            let moved = t.row(r) != &before[r * 4..(r + 1) * 4];
            assert_eq!(moved, r == 3 || r == 5, "row {r}");
        }
        assert!(t.touched().is_empty() && t.grad_of(3).is_none());
    }

    #[test]
    fn rows_grown_later_equal_rows_made_at_once() {
        let mut a = EmbeddingTable::new(10, 3, 0.1, 1);
        a.grow(50);
        let b = EmbeddingTable::new(50, 3, 0.1, 1);
        assert_eq!(a.values, b.values);
        let sd = (b.values.iter().map(|x| x * x).sum::<f32>() / 150.0).sqrt();
        assert!((sd - 0.1).abs() < 0.03, "{sd}");
    }
}
