//! Normalisation layers and PReLU: `LayerNorm` (per row), `BatchNorm` (per column over
//! the batch, running statistics at inference), `PRelu` (a learnt slope per column).

use crate::{Param, Tensor};

/// `γ ⊙ (x − mean_row) / √(var_row + ε) + β`, statistics over each row's columns.
#[derive(Debug, Clone, PartialEq)]
pub struct LayerNorm {
    /// Gain, one per column (starts at 1).
    pub gamma: Param,
    /// Shift, one per column (starts at 0).
    pub beta: Param,
    /// Added to the variance.
    pub eps: f32,
    saved: Option<(Tensor, Vec<f32>)>,
}

impl LayerNorm {
    /// A layer over rows of `width` values.
    pub fn new(width: usize) -> Self {
        LayerNorm {
            gamma: Param::new(vec![1.0; width]),
            beta: Param::new(vec![0.0; width]),
            eps: 1e-5,
            saved: None,
        }
    }

    /// Normalised rows, and (x̂, 1/σ per row).
    fn run(&self, x: &Tensor) -> (Tensor, Tensor, Vec<f32>) {
        let w = x.cols();
        let mut xhat = Tensor::zeros(x.rows(), w);
        let mut inv = Vec::with_capacity(x.rows());
        for i in 0..x.rows() {
            let r = x.row(i);
            let mean = r.iter().sum::<f32>() / w as f32;
            let var = r.iter().map(|v| (v - mean) * (v - mean)).sum::<f32>() / w as f32;
            let s = 1.0 / (var + self.eps).sqrt();
            inv.push(s);
            xhat.row_mut(i)
                .iter_mut()
                .zip(r)
                .for_each(|(h, v)| *h = (v - mean) * s);
        }
        let mut y = xhat.clone();
        for i in 0..y.rows() {
            y.row_mut(i)
                .iter_mut()
                .zip(self.gamma.value.iter().zip(&self.beta.value))
                .for_each(|(v, (g, b))| *v = *v * g + b);
        }
        (y, xhat, inv)
    }

    /// Normalised rows, keeping nothing.
    pub fn infer(&self, x: &Tensor) -> Tensor {
        self.run(x).0
    }

    /// Normalised rows, keeping what backward needs when `train`.
    pub fn forward(&mut self, x: &Tensor, train: bool) -> Tensor {
        let (y, xhat, inv) = self.run(x);
        self.saved = train.then_some((xhat, inv));
        y
    }

    /// The input's gradient: `(γ ⊙ dy − mean(γ ⊙ dy) − x̂ · mean(γ ⊙ dy ⊙ x̂)) / σ`.
    pub fn backward(&mut self, dy: &Tensor) -> Tensor {
        let (xhat, inv) = self
            .saved
            .take()
            .expect("LayerNorm::backward needs a forward pass with train = true");
        let w = dy.cols();
        let mut dx = Tensor::zeros(dy.rows(), w);
        for i in 0..dy.rows() {
            let (g, h) = (dy.row(i), xhat.row(i));
            for j in 0..w {
                self.gamma.grad[j] += g[j] * h[j];
                self.beta.grad[j] += g[j];
            }
            let gg: Vec<f32> = g
                .iter()
                .zip(&self.gamma.value)
                .map(|(a, b)| a * b)
                .collect();
            let m1 = gg.iter().sum::<f32>() / w as f32;
            let m2 = gg.iter().zip(h).map(|(a, b)| a * b).sum::<f32>() / w as f32;
            dx.row_mut(i)
                .iter_mut()
                .enumerate()
                .for_each(|(j, d)| *d = inv[i] * (gg[j] - m1 - h[j] * m2));
        }
        dx
    }

    /// Gain and shift.
    pub fn params_mut(&mut self) -> Vec<&mut Param> {
        vec![&mut self.gamma, &mut self.beta]
    }
}

/// Batch normalisation per column: batch statistics while training (and a running
/// average of them, momentum 0.1 as PyTorch's), the running ones at inference.
#[derive(Debug, Clone, PartialEq)]
pub struct BatchNorm {
    /// Gain per column.
    pub gamma: Param,
    /// Shift per column.
    pub beta: Param,
    /// Running mean per column.
    pub running_mean: Vec<f32>,
    /// Running (unbiased) variance per column.
    pub running_var: Vec<f32>,
    /// Weight of a batch in the running statistics.
    pub momentum: f32,
    /// Added to the variance.
    pub eps: f32,
    saved: Option<(Tensor, Vec<f32>)>,
}

