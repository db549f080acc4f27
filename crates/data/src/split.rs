//! Train/test splits: the protocol every model is judged by.
//!
//! Temporal splits never put an event in train that is later than an event of the
//! same cut in test. Users and items seen only in test are counted as cold.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::Serialize;

use crate::error::{DataError, Result};
use crate::interactions::Interactions;
use crate::matrix::CsrMatrix;

/// How to split interactions into train and test.
#[derive(Debug, Clone, PartialEq)]
pub enum SplitSpec {
    /// Train and test come from separate files.
    Given,
    /// Each interaction goes to test with probability `test_ratio`.
    Random {
        /// Share of interactions in test.
        test_ratio: f64,
    },
    /// Each user's last interaction (by time) is the test set.
    LeaveLastOut,
    /// Each user's latest `test_ratio` of interactions are the test set.
    UserTemporal {
        /// Share of each user's interactions in test.
        test_ratio: f64,
    },
    /// The globally latest `test_ratio` of interactions are the test set.
    GlobalTemporal {
        /// Share of interactions in test.
        test_ratio: f64,
    },
    /// Interactions at or after a Unix time are the test set.
    GlobalCut {
        /// The cut, Unix seconds.
        timestamp: i64,
    },
}

impl SplitSpec {
    /// Parses `given`, `random:0.2`, `leave-last-out` (or `loo`), `user-temporal:0.2`,
    /// `global-temporal:0.2` or `cut:1600000000`.
    pub fn parse(s: &str) -> Result<SplitSpec> {
        let (name, arg) = s.split_once(':').map_or((s, None), |(a, b)| (a, Some(b)));
        let ratio = || -> Result<f64> {
            let a = arg.ok_or_else(|| {
                DataError::Invalid(format!(
                    "split `{s}`: expected a test ratio, e.g. `{name}:0.2`"
                ))
            })?;
            a.parse::<f64>()
                .ok()
                .filter(|r| *r > 0.0 && *r < 1.0)
                .ok_or_else(|| {
                    DataError::Invalid(format!(
                        "split `{s}`: expected a ratio strictly between 0 and 1, found `{a}`"
                    ))
                })
        };
        Ok(match name {
            "given" => SplitSpec::Given,
            "random" => SplitSpec::Random { test_ratio: ratio()? },
            "leave-last-out" | "loo" => SplitSpec::LeaveLastOut,
            "user-temporal" => SplitSpec::UserTemporal { test_ratio: ratio()? },
            "global-temporal" => SplitSpec::GlobalTemporal { test_ratio: ratio()? },
            "cut" => SplitSpec::GlobalCut {
                timestamp: arg.and_then(|a| a.parse().ok()).ok_or_else(|| {
                    DataError::Invalid(format!("split `{s}`: expected a Unix time in seconds, e.g. `cut:1600000000`"))
                })?,
            },
            _ => {
                return Err(DataError::Invalid(format!(
                    "unknown split `{s}`; expected given, random:R, leave-last-out, user-temporal:R, global-temporal:R or cut:TS"
                )))
            }
        })
    }

    fn needs_time(&self) -> bool {
        !matches!(self, SplitSpec::Given | SplitSpec::Random { .. })
    }
}

/// Counts describing a split.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct SplitReport {
    /// Interactions in train.
    pub train_interactions: usize,
    /// Interactions in test.
    pub test_interactions: usize,
    /// Users with at least one test interaction.
    pub test_users: usize,
    /// Test users with no train interaction.
    pub cold_users: usize,
    /// Items in test with no train interaction.
    pub cold_items: usize,
    /// Test interactions whose item is cold.
    pub cold_item_interactions: usize,
}

/// Train and test sharing id maps.
#[derive(Debug, Clone)]
pub struct Split {
    /// Train interactions.
    pub train: Interactions,
    /// Test interactions.
    pub test: Interactions,
    /// Counts, cold users and items included.
    pub report: SplitReport,
}

impl Split {
    /// Wraps a given train/test pair (from [`crate::InteractionsBuilder`] parts).
    pub fn given(train: Interactions, test: Interactions) -> Split {
        let report = report(&train, &test);
        Split {
            train,
            test,
            report,
        }
    }
}

