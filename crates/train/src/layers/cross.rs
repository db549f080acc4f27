//! DCN-V2's cross network (Wang et al. 2021): `x_{l+1} = x₀ ⊙ (W_l x_l + b_l) + x_l`, and
//! its mixture of low-rank experts, where each expert replaces `W_l` by `U·tanh(C·tanh(Vᵀx))`
//! and a softmax gate over `x_l` weighs the experts. DCN (v1) is the rank-one case
//! `x₀ (x_lᵀ w_l) + b_l + x_l`.

use crate::layers::{Activation, ActivationLayer, Linear};
use crate::{Param, Tensor};

/// One low-rank expert: `V` (d → r), tanh, `C` (r → r), tanh, `U` (r → d), no biases.
#[derive(Debug, Clone, PartialEq)]
struct Expert {
    v: Linear,
    c: Linear,
    u: Linear,
    t1: ActivationLayer,
    t2: ActivationLayer,
    gate: Linear,
}

/// One cross layer.
#[derive(Debug, Clone, PartialEq)]
pub enum CrossLayer {
    /// DCN-V2's full-rank layer: `W` is `d × d` with a bias.
    Full(Linear),
    /// DCN (v1): `w` is `d × 1` (`x_lᵀw` a scalar per row), then the bias `b`.
    Vector {
        /// `w` as a `1 × d` linear map without bias.
        w: Linear,
        /// `b`, `d` values.
        b: Param,
    },
    /// Mixture of low-rank experts sharing one bias.
    Mix {
        /// The experts.
        #[allow(private_interfaces)]
        experts: Vec<Expert>,
        /// The shared bias, `d` values.
        b: Param,
    },
}

/// What a layer's backward pass needs from its forward pass.
#[derive(Debug, Clone, PartialEq, Default)]
struct Saved {
    /// Full and Vector: `W x_l + b` (or `x_lᵀw` per row); Mix: each expert's `U·… + b`.
    u: Vec<Tensor>,
    /// Mix: softmax gate weights, `rows × experts`.
    gates: Vec<f32>,
}

/// A stack of cross layers over inputs of width `d`.
#[derive(Debug, Clone, PartialEq)]
pub struct CrossNet {
    /// The layers.
    pub layers: Vec<CrossLayer>,
    width: usize,
    x0: Option<Tensor>,
    saved: Vec<Saved>,
}

fn hadamard(a: &Tensor, b: &Tensor) -> Tensor {
    let mut o = a.clone();
    o.data_mut()
        .iter_mut()
        .zip(b.data())
        .for_each(|(x, y)| *x *= y);
    o
}

fn add_into(a: &mut Tensor, b: &Tensor) {
    a.data_mut()
        .iter_mut()
        .zip(b.data())
        .for_each(|(x, y)| *x += y);
}

fn add_bias(t: &mut Tensor, b: &[f32]) {
    for i in 0..t.rows() {
        t.row_mut(i).iter_mut().zip(b).for_each(|(x, y)| *x += y);
    }
}

fn column_sums(t: &Tensor, into: &mut [f32]) {
    for i in 0..t.rows() {
        into.iter_mut().zip(t.row(i)).for_each(|(g, d)| *g += d);
    }
}

impl CrossNet {
    /// `layers` full-rank layers (`rank = 0`), DCN-v1 vector layers (`rank = 1` with
    /// `vector`), or mixtures of `experts` experts of rank `rank`, over width `d`; weights
    /// drawn from `seed`.
    pub fn new(
        d: usize,
        layers: usize,
        rank: usize,
        experts: usize,
        vector: bool,
        seed: u64,
    ) -> Self {
        let layer = |l: usize| {
            let s = seed.wrapping_add(101 * l as u64);
            if vector {
                CrossLayer::Vector {
                    w: Linear::xavier(d, 1, s).without_bias(),
                    b: Param::new(vec![0.0; d]),
                }
            } else if rank == 0 {
                CrossLayer::Full(Linear::xavier(d, d, s))
            } else {
                CrossLayer::Mix {
                    experts: (0..experts.max(1))
                        .map(|e| {
                            let s = s.wrapping_add(7 * e as u64 + 1);
                            Expert {
                                v: Linear::xavier(d, rank, s).without_bias(),
                                c: Linear::xavier(rank, rank, s + 1).without_bias(),
                                u: Linear::xavier(rank, d, s + 2).without_bias(),
                                t1: ActivationLayer::new(Activation::Tanh),
                                t2: ActivationLayer::new(Activation::Tanh),
                                gate: Linear::xavier(d, 1, s + 3).without_bias(),
                            }
                        })
                        .collect(),
                    b: Param::new(vec![0.0; d]),
                }
            }
        };
        CrossNet {
            layers: (0..layers).map(layer).collect(),
            width: d,
            x0: None,
            saved: Vec::new(),
        }
    }

    /// Input and output width.
    pub fn width(&self) -> usize {
        self.width
    }

