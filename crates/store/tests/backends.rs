//! The same scenario against SQLite and PostgreSQL: one code path, two databases.
//!
//! PostgreSQL runs when `FUNNEL_TEST_POSTGRES_URL` names a database (CI starts a server
//! and sets it, with `FUNNEL_REQUIRE_POSTGRES=1` so that a missing server fails instead of
//! skipping).

use funnel_store::{Backend, Feedback, Item, Store, StoreError, Unknown, User};

async fn scenario(store: &Store, run: &str) {
    let id = |s: &str| format!("{run}-{s}");
    // items: insert, replace, read back with every field
    let mut a = Item::new(&id("a"));
    a.categories = vec!["news".into(), "sport".into()];
    a.attributes = serde_json::json!({"price": 9.5, "tags": ["x"]});
    a.timestamp = 1_700_000_000;
    a.expires_at = Some(1_800_000_000);
    a.comment = "first".into();
    store
        .upsert_items(&[a.clone(), Item::new(&id("b"))])
        .await
        .unwrap();
    assert_eq!(store.get_item(&id("a")).await.unwrap(), Some(a.clone()));
    a.hidden = true;
    a.comment = "second".into();
    store.upsert_items(std::slice::from_ref(&a)).await.unwrap();
    assert_eq!(store.get_item(&id("a")).await.unwrap(), Some(a.clone()));
    assert!(store.get_item(&id("nothing")).await.unwrap().is_none());
    // a key no backend can hold is simply not found (PostgreSQL text has no NUL)
    assert!(store.get_item("a\0b").await.unwrap().is_none());
    assert!(store.feedback_of_user("a\0b").await.unwrap().is_empty());
    assert!(!store.delete_user("a\0b").await.unwrap());
    // ensure_items does not overwrite an existing item
    store.ensure_items(&[&id("a"), &id("c")]).await.unwrap();
    assert_eq!(store.get_item(&id("a")).await.unwrap(), Some(a.clone()));
    assert_eq!(
        store.get_item(&id("c")).await.unwrap(),
        Some(Item::new(&id("c")))
    );
    // users
    let mut u = User::new(&id("u"));
    u.attributes = serde_json::json!({"age": 31});
    store.upsert_users(std::slice::from_ref(&u)).await.unwrap();
    store.ensure_users(&[&id("u"), &id("v")]).await.unwrap();
    assert_eq!(store.get_user(&id("u")).await.unwrap(), Some(u.clone()));
    assert!(store.get_user(&id("v")).await.unwrap().is_some());
    // feedback: new vs already stored, per-user and per-item lists in time order
    let f1 = Feedback::new("click", &id("u"), &id("a"), 10);
    let mut f2 = Feedback::new("read", &id("u"), &id("b"), 5);
    f2.value = 0.25;
    // where the item was shown, read back as written
    f2.position = Some(3);
    let f3 = Feedback::new("click", &id("v"), &id("a"), 20);
    assert_eq!(
        store
            .insert_feedback(&[f1.clone(), f2.clone()])
            .await
            .unwrap(),
        vec![true, true]
    );
    assert_eq!(
        store
            .insert_feedback(&[f1.clone(), f3.clone()])
            .await
            .unwrap(),
        vec![false, true]
    );
    assert_eq!(
        store.feedback_of_user(&id("u")).await.unwrap(),
        vec![f2.clone(), f1.clone()]
    );
    assert_eq!(
        store.feedback_of_item(&id("a")).await.unwrap(),
        vec![f1.clone(), f3.clone()]
    );
    let all = store.all_feedback().await.unwrap();
    assert!(all.contains(&f1) && all.contains(&f2) && all.contains(&f3));
    assert!(store.count_feedback().await.unwrap() >= 3);
    // deleting removes the feedback too
    assert!(store.delete_item(&id("a")).await.unwrap());
    assert!(!store.delete_item(&id("a")).await.unwrap());
    assert!(store.feedback_of_item(&id("a")).await.unwrap().is_empty());
    assert_eq!(store.feedback_of_user(&id("u")).await.unwrap(), vec![f2]);
    assert!(store.delete_user(&id("u")).await.unwrap());
    assert!(store.feedback_of_user(&id("u")).await.unwrap().is_empty());
    // meta
    store.set_meta(&id("k"), "1").await.unwrap();
    store.set_meta(&id("k"), "2").await.unwrap();
    assert_eq!(
        store.get_meta(&id("k")).await.unwrap().as_deref(),
        Some("2")
    );
    store.ping().await.unwrap();
    batches_are_whole(store, run).await;
    deletes_racing_feedback_leave_no_orphans(store, run).await;
}