fn report(train: &Interactions, test: &Interactions) -> SplitReport {
    let train_items = train.item_counts();
    let mut cold_item = vec![false; test.n_items()];
    let mut r = SplitReport {
        train_interactions: train.nnz(),
        test_interactions: test.nnz(),
        ..Default::default()
    };
    for u in 0..test.n_users() {
        let row = test.user_row(u as u32);
        if row.is_empty() {
            continue;
        }
        r.test_users += 1;
        if train.user_row(u as u32).is_empty() {
            r.cold_users += 1;
        }
        for &i in row.indices {
            if train_items[i as usize] == 0 {
                cold_item[i as usize] = true;
                r.cold_item_interactions += 1;
            }
        }
    }
    r.cold_items = cold_item.iter().filter(|&&c| c).count();
    r
}

/// Splits `all` by `spec`; `seed` drives the random split.
pub fn split(all: &Interactions, spec: &SplitSpec, seed: u64) -> Result<Split> {
    if spec.needs_time() && !all.has_times() {
        return Err(DataError::Invalid(format!(
            "split {spec:?} orders events by time, but the data has no timestamps; use random:R or given train/test files"
        )));
    }
    let m = all.csr();
    let times = m.times();
    let cut: Option<u32> = match *spec {
        SplitSpec::Given => {
            return Err(DataError::Invalid(
                "split `given` needs separate train and test files (--test PATH)".into(),
            ))
        }
        SplitSpec::GlobalTemporal { test_ratio } => {
            let mut t = times.unwrap().to_vec();
            if t.is_empty() {
                None
            } else {
                let k = ((t.len() as f64) * (1.0 - test_ratio)).floor() as usize;
                let k = k.min(t.len() - 1);
                Some(*t.select_nth_unstable(k).1)
            }
        }
        SplitSpec::GlobalCut { timestamp } => {
            Some((timestamp - all.time_base()).clamp(0, u32::MAX as i64) as u32)
        }
        _ => None,
    };
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut to_test = vec![false; m.nnz()];
    let mut order: Vec<usize> = Vec::new();
    for u in 0..m.n_rows() {
        let (a, b) = (m.indptr()[u] as usize, m.indptr()[u + 1] as usize);
        let n = b - a;
        match *spec {
            SplitSpec::Random { test_ratio } => {
                for flag in &mut to_test[a..b] {
                    *flag = rng.random::<f64>() < test_ratio;
                }
            }
            SplitSpec::GlobalTemporal { .. } | SplitSpec::GlobalCut { .. } => {
                let c = cut.unwrap_or(u32::MAX);
                for (flag, &t) in to_test[a..b].iter_mut().zip(&times.unwrap()[a..b]) {
                    *flag = t >= c;
                }
            }
            SplitSpec::LeaveLastOut | SplitSpec::UserTemporal { .. } => {
                if n < 2 {
                    continue;
                }
                let n_test = match *spec {
                    SplitSpec::UserTemporal { test_ratio } => {
                        ((n as f64 * test_ratio).round() as usize).clamp(1, n - 1)
                    }
                    _ => 1,
                };
                // Latest events by (time, item); ties at the boundary go to test together,
                // so no train event is later than a test event of the same user.
                let t = &times.unwrap()[a..b];
                order.clear();
                order.extend(0..n);
                order.sort_by_key(|&k| (t[k], m.indices()[a + k]));
                let boundary = t[order[n - n_test]];
                for &k in &order[n - n_test..] {
                    to_test[a + k] = true;
                }
                if matches!(spec, SplitSpec::UserTemporal { .. }) {
                    for k in 0..n {
                        if t[k] == boundary {
                            to_test[a + k] = true;
                        }
                    }
                    // Keep at least one train event when every event shares a time.
                    if (a..b).all(|k| to_test[k]) {
                        to_test[a + order[0]] = false;
                    }
                }
            }
            SplitSpec::Given => unreachable!(),
        }
    }
    let train = all.with_matrix(filter(m, &to_test, false));
    let test = all.with_matrix(filter(m, &to_test, true));
    let report = report(&train, &test);
    Ok(Split {
        train,
        test,
        report,
    })
}

