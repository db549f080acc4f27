//! Optimisers for dense parameters (PyTorch's update rules and defaults), learning-rate
//! schedules, and clipping by global norm. Sparse tables have their own rules
//! ([`crate::SparseRule`]).

use crate::Param;

/// An update rule and its constants.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Rule {
    /// SGD with momentum `μ` (0 = none), optionally Nesterov's.
    Sgd {
        /// Momentum.
        momentum: f32,
        /// Nesterov momentum.
        nesterov: bool,
    },
    /// AdaGrad (`eps` 1e-10).
    AdaGrad {
        /// Added to the root of the accumulator.
        eps: f32,
    },
    /// RMSProp (`alpha` 0.99, `eps` 1e-8).
    RmsProp {
        /// Decay of the squared-gradient average.
        alpha: f32,
        /// Added to its root.
        eps: f32,
    },
    /// Adam; with `decoupled` the weight decay is AdamW's; with `amsgrad` the second
    /// moment never decreases.
    Adam {
        /// First-moment decay.
        beta1: f32,
        /// Second-moment decay.
        beta2: f32,
        /// Added to the root of the second moment.
        eps: f32,
        /// AMSGrad.
        amsgrad: bool,
        /// AdamW's decoupled weight decay.
        decoupled: bool,
    },
    /// LAMB: Adam's direction plus decoupled decay, scaled per tensor by the trust ratio
    /// `‖w‖ / ‖update‖` (You et al. 2019).
    Lamb {
        /// First-moment decay.
        beta1: f32,
        /// Second-moment decay.
        beta2: f32,
        /// Added to the root of the second moment.
        eps: f32,
    },
}

impl Rule {
    /// Adam with PyTorch's defaults.
    pub fn adam() -> Rule {
        Rule::Adam {
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
            amsgrad: false,
            decoupled: false,
        }
    }

    /// AdamW (Adam with decoupled weight decay).
    pub fn adamw() -> Rule {
        Rule::Adam {
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
            amsgrad: false,
            decoupled: true,
        }
    }

    /// By name: `sgd`, `momentum`, `nesterov`, `adagrad`, `rmsprop`, `adam`, `adamw`,
    /// `amsgrad`, `lamb`.
    pub fn parse(s: &str) -> Option<Rule> {
        Some(match s {
            "sgd" => Rule::Sgd {
                momentum: 0.0,
                nesterov: false,
            },
            "momentum" => Rule::Sgd {
                momentum: 0.9,
                nesterov: false,
            },
            "nesterov" => Rule::Sgd {
                momentum: 0.9,
                nesterov: true,
            },
            "adagrad" => Rule::AdaGrad { eps: 1e-10 },
            "rmsprop" => Rule::RmsProp {
                alpha: 0.99,
                eps: 1e-8,
            },
            "adam" => Rule::adam(),
            "adamw" => Rule::adamw(),
            "amsgrad" => Rule::Adam {
                beta1: 0.9,
                beta2: 0.999,
                eps: 1e-8,
                amsgrad: true,
                decoupled: false,
            },
            "lamb" => Rule::Lamb {
                beta1: 0.9,
                beta2: 0.999,
                eps: 1e-6,
            },
            _ => return None,
        })
    }

    /// The names `parse` reads.
    pub const NAMES: &'static str =
        "sgd, momentum, nesterov, adagrad, rmsprop, adam, adamw, amsgrad, lamb";

    fn slots(self) -> usize {
        match self {
            Rule::Sgd { momentum, .. } => (momentum > 0.0) as usize,
            Rule::AdaGrad { .. } | Rule::RmsProp { .. } => 1,
            Rule::Adam { amsgrad, .. } => 2 + amsgrad as usize,
            Rule::Lamb { .. } => 2,
        }
    }
}

/// An optimiser: a rule, a learning rate, weight decay, the step count, and optionally
/// Lookahead (every `k` steps the slow weights move `alpha` of the way to the fast ones,
/// which restart from them).
#[derive(Debug, Clone, PartialEq)]
pub struct Optimizer {
    /// The update rule.
    pub rule: Rule,
    /// The learning rate (a schedule scales it per step through `step_with_lr`).
    pub lr: f32,
    /// Weight decay: added to the gradient (L2) for every rule but AdamW and LAMB, which
    /// decay the weights directly.
    pub weight_decay: f32,
    /// Lookahead `(k, alpha)`.
    pub lookahead: Option<(u64, f32)>,
    /// Steps taken.
    pub t: u64,
}

impl Optimizer {
    /// An optimiser at step 0.
    pub fn new(rule: Rule, lr: f32, weight_decay: f32) -> Self {
        Optimizer {
            rule,
            lr,
            weight_decay,
            lookahead: None,
            t: 0,
        }
    }

    /// One step at the optimiser's learning rate; gradients are cleared.
    pub fn step(&mut self, params: &mut [&mut Param]) {
        let lr = self.lr;
        self.step_with_lr(params, lr)
    }