/// A batch's new users and items belong to its transaction: a batch that fails writes
/// none of them (on `main` before this test, they were committed first, on their own).
async fn batches_are_whole(store: &Store, run: &str) {
    let id = |s: &str| format!("{run}-whole-{s}");
    // The last event cannot be stored on either backend: SQLite turns NaN into NULL
    // (NOT NULL fails), PostgreSQL refuses NUL in text.
    let mut poisoned = Feedback::new("cl\0ick", &id("u2"), &id("i2"), 3);
    poisoned.value = f64::NAN;
    let batch = [Feedback::new("click", &id("u1"), &id("i1"), 1), poisoned];
    assert!(store.insert_feedback(&batch).await.is_err());
    for u in ["u1", "u2"] {
        assert!(store.get_user(&id(u)).await.unwrap().is_none(), "{u}");
    }
    for i in ["i1", "i2"] {
        assert!(store.get_item(&id(i)).await.unwrap().is_none(), "{i}");
    }
    assert!(store.feedback_of_user(&id("u1")).await.unwrap().is_empty());
    // Refusing unknown ids refuses the whole batch and names the id.
    store
        .upsert_users(&[User::new(&id("known"))])
        .await
        .unwrap();
    store
        .upsert_items(&[Item::new(&id("known"))])
        .await
        .unwrap();
    let batch = [
        Feedback::new("click", &id("known"), &id("known"), 1),
        Feedback::new("click", &id("known"), &id("stranger"), 1),
    ];
    match store
        .insert_feedback_with(&batch, Unknown::Refuse, None)
        .await
    {
        Err(StoreError::Unknown {
            what: "item",
            id: i,
        }) => assert_eq!(i, id("stranger")),
        other => panic!("expected an unknown item, got {other:?}"),
    }
    assert!(store
        .feedback_of_user(&id("known"))
        .await
        .unwrap()
        .is_empty());
    assert_eq!(
        store
            .insert_feedback_with(&batch[..1], Unknown::Refuse, None)
            .await
            .unwrap(),
        vec![true]
    );
}

