//! # funnel-store — durable users, items and feedback
//!
//! One [`Store`] over `sqlx`'s `Any` driver, so the embedded default (SQLite in WAL mode
//! with `synchronous = FULL`) and the scale-out backend (PostgreSQL) run the same queries.
//! Every write returns only after its transaction has committed: an acknowledged write is
//! on disk and survives `kill -9`. Feedback is keyed by (user, item, type, timestamp), so
//! a client that retries a batch after a lost answer does not count an event twice.
//!
//! ```
//! # tokio::runtime::Runtime::new().unwrap().block_on(async {
//! use funnel_store::{Feedback, Item, Store};
//! let dir = tempfile::tempdir().unwrap();
//! let store = Store::open_sqlite(&dir.path().join("funnel.db")).await.unwrap();
//! store.upsert_items(&[Item::new("i1")]).await.unwrap();
//! let fresh = store.insert_feedback(&[Feedback::new("click", "u1", "i1", 1_700_000_000)]).await.unwrap();
//! assert_eq!(fresh, vec![true]);
//! assert_eq!(store.feedback_of_user("u1").await.unwrap().len(), 1);
//! # });
//! ```
#![warn(missing_docs)]

mod records;

use std::path::Path;
use std::str::FromStr;

use sqlx::any::{AnyConnectOptions, AnyPoolOptions, AnyRow};
use sqlx::{AnyPool, Row};

pub use records::{Feedback, Item, User};

/// What can go wrong in the store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database answered with an error (or could not be reached).
    #[error("store ({backend}): {source}")]
    Database {
        /// `sqlite` or `postgres`.
        backend: &'static str,
        /// The driver's error.
        #[source]
        source: sqlx::Error,
    },
    /// A URL that names no backend Funnel knows.
    #[error("store URL `{0}`: expected sqlite://PATH or postgres://USER:PASSWORD@HOST/DB")]
    Url(String),
    /// Feedback names a user or item the store does not have, and the caller asked not
    /// to create it; nothing of the batch was written.
    #[error("{what} `{id}` not found")]
    Unknown {
        /// `user` or `item`.
        what: &'static str,
        /// The id.
        id: String,
    },
    /// The referenced rows kept disappearing under concurrent deletes; nothing was
    /// written and the caller may retry.
    #[error(
        "store ({backend}): {what} rows were deleted concurrently {attempts} times in a row; retry"
    )]
    Contention {
        /// `sqlite` or `postgres`.
        backend: &'static str,
        /// `users` or `items`.
        what: &'static str,
        /// Attempts made.
        attempts: usize,
    },
    /// A stored JSON column that does not parse (the database was edited by hand).
    #[error("store: column `{column}` of {table} `{id}` is not valid JSON: {message}")]
    Corrupt {
        /// Table.
        table: &'static str,
        /// Row key.
        id: String,
        /// Column.
        column: &'static str,
        /// Parser message.
        message: String,
    },
}

/// Results of the store.
pub type Result<T> = std::result::Result<T, StoreError>;

/// Which database a store talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// Embedded SQLite file.
    Sqlite,
    /// A PostgreSQL server.
    Postgres,
}

impl Backend {
    /// `sqlite` or `postgres`.
    pub fn name(self) -> &'static str {
        match self {
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgres",
        }
    }
}

/// What [`Store::insert_feedback_with`] does with users and items a batch names that the
/// store does not have.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unknown {
    /// Create them (bare, in the batch's own transaction).
    Create,
    /// Refuse the whole batch with [`StoreError::Unknown`].
    Refuse,
}

/// The users and items of a feedback batch that may be missing from the store (see
/// [`Store::insert_feedback_with`]).
#[derive(Debug, Clone, Copy)]
pub struct MaybeNew<'a> {
    /// User ids.
    pub users: &'a [&'a str],
    /// Item ids.
    pub items: &'a [&'a str],
}