    /// One step at learning rate `lr`; frozen parameters keep their values; gradients are
    /// cleared.
    pub fn step_with_lr(&mut self, params: &mut [&mut Param], lr: f32) {
        self.t += 1;
        let t = self.t as i32;
        let wd = self.weight_decay;
        for p in params.iter_mut() {
            if p.frozen {
                p.zero_grad();
                continue;
            }
            let n = p.value.len();
            let slots = self.rule.slots();
            if p.state.len() != n * slots {
                p.state = vec![0.0; n * slots];
            }
            let Param {
                value: w,
                grad: g,
                state,
                ..
            } = &mut **p;
            match self.rule {
                Rule::Sgd { momentum, nesterov } => {
                    for i in 0..n {
                        let mut d = g[i] + wd * w[i];
                        if momentum > 0.0 {
                            let b = &mut state[i];
                            *b = if t == 1 { d } else { momentum * *b + d };
                            d = if nesterov { d + momentum * *b } else { *b };
                        }
                        w[i] -= lr * d;
                    }
                }
                Rule::AdaGrad { eps } => {
                    for i in 0..n {
                        let d = g[i] + wd * w[i];
                        state[i] += d * d;
                        w[i] -= lr * d / (state[i].sqrt() + eps);
                    }
                }
                Rule::RmsProp { alpha, eps } => {
                    for i in 0..n {
                        let d = g[i] + wd * w[i];
                        state[i] = alpha * state[i] + (1.0 - alpha) * d * d;
                        w[i] -= lr * d / (state[i].sqrt() + eps);
                    }
                }
                Rule::Adam {
                    beta1,
                    beta2,
                    eps,
                    amsgrad,
                    decoupled,
                } => {
                    let c1 = 1.0 - beta1.powi(t);
                    let c2 = (1.0 - beta2.powi(t)).sqrt();
                    let (m, rest) = state.split_at_mut(n);
                    let (v, vmax) = rest.split_at_mut(n);
                    for i in 0..n {
                        let d = if decoupled {
                            w[i] *= 1.0 - lr * wd;
                            g[i]
                        } else {
                            g[i] + wd * w[i]
                        };
                        m[i] = beta1 * m[i] + (1.0 - beta1) * d;
                        v[i] = beta2 * v[i] + (1.0 - beta2) * d * d;
                        let second = if amsgrad {
                            vmax[i] = vmax[i].max(v[i]);
                            vmax[i]
                        } else {
                            v[i]
                        };
                        w[i] -= lr * (m[i] / c1) / (second.sqrt() / c2 + eps);
                    }
                }
                Rule::Lamb { beta1, beta2, eps } => {
                    let c1 = 1.0 - beta1.powi(t);
                    let c2 = 1.0 - beta2.powi(t);
                    let (m, v) = state.split_at_mut(n);
                    let mut upd = vec![0.0f32; n];
                    for i in 0..n {
                        m[i] = beta1 * m[i] + (1.0 - beta1) * g[i];
                        v[i] = beta2 * v[i] + (1.0 - beta2) * g[i] * g[i];
                        upd[i] = (m[i] / c1) / ((v[i] / c2).sqrt() + eps) + wd * w[i];
                    }
                    let wn = w.iter().map(|x| x * x).sum::<f32>().sqrt();
                    let un = upd.iter().map(|x| x * x).sum::<f32>().sqrt();
                    let trust = if wn > 0.0 && un > 0.0 { wn / un } else { 1.0 };
                    w.iter_mut()
                        .zip(&upd)
                        .for_each(|(w, u)| *w -= lr * trust * u);
                }
            }
            p.zero_grad();
            if let Some((k, alpha)) = self.lookahead {
                if p.slow.len() != n {
                    p.slow = p.value.clone();
                }
                if self.t % k == 0 {
                    for i in 0..n {
                        p.slow[i] += alpha * (p.value[i] - p.slow[i]);
                        p.value[i] = p.slow[i];
                    }
                }
            }
        }
    }
}

/// How the learning rate falls after the warm-up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decay {
    /// It stays.
    Constant,
    /// Linearly to `min_ratio` at the last step.
    Linear,
    /// Half a cosine to `min_ratio` at the last step.
    Cosine,
}

/// A learning-rate multiplier per step: linear warm-up from 0 over `warmup` steps, then
/// `decay` over the remaining steps up to `total`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Schedule {
    /// Warm-up steps.
    pub warmup: u64,
    /// Steps in the whole run.
    pub total: u64,
    /// The decay after warm-up.
    pub decay: Decay,
    /// The multiplier the decay ends at.
    pub min_ratio: f32,
}

impl Schedule {
    /// No warm-up, no decay.
    pub fn constant() -> Self {
        Schedule {
            warmup: 0,
            total: 0,
            decay: Decay::Constant,
            min_ratio: 1.0,
        }
    }

    /// The multiplier of step `t` (1-based).
    pub fn factor(&self, t: u64) -> f32 {
        if t <= self.warmup && self.warmup > 0 {
            return t as f32 / self.warmup as f32;
        }
        let span = self.total.saturating_sub(self.warmup).max(1);
        let done = (t.saturating_sub(self.warmup) as f32 / span as f32).min(1.0);
        let m = self.min_ratio;
        match self.decay {
            Decay::Constant => 1.0,
            Decay::Linear => 1.0 - (1.0 - m) * done,
            Decay::Cosine => m + (1.0 - m) * 0.5 * (1.0 + (std::f32::consts::PI * done).cos()),
        }
    }
}

/// Scales every gradient so that their global L2 norm is at most `max_norm` (as PyTorch's
/// `clip_grad_norm_`); `extra_sq` adds the squared norm of gradients held elsewhere (sparse
/// tables), whose owner applies the returned scale itself. Returns `(norm, scale)`.
pub fn clip_grad_norm(params: &mut [&mut Param], extra_sq: f64, max_norm: f32) -> (f32, f32) {
    let sq: f64 = params
        .iter()
        .flat_map(|p| p.grad.iter())
        .map(|&g| g as f64 * g as f64)
        .sum::<f64>()
        + extra_sq;
    let norm = sq.sqrt() as f32;
    let scale = if norm > max_norm {
        max_norm / (norm + 1e-6)
    } else {
        1.0
    };
    if scale < 1.0 {
        for p in params.iter_mut() {
            p.grad.iter_mut().for_each(|g| *g *= scale);
        }
    }
    (norm, scale)
}