/// Writers ingest feedback for a few users and items while others delete those users and
/// items; afterwards no feedback row names a user or item that is gone.
async fn deletes_racing_feedback_leave_no_orphans(store: &Store, run: &str) {
    let users: Vec<String> = (0..4).map(|k| format!("{run}-race-u{k}")).collect();
    let items: Vec<String> = (0..4).map(|k| format!("{run}-race-i{k}")).collect();
    let until = std::time::Instant::now() + std::time::Duration::from_secs(3);
    let mut tasks = Vec::new();
    for w in 0..6u64 {
        let (store, users, items) = (store.clone(), users.clone(), items.clone());
        tasks.push(tokio::spawn(async move {
            let mut t = 0i64;
            while std::time::Instant::now() < until {
                t += 1;
                let k = (t as usize + w as usize) % 4;
                let r = match w % 3 {
                    0 | 1 => {
                        let batch: Vec<Feedback> = (0..4)
                            .map(|j| {
                                Feedback::new(
                                    "click",
                                    &users[(k + j) % 4],
                                    &items[(k + 2 * j) % 4],
                                    t * 10 + w as i64,
                                )
                            })
                            .collect();
                        store.insert_feedback(&batch).await.map(|_| ())
                    }
                    _ if t % 2 == 0 => store.delete_user(&users[k]).await.map(|_| ()),
                    _ => store.delete_item(&items[k]).await.map(|_| ()),
                };
                // PostgreSQL may pick a deadlock victim or report contention: the write
                // was not acknowledged, which is fine; anything else is a bug.
                if let Err(e) = r {
                    let s = e.to_string();
                    assert!(
                        s.contains("deadlock") || matches!(e, StoreError::Contention { .. }),
                        "{s}"
                    );
                }
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let all = store.all_feedback().await.unwrap();
    let mut checked = 0;
    for f in all
        .iter()
        .filter(|f| f.user_id.starts_with(&format!("{run}-race-")))
    {
        assert!(store.get_user(&f.user_id).await.unwrap().is_some(), "{f:?}");
        assert!(store.get_item(&f.item_id).await.unwrap().is_some(), "{f:?}");
        checked += 1;
    }
    eprintln!("{checked} race feedback rows, none orphaned");
    assert_eq!(store.delete_orphan_feedback().await.unwrap(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("f.db");
    let store = Store::open_sqlite(&path).await.unwrap();
    assert_eq!(store.backend(), Backend::Sqlite);
    scenario(&store, "run").await;
    store.close().await;
    // reopened: still there, in WAL mode
    let store = Store::open_sqlite(&path).await.unwrap();
    assert!(store.get_item("run-b").await.unwrap().is_some());
    assert!(dir.path().join("f.db-wal").exists() || dir.path().join("f.db").exists());
}

/// Feedback rows of users or items that are gone (as earlier versions could leave them)
/// are removed by `delete_orphan_feedback`, and only those.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn orphan_feedback_is_removed() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open_sqlite(&dir.path().join("f.db")).await.unwrap();
    store
        .insert_feedback(&[
            Feedback::new("click", "u", "i", 1),
            Feedback::new("click", "v", "i", 1),
        ])
        .await
        .unwrap();
    store.close().await;
    // an orphan made by hand, as an interleaved delete used to leave it
    let pool =
        sqlx::SqlitePool::connect(&format!("sqlite://{}", dir.path().join("f.db").display()))
            .await
            .unwrap();
    sqlx::query("DELETE FROM users WHERE user_id = 'v'")
        .execute(&pool)
        .await
        .unwrap();
    pool.close().await;
    let store = Store::open_sqlite(&dir.path().join("f.db")).await.unwrap();
    assert_eq!(store.delete_orphan_feedback().await.unwrap(), 1);
    assert_eq!(store.all_feedback().await.unwrap().len(), 1);
    assert_eq!(store.delete_orphan_feedback().await.unwrap(), 0);
}

/// A store made before feedback carried display positions opens with the column added:
/// old rows have none, new rows keep theirs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_store_from_before_positions_gains_the_column() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("old.db");
    let url = format!("sqlite://{}?mode=rwc", path.display());
    let pool = sqlx::SqlitePool::connect(&url).await.unwrap();
    for ddl in [
        "CREATE TABLE users (user_id TEXT PRIMARY KEY, attributes TEXT NOT NULL, comment TEXT NOT NULL)",
        "CREATE TABLE items (item_id TEXT PRIMARY KEY, categories TEXT NOT NULL, attributes TEXT NOT NULL,
            hidden BIGINT NOT NULL, timestamp BIGINT NOT NULL, expires_at BIGINT, comment TEXT NOT NULL)",
        "CREATE TABLE feedback (user_id TEXT NOT NULL, item_id TEXT NOT NULL, feedback_type TEXT NOT NULL,
            timestamp BIGINT NOT NULL, value DOUBLE PRECISION NOT NULL,
            PRIMARY KEY (user_id, item_id, feedback_type, timestamp))",
        "INSERT INTO users VALUES ('u', '{}', '')",
        "INSERT INTO items VALUES ('i', '[]', '{}', 0, 0, NULL, '')",
        "INSERT INTO feedback VALUES ('u', 'i', 'click', 7, 1.0)",
    ] {
        sqlx::query(ddl).execute(&pool).await.unwrap();
    }
    pool.close().await;
    let store = Store::open_sqlite(&path).await.unwrap();
    let mut f = Feedback::new("read", "u", "i", 9);
    f.position = Some(2);
    store
        .insert_feedback(std::slice::from_ref(&f))
        .await
        .unwrap();
    let all = store.all_feedback().await.unwrap();
    assert_eq!(all, vec![Feedback::new("click", "u", "i", 7), f]);
    store.close().await;
    // and opening it again leaves the column be
    let store = Store::open_sqlite(&path).await.unwrap();
    assert_eq!(store.all_feedback().await.unwrap().len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres() {
    let Ok(url) = std::env::var("FUNNEL_TEST_POSTGRES_URL") else {
        assert!(
            std::env::var("FUNNEL_REQUIRE_POSTGRES").is_err(),
            "FUNNEL_REQUIRE_POSTGRES is set but FUNNEL_TEST_POSTGRES_URL is not"
        );
        eprintln!("skipped: set FUNNEL_TEST_POSTGRES_URL=postgres://… to run against PostgreSQL");
        return;
    };
    let store = Store::open(&url).await.unwrap();
    assert_eq!(store.backend(), Backend::Postgres);
    // ids unique to this run, so reruns against the same database do not collide
    let run = format!(
        "run{}",
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos()
    );
    scenario(&store, &run).await;
}

#[tokio::test]
async fn bad_urls_are_named() {
    let e = Store::open("mysql://x").await.unwrap_err();
    assert!(e.to_string().contains("mysql://x"), "{e}");
}
