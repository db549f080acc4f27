//! Feedback events and the user×item interaction matrix built from them.

use std::sync::{Arc, OnceLock};

use crate::error::{DataError, Result};
use crate::ids::IdMap;
use crate::matrix::{CsrMatrix, Row};

/// One feedback event as read from an input, borrowing its text.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Event<'a> {
    /// External user id.
    pub user: &'a str,
    /// External item id.
    pub item: &'a str,
    /// Feedback value (rating, count, 1 for implicit feedback).
    pub value: f32,
    /// Unix time in seconds, if the input has one.
    pub timestamp: Option<i64>,
    /// Feedback type (`click`, `purchase`, …), if the input has one.
    pub kind: Option<&'a str>,
}

impl<'a> Event<'a> {
    /// An implicit event (value 1, no time, no type).
    pub fn implicit(user: &'a str, item: &'a str) -> Self {
        Event {
            user,
            item,
            value: 1.0,
            timestamp: None,
            kind: None,
        }
    }
}

/// A user×item interaction matrix: CSR by user, with a CSC (by item) view built on
/// first use, plus the id maps that name its rows and columns.
///
/// Several matrices (train and test) may share id maps, so dense ids agree across them.
#[derive(Debug, Clone)]
pub struct Interactions {
    users: Arc<IdMap>,
    items: Arc<IdMap>,
    by_user: CsrMatrix,
    time_base: i64,
    by_item: OnceLock<CsrMatrix>,
}

impl Interactions {
    /// Wraps a user×item matrix with its id maps.
    pub fn new(
        users: Arc<IdMap>,
        items: Arc<IdMap>,
        by_user: CsrMatrix,
        time_base: i64,
    ) -> Result<Self> {
        if by_user.n_rows() != users.len() || by_user.n_cols() != items.len() {
            return Err(DataError::Invalid(format!(
                "matrix is {}×{} but there are {} users and {} items",
                by_user.n_rows(),
                by_user.n_cols(),
                users.len(),
                items.len()
            )));
        }
        Ok(Self {
            users,
            items,
            by_user,
            time_base,
            by_item: OnceLock::new(),
        })
    }

    /// User id map.
    pub fn users(&self) -> &Arc<IdMap> {
        &self.users
    }
    /// Item id map.
    pub fn items(&self) -> &Arc<IdMap> {
        &self.items
    }
    /// Number of users (rows), including users without interactions here.
    pub fn n_users(&self) -> usize {
        self.by_user.n_rows()
    }
    /// Number of items (columns).
    pub fn n_items(&self) -> usize {
        self.by_user.n_cols()
    }
    /// Number of interactions.
    pub fn nnz(&self) -> usize {
        self.by_user.nnz()
    }
    /// The CSR matrix (rows = users).
    pub fn csr(&self) -> &CsrMatrix {
        &self.by_user
    }
    /// The CSC view (rows = items), built on first call.
    pub fn csc(&self) -> &CsrMatrix {
        self.by_item.get_or_init(|| self.by_user.transpose())
    }
    /// The items of user `u`.
    #[inline]
    pub fn user_row(&self, u: u32) -> Row<'_> {
        self.by_user.row(u as usize)
    }
    /// Unix seconds of a stored relative timestamp.
    pub fn absolute_time(&self, relative: u32) -> i64 {
        self.time_base + relative as i64
    }
    /// The time base: stored timestamps are seconds after it.
    pub fn time_base(&self) -> i64 {
        self.time_base
    }
    /// Whether timestamps are known.
    pub fn has_times(&self) -> bool {
        self.by_user.times().is_some()
    }
    /// Number of interactions of each item.
    pub fn item_counts(&self) -> Vec<u32> {
        let mut c = vec![0u32; self.n_items()];
        for &i in self.by_user.indices() {
            c[i as usize] += 1;
        }
        c
    }
    /// A matrix over the same id maps with a different set of entries.
    pub fn with_matrix(&self, by_user: CsrMatrix) -> Interactions {
        Interactions {
            users: self.users.clone(),
            items: self.items.clone(),
            by_user,
            time_base: self.time_base,
            by_item: OnceLock::new(),
        }
    }
}

/// Collects events into one or more interaction matrices that share id maps.
///
/// Part 0 is the main (or train) part; a "given" train/test split uses parts 0 and 1.
#[derive(Debug, Default)]
pub struct InteractionsBuilder {
    users: IdMap,
    items: IdMap,
    parts: Vec<Coo>,
    /// The last user seen: event files are mostly grouped by user, so this skips most lookups.
    last_user: Option<(String, u32)>,
}

#[derive(Debug, Default)]
struct Coo {
    rows: Vec<u32>,
    cols: Vec<u32>,
    values: Vec<f32>,
    times: Vec<i64>,
    missing_time: bool,
}