    /// The forward pass; keeps what backward needs when `train`.
    pub fn forward(&mut self, x0: &Tensor, train: bool) -> Tensor {
        assert_eq!(x0.cols(), self.width, "cross: input width");
        let mut x = x0.clone();
        self.saved.clear();
        for layer in self.layers.iter_mut() {
            let mut saved = Saved::default();
            let next = match layer {
                CrossLayer::Full(w) => {
                    let u = w.forward(x.clone(), train).expect("width checked");
                    let mut next = hadamard(x0, &u);
                    add_into(&mut next, &x);
                    saved.u.push(u);
                    next
                }
                CrossLayer::Vector { w, b } => {
                    let s = w.forward(x.clone(), train).expect("width checked");
                    let mut next = x0.clone();
                    for i in 0..next.rows() {
                        let si = s.get(i, 0);
                        next.row_mut(i)
                            .iter_mut()
                            .zip(&b.value)
                            .for_each(|(v, b)| *v = *v * si + b);
                    }
                    add_into(&mut next, &x);
                    saved.u.push(s);
                    next
                }
                CrossLayer::Mix { experts, b } => {
                    let rows = x.rows();
                    let k = experts.len();
                    let mut scores = vec![0.0f32; rows * k];
                    let mut outs = Vec::with_capacity(k);
                    for (e, ex) in experts.iter_mut().enumerate() {
                        let g = ex.gate.forward(x.clone(), train).expect("width checked");
                        for i in 0..rows {
                            scores[i * k + e] = g.get(i, 0);
                        }
                        let h = ex.v.forward(x.clone(), train).expect("width checked");
                        let h = ex.t1.forward(h, train);
                        let h = ex.c.forward(h, train).expect("rank");
                        let h = ex.t2.forward(h, train);
                        let mut u = ex.u.forward(h, train).expect("rank");
                        add_bias(&mut u, &b.value);
                        outs.push(u);
                    }
                    softmax_rows(&mut scores, k);
                    let mut next = x.clone();
                    for (e, u) in outs.iter().enumerate() {
                        for i in 0..rows {
                            let w = scores[i * k + e];
                            let (x0r, ur) = (x0.row(i), u.row(i));
                            next.row_mut(i)
                                .iter_mut()
                                .zip(x0r.iter().zip(ur))
                                .for_each(|(n, (a, b))| *n += w * a * b);
                        }
                    }
                    saved.u = outs;
                    saved.gates = scores;
                    next
                }
            };
            if train {
                self.saved.push(saved);
            }
            x = next;
        }
        self.x0 = train.then(|| x0.clone());
        x
    }

    /// The forward pass for inference, keeping nothing.
    pub fn infer(&self, x0: &Tensor) -> Tensor {
        let mut x = x0.clone();
        for layer in &self.layers {
            let mut next = x.clone(); // the residual
            match layer {
                CrossLayer::Full(w) => {
                    let u = w.infer(&x).expect("width checked");
                    add_into(&mut next, &hadamard(x0, &u));
                }
                CrossLayer::Vector { w, b } => {
                    let s = w.infer(&x).expect("width checked");
                    for i in 0..x.rows() {
                        let si = s.get(i, 0);
                        next.row_mut(i)
                            .iter_mut()
                            .zip(x0.row(i).iter().zip(&b.value))
                            .for_each(|(n, (a, b))| *n += a * si + b);
                    }
                }
                CrossLayer::Mix { experts, b } => {
                    let k = experts.len();
                    let mut scores = vec![0.0f32; x.rows() * k];
                    let mut outs = Vec::with_capacity(k);
                    for (e, ex) in experts.iter().enumerate() {
                        let g = ex.gate.infer(&x).expect("width checked");
                        for i in 0..x.rows() {
                            scores[i * k + e] = g.get(i, 0);
                        }
                        let mut h = ex.v.infer(&x).expect("width checked");
                        Activation::Tanh.apply(h.data_mut());
                        let mut h = ex.c.infer(&h).expect("rank");
                        Activation::Tanh.apply(h.data_mut());
                        let mut u = ex.u.infer(&h).expect("rank");
                        add_bias(&mut u, &b.value);
                        outs.push(u);
                    }
                    softmax_rows(&mut scores, k);
                    for (e, u) in outs.iter().enumerate() {
                        for i in 0..x.rows() {
                            let w = scores[i * k + e];
                            next.row_mut(i)
                                .iter_mut()
                                .zip(x0.row(i).iter().zip(u.row(i)))
                                .for_each(|(n, (a, b))| *n += w * a * b);
                        }
                    }
                }
            }
            x = next;
        }
        x
    }

