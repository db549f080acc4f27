//! `funnel serve`: the recommendation service on the embedded store (or PostgreSQL).

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, Result};
use clap::Args;
use funnel_engine::Config;
use funnel_store::{Feedback, Item, Store, User};

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Configuration file (TOML; see docs/serve.md). Without it every key has its default.
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Listen on HOST:PORT (overrides `server.listen`).
    #[arg(long)]
    pub listen: Option<String>,
    /// Data directory of the embedded store, API key and logs (overrides `server.data_dir`).
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
    /// Store URL, `sqlite://PATH` or `postgres://USER:PASSWORD@HOST/DB` (overrides `server.store`).
    #[arg(long)]
    pub store: Option<String>,
    /// Load a demo data set (synthetic users, items with categories, clicks) when the
    /// store is empty, train, and print example requests.
    #[arg(long)]
    pub demo: bool,
}

pub fn run(a: &ServeArgs) -> Result<()> {
    let mut config = match &a.config {
        Some(p) => Config::from_file(p)?,
        None => Config::default(),
    };
    if let Some(l) = &a.listen {
        config.server.listen = l.clone();
    }
    if let Some(d) = &a.data_dir {
        config.server.data_dir = d.clone();
    }
    if let Some(s) = &a.store {
        config.server.store = s.clone();
    }
    config.validate()?;
    tracing_subscriber::fmt()
        .with_target(false)
        .with_writer(std::io::stderr)
        .init();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    rt.block_on(async move {
        if a.demo {
            load_demo(&config).await?;
        }
        let listener = tokio::net::TcpListener::bind(&config.server.listen)
            .await
            .with_context(|| format!("cannot listen on {}", config.server.listen))?;
        let running = funnel_server::start(config.clone(), listener).await?;
        let base = format!("http://{}", running.addr);
        eprintln!(
            "funnel serve: listening on {base} (store in {})",
            config.server.data_dir.display()
        );
        if a.demo {
            // Wait for the first fit so the printed requests show every channel.
            for _ in 0..600 {
                if running.engine.versions().1 > 0
                    || running.engine.train_status().last_error.is_some()
                {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            print_examples(&base, &running.api_key, &running.engine);
        }
        running.wait().await?;
        Ok(())
    })
}

/// Fills an empty store with synthetic users, items (with categories) and clicks.
async fn load_demo(config: &Config) -> Result<()> {
    funnel_server::prepare_data_dir(config)?;
    let store = if config.server.store.is_empty() {
        Store::open_sqlite(&config.server.data_dir.join("funnel.db")).await?
    } else {
        Store::open(&config.server.store).await?
    };
    if store.count_feedback().await? > 0 {
        eprintln!("demo: the store already has feedback; not loading the demo data again");
        return Ok(());
    }
    let spec = "users=2000,items=1000,interactions=40000,seed=7";
    eprintln!("demo: loading synthetic data ({spec}) into the store");
    let src = funnel_data::DataSource {
        path: format!("synthetic:{spec}"),
        format: "synthetic".into(),
        ..Default::default()
    };
    let m = funnel_data::load(&src, Default::default())?.main;
    let genres = [
        "action", "comedy", "drama", "news", "sport", "music", "science", "travel",
    ];
    let mut first_seen = vec![i64::MAX; m.n_items()];
    let mut feedback = Vec::with_capacity(m.nnz());
    for u in 0..m.n_users() {
        let row = m.user_row(u as u32);
        for (k, &i) in row.indices.iter().enumerate() {
            let t = row.times.map_or(0, |ts| m.absolute_time(ts[k]));
            first_seen[i as usize] = first_seen[i as usize].min(t);
            feedback.push(Feedback::new(
                "click",
                m.users().external(u as u32),
                m.items().external(i),
                t,
            ));
        }
    }
    // Side features from the same generator: the ranker's default spec learns from them.
    let synth = funnel_data::Synthetic::new(funnel_data::SyntheticSpec::parse(spec)?);
    let (user_table, item_table) = (synth.users(), synth.items());
    let attributes = |t: &funnel_data::EntityTable, id: &str, keep: &[&str]| {
        let mut o = serde_json::Map::new();
        if let Some(row) = t.get(id) {
            for ((name, _), v) in t.columns.iter().zip(row) {
                let v = match v {
                    funnel_data::AttrValue::Numeric(x) => serde_json::json!(x),
                    funnel_data::AttrValue::Categorical(s) => serde_json::json!(s),
                    funnel_data::AttrValue::Multi(v) => serde_json::json!(v),
                    _ => continue,
                };
                if keep.contains(&name.as_str()) {
                    o.insert(name.clone(), v);
                }
            }
        }
        serde_json::Value::Object(o)
    };
    let items: Vec<Item> = (0..m.n_items())
        .map(|i| {
            let id = m.items().external(i as u32);
            let mut it = Item::new(id);
            let cluster = item_table
                .get(id)
                .and_then(|r| match &r[0] {
                    funnel_data::AttrValue::Categorical(c) => c[1..].parse::<usize>().ok(),
                    _ => None,
                })
                .unwrap_or(i);
            it.categories = vec![genres[cluster % genres.len()].to_string()];
            it.attributes = attributes(&item_table, id, &["price", "tags"]);
            it.timestamp = if first_seen[i] == i64::MAX {
                0
            } else {
                first_seen[i]
            };
            it
        })
        .collect();
    let users: Vec<User> = m
        .users()
        .externals()
        .map(|id| {
            let mut u = User::new(id);
            u.attributes = attributes(&user_table, id, &["segment", "age"]);
            u
        })
        .collect();
    store.upsert_items(&items).await?;
    store.upsert_users(&users).await?;
    for chunk in feedback.chunks(10_000) {
        store.insert_feedback(chunk).await?;
    }
    store.close().await;
    eprintln!(
        "demo: {} users, {} items, {} clicks stored",
        users.len(),
        items.len(),
        feedback.len()
    );
    Ok(())
}

fn print_examples(base: &str, key: &str, engine: &funnel_engine::Engine) {
    let (user, item) = {
        let c = engine.catalog();
        let user = c
            .users()
            .iter()
            .find(|u| !u.deleted && !u.positives.is_empty())
            .map_or_else(|| "u1".to_string(), |u| u.id.clone());
        let item = c
            .popular()
            .next()
            .map_or_else(|| "i1".to_string(), |i| c.items()[i as usize].id.clone());
        (user, item)
    };
    println!(
        r#"
Funnel is serving on {base}. Try:

  curl -s '{base}/api/recommend/{user}?n=5'
  curl -s '{base}/api/recommend/{user}?n=5&category=comedy&exclude={item}'
  curl -s '{base}/api/items/{item}/neighbors?n=5'
  curl -s '{base}/api/popular?n=5'
  curl -s -X POST '{base}/api/session/recommend' -H 'Content-Type: application/json' \
       -d '{{"feedback": [{{"item_id": "{item}", "feedback_type": "click"}}], "n": 5}}'
  curl -s -X POST '{base}/api/rank' -H 'Content-Type: application/json' \
       -d '{{"user_id": "{user}", "item_ids": ["{item}", "i1", "i2"], "explain": true}}'
  curl -s -X POST '{base}/api/feedback' -H 'X-API-Key: {key}' -H 'Content-Type: application/json' \
       -d '[{{"feedback_type": "click", "user_id": "{user}", "item_id": "{item}"}}]'
  curl -s -X POST '{base}/api/items' -H 'X-API-Key: {key}' -H 'Content-Type: application/json' \
       -d '{{"item_id": "brand-new", "categories": ["news"]}}'
  curl -s -X POST '{base}/api/admin/train' -H 'X-API-Key: {key}'
  curl -s '{base}/api/admin/models' -H 'X-API-Key: {key}'
  curl -s '{base}/openapi.json' | head
  curl -s '{base}/metrics' -H 'X-API-Key: {key}' | grep funnel_

The API key is in the data directory's api-key file. Stop with Ctrl-C.
"#
    );
}
