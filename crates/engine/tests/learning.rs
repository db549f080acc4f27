//! Learning while serving: the online ranker moves with new feedback before any refit,
//! and the schedule refits on its own.

use std::time::{Duration, Instant};

use funnel_engine::{Config, Engine, RankRequest};
use funnel_store::{Feedback, Item, User};

/// 200 items in 10 categories; 60 users, each clicking 8 items of "their" category and
/// reading 4 others.
fn data() -> (Vec<Item>, Vec<User>, Vec<Feedback>) {
    let items: Vec<Item> = (0..200)
        .map(|i| {
            let mut it = Item::new(&format!("i{i}"));
            it.categories = vec![format!("c{}", i % 10)];
            it.timestamp = i;
            it
        })
        .collect();
    let users: Vec<User> = (0..60).map(|u| User::new(&format!("u{u}"))).collect();
    let mut fb = Vec::new();
    for u in 0..60 {
        let c = u % 10;
        for k in 0..8 {
            let item = c + 10 * ((u * 7 + k * 3) % 20);
            fb.push(Feedback::new(
                "click",
                &format!("u{u}"),
                &format!("i{item}"),
                (u * 20 + k) as i64,
            ));
        }
        for k in 0..4 {
            let item = (c + 1 + k) % 10 + 10 * ((u + k) % 20);
            fb.push(Feedback::new(
                "read",
                &format!("u{u}"),
                &format!("i{item}"),
                (u * 20 + 10 + k) as i64,
            ));
        }
    }
    (items, users, fb)
}

fn config() -> Config {
    let mut c = Config::default();
    c.rank.model = "lr".into();
    c.train.ials.insert("factors".into(), "8".into());
    c.train.ials.insert("iterations".into(), "3".into());
    c
}

/// A new user's `n` clicks on items of category c3 (i3, i13, …), one second apart.
fn newbie_clicks_on_c3(n: usize) -> Vec<Feedback> {
    (0..n)
        .map(|k| {
            Feedback::new(
                "click",
                "newbie",
                &format!("i{}", 3 + 10 * k),
                5000 + k as i64,
            )
        })
        .collect()
}

fn click_probability(engine: &Engine, user: &str, item: &str) -> f64 {
    let a = engine
        .rank(&RankRequest {
            user: user.into(),
            items: vec![item.into()],
            ..Default::default()
        })
        .expect("a ranker after the fit");
    a.items[0].score
}

#[test]
fn the_online_ranker_learns_feedback_before_any_refit() {
    let engine = Engine::new(config());
    let (items, users, fb) = data();
    engine.load(&items, &users, &fb);
    let v = engine.train_blocking().unwrap();
    assert_eq!(v.version, 1);
    assert!(v.metrics.contains_key("ranker.auc"));
    // a new user clicks item after item of category c3 …
    let clicks = newbie_clicks_on_c3(15);
    engine.add_feedback(&clicks);
    // (measured with the same history before and after: only learning moves it)
    let before = click_probability(&engine, "newbie", "i193");
    let learnt = engine.learn_queued();
    assert!(learnt >= 15, "{learnt} samples learnt");
    // … and, with no refit, the ranker now rates another c3 item higher for them
    let after = click_probability(&engine, "newbie", "i193");
    eprintln!("p(click) of another c3 item for the new user: {before:.3} -> {after:.3}");
    assert!(after > before + 0.03, "p(click) {before} -> {after}");
    assert_eq!(engine.versions().1, 1, "no refit happened");
    // popularity moved at once too
    assert!(engine
        .popular(20, 0, Some("c3"))
        .iter()
        .any(|n| n.id == "i3"));
}