/// Users, items and feedback in a database.
#[derive(Debug, Clone)]
pub struct Store {
    pool: AnyPool,
    backend: Backend,
}

const SCHEMA: &[&str] = &[
    "CREATE TABLE IF NOT EXISTS items (
        item_id TEXT PRIMARY KEY,
        categories TEXT NOT NULL,
        attributes TEXT NOT NULL,
        hidden BIGINT NOT NULL,
        timestamp BIGINT NOT NULL,
        expires_at BIGINT,
        comment TEXT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS users (
        user_id TEXT PRIMARY KEY,
        attributes TEXT NOT NULL,
        comment TEXT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS feedback (
        user_id TEXT NOT NULL,
        item_id TEXT NOT NULL,
        feedback_type TEXT NOT NULL,
        timestamp BIGINT NOT NULL,
        value DOUBLE PRECISION NOT NULL,
        PRIMARY KEY (user_id, item_id, feedback_type, timestamp))",
    "CREATE INDEX IF NOT EXISTS feedback_by_item ON feedback (item_id)",
    "CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
];

/// `(table, column, type)` of columns added since the first schema; NULL in old rows.
const ADDED_COLUMNS: &[(&str, &str, &str)] = &[
    // The display position of a feedback event (1 = top), when the client gave it.
    ("feedback", "display_position", "BIGINT"),
];

impl Store {
    /// Opens (creating when needed) the SQLite file at `path`.
    pub async fn open_sqlite(path: &Path) -> Result<Store> {
        Store::open(&format!("sqlite://{}?mode=rwc", path.display())).await
    }

    /// Opens `sqlite://PATH` or `postgres://…` and creates the tables if they are missing.
    pub async fn open(url: &str) -> Result<Store> {
        sqlx::any::install_default_drivers();
        let backend = if url.starts_with("sqlite:") {
            Backend::Sqlite
        } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
            Backend::Postgres
        } else {
            return Err(StoreError::Url(url.to_string()));
        };
        let db = |source| StoreError::Database {
            backend: backend.name(),
            source,
        };
        let options = AnyConnectOptions::from_str(url).map_err(db)?;
        // SQLite has one writer; a few connections serve concurrent reads, and
        // busy_timeout makes a second writer wait instead of failing.
        let max = if backend == Backend::Sqlite { 4 } else { 8 };
        let pool = AnyPoolOptions::new()
            .max_connections(max)
            .after_connect(move |conn, _| {
                Box::pin(async move {
                    if backend == Backend::Sqlite {
                        for pragma in [
                            "PRAGMA journal_mode = WAL",
                            "PRAGMA synchronous = FULL",
                            "PRAGMA busy_timeout = 10000",
                        ] {
                            sqlx::query(pragma).execute(&mut *conn).await?;
                        }
                    }
                    Ok(())
                })
            })
            .connect_with(options)
            .await
            .map_err(db)?;
        let store = Store { pool, backend };
        for ddl in SCHEMA {
            sqlx::query(ddl)
                .execute(&store.pool)
                .await
                .map_err(|e| store.err(e))?;
        }
        store.add_missing_columns().await?;
        Ok(store)
    }

    /// Columns added after a table was first made, added to stores made before them
    /// (neither SQLite nor PostgreSQL's `ADD COLUMN` can be told to skip an existing one
    /// on both; a probe of the column can).
    async fn add_missing_columns(&self) -> Result<()> {
        for (table, column, ty) in ADDED_COLUMNS {
            let probe = format!("SELECT {column} FROM {table} LIMIT 0");
            if sqlx::query(&probe).execute(&self.pool).await.is_ok() {
                continue;
            }
            sqlx::query(&format!("ALTER TABLE {table} ADD COLUMN {column} {ty}"))
                .execute(&self.pool)
                .await
                .map_err(|e| self.err(e))?;
        }
        Ok(())
    }

    /// Starts a write transaction. On SQLite it takes the write lock at once (`BEGIN
    /// IMMEDIATE`): a transaction that read first and wrote later would fail with
    /// `SQLITE_BUSY_SNAPSHOT` whenever another write committed in between, and with the
    /// lock held from the start every read inside the transaction is current.
    async fn begin_write(&self) -> Result<sqlx::Transaction<'static, sqlx::Any>> {
        let tx = match self.backend {
            Backend::Sqlite => self.pool.begin_with("BEGIN IMMEDIATE").await,
            Backend::Postgres => self.pool.begin().await,
        };
        tx.map_err(|e| self.err(e))
    }

    /// The database behind this store.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    fn err(&self, source: sqlx::Error) -> StoreError {
        StoreError::Database {
            backend: self.backend.name(),
            source,
        }
    }

    /// Inserts or replaces items, in one transaction.
    pub async fn upsert_items(&self, items: &[Item]) -> Result<()> {
        let mut tx = self.begin_write().await?;
        for it in items {
            sqlx::query(
                "INSERT INTO items (item_id, categories, attributes, hidden, timestamp, expires_at, comment)
                 VALUES ($1, $2, $3, $4, $5, $6, $7)
                 ON CONFLICT (item_id) DO UPDATE SET categories = excluded.categories,
                   attributes = excluded.attributes, hidden = excluded.hidden,
                   timestamp = excluded.timestamp, expires_at = excluded.expires_at,
                   comment = excluded.comment",
            )
            .bind(&it.item_id)
            .bind(serde_json::to_string(&it.categories).expect("strings serialise"))
            .bind(it.attributes.to_string())
            .bind(it.hidden as i64)
            .bind(it.timestamp)
            .bind(it.expires_at)
            .bind(&it.comment)
            .execute(&mut *tx)
            .await
            .map_err(|e| self.err(e))?;
        }
        tx.commit().await.map_err(|e| self.err(e))
    }

    /// One item.
    pub async fn get_item(&self, id: &str) -> Result<Option<Item>> {
        if !storable(id) {
            return Ok(None);
        }
        let row = sqlx::query("SELECT * FROM items WHERE item_id = $1")
            .bind(id)
            .fetch_optional(&self.pool)
            .await
            .map_err(|e| self.err(e))?;
        row.map(|r| item_of(&r)).transpose()
    }

    /// Every item (read once at start-up to fill the in-memory catalogue).
    pub async fn items(&self) -> Result<Vec<Item>> {
        let rows = sqlx::query("SELECT * FROM items ORDER BY item_id")
            .fetch_all(&self.pool)
            .await
            .map_err(|e| self.err(e))?;
        rows.iter().map(item_of).collect()
    }

    /// Deletes an item and its feedback; false when there was no such item.
    pub async fn delete_item(&self, id: &str) -> Result<bool> {
        self.delete_with_feedback("items", "item_id", id).await
    }

    /// Deletes the row of `table` whose `column` is `id`, and the feedback naming it, in
    /// one transaction; false when there was no such row.
    async fn delete_with_feedback(&self, table: &str, column: &str, id: &str) -> Result<bool> {
        if !storable(id) {
            return Ok(false);
        }
        let mut tx = self.begin_write().await?;
        let n = sqlx::query(&format!("DELETE FROM {table} WHERE {column} = $1"))
            .bind(id)
            .execute(&mut *tx)
            .await
            .map_err(|e| self.err(e))?
            .rows_affected();
        sqlx::query(&format!("DELETE FROM feedback WHERE {column} = $1"))
            .bind(id)
            .execute(&mut *tx)
            .await
            .map_err(|e| self.err(e))?;
        tx.commit().await.map_err(|e| self.err(e))?;
        Ok(n > 0)
    }

    /// Creates bare items for ids the store does not have (feedback that names a new
    /// item); existing items are left as they are.
    pub async fn ensure_items(&self, ids: &[&str]) -> Result<()> {
        let mut tx = self.begin_write().await?;
        self.hold(&mut tx, Table::Items, ids, Unknown::Create)
            .await?;
        tx.commit().await.map_err(|e| self.err(e))
    }

    /// Creates bare users for ids the store does not have.
    pub async fn ensure_users(&self, ids: &[&str]) -> Result<()> {
        let mut tx = self.begin_write().await?;
        self.hold(&mut tx, Table::Users, ids, Unknown::Create)
            .await?;
        tx.commit().await.map_err(|e| self.err(e))
    }

    /// Inserts or replaces users, in one transaction.
    pub async fn upsert_users(&self, users: &[User]) -> Result<()> {
        let mut tx = self.begin_write().await?;
        for u in users {
            sqlx::query(
                "INSERT INTO users (user_id, attributes, comment) VALUES ($1, $2, $3)
                 ON CONFLICT (user_id) DO UPDATE SET attributes = excluded.attributes,
                   comment = excluded.comment",
            )
            .bind(&u.user_id)
            .bind(u.attributes.to_string())
            .bind(&u.comment)
            .execute(&mut *tx)
            .await
            .map_err(|e| self.err(e))?;
        }
        tx.commit().await.map_err(|e| self.err(e))
    }

    /// One user.
    pub async fn get_user(&self, id: &str) -> Result<Option<User>> {
        if !storable(id) {
            return Ok(None);
        }
        let row = sqlx::query("SELECT * FROM users WHERE user_id = $1")
            .bind(id)
            .fetch_optional(&self.pool)
            .await
            .map_err(|e| self.err(e))?;
        row.map(|r| user_of(&r)).transpose()
    }

    /// Every user.
    pub async fn users(&self) -> Result<Vec<User>> {
        let rows = sqlx::query("SELECT * FROM users ORDER BY user_id")
            .fetch_all(&self.pool)
            .await
            .map_err(|e| self.err(e))?;
        rows.iter().map(user_of).collect()
    }

    /// Deletes a user and their feedback; false when there was no such user.
    pub async fn delete_user(&self, id: &str) -> Result<bool> {
        self.delete_with_feedback("users", "user_id", id).await
    }

    /// Inserts feedback in one transaction and returns, per event, whether it was new
    /// (false: the same user, item, type and timestamp was already stored). Users and
    /// items the events name that the store lacks are created in the same transaction, so
    /// a batch that is not acknowledged leaves nothing behind. Returns after the commit,
    /// so every event it answers for is durable.
    pub async fn insert_feedback(&self, events: &[Feedback]) -> Result<Vec<bool>> {
        self.insert_feedback_with(events, Unknown::Create, None)
            .await
    }

    /// [`Store::insert_feedback`], choosing what happens to unknown users and items.
    ///
    /// The users and items the batch names are held for the whole transaction (on
    /// PostgreSQL `FOR KEY SHARE`, on SQLite by its single writer), so a concurrent delete
    /// of one of them either commits first — and the batch re-creates it or is refused —
    /// or waits and then removes the batch's events with it: no feedback row outlives its
    /// user or item, even with several servers on one database.
    ///
    /// `maybe_new`: on SQLite — a file only this process writes — a caller that keeps its
    /// own concurrent writers off the batch's users and items (the server's write gate)
    /// and knows which of them exist may name the others; only those are then created or
    /// checked (checking 5,000 known ids per batch cost a fifth of the ingest rate).
    /// PostgreSQL, which several servers may share, checks every id regardless.
    pub async fn insert_feedback_with(
        &self,
        events: &[Feedback],
        unknown: Unknown,
        maybe_new: Option<MaybeNew<'_>>,
    ) -> Result<Vec<bool>> {
        let (mut users, mut items): (Vec<&str>, Vec<&str>) = match maybe_new {
            Some(m) if self.backend == Backend::Sqlite => (m.users.to_vec(), m.items.to_vec()),
            _ => (
                events.iter().map(|e| e.user_id.as_str()).collect(),
                events.iter().map(|e| e.item_id.as_str()).collect(),
            ),
        };
        for ids in [&mut users, &mut items] {
            ids.sort_unstable();
            ids.dedup();
        }
        let mut tx = self.begin_write().await?;
        self.hold(&mut tx, Table::Users, &users, unknown).await?;
        self.hold(&mut tx, Table::Items, &items, unknown).await?;
        let mut fresh = Vec::with_capacity(events.len());
        for f in events {
            let n = sqlx::query(
                "INSERT INTO feedback (user_id, item_id, feedback_type, timestamp, value,
                   display_position)
                 VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING",
            )
            .bind(&f.user_id)
            .bind(&f.item_id)
            .bind(&f.feedback_type)
            .bind(f.timestamp)
            .bind(f.value)
            .bind(f.position.map(i64::from))
            .execute(&mut *tx)
            .await
            .map_err(|e| self.err(e))?
            .rows_affected();
            fresh.push(n > 0);
        }
        tx.commit().await.map_err(|e| self.err(e))?;
        Ok(fresh)
    }

    /// Makes sure every id of `ids` (sorted, distinct) has a row in `table` that no other
    /// transaction can delete before `tx` ends: existing rows are locked, missing ones
    /// created (or the batch refused).
    async fn hold(
        &self,
        tx: &mut sqlx::Transaction<'static, sqlx::Any>,
        table: Table,
        ids: &[&str],
        unknown: Unknown,
    ) -> Result<()> {
        // PostgreSQL: a row can vanish between our INSERT (which found it) and our lock
        // (a delete committed in between); then it is created again. A few rounds suffice.
        const ATTEMPTS: usize = 4;
        let (name, key, _, _) = table.sql();
        let lock = match self.backend {
            Backend::Postgres => " FOR KEY SHARE",
            Backend::Sqlite => "",
        };
        for chunk in ids.chunks(500) {
            let mut pending: Vec<&str> = chunk.to_vec();
            if self.backend == Backend::Sqlite && unknown == Unknown::Create {
                // The write lock is ours since BEGIN IMMEDIATE: creating what is missing
                // is all it takes, in one statement per chunk.
                self.insert_bare(tx, table, &pending).await?;
                continue;
            }
            let mut attempt = 0;
            while !pending.is_empty() {
                if attempt == ATTEMPTS {
                    return Err(StoreError::Contention {
                        backend: self.backend.name(),
                        what: name,
                        attempts: ATTEMPTS,
                    });
                }
                attempt += 1;
                let q = format!(
                    "SELECT {key} FROM {name} WHERE {key} IN ({}){lock}",
                    placeholders(pending.len(), 1)
                );
                let mut sel = sqlx::query(&q);
                for id in &pending {
                    sel = sel.bind(*id);
                }
                let rows = sel.fetch_all(&mut **tx).await.map_err(|e| self.err(e))?;
                let present: std::collections::HashSet<String> = rows
                    .iter()
                    .map(|r| r.try_get::<String, _>(0))
                    .collect::<std::result::Result<_, _>>()
                    .map_err(|e| self.err(e))?;
                pending.retain(|id| !present.contains(*id));
                if pending.is_empty() {
                    break;
                }
                if unknown == Unknown::Refuse {
                    return Err(StoreError::Unknown {
                        what: table.what(),
                        id: pending[0].to_string(),
                    });
                }
                self.insert_bare(tx, table, &pending).await?;
            }
        }
        Ok(())
    }

    /// Inserts bare rows for `ids` into `table`, leaving existing ones as they are.
    async fn insert_bare(
        &self,
        tx: &mut sqlx::Transaction<'static, sqlx::Any>,
        table: Table,
        ids: &[&str],
    ) -> Result<()> {
        let (name, _, columns, bare) = table.sql();
        let values: Vec<String> = (0..ids.len())
            .map(|k| format!("(${}, {bare})", k + 1))
            .collect();
        let q = format!(
            "INSERT INTO {name} ({columns}) VALUES {} ON CONFLICT DO NOTHING",
            values.join(", ")
        );
        let mut ins = sqlx::query(&q);
        for id in ids {
            ins = ins.bind(*id);
        }
        ins.execute(&mut **tx).await.map_err(|e| self.err(e))?;
        Ok(())
    }

    /// Deletes feedback whose user or item is gone — rows left behind by earlier versions,
    /// which ingested feedback and deleted users or items in separate transactions that
    /// could interleave; returns how many rows went. The server runs it at start-up.
    pub async fn delete_orphan_feedback(&self) -> Result<u64> {
        let mut tx = self.begin_write().await?;
        let n = sqlx::query(
            "DELETE FROM feedback
             WHERE NOT EXISTS (SELECT 1 FROM users WHERE users.user_id = feedback.user_id)
                OR NOT EXISTS (SELECT 1 FROM items WHERE items.item_id = feedback.item_id)",
        )
        .execute(&mut *tx)
        .await
        .map_err(|e| self.err(e))?
        .rows_affected();
        tx.commit().await.map_err(|e| self.err(e))?;
        Ok(n)
    }

    /// A user's feedback, oldest first.
    pub async fn feedback_of_user(&self, user: &str) -> Result<Vec<Feedback>> {
        self.feedback_where("user_id = $1", user).await
    }

    /// An item's feedback, oldest first.
    pub async fn feedback_of_item(&self, item: &str) -> Result<Vec<Feedback>> {
        self.feedback_where("item_id = $1", item).await
    }

    async fn feedback_where(&self, cond: &str, key: &str) -> Result<Vec<Feedback>> {
        if !storable(key) {
            return Ok(Vec::new());
        }
        let q = format!(
            "SELECT user_id, item_id, feedback_type, timestamp, value, display_position
             FROM feedback WHERE {cond} ORDER BY timestamp, user_id, item_id, feedback_type"
        );
        let rows = sqlx::query(&q)
            .bind(key)
            .fetch_all(&self.pool)
            .await
            .map_err(|e| self.err(e))?;
        rows.iter().map(|r| self.feedback_of(r)).collect()
    }

    /// All feedback, oldest first (start-up and training).
    pub async fn all_feedback(&self) -> Result<Vec<Feedback>> {
        let rows = sqlx::query(
            "SELECT user_id, item_id, feedback_type, timestamp, value, display_position
             FROM feedback ORDER BY timestamp, user_id, item_id, feedback_type",
        )
        .fetch_all(&self.pool)
        .await
        .map_err(|e| self.err(e))?;
        rows.iter().map(|r| self.feedback_of(r)).collect()
    }

    /// Number of stored feedback events.
    pub async fn count_feedback(&self) -> Result<u64> {
        let n: i64 = sqlx::query("SELECT COUNT(*) FROM feedback")
            .fetch_one(&self.pool)
            .await
            .and_then(|r| r.try_get(0))
            .map_err(|e| self.err(e))?;
        Ok(n as u64)
    }

    /// A value from the key-value table (e.g. the active model version).
    pub async fn get_meta(&self, key: &str) -> Result<Option<String>> {
        if !storable(key) {
            return Ok(None);
        }
        let row = sqlx::query("SELECT value FROM meta WHERE key = $1")
            .bind(key)
            .fetch_optional(&self.pool)
            .await
            .map_err(|e| self.err(e))?;
        row.map(|r| r.try_get::<String, _>(0))
            .transpose()
            .map_err(|e| self.err(e))
    }

    /// Sets a value in the key-value table.
    pub async fn set_meta(&self, key: &str, value: &str) -> Result<()> {
        sqlx::query(
            "INSERT INTO meta (key, value) VALUES ($1, $2)
             ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        )
        .bind(key)
        .bind(value)
        .execute(&self.pool)
        .await
        .map_err(|e| self.err(e))?;
        Ok(())
    }

    /// Checks that the database answers (readiness).
    pub async fn ping(&self) -> Result<()> {
        sqlx::query("SELECT 1")
            .execute(&self.pool)
            .await
            .map_err(|e| self.err(e))?;
        Ok(())
    }

    /// Closes the pool, waiting for open connections.
    pub async fn close(&self) {
        self.pool.close().await;
    }

    fn feedback_of(&self, r: &AnyRow) -> Result<Feedback> {
        (|| {
            Ok::<_, sqlx::Error>(Feedback {
                user_id: r.try_get("user_id")?,
                item_id: r.try_get("item_id")?,
                feedback_type: r.try_get("feedback_type")?,
                timestamp: r.try_get("timestamp")?,
                value: r.try_get("value")?,
                position: r
                    .try_get::<Option<i64>, _>("display_position")?
                    .and_then(|p| u32::try_from(p).ok()),
            })
        })()
        .map_err(|e| self.err(e))
    }
}