impl BatchNorm {
    /// A layer over `width` columns.
    pub fn new(width: usize) -> Self {
        BatchNorm {
            gamma: Param::new(vec![1.0; width]),
            beta: Param::new(vec![0.0; width]),
            running_mean: vec![0.0; width],
            running_var: vec![1.0; width],
            momentum: 0.1,
            eps: 1e-5,
            saved: None,
        }
    }

    fn affine(&self, xhat: &Tensor) -> Tensor {
        let mut y = xhat.clone();
        for i in 0..y.rows() {
            y.row_mut(i)
                .iter_mut()
                .zip(self.gamma.value.iter().zip(&self.beta.value))
                .for_each(|(v, (g, b))| *v = *v * g + b);
        }
        y
    }

    /// Normalised by the running statistics.
    pub fn infer(&self, x: &Tensor) -> Tensor {
        let mut xhat = x.clone();
        for i in 0..xhat.rows() {
            for (j, v) in xhat.row_mut(i).iter_mut().enumerate() {
                *v = (*v - self.running_mean[j]) / (self.running_var[j] + self.eps).sqrt();
            }
        }
        self.affine(&xhat)
    }

    /// Normalised by the batch's statistics when `train` (updating the running ones and
    /// keeping what backward needs), by the running ones otherwise.
    pub fn forward(&mut self, x: &Tensor, train: bool) -> Tensor {
        if !train {
            return self.infer(x);
        }
        let (n, w) = (x.rows(), x.cols());
        let mut mean = vec![0.0f32; w];
        for i in 0..n {
            mean.iter_mut()
                .zip(x.row(i))
                .for_each(|(m, v)| *m += v / n as f32);
        }
        let mut var = vec![0.0f32; w];
        for i in 0..n {
            var.iter_mut()
                .zip(x.row(i).iter().zip(&mean))
                .for_each(|(s, (v, m))| *s += (v - m) * (v - m) / n as f32);
        }
        let inv: Vec<f32> = var.iter().map(|v| 1.0 / (v + self.eps).sqrt()).collect();
        let mut xhat = x.clone();
        for i in 0..n {
            for (j, v) in xhat.row_mut(i).iter_mut().enumerate() {
                *v = (*v - mean[j]) * inv[j];
            }
        }
        let unbiased = n as f32 / (n.max(2) - 1) as f32;
        for j in 0..w {
            self.running_mean[j] += self.momentum * (mean[j] - self.running_mean[j]);
            self.running_var[j] += self.momentum * (var[j] * unbiased - self.running_var[j]);
        }
        let y = self.affine(&xhat);
        self.saved = Some((xhat, inv));
        y
    }

    /// The input's gradient through the batch statistics.
    pub fn backward(&mut self, dy: &Tensor) -> Tensor {
        let (xhat, inv) = self
            .saved
            .take()
            .expect("BatchNorm::backward needs a forward pass with train = true");
        let (n, w) = (dy.rows(), dy.cols());
        let mut sum_g = vec![0.0f32; w];
        let mut sum_gh = vec![0.0f32; w];
        for i in 0..n {
            for j in 0..w {
                let g = dy.get(i, j) * self.gamma.value[j];
                sum_g[j] += g;
                sum_gh[j] += g * xhat.get(i, j);
                self.gamma.grad[j] += dy.get(i, j) * xhat.get(i, j);
                self.beta.grad[j] += dy.get(i, j);
            }
        }
        let mut dx = Tensor::zeros(n, w);
        for i in 0..n {
            for (j, d) in dx.row_mut(i).iter_mut().enumerate() {
                let g = dy.get(i, j) * self.gamma.value[j];
                *d = inv[j] * (g - sum_g[j] / n as f32 - xhat.get(i, j) * sum_gh[j] / n as f32);
            }
        }
        dx
    }

    /// Gain and shift (the running statistics are not trained).
    pub fn params_mut(&mut self) -> Vec<&mut Param> {
        vec![&mut self.gamma, &mut self.beta]
    }
}

/// `max(0, x) + α_j·min(0, x)` with a learnt slope per column (starts at 0.25).
#[derive(Debug, Clone, PartialEq)]
pub struct PRelu {
    /// Slopes of the negative side.
    pub alpha: Param,
    input: Option<Tensor>,
}

impl PRelu {
    /// A layer over `width` columns.
    pub fn new(width: usize) -> Self {
        PRelu {
            alpha: Param::new(vec![0.25; width]),
            input: None,
        }
    }

    /// Applied, keeping nothing.
    pub fn infer(&self, x: &Tensor) -> Tensor {
        let mut y = x.clone();
        for i in 0..y.rows() {
            y.row_mut(i)
                .iter_mut()
                .zip(&self.alpha.value)
                .for_each(|(v, a)| {
                    if *v < 0.0 {
                        *v *= a
                    }
                });
        }
        y
    }

