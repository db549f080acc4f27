//! The same scenario against SQLite and PostgreSQL: one code path, two databases.
//!
//! PostgreSQL runs when `FUNNEL_TEST_POSTGRES_URL` names a database (CI starts a server
//! and sets it, with `FUNNEL_REQUIRE_POSTGRES=1` so that a missing server fails instead of
//! skipping).

use funnel_store::{Backend, Feedback, Item, Store, User};

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