#[test]
fn the_schedule_refits_and_keeps_versions_for_rollback() {
    let mut c = config();
    c.train.interval_seconds = 1;
    c.train.keep_versions = 2;
    c.rank.online_interval_ms = 50;
    let engine = Engine::new(c);
    let (items, users, fb) = data();
    engine.load(&items, &users, &fb);
    engine.start_background();
    let t = Instant::now();
    while engine.versions().1 < 3 {
        assert!(
            t.elapsed() < Duration::from_secs(30),
            "scheduled fits did not run"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let (kept, active) = engine.versions();
    assert!(active >= 3);
    assert_eq!(kept.len(), 2, "only keep_versions are kept");
    let older = kept[0].version;
    engine.activate(older).unwrap();
    assert_eq!(engine.versions().1, older);
    assert!(engine.activate(1).is_err(), "version 1 was dropped");
}

/// A store written before the server checked timestamps may hold any i64: milliseconds,
/// year 3000, both ends of the range. A fit over such records still succeeds (they used to
/// fail every fit, for good), and the status says so.
#[test]
fn no_stored_timestamp_can_stop_training() {
    let (items, users, mut fb) = data();
    for (k, t) in [i64::MIN, i64::MAX, 1_796_153_948_808, 32_503_680_000, -1]
        .into_iter()
        .enumerate()
    {
        fb.push(Feedback::new("click", &format!("u{k}"), "i199", t));
    }
    let engine = Engine::new(config());
    engine.load(&items, &users, &fb);
    let info = engine.train_blocking().expect("the fit succeeds");
    assert_eq!(info.version, 1);
    let st = engine.train_status();
    assert_eq!((st.failures_in_a_row, st.last_error), (0, None));
    assert!(info.metrics["itemknn.recall@20"] > 0.0);
}

/// Clicks that arrive while a fit runs are not in its copy of the data; the new ranker
/// learns them just before it goes live, so the refit loses none (issue 13).
#[test]
fn feedback_during_a_fit_reaches_the_new_ranker() {
    let (items, users, fb) = data();
    // u1 clicks i0 (another category's item) eight times while the fit runs
    let mid_fit: Vec<Feedback> = (0..8)
        .map(|t| Feedback::new("click", "u1", "i0", 5_000 + t))
        .collect();
    let fitted = |with_clicks: bool| {
        let engine = Engine::new(config());
        engine.load(&items, &users, &fb);
        let info = engine
            .train_blocking_with(|| {
                if with_clicks {
                    engine.add_feedback(&mid_fit);
                }
            })
            .unwrap();
        // the online learner would only learn what is still queued: nothing may be
        assert_eq!(engine.learn_queued(), 0);
        (info, click_probability(&engine, "u1", "i0"))
    };
    let (quiet, p_quiet) = fitted(false);
    let (busy, p_busy) = fitted(true);
    assert_eq!(quiet.learnt_after_fit, 0);
    assert_eq!(busy.learnt_after_fit, 8);
    assert!(p_busy > p_quiet + 0.02, "{p_quiet} -> {p_busy}");
}

/// A second fit while one runs is a conflict (409 over HTTP), not a bad request.
#[test]
fn a_second_fit_is_a_conflict() {
    let (items, users, fb) = data();
    let engine = Engine::new(config());
    engine.load(&items, &users, &fb);
    let e = engine
        .train_blocking_with(|| {
            assert!(matches!(
                engine.train_blocking(),
                Err(funnel_engine::EngineError::Conflict(_))
            ));
        })
        .map(|i| i.version);
    assert_eq!(e.unwrap(), 1);
}

/// The deep rankers are servable like the others: the refit trains them, requests are
/// ranked by them, and feedback learnt between refits moves their scores.
#[test]
fn deep_rankers_are_trained_served_and_learn_online() {
    for model in ["deepfm", "dcnv2"] {
        let mut c = config();
        c.rank.model = model.into();
        let engine = Engine::new(c);
        let (items, users, fb) = data();
        engine.load(&items, &users, &fb);
        let v = engine.train_blocking().unwrap();
        let auc = v.metrics["ranker.auc"];
        assert!(auc > 0.5, "{model}: held-out AUC {auc}");
        let clicks = newbie_clicks_on_c3(15);
        engine.add_feedback(&clicks);
        let before = click_probability(&engine, "newbie", "i193");
        assert!(before > 0.0 && before < 1.0, "{model}: {before}");
        assert!(engine.learn_queued() >= 15);
        let after = click_probability(&engine, "newbie", "i193");
        eprintln!(
            "{model}: p(click) of another c3 item for the new user: {before:.4} -> {after:.4}"
        );
        assert!(after > before, "{model}: p(click) {before} -> {after}");
    }
}

/// DIN in the server: with a spec whose history fields take the candidate's vocabularies,
/// it trains on the stored feedback, and a new user's clicks on one category raise the
/// score of another item of that category through the history it attends over.
#[test]
fn din_is_trained_from_a_spec_and_attends_over_the_live_history() {
    let dir = tempfile::tempdir().unwrap();
    let spec = dir.path().join("din.toml");
    std::fs::write(
        &spec,
        r#"
[[field]]
name = "user_id"
kind = "categorical"

[[field]]
name = "item_id"
kind = "categorical"

[[field]]
name = "item.categories"
kind = "multi_hot"

[[field]]
name = "hist"
kind = "sequence"
max_len = 10
vocab_from = "item_id"

[[field]]
name = "hist.categories"
kind = "sequence"
max_len = 10
vocab_from = "item.categories"
"#,
    )
    .unwrap();
    let mut c = config();
    c.rank.model = "din".into();
    c.rank.spec = spec.display().to_string();
    c.rank.online = false;
    let engine = Engine::new(c);
    let (items, users, fb) = data();
    engine.load(&items, &users, &fb);
    let v = engine.train_blocking().unwrap();
    let auc = v.metrics["ranker.auc"];
    assert!(auc > 0.6, "din: held-out AUC {auc}");
    // the new user's first click is on category c5, then eight on c3
    engine.add_feedback(&[Feedback::new("click", "newbie", "i5", 4999)]);
    let before = click_probability(&engine, "newbie", "i193");
    let clicks = newbie_clicks_on_c3(8);
    engine.add_feedback(&clicks);
    let after = click_probability(&engine, "newbie", "i193");
    eprintln!("din: p(click) of another c3 item for the new user: {before:.4} -> {after:.4}");
    assert!(after > before, "din: p(click) {before} -> {after}");
}