    /// Accumulates the gradients from the output's `dy`; returns the input's gradient.
    pub fn backward(&mut self, dy: Tensor) -> Tensor {
        let x0 = self
            .x0
            .take()
            .expect("CrossNet::backward needs a forward pass with train = true");
        let mut dx0 = Tensor::zeros(x0.rows(), x0.cols());
        let mut g = dy; // d loss / d x_{l+1}
        let saved = std::mem::take(&mut self.saved);
        for (layer, saved) in self.layers.iter_mut().zip(saved).rev() {
            let mut dxl = g.clone(); // the residual
            match layer {
                CrossLayer::Full(w) => {
                    let u = &saved.u[0];
                    add_into(&mut dx0, &hadamard(&g, u));
                    let du = hadamard(&g, &x0);
                    add_into(&mut dxl, &w.backward(&du));
                }
                CrossLayer::Vector { w, b } => {
                    let s = &saved.u[0];
                    let mut ds = Tensor::zeros(g.rows(), 1);
                    for i in 0..g.rows() {
                        let (gr, x0r) = (g.row(i), x0.row(i));
                        let si = s.get(i, 0);
                        ds.row_mut(i)[0] = gr.iter().zip(x0r).map(|(a, b)| a * b).sum();
                        dx0.row_mut(i)
                            .iter_mut()
                            .zip(gr)
                            .for_each(|(d, gg)| *d += gg * si);
                    }
                    column_sums(&g, &mut b.grad);
                    add_into(&mut dxl, &w.backward(&ds));
                }
                CrossLayer::Mix { experts, b } => {
                    let k = experts.len();
                    let rows = g.rows();
                    // d loss / d gate weight: g · (x₀ ⊙ u_e) per row
                    let mut dw = vec![0.0f32; rows * k];
                    for (e, u) in saved.u.iter().enumerate() {
                        for i in 0..rows {
                            dw[i * k + e] = g
                                .row(i)
                                .iter()
                                .zip(x0.row(i).iter().zip(u.row(i)))
                                .map(|(gg, (a, b))| gg * a * b)
                                .sum();
                        }
                    }
                    let w = &saved.gates;
                    for (e, ex) in experts.iter_mut().enumerate() {
                        let u = &saved.u[e];
                        // d loss / d u_e = w_e · g ⊙ x₀; d x₀ += w_e · g ⊙ u_e
                        let mut du = Tensor::zeros(rows, x0.cols());
                        for i in 0..rows {
                            let we = w[i * k + e];
                            let (gr, x0r, ur) = (g.row(i), x0.row(i), u.row(i));
                            for (j, d) in du.row_mut(i).iter_mut().enumerate() {
                                *d = we * gr[j] * x0r[j];
                            }
                            dx0.row_mut(i)
                                .iter_mut()
                                .zip(gr.iter().zip(ur))
                                .for_each(|(d, (gg, uu))| *d += we * gg * uu);
                        }
                        column_sums(&du, &mut b.grad);
                        let dh = ex.u.backward(&du);
                        let dh = ex.t2.backward(dh);
                        let dh = ex.c.backward(&dh);
                        let dh = ex.t1.backward(dh);
                        add_into(&mut dxl, &ex.v.backward(&dh));
                        // softmax: ds_e = w_e (dw_e − Σ_j w_j dw_j)
                        let mut ds = Tensor::zeros(rows, 1);
                        for i in 0..rows {
                            let mean: f32 = (0..k).map(|j| w[i * k + j] * dw[i * k + j]).sum();
                            ds.row_mut(i)[0] = w[i * k + e] * (dw[i * k + e] - mean);
                        }
                        add_into(&mut dxl, &ex.gate.backward(&ds));
                    }
                }
            }
            g = dxl;
        }
        add_into(&mut g, &dx0);
        g
    }

    /// Every weight and bias.
    pub fn params_mut(&mut self) -> Vec<&mut Param> {
        let mut out = Vec::new();
        for l in self.layers.iter_mut() {
            match l {
                CrossLayer::Full(w) => out.extend(w.params_mut()),
                CrossLayer::Vector { w, b } => {
                    out.extend(w.params_mut());
                    out.push(b);
                }
                CrossLayer::Mix { experts, b } => {
                    for e in experts.iter_mut() {
                        out.extend(e.v.params_mut());
                        out.extend(e.c.params_mut());
                        out.extend(e.u.params_mut());
                        out.extend(e.gate.params_mut());
                    }
                    out.push(b);
                }
            }
        }
        out
    }

    /// Every weight and bias, read-only, in the order of `params_mut`.
    pub fn params(&self) -> Vec<&Param> {
        let mut out = Vec::new();
        for l in self.layers.iter() {
            match l {
                CrossLayer::Full(w) => out.extend([&w.weight, &w.bias]),
                CrossLayer::Vector { w, b } => out.extend([&w.weight, b]),
                CrossLayer::Mix { experts, b } => {
                    for e in experts {
                        out.extend([&e.v.weight, &e.c.weight, &e.u.weight, &e.gate.weight]);
                    }
                    out.push(b);
                }
            }
        }
        out
    }
}

fn softmax_rows(v: &mut [f32], k: usize) {
    for row in v.chunks_exact_mut(k) {
        let max = row.iter().cloned().fold(f32::NEG_INFINITY, f32::max);
        let mut sum = 0.0;
        for x in row.iter_mut() {
            *x = (*x - max).exp();
            sum += *x;
        }
        row.iter_mut().for_each(|x| *x /= sum);
    }
}