impl InteractionsBuilder {
    /// A builder with `parts` parts.
    pub fn with_parts(parts: usize) -> Self {
        Self {
            users: IdMap::new(),
            items: IdMap::new(),
            parts: (0..parts).map(|_| Coo::default()).collect(),
            last_user: None,
        }
    }

    /// A builder with one part.
    pub fn new() -> Self {
        Self::with_parts(1)
    }

    /// Adds an event to part `part`.
    #[inline]
    pub fn push(&mut self, part: usize, e: &Event<'_>) {
        let u = match &mut self.last_user {
            Some((name, id)) if name == e.user => *id,
            slot => {
                let id = self.users.intern(e.user);
                match slot {
                    Some((name, last)) => {
                        name.clear();
                        name.push_str(e.user);
                        *last = id;
                    }
                    None => *slot = Some((e.user.to_string(), id)),
                }
                id
            }
        };
        let i = self.items.intern(e.item);
        let p = &mut self.parts[part];
        p.rows.push(u);
        p.cols.push(i);
        p.values.push(e.value);
        match e.timestamp {
            Some(t) => p.times.push(t),
            None => {
                p.missing_time = true;
                p.times.push(0)
            }
        }
    }

    /// Reserves room for about `n` more events in part `part`, so that large reads do not
    /// copy their arrays as they grow (capacity that is never written costs no memory).
    pub fn reserve(&mut self, part: usize, n: usize) {
        let p = &mut self.parts[part];
        p.rows.reserve(n);
        p.cols.reserve(n);
        p.values.reserve(n);
        p.times.reserve(n);
    }

    /// Makes sure a user exists (e.g. a user line with no items).
    pub fn touch_user(&mut self, user: &str) -> u32 {
        self.users.intern(user)
    }

    /// Makes sure an item exists.
    pub fn touch_item(&mut self, item: &str) -> u32 {
        self.items.intern(item)
    }

    /// Number of events pushed so far, over all parts.
    pub fn len(&self) -> usize {
        self.parts.iter().map(|p| p.rows.len()).sum()
    }

    /// Whether no event was pushed.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Builds the matrices, one per part, in parallel where it pays.
    ///
    /// Timestamps are kept only when every event of every part has one; they are stored
    /// as seconds after the earliest one, which must span less than 136 years.
    pub fn build(self) -> Result<Vec<Interactions>> {
        let users = Arc::new(self.users);
        let items = Arc::new(self.items);
        let have_times = self.parts.iter().all(|p| !p.missing_time)
            && self.parts.iter().any(|p| !p.rows.is_empty());
        let (base, top) = if have_times {
            let it = self.parts.iter().flat_map(|p| p.times.iter().copied());
            let lo = it.clone().min().unwrap_or(0);
            (lo, it.max().unwrap_or(0))
        } else {
            (0, 0)
        };
        // In i128: `top - base` overflows i64 when both ends of its range are present.
        if have_times && (top as i128 - base as i128) > u32::MAX as i128 {
            return Err(DataError::Invalid(format!(
                "timestamps span {base}..{top}, more than 2^32 seconds; expected Unix seconds \
                 (milliseconds? divide by 1000)"
            )));
        }
        let mut out = Vec::with_capacity(self.parts.len());
        for p in self.parts {
            let rel: Option<Vec<u32>> =
                have_times.then(|| p.times.iter().map(|&t| (t - base) as u32).collect());
            drop(p.times);
            let m = CsrMatrix::from_coo(
                users.len(),
                items.len(),
                &p.rows,
                &p.cols,
                Some(&p.values),
                rel.as_deref(),
            );
            out.push(Interactions::new(users.clone(), items.clone(), m, base)?);
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(user: &'static str, t: i64) -> Event<'static> {
        Event {
            user,
            item: "x",
            value: 1.0,
            timestamp: Some(t),
            kind: None,
        }
    }

    /// Both ends of i64 in one build: `top - base` used to wrap to -1 and pass the span
    /// check, and the matrix then held wrapped times.
    #[test]
    fn a_span_over_the_whole_i64_range_is_refused() {
        let mut b = InteractionsBuilder::new();
        b.push(0, &at("a", i64::MIN));
        b.push(0, &at("b", i64::MAX));
        let e = b.build().unwrap_err().to_string();
        assert!(e.contains("more than 2^32 seconds"), "{e}");
        let mut b = InteractionsBuilder::new();
        b.push(0, &at("a", 1_700_000_000));
        b.push(0, &at("b", 1_700_000_000_000));
        assert!(b.build().is_err());
        let mut b = InteractionsBuilder::new();
        b.push(0, &at("a", -5));
        b.push(0, &at("b", u32::MAX as i64 - 5));
        let m = b.build().unwrap().remove(0);
        assert_eq!(m.time_base(), -5);
    }
}