/// The entries of `m` whose flag equals `keep`.
fn filter(m: &CsrMatrix, flags: &[bool], keep: bool) -> CsrMatrix {
    let mut indptr = Vec::with_capacity(m.n_rows() + 1);
    indptr.push(0u64);
    let (mut idx, mut vals, mut times) = (
        Vec::new(),
        m.values().map(|_| Vec::new()),
        m.times().map(|_| Vec::new()),
    );
    for r in 0..m.n_rows() {
        for k in m.indptr()[r] as usize..m.indptr()[r + 1] as usize {
            if flags[k] == keep {
                idx.push(m.indices()[k]);
                if let (Some(v), Some(src)) = (vals.as_mut(), m.values()) {
                    v.push(src[k]);
                }
                if let (Some(t), Some(src)) = (times.as_mut(), m.times()) {
                    t.push(src[k]);
                }
            }
        }
        indptr.push(idx.len() as u64);
    }
    CsrMatrix::from_parts(m.n_rows(), m.n_cols(), indptr, idx, vals, times)
        .expect("a filtered matrix is valid")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::interactions::{Event, InteractionsBuilder};

    fn data() -> Interactions {
        let mut b = InteractionsBuilder::new();
        for u in 0..20 {
            for k in 0..10 {
                let (us, is) = (format!("u{u}"), format!("i{}", (u * 3 + k * 7) % 50));
                b.push(
                    0,
                    &Event {
                        user: &us,
                        item: &is,
                        value: 1.0,
                        timestamp: Some(1000 + (u * 13 + k * 101) % 977),
                        kind: None,
                    },
                );
            }
        }
        b.build().unwrap().remove(0)
    }

    fn per_user_max_min(s: &Split, u: u32) -> (Option<u32>, Option<u32>) {
        let tr = s.train.user_row(u);
        let te = s.test.user_row(u);
        (
            tr.times.and_then(|t| t.iter().max().copied()),
            te.times.and_then(|t| t.iter().min().copied()),
        )
    }

    #[test]
    fn leave_last_out_takes_latest_event_per_user() {
        let all = data();
        let s = split(&all, &SplitSpec::LeaveLastOut, 0).unwrap();
        assert_eq!(s.test.nnz(), 20);
        assert_eq!(s.train.nnz() + s.test.nnz(), all.nnz());
        for u in 0..20 {
            let (tr_max, te_min) = per_user_max_min(&s, u);
            assert!(tr_max.unwrap() <= te_min.unwrap());
        }
    }

    #[test]
    fn temporal_splits_never_leak_later_events_into_train() {
        let all = data();
        let s = split(&all, &SplitSpec::UserTemporal { test_ratio: 0.3 }, 0).unwrap();
        for u in 0..20 {
            let (tr_max, te_min) = per_user_max_min(&s, u);
            assert!(tr_max.unwrap() <= te_min.unwrap(), "user {u}");
        }
        let g = split(&all, &SplitSpec::GlobalTemporal { test_ratio: 0.25 }, 0).unwrap();
        let tr_max = g.train.csr().times().unwrap().iter().max().unwrap();
        let te_min = g.test.csr().times().unwrap().iter().min().unwrap();
        assert!(tr_max < te_min);
        let share = g.test.nnz() as f64 / all.nnz() as f64;
        assert!((share - 0.25).abs() < 0.05, "{share}");
    }

    #[test]
    fn random_split_is_seeded_and_reports_cold_items() {
        let all = data();
        let a = split(&all, &SplitSpec::Random { test_ratio: 0.2 }, 7).unwrap();
        let b = split(&all, &SplitSpec::Random { test_ratio: 0.2 }, 7).unwrap();
        let c = split(&all, &SplitSpec::Random { test_ratio: 0.2 }, 8).unwrap();
        assert_eq!(a.test.csr(), b.test.csr());
        assert_ne!(a.test.csr(), c.test.csr());
        // Cold items are test items with no train interaction, recomputed by hand.
        let counts = a.train.item_counts();
        let mut cold: Vec<u32> = a
            .test
            .csr()
            .indices()
            .iter()
            .copied()
            .filter(|&i| counts[i as usize] == 0)
            .collect();
        cold.sort();
        cold.dedup();
        assert_eq!(a.report.cold_items, cold.len());
    }

    #[test]
    fn splits_needing_time_refuse_untimed_data() {
        let mut b = InteractionsBuilder::new();
        b.push(0, &Event::implicit("u", "i"));
        let all = b.build().unwrap().remove(0);
        let e = split(&all, &SplitSpec::LeaveLastOut, 0)
            .unwrap_err()
            .to_string();
        assert!(e.contains("no timestamps"), "{e}");
        assert!(SplitSpec::parse("random:1.5").is_err());
        assert_eq!(
            SplitSpec::parse("cut:5").unwrap(),
            SplitSpec::GlobalCut { timestamp: 5 }
        );
    }
}
