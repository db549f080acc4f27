//! Popular: the same list for everyone, by interaction count, optionally time-decayed.

use std::path::Path;

use funnel_data::{Interactions, ItemId, Progress, Row, UserId};
use serde_json::json;

use crate::{Fitted, ModelReader, ModelWriter, Params, Recaller, Result, Score, Scores, TopK};

/// Items ranked by how often they were interacted with. With `half_life_days > 0`, each
/// interaction counts `2^(−age / half-life)`, its age measured from the latest training
/// event, so recent popularity wins; with `use_values=true`, interactions count their value.
#[derive(Debug, Clone)]
pub struct Popular {
    half_life_days: f64,
    use_values: bool,
    fitted: Option<Fitted>,
    popularity: Vec<f32>,
}

impl Popular {
    /// Parameters: `half_life_days` (0 = plain counts), `use_values` (false).
    pub fn new(p: &Params) -> Result<Self> {
        let half_life_days = p.get(
            "popular",
            "half_life_days",
            0.0,
            "a number of days >= 0 (0 = no decay)",
        )?;
        let use_values = p.get("popular", "use_values", false, "true or false")?;
        p.finish("popular")?;
        Ok(Popular {
            half_life_days,
            use_values,
            fitted: None,
            popularity: Vec::new(),
        })
    }

    /// Loads a saved model.
    pub fn load(r: &ModelReader) -> Result<Self> {
        r.expect_model("popular")?;
        Ok(Popular {
            half_life_days: r.params()["half_life_days"].as_f64().unwrap_or(0.0),
            use_values: r.params()["use_values"].as_bool().unwrap_or(false),
            fitted: Some(Fitted::load(r)?),
            popularity: r.f32s("popularity")?,
        })
    }
}

impl Recaller for Popular {
    fn name(&self) -> &'static str {
        "popular"
    }

    fn fit(&mut self, train: &Interactions, _: &dyn Progress) -> Result<()> {
        let m = train.csr();
        let mut pop = vec![0.0f64; train.n_items()];
        let decay = (self.half_life_days > 0.0).then(|| {
            let now = m.times().and_then(|t| t.iter().max().copied()).unwrap_or(0);
            (
                now,
                std::f64::consts::LN_2 / (self.half_life_days * 86_400.0),
            )
        });
        for (k, &i) in m.indices().iter().enumerate() {
            let mut w = if self.use_values {
                m.values().map_or(1.0, |v| v[k] as f64)
            } else {
                1.0
            };
            if let (Some((now, rate)), Some(t)) = (decay, m.times()) {
                w *= (-((now - t[k]) as f64) * rate).exp();
            }
            pop[i as usize] += w;
        }
        self.popularity = pop.into_iter().map(|x| x as f32).collect();
        self.fitted = Some(Fitted::from_train(train));
        Ok(())
    }

    fn fitted(&self) -> Option<&Fitted> {
        self.fitted.as_ref()
    }

    fn score(&self, _: Option<UserId>, _: Row<'_>, scores: &mut Scores) {
        for (i, &p) in self.popularity.iter().enumerate() {
            if p > 0.0 {
                scores.add(i as u32, p);
            }
        }
    }

    fn similar_items(&self, item: ItemId, k: usize) -> Result<Vec<(ItemId, Score)>> {
        // Popularity has no notion of similarity: the most popular other items.
        let mut t = TopK::new(k);
        for (i, &p) in self.popularity.iter().enumerate() {
            if i as u32 != item && p > 0.0 {
                t.push(i as u32, p);
            }
        }
        Ok(t.into_sorted())
    }

    fn save(&self, path: &Path) -> Result<()> {
        let f = self
            .fitted
            .as_ref()
            .ok_or(crate::RecallError::NotFitted("popular"))?;
        let mut w = ModelWriter::new(
            "popular",
            json!({"half_life_days": self.half_life_days, "use_values": self.use_values}),
        );
        f.save(&mut w);
        w.f32s("popularity", vec![self.popularity.len()], &self.popularity);
        Ok(w.write(path)?)
    }
}
