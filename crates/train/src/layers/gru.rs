//! A GRU over sequences laid side by side in a row (`steps × input` values), with PyTorch's
//! equations and initialisation:
//!
//! ```text
//! r = σ(W_ir x + b_ir + W_hr h + b_hr)      z = σ(W_iz x + b_iz + W_hz h + b_hz)
//! n = tanh(W_in x + b_in + r ⊙ (W_hn h + b_hn))      h' = (1 − z) ⊙ n + z ⊙ h
//! ```
//!
//! A row shorter than the steps (its `length`) keeps its last state over the padding, as
//! a packed sequence would. Backward runs through time over the kept gates.

use crate::layers::Linear;
use crate::{init, Param, Tensor};
use rand::Rng;

/// A GRU cell unrolled over the steps of each row.
#[derive(Debug, Clone, PartialEq)]
pub struct Gru {
    /// Values per step of the input.
    pub input: usize,
    /// Values of the hidden state.
    pub hidden: usize,
    /// `[W_ir; W_iz; W_in]` and their biases (`3·hidden × input`).
    ih: Linear,
    /// `[W_hr; W_hz; W_hn]` and their biases (`3·hidden × hidden`).
    hh: Linear,
    saved: Option<Saved>,
}

#[derive(Debug, Clone, PartialEq)]
struct Saved {
    /// The input, one row per (sample, step).
    x: Tensor,
    lengths: Vec<usize>,
    /// Per step: the state before it, the gates r, z, n and `W_hn h + b_hn`.
    h: Vec<Tensor>,
    r: Vec<Tensor>,
    z: Vec<Tensor>,
    n: Vec<Tensor>,
    hn: Vec<Tensor>,
}

/// What one step computes from the input's projection `gx` (`rows × 3H`) and the state.
struct Step {
    r: Tensor,
    z: Tensor,
    n: Tensor,
    hn: Tensor,
    h: Tensor,
}

fn sigmoid(v: f32) -> f32 {
    1.0 / (1.0 + (-v).exp())
}

impl Gru {
    /// A GRU from `input` to `hidden` values per step; weights uniform in ±1/√hidden
    /// from `seed`, as PyTorch's.
    pub fn new(input: usize, hidden: usize, seed: u64) -> Self {
        let mut rng = init::rng(seed);
        let a = 1.0 / (hidden.max(1) as f32).sqrt();
        let mut draw =
            |n: usize| -> Vec<f32> { (0..n).map(|_| rng.random_range(-a..=a)).collect() };
        let ih = Linear::from_parts(
            input,
            3 * hidden,
            draw(3 * hidden * input),
            draw(3 * hidden),
        )
        .expect("sizes made here");
        let hh = Linear::from_parts(
            hidden,
            3 * hidden,
            draw(3 * hidden * hidden),
            draw(3 * hidden),
        )
        .expect("sizes made here");
        Gru {
            input,
            hidden,
            ih,
            hh,
            saved: None,
        }
    }

    /// Steps in a row of `x`.
    fn steps(&self, x: &Tensor) -> usize {
        assert!(
            self.input > 0 && x.cols() % self.input == 0,
            "gru: a row of {} values is not whole steps of {}",
            x.cols(),
            self.input
        );
        x.cols() / self.input
    }

    /// One step for every row, from the input projections of step `t` and the states `h`.
    fn step(&self, gx: &Tensor, steps: usize, t: usize, h: &Tensor, lengths: &[usize]) -> Step {
        let (rows, hd) = (h.rows(), self.hidden);
        let gh = self.hh.infer(h).expect("hidden width");
        let (mut r, mut z, mut n, mut hn) = (
            Tensor::zeros(rows, hd),
            Tensor::zeros(rows, hd),
            Tensor::zeros(rows, hd),
            Tensor::zeros(rows, hd),
        );
        let mut next = h.clone();
        for i in 0..rows {
            if t >= lengths[i] {
                continue; // padding: the state carries over
            }
            let (x3, h3, hp) = (gx.row(i * steps + t), gh.row(i), h.row(i).to_vec());
            let (ri, zi, ni, hni) = (r.row_mut(i), z.row_mut(i), n.row_mut(i), hn.row_mut(i));
            for j in 0..hd {
                ri[j] = sigmoid(x3[j] + h3[j]);
                zi[j] = sigmoid(x3[hd + j] + h3[hd + j]);
                hni[j] = h3[2 * hd + j];
                ni[j] = (x3[2 * hd + j] + ri[j] * hni[j]).tanh();
            }
            for (j, o) in next.row_mut(i).iter_mut().enumerate() {
                *o = (1.0 - zi[j]) * ni[j] + zi[j] * hp[j];
            }
        }
        Step {
            r,
            z,
            n,
            hn,
            h: next,
        }
    }