    /// Applied, keeping the input when `train`.
    pub fn forward(&mut self, x: &Tensor, train: bool) -> Tensor {
        self.input = train.then(|| x.clone());
        self.infer(x)
    }

    /// The input's gradient; the slopes' gradient accumulates.
    pub fn backward(&mut self, dy: &Tensor) -> Tensor {
        let x = self
            .input
            .take()
            .expect("PRelu::backward needs a forward pass with train = true");
        let mut dx = dy.clone();
        for i in 0..x.rows() {
            let xr = x.row(i).to_vec();
            for (j, d) in dx.row_mut(i).iter_mut().enumerate() {
                if xr[j] < 0.0 {
                    self.alpha.grad[j] += *d * xr[j];
                    *d *= self.alpha.value[j];
                }
            }
        }
        dx
    }

    /// The slopes.
    pub fn params_mut(&mut self) -> Vec<&mut Param> {
        vec![&mut self.alpha]
    }
}

/// DIN's Dice activation (Zhou et al. 2018): `p = σ(BN(x))` per column, then
/// `p·x + (1 − p)·α·x` with a learnt `α` per column (starting at 0, as DeepCTR-Torch's).
/// A PReLU whose kink follows the data: the batch statistics while training, the running
/// ones at inference.
#[derive(Debug, Clone, PartialEq)]
pub struct Dice {
    /// The normalisation that places the kink.
    pub bn: BatchNorm,
    /// Slopes where `p` is 0.
    pub alpha: Param,
    saved: Option<(Tensor, Tensor)>,
}

impl Dice {
    /// A layer over `width` columns (`eps` 1e-8, as DIN's).
    pub fn new(width: usize) -> Self {
        let mut bn = BatchNorm::new(width);
        bn.eps = 1e-8;
        Dice {
            bn,
            alpha: Param::new(vec![0.0; width]),
            saved: None,
        }
    }

    fn gate(&self, x: &Tensor, p: &Tensor) -> Tensor {
        let mut y = x.clone();
        for i in 0..y.rows() {
            let pr = p.row(i);
            for (j, v) in y.row_mut(i).iter_mut().enumerate() {
                *v *= pr[j] + (1.0 - pr[j]) * self.alpha.value[j];
            }
        }
        y
    }

    fn sigmoid(mut t: Tensor) -> Tensor {
        t.data_mut()
            .iter_mut()
            .for_each(|v| *v = 1.0 / (1.0 + (-*v).exp()));
        t
    }

    /// Applied with the running statistics, keeping nothing.
    pub fn infer(&self, x: &Tensor) -> Tensor {
        self.gate(x, &Self::sigmoid(self.bn.infer(x)))
    }

    /// Applied; with `train`, on the batch's statistics (updating the running ones),
    /// keeping what backward needs.
    pub fn forward(&mut self, x: &Tensor, train: bool) -> Tensor {
        if !train {
            return self.infer(x);
        }
        let p = Self::sigmoid(self.bn.forward(x, true));
        let y = self.gate(x, &p);
        self.saved = Some((x.clone(), p));
        y
    }

    /// The input's gradient; `α`'s and the normalisation's gradients accumulate.
    pub fn backward(&mut self, dy: &Tensor) -> Tensor {
        let (x, p) = self
            .saved
            .take()
            .expect("Dice::backward needs a forward pass with train = true");
        // y = x·(α + (1 − α)p): directly through x, and through p = σ(BN(x)).
        let mut dx = dy.clone();
        let mut dz = Tensor::zeros(x.rows(), x.cols());
        for i in 0..x.rows() {
            let (xr, pr, g) = (x.row(i).to_vec(), p.row(i).to_vec(), dy.row(i).to_vec());
            let d = dx.row_mut(i);
            for j in 0..xr.len() {
                let a = self.alpha.value[j];
                d[j] = g[j] * (pr[j] + (1.0 - pr[j]) * a);
                self.alpha.grad[j] += g[j] * xr[j] * (1.0 - pr[j]);
            }
            let z = dz.row_mut(i);
            for j in 0..xr.len() {
                let a = self.alpha.value[j];
                z[j] = g[j] * xr[j] * (1.0 - a) * pr[j] * (1.0 - pr[j]);
            }
        }
        let through_bn = self.bn.backward(&dz);
        dx.data_mut()
            .iter_mut()
            .zip(through_bn.data())
            .for_each(|(a, b)| *a += b);
        dx
    }

    /// `α`, then the normalisation's gain and shift.
    pub fn params_mut(&mut self) -> Vec<&mut Param> {
        let mut p = vec![&mut self.alpha];
        p.extend(self.bn.params_mut());
        p
    }
}
