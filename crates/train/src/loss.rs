//! Losses and their gradients with respect to the logits (means over the batch, as
//! PyTorch's `reduction="mean"`).

use crate::layers::Activation;
use crate::Tensor;

/// Binary cross-entropy on logits `z` with labels `y ∈ [0, 1]` and optional sample weights
/// `w` (weighted logistic regression, e.g. watch time as the weight of a click):
/// `Σ wᵢ·[softplus(zᵢ) − yᵢ zᵢ] / n` and its gradient `wᵢ (σ(zᵢ) − yᵢ) / n`.
pub fn bce_with_logits(z: &[f32], y: &[f32], w: Option<&[f32]>) -> (f32, Vec<f32>) {
    assert_eq!(z.len(), y.len(), "bce: logits and labels");
    let n = z.len().max(1) as f32;
    let mut loss = 0.0f64;
    let grad = z
        .iter()
        .zip(y)
        .enumerate()
        .map(|(i, (&z, &y))| {
            let wi = w.map_or(1.0, |w| w[i]);
            // softplus(z) − y·z, stable for large |z|
            let l = z.max(0.0) - y * z + (-z.abs()).exp().ln_1p();
            loss += (wi * l) as f64;
            wi * (sigmoid(z) - y) / n
        })
        .collect();
    ((loss / n as f64) as f32, grad)
}

fn sigmoid(z: f32) -> f32 {
    let mut v = [z];
    Activation::Sigmoid.apply(&mut v);
    v[0]
}

/// Softmax cross-entropy of each row of `logits` against its target column, mean over
/// rows; returns the loss and the logits' gradient `(softmax − onehot) / n`.
pub fn softmax_cross_entropy(logits: &Tensor, targets: &[usize]) -> (f32, Tensor) {
    assert_eq!(logits.rows(), targets.len(), "softmax: one target per row");
    let n = logits.rows().max(1) as f32;
    let mut grad = Tensor::zeros(logits.rows(), logits.cols());
    let mut loss = 0.0f64;
    for i in 0..logits.rows() {
        let row = logits.row(i);
        let max = row.iter().cloned().fold(f32::NEG_INFINITY, f32::max);
        let g = grad.row_mut(i);
        let mut sum = 0.0f32;
        for (g, &x) in g.iter_mut().zip(row) {
            *g = (x - max).exp();
            sum += *g;
        }
        loss += (sum.ln() + max - row[targets[i]]) as f64;
        for g in g.iter_mut() {
            *g /= sum * n;
        }
        g[targets[i]] -= 1.0 / n;
    }
    ((loss / n as f64) as f32, grad)
}

/// Subtracts `log_q[j]` from column `j` of every row: the logQ correction of sampled or
/// in-batch softmax, where item `j` appears as a negative with probability `q[j]`.
pub fn logq_correct(logits: &mut Tensor, log_q: &[f32]) {
    assert_eq!(
        logits.cols(),
        log_q.len(),
        "logq: one correction per column"
    );
    for i in 0..logits.rows() {
        logits
            .row_mut(i)
            .iter_mut()
            .zip(log_q)
            .for_each(|(x, q)| *x -= q);
    }
}

/// Sampled softmax: each row's logits over its own candidates (column 0 the positive, the
/// rest sampled negatives), corrected by `log_q` of each candidate (same shape), then
/// cross-entropy with target column 0. Returns the loss and the logits' gradient.
pub fn sampled_softmax(logits: &Tensor, log_q: &Tensor) -> (f32, Tensor) {
    assert_eq!(
        logits.shape(),
        log_q.shape(),
        "sampled softmax: logits and log q"
    );
    let mut z = logits.clone();
    z.data_mut()
        .iter_mut()
        .zip(log_q.data())
        .for_each(|(x, q)| *x -= q);
    softmax_cross_entropy(&z, &vec![0; logits.rows()])
}

/// In-batch softmax over a `B × B` score matrix (row `i`: user `i` against every item of
/// the batch; the diagonal holds the positives), scores divided by `temperature` and
/// corrected by the items' `log_q`. Returns the loss and the scores' gradient.
pub fn in_batch_softmax(scores: &Tensor, log_q: Option<&[f32]>, temperature: f32) -> (f32, Tensor) {
    assert_eq!(
        scores.rows(),
        scores.cols(),
        "in-batch softmax: square scores"
    );
    let mut z = scores.clone();
    z.data_mut().iter_mut().for_each(|x| *x /= temperature);
    if let Some(q) = log_q {
        logq_correct(&mut z, q);
    }
    let targets: Vec<usize> = (0..scores.rows()).collect();
    let (l, mut g) = softmax_cross_entropy(&z, &targets);
    g.data_mut().iter_mut().for_each(|x| *x /= temperature);
    (l, g)
}

/// BPR: `−mean log σ(pos − neg)` and the gradients of `pos` and `neg`.
pub fn bpr(pos: &[f32], neg: &[f32]) -> (f32, Vec<f32>, Vec<f32>) {
    assert_eq!(pos.len(), neg.len(), "bpr: one negative per positive");
    let n = pos.len().max(1) as f32;
    let mut loss = 0.0f64;
    let mut dp = Vec::with_capacity(pos.len());
    for (&p, &q) in pos.iter().zip(neg) {
        let x = p - q;
        loss += ((-x).max(0.0) + (-x.abs()).exp().ln_1p()) as f64;
        dp.push(-(1.0 - sigmoid(x)) / n);
    }
    let dn = dp.iter().map(|g| -g).collect();
    ((loss / n as f64) as f32, dp, dn)
}