    fn run(
        &self,
        x: &Tensor,
        lengths: Option<&[usize]>,
    ) -> (Tensor, Tensor, Vec<usize>, Vec<Step>) {
        let steps = self.steps(x);
        let rows = x.rows();
        let lengths: Vec<usize> = match lengths {
            Some(l) => {
                assert_eq!(l.len(), rows, "gru: one length per row");
                l.iter().map(|&n| n.min(steps)).collect()
            }
            None => vec![steps; rows],
        };
        let flat = x
            .clone()
            .reshape(rows * steps, self.input)
            .expect("whole steps");
        let gx = self.ih.infer(&flat).expect("input width");
        let mut h = Tensor::zeros(rows, self.hidden);
        let mut out = Tensor::zeros(rows, steps * self.hidden);
        let mut kept = Vec::with_capacity(steps);
        for t in 0..steps {
            let s = self.step(&gx, steps, t, &h, &lengths);
            for i in 0..rows {
                out.row_mut(i)[t * self.hidden..(t + 1) * self.hidden].copy_from_slice(s.h.row(i));
            }
            h = s.h.clone();
            kept.push(s);
        }
        (flat, out, lengths, kept)
    }

    /// Every step's state (`rows × steps·hidden`), keeping nothing; `lengths` (one per
    /// row, none: every step) end the rows early.
    pub fn infer(&self, x: &Tensor, lengths: Option<&[usize]>) -> Tensor {
        self.run(x, lengths).1
    }

    /// Every step's state, keeping what backward needs when `train`.
    pub fn forward(&mut self, x: &Tensor, lengths: Option<&[usize]>, train: bool) -> Tensor {
        let (flat, out, lengths, kept) = self.run(x, lengths);
        if train {
            let mut h = vec![Tensor::zeros(x.rows(), self.hidden)];
            let (mut r, mut z, mut n, mut hn) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
            for s in kept {
                r.push(s.r);
                z.push(s.z);
                n.push(s.n);
                hn.push(s.hn);
                h.push(s.h);
            }
            self.saved = Some(Saved {
                x: flat,
                lengths,
                h,
                r,
                z,
                n,
                hn,
            });
        }
        out
    }

    /// The input's gradient (`rows × steps·input`) from the gradient of every step's state;
    /// the weights' gradients accumulate.
    pub fn backward(&mut self, dout: &Tensor) -> Tensor {
        let s = self
            .saved
            .take()
            .expect("Gru::backward needs a forward pass with train = true");
        let hd = self.hidden;
        let steps = s.r.len();
        let rows = dout.rows();
        let mut dgx = Tensor::zeros(rows * steps, 3 * hd);
        let mut dh = Tensor::zeros(rows, hd);
        for t in (0..steps).rev() {
            for i in 0..rows {
                let g = &dout.row(i)[t * hd..(t + 1) * hd];
                dh.row_mut(i).iter_mut().zip(g).for_each(|(a, b)| *a += b);
            }
            let hp = &s.h[t];
            let mut dgh = Tensor::zeros(rows, 3 * hd);
            let mut direct = dh.clone();
            for i in 0..rows {
                if t >= s.lengths[i] {
                    continue; // the state passed through unchanged
                }
                let (r, z, n, hn) = (s.r[t].row(i), s.z[t].row(i), s.n[t].row(i), s.hn[t].row(i));
                let (d, prev) = (dh.row(i).to_vec(), hp.row(i).to_vec());
                let gx = dgx.row_mut(i * steps + t);
                let mut gates = vec![0.0f32; 3 * hd];
                for j in 0..hd {
                    let dn = d[j] * (1.0 - z[j]);
                    let dz = d[j] * (prev[j] - n[j]);
                    let dn_pre = dn * (1.0 - n[j] * n[j]);
                    let dr_pre = dn_pre * hn[j] * r[j] * (1.0 - r[j]);
                    let dz_pre = dz * z[j] * (1.0 - z[j]);
                    gx[j] = dr_pre;
                    gx[hd + j] = dz_pre;
                    gx[2 * hd + j] = dn_pre;
                    gates[j] = dr_pre;
                    gates[hd + j] = dz_pre;
                    gates[2 * hd + j] = dn_pre * r[j];
                }
                dgh.row_mut(i).copy_from_slice(&gates);
                direct
                    .row_mut(i)
                    .iter_mut()
                    .zip(z)
                    .for_each(|(a, z)| *a *= z);
            }
            let through = self
                .hh
                .backward_from(hp, &dgh, true)
                .expect("asked for the input gradient");
            dh = direct;
            dh.data_mut()
                .iter_mut()
                .zip(through.data())
                .for_each(|(a, b)| *a += b);
        }
        self.ih
            .backward_from(&s.x, &dgx, true)
            .expect("asked for the input gradient")
            .reshape(rows, steps * self.input)
            .expect("whole steps")
    }

    /// `W_ih`, `b_ih`, `W_hh`, `b_hh`.
    pub fn params_mut(&mut self) -> Vec<&mut Param> {
        let mut p = self.ih.params_mut();
        p.extend(self.hh.params_mut());
        p
    }

    /// The same, read-only.
    pub fn params(&self) -> Vec<&Param> {
        vec![
            &self.ih.weight,
            &self.ih.bias,
            &self.hh.weight,
            &self.hh.bias,
        ]
    }
}