/// The entity tables feedback refers to.
#[derive(Debug, Clone, Copy)]
enum Table {
    Users,
    Items,
}

impl Table {
    /// Table name, key column, every column, and the other columns' values of a bare row.
    fn sql(self) -> (&'static str, &'static str, &'static str, &'static str) {
        match self {
            Table::Users => (
                "users",
                "user_id",
                "user_id, attributes, comment",
                "'{}', ''",
            ),
            Table::Items => (
                "items",
                "item_id",
                "item_id, categories, attributes, hidden, timestamp, expires_at, comment",
                "'[]', '{}', 0, 0, NULL, ''",
            ),
        }
    }

    fn what(self) -> &'static str {
        match self {
            Table::Users => "user",
            Table::Items => "item",
        }
    }
}

/// `$first, $first+1, …` for `n` bound values.
fn placeholders(n: usize, first: usize) -> String {
    (first..first + n)
        .map(|k| format!("${k}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Whether a key can be stored at all: PostgreSQL text cannot hold NUL, so a lookup of
/// such a key finds nothing on either backend (rather than failing on one of them).
/// Writers refuse such keys before they reach the store.
fn storable(key: &str) -> bool {
    !key.contains('\0')
}

fn db_err(source: sqlx::Error) -> StoreError {
    StoreError::Database {
        backend: "sqlite or postgres",
        source,
    }
}

fn json_column(
    table: &'static str,
    id: &str,
    column: &'static str,
    text: &str,
) -> Result<serde_json::Value> {
    serde_json::from_str(text).map_err(|e| StoreError::Corrupt {
        table,
        id: id.to_string(),
        column,
        message: e.to_string(),
    })
}

fn item_of(r: &AnyRow) -> Result<Item> {
    let id: String = r.try_get("item_id").map_err(db_err)?;
    let cats: String = r.try_get("categories").map_err(db_err)?;
    let attrs: String = r.try_get("attributes").map_err(db_err)?;
    let categories = serde_json::from_value(json_column("item", &id, "categories", &cats)?)
        .map_err(|e| StoreError::Corrupt {
            table: "item",
            id: id.clone(),
            column: "categories",
            message: e.to_string(),
        })?;
    Ok(Item {
        attributes: json_column("item", &id, "attributes", &attrs)?,
        categories,
        hidden: r.try_get::<i64, _>("hidden").map_err(db_err)? != 0,
        timestamp: r.try_get("timestamp").map_err(db_err)?,
        expires_at: r.try_get("expires_at").map_err(db_err)?,
        comment: r.try_get("comment").map_err(db_err)?,
        item_id: id,
    })
}

fn user_of(r: &AnyRow) -> Result<User> {
    let id: String = r.try_get("user_id").map_err(db_err)?;
    let attrs: String = r.try_get("attributes").map_err(db_err)?;
    Ok(User {
        attributes: json_column("user", &id, "attributes", &attrs)?,
        comment: r.try_get("comment").map_err(db_err)?,
        user_id: id,
    })
}
