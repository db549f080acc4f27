//! # funnel-data — the data layer every other Funnel crate stands on
//!
//! It turns inputs into the two things the rest of the funnel works with:
//!
//! * **events** — `(user, item, value, timestamp, feedback type)` read by streaming
//!   [`read`]ers from CSV/TSV, JSON Lines, Parquet, RecBole atomic files, MovieLens native
//!   files and LightGCN lists, or produced by the deterministic [`synthetic`] generator;
//! * **interaction matrices** — [`Interactions`]: users×items in CSR (and CSC on demand),
//!   with values and timestamps, ≤ 12 bytes per interaction, over dense ids from [`IdMap`].
//!
//! It also holds the [`split`] protocols (given, random, leave-last-out, per-user and
//! global temporal) and entity attribute tables ([`EntityTable`]).
//!
//! ```
//! use funnel_data::{Event, InteractionsBuilder};
//! let mut b = InteractionsBuilder::new();
//! b.push(0, &Event::implicit("alice", "book-1"));
//! b.push(0, &Event::implicit("alice", "book-2"));
//! b.push(0, &Event::implicit("bob", "book-1"));
//! let m = b.build().unwrap().remove(0);
//! assert_eq!((m.n_users(), m.n_items(), m.nnz()), (2, 2, 3));
//! assert_eq!(m.csc().row_len(0), 2); // book-1 has two users
//! ```
#![warn(missing_docs)]
// Kernels walk CSR row ranges by index; zipped iterators over several arrays read worse.
#![allow(clippy::needless_range_loop)]

pub mod entities;
pub mod error;
pub mod ids;
pub mod interactions;
pub mod load;
pub mod matrix;
pub mod progress;
pub mod read;
pub mod split;
pub mod synthetic;

pub use entities::{AttrKind, AttrValue, EntityTable};
pub use error::{BadLine, DataError, Location, Result};
pub use ids::{IdMap, ItemId, UserId};
pub use interactions::{Event, Interactions, InteractionsBuilder};
pub use load::{load, DataSource, Loaded};
pub use matrix::{CsrMatrix, Row};
pub use progress::{NoProgress, Progress};
pub use read::{Format, ReadOptions, ReadReport};
pub use split::{split, Split, SplitReport, SplitSpec};
pub use synthetic::{Synthetic, SyntheticSpec};
