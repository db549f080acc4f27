//! Similarity measures and input weighting shared by the neighbourhood models.

use funnel_data::CsrMatrix;

use crate::{Params, Result};

/// How a co-occurrence `dot` of two vectors with squared norms `a`, `b` becomes a similarity.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Similarity {
    /// dot / (√a·√b + shrink)
    Cosine,
    /// dot / (a^α · b^(1−α) + shrink), over the squared norms' square roots; α = ½ is cosine.
    Asymmetric(f32),
    /// dot / (a + b − dot + shrink)
    Jaccard,
    /// dot / (1 + shrink): raw co-occurrence.
    Dot,
}

impl Similarity {
    /// Reads `similarity` and `alpha`.
    pub fn from_params(model: &'static str, p: &Params) -> Result<Self> {
        let s = p.choice(
            model,
            "similarity",
            "cosine",
            &["cosine", "asymmetric", "jaccard", "dot"],
        )?;
        let alpha: f32 = p.get(model, "alpha", 0.5, "a number in [0, 1]")?;
        Ok(match s.as_str() {
            "cosine" => Similarity::Cosine,
            "asymmetric" => Similarity::Asymmetric(alpha),
            "jaccard" => Similarity::Jaccard,
            _ => Similarity::Dot,
        })
    }

    /// The name used in parameters.
    pub fn name(self) -> &'static str {
        match self {
            Similarity::Cosine => "cosine",
            Similarity::Asymmetric(_) => "asymmetric",
            Similarity::Jaccard => "jaccard",
            Similarity::Dot => "dot",
        }
    }

    /// Similarity of `x` to `y` given their dot product and squared norms.
    #[inline]
    pub fn apply(self, dot: f32, sq_x: f32, sq_y: f32, shrink: f32) -> f32 {
        let den = match self {
            Similarity::Cosine => (sq_x * sq_y).sqrt(),
            Similarity::Asymmetric(a) => {
                sq_x.sqrt().powf(2.0 * a) * sq_y.sqrt().powf(2.0 * (1.0 - a))
            }
            Similarity::Jaccard => sq_x + sq_y - dot,
            Similarity::Dot => 1.0,
        } + shrink;
        if den > 0.0 {
            dot / den
        } else {
            0.0
        }
    }
}

/// How interactions are weighted before similarities are computed.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Weighting {
    /// 1 per interaction (or its value with `use_values`).
    None,
    /// Okapi BM25 over user rows: `x·(k1+1)/(k1·norm_u + x) · idf_i`.
    Bm25 {
        /// Term-frequency saturation.
        k1: f32,
        /// Length normalisation.
        b: f32,
    },
    /// `√x · idf_i`.
    TfIdf,
}

impl Weighting {
    /// Reads `weighting`, `bm25_k1`, `bm25_b`.
    pub fn from_params(model: &'static str, p: &Params) -> Result<Self> {
        let w = p.choice(model, "weighting", "none", &["none", "bm25", "tfidf"])?;
        let k1 = p.get(model, "bm25_k1", 1.2, "a number > 0")?;
        let b = p.get(model, "bm25_b", 0.75, "a number in [0, 1]")?;
        Ok(match w.as_str() {
            "bm25" => Weighting::Bm25 { k1, b },
            "tfidf" => Weighting::TfIdf,
            _ => Weighting::None,
        })
    }

    /// The name used in parameters.
    pub fn name(self) -> &'static str {
        match self {
            Weighting::None => "none",
            Weighting::Bm25 { .. } => "bm25",
            Weighting::TfIdf => "tfidf",
        }
    }

    /// Per-entry weights of a user×item matrix (rows = users), parallel to its indices.
    pub fn weights(self, m: &CsrMatrix, use_values: bool) -> Vec<f32> {
        let raw = |k: usize| {
            if use_values {
                m.values().map_or(1.0, |v| v[k])
            } else {
                1.0
            }
        };
        let mut w: Vec<f32> = (0..m.nnz()).map(raw).collect();
        if matches!(self, Weighting::None) {
            return w;
        }
        let n_users = m.n_rows() as f32;
        let mut df = vec![0u32; m.n_cols()];
        for &i in m.indices() {
            df[i as usize] += 1;
        }
        let idf: Vec<f32> = df
            .iter()
            .map(|&d| (n_users / (1.0 + d as f32)).ln().max(0.0) + 1e-6)
            .collect();
        let row_sum: Vec<f32> = (0..m.n_rows())
            .map(|r| {
                (m.indptr()[r] as usize..m.indptr()[r + 1] as usize)
                    .map(|k| w[k])
                    .sum()
            })
            .collect();
        let mean_len = row_sum.iter().sum::<f32>() / n_users.max(1.0);
        for r in 0..m.n_rows() {
            for k in m.indptr()[r] as usize..m.indptr()[r + 1] as usize {
                let i = m.indices()[k] as usize;
                w[k] = match self {
                    Weighting::Bm25 { k1, b } => {
                        let norm = (1.0 - b) + b * row_sum[r] / mean_len.max(1e-12);
                        w[k] * (k1 + 1.0) / (k1 * norm + w[k]) * idf[i]
                    }
                    Weighting::TfIdf => w[k].sqrt() * idf[i],
                    Weighting::None => w[k],
                };
            }
        }
        w
    }
}
