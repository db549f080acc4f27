//! The embedding recallers (item2vec, deepwalk, node2vec, line, eges, airbnb): they learn
//! taste, report what they skipped, refuse bad parameters naming the key, and embed a new
//! history without a refit; EGES embeds items it never trained near items sharing their
//! attributes; Airbnb's global context and market negatives do what they are for.

use funnel_data::{
    load as load_data, split, DataSource, Event, InteractionsBuilder, NoProgress, ReadOptions, Row,
    Split, SplitSpec,
};
use funnel_metrics::evaluate_full_ranking;
use funnel_recall::embed::{Embedding, Kind};
use funnel_recall::{build, item_attributes, Params, Recaller};

const MODELS: [&str; 6] = ["item2vec", "deepwalk", "node2vec", "line", "eges", "airbnb"];

fn data() -> Split {
    let src = DataSource {
        path: "synthetic:users=400,items=250,interactions=12000,seed=9".into(),
        format: "synthetic".into(),
        ..Default::default()
    };
    let l = load_data(&src, ReadOptions::default()).unwrap();
    split(&l.main, &SplitSpec::UserTemporal { test_ratio: 0.2 }, 1).unwrap()
}

fn recall20(s: &Split, name: &str, set: &[&str]) -> f64 {
    let mut m = build(name, &Params::parse(set).unwrap()).unwrap();
    m.fit(&s.train, &NoProgress).unwrap();
    evaluate_full_ranking(&s.train, &s.test, &[20], |u, k| {
        m.recommend(u, k)
            .unwrap()
            .into_iter()
            .map(|l| l.into_iter().map(|x| x.0).collect())
            .collect()
    })
    .metrics["recall@20"]
}

#[test]
fn default_embeddings_learn_taste() {
    let s = data();
    let popular = recall20(&s, "popular", &[]);
    for name in MODELS {
        let r = recall20(&s, name, &[]);
        assert!(r > popular * 1.1, "{name}: {r} vs popular {popular}");
    }
    // LINE's orders are different models.
    let first = recall20(&s, "line", &["order=1"]);
    let both = recall20(&s, "line", &["order=both"]);
    assert!(
        first > popular * 1.1 && both > popular * 1.1,
        "{first} {both} vs {popular}"
    );
    // node2vec's p and q change the walks, hence the model.
    let a = recall20(&s, "node2vec", &["p=0.25", "q=4"]);
    let b = recall20(&s, "node2vec", &["p=4", "q=0.25"]);
    assert_ne!(a, b);
}

#[test]
fn skipped_input_is_counted() {
    // u1..u3 share x and y; u4 has one item (no pair); z is under min_count 2.
    let mut b = InteractionsBuilder::new();
    for (u, i, t) in [
        ("u1", "x", 1),
        ("u1", "y", 2),
        ("u1", "z", 3),
        ("u2", "x", 1),
        ("u2", "y", 2),
        ("u3", "y", 1),
        ("u3", "x", 5),
        ("u4", "x", 9),
    ] {
        let mut e = Event::implicit(u, i);
        e.timestamp = Some(t);
        b.push(0, &e);
    }
    let train = b.build().unwrap().remove(0);
    for name in MODELS {
        let mut m = build(name, &Params::parse(&["min_count=2", "dim=8"]).unwrap()).unwrap();
        m.fit(&train, &NoProgress).unwrap();
        let r = m.fit_report().unwrap();
        let seq = &r["sequences"];
        assert_eq!(seq["skipped_sequences"], 1, "{name}: {r}");
        assert_eq!(seq["rare_items"], 1, "{name}: {r}");
        assert_eq!(seq["rare_events"], 1, "{name}: {r}");
        assert_eq!(seq["sequences"], 3, "{name}: {r}");
        assert_eq!(seq["timed"], true);
        // z was never trained: it scores 0 for everyone.
        let z = train.items().get("z").unwrap();
        let v = m.vectors().unwrap();
        assert!(v.item_vectors().row(z as usize).iter().all(|&x| x == 0.0));
    }
    // Nothing to learn from at all is not an error either: every item is untrained.
    let mut b = InteractionsBuilder::new();
    b.push(0, &Event::implicit("a", "x"));
    let lone = b.build().unwrap().remove(0);
    let mut m = build("item2vec", &Params::default()).unwrap();
    m.fit(&lone, &NoProgress).unwrap();
    assert_eq!(m.fit_report().unwrap()["untrained_items"], 1);
    assert!(m.recommend(&[0], 5).unwrap()[0].is_empty());
}

#[test]
fn out_of_range_parameters_name_the_key() {
    for (model, kv, key) in [
        ("item2vec", "window=0", "`window`"),
        ("item2vec", "ns_exponent=-0.5", "`ns_exponent`"),
        ("item2vec", "negatives=0", "`negatives`"),
        ("item2vec", "dim=0", "`dim`"),
        ("item2vec", "min_count=0", "`min_count`"),
        ("item2vec", "recency=1.5", "`recency`"),
        ("item2vec", "min_learning_rate=1", "`min_learning_rate`"),
        ("item2vec", "window_mode=all", "window_mode"),
        ("deepwalk", "walk_length=1", "`walk_length`"),
        ("deepwalk", "graph_window=0", "`graph_window`"),
        ("node2vec", "p=0", "`p`"),
        ("node2vec", "q=-1", "`q`"),
        ("node2vec", "p=inf", "`p`"),
        ("line", "order=3", "order"),
        ("line", "ns_exponent=-1", "`ns_exponent`"),
        ("eges", "corpus=graph", "corpus"),
        ("eges", "window=0", "`window`"),
        ("airbnb", "conversion=high", "`conversion"),
        ("airbnb", "market_negatives=-1", "`market_negatives"),
    ] {
        let e = build(model, &Params::parse(&[kv]).unwrap())
            .err()
            .unwrap_or_else(|| panic!("{model} {kv} was accepted"))
            .to_string();
        assert!(e.contains(key), "{model} {kv}: {e}");
    }
    // item2vec has no walks: p is not one of its keys.
    let e = build("item2vec", &Params::parse(&["p=2"]).unwrap())
        .err()
        .unwrap()
        .to_string();
    assert!(e.contains("unknown parameter `p`"), "{e}");
    // LINE samples edges: it has no window.
    let e = build("line", &Params::parse(&["window=3"]).unwrap())
        .err()
        .unwrap()
        .to_string();
    assert!(e.contains("unknown parameter `window`"), "{e}");
}

#[test]
fn a_new_history_moves_the_user_without_a_refit() {
    let s = data();
    let mut m = build("item2vec", &Params::default()).unwrap();
    m.fit(&s.train, &NoProgress).unwrap();
    let v = m.vectors().unwrap();
    let h = s.train.user_row(3);
    let trained = v.user_vectors().row(3).to_vec();
    let again = v.embed_history(h);
    let close = |a: &[f32], b: &[f32]| a.iter().zip(b).all(|(x, y)| (x - y).abs() < 1e-5);
    assert!(
        close(&trained, &again),
        "the stored vector is the history's"
    );
    // Another user's items as the latest clicks: the vector moves towards them.
    let other = s.train.user_row(200);
    let mut items: Vec<u32> = h.indices.iter().chain(other.indices).copied().collect();
    items.sort_unstable();
    items.dedup();
    let moved = v.embed_history(Row {
        indices: &items,
        values: None,
        times: None,
    });
    assert!(!close(&trained, &moved));
    let recs = m.recommend_for_items(&items, 10).unwrap();
    assert!(recs.iter().all(|(i, _)| items.binary_search(i).is_err()));
}

fn cos(a: &[f32], b: &[f32]) -> f32 {
    let d = |x: &[f32], y: &[f32]| x.iter().zip(y).map(|(p, q)| p * q).sum::<f32>();
    d(a, b) / (d(a, a).sqrt() * d(b, b).sqrt()).max(1e-12)
}

#[test]
fn eges_embeds_an_item_it_never_trained_near_items_sharing_its_attributes() {
    let src = DataSource {
        path: "synthetic:users=500,items=240,interactions=15000,clusters=8,seed=5".into(),
        format: "synthetic".into(),
        ..Default::default()
    };
    let l = load_data(&src, ReadOptions::default()).unwrap();
    let table = l.items.unwrap();
    // Every 12th item is held out of training entirely: it is in the catalogue (the id
    // map), with attributes, and no interaction.
    let held = |ext: &str| ext[1..].parse::<usize>().unwrap() % 12 == 0;
    let mut b = InteractionsBuilder::new();
    for u in 0..l.main.n_users() as u32 {
        let row = l.main.user_row(u);
        for (n, &i) in row.indices.iter().enumerate() {
            let item = l.main.items().external(i);
            if !held(item) {
                let mut e = Event::implicit(l.main.users().external(u), item);
                e.timestamp = Some(l.main.absolute_time(row.times.unwrap()[n]));
                b.push(0, &e);
            }
        }
    }
    let cold: Vec<String> = table
        .ids
        .externals()
        .filter(|e| held(e))
        .map(str::to_string)
        .collect();
    for ext in &cold {
        b.touch_item(ext);
    }
    let train = b.build().unwrap().remove(0);
    let attrs = item_attributes(train.items(), &table);
    let category = |i: usize| {
        attrs[i]
            .iter()
            .find(|(c, _)| c == "category")
            .unwrap()
            .1
            .clone()
    };

    let params = Params::parse(&["scoring=cosine", "seed=2"]).unwrap();
    let mut m = Embedding::new(Kind::Eges, &params).unwrap();
    m.set_item_attributes(attrs.clone());
    m.fit(&train, &NoProgress).unwrap();
    let report = m.fit_report().unwrap();
    assert_eq!(report["side_info"]["cold_items"], cold.len(), "{report}");
    assert_eq!(report["untrained_items"], 0, "{report}");
    assert_eq!(
        report["side_info"]["fields"],
        serde_json::json!(["category", "tags"])
    );

    let vectors = m.vectors().unwrap().item_vectors().clone();
    let (mut same, mut total) = (0, 0);
    for ext in &cold {
        let h = train.items().get(ext).unwrap() as usize;
        let v = vectors.row(h);
        // The vector the fit gave is the one `cold_vectors` gives from the attributes.
        let (q, _) = m.cold_vectors(&attrs[h]).unwrap();
        assert!(cos(v, &q) > 0.9999, "{ext}");
        let mut near: Vec<(f32, usize)> = (0..train.n_items())
            .filter(|&i| !held(train.items().external(i as u32)))
            .map(|i| (cos(v, vectors.row(i)), i))
            .collect();
        near.sort_by(|a, b| b.0.total_cmp(&a.0));
        for &(_, i) in &near[..10] {
            same += (category(i) == category(h)) as usize;
            total += 1;
        }
    }
    // Eight categories: by chance one neighbour in eight would share it.
    let share = same as f64 / total as f64;
    assert!(
        share > 0.8,
        "{share} of cold items' neighbours share their category"
    );

    // item2vec has nothing to place them with.
    let mut plain = build("item2vec", &Params::parse(&["seed=2"]).unwrap()).unwrap();
    plain.fit(&train, &NoProgress).unwrap();
    assert_eq!(plain.fit_report().unwrap()["untrained_items"], cold.len());

    // The saved model embeds new items the same way.
    let dir = std::env::temp_dir().join(format!("funnel-eges-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("eges.funnel");
    m.save(&path).unwrap();
    let back = Embedding::load(
        Kind::Eges,
        &funnel_recall::ModelReader::open(&path).unwrap(),
    )
    .unwrap();
    let attrs0 = vec![
        ("category".to_string(), "c3".to_string()),
        ("tags".to_string(), "t3".to_string()),
    ];
    assert_eq!(back.cold_vectors(&attrs0), m.cold_vectors(&attrs0));
    assert!(m
        .cold_vectors(&[("category".into(), "nowhere".into())])
        .is_none());
    std::fs::remove_dir_all(&dir).ok();

    // A column no item has is refused, naming what the items have.
    let mut bad =
        Embedding::new(Kind::Eges, &Params::parse(&["side_columns=brand"]).unwrap()).unwrap();
    bad.set_item_attributes(attrs);
    let e = bad.fit(&train, &NoProgress).unwrap_err().to_string();
    assert!(
        e.contains("side_columns") && e.contains("brand") && e.contains("category"),
        "{e}"
    );
}

/// Sessions, one user each, timed a second apart: `(items, values)`.
fn sessions(list: &[(Vec<String>, Vec<f32>)]) -> funnel_data::Interactions {
    let mut b = InteractionsBuilder::new();
    for (s, (items, values)) in list.iter().enumerate() {
        let user = format!("s{s}");
        for (n, (item, &v)) in items.iter().zip(values).enumerate() {
            let mut e = Event::implicit(&user, item);
            e.value = v;
            e.timestamp = Some(1_000_000 + n as i64);
            b.push(0, &e);
        }
    }
    b.build().unwrap().remove(0)
}

#[test]
fn airbnb_learns_the_booking_from_every_item_of_the_session() {
    // 4 markets of 30 listings and 5 bookable ones. A session starts at a listing x,
    // browses 5 others of x's market, and books booking(x); the window is 1, so without
    // the global context the booking only ever meets the session's last listing.
    use rand::{Rng, SeedableRng};
    let mut rng = rand::rngs::SmallRng::seed_from_u64(11);
    let booking = |x: usize| format!("b{}_{}", x / 30, x % 5);
    let mut list = Vec::new();
    for _ in 0..3000 {
        let x = rng.random_range(0..120usize);
        let mut items = vec![format!("l{x}")];
        while items.len() < 6 {
            let y = format!("l{}", x / 30 * 30 + rng.random_range(0..30));
            if !items.contains(&y) {
                items.push(y);
            }
        }
        items.push(booking(x));
        let mut values = vec![1.0; 6];
        values.push(5.0);
        list.push((items, values));
    }
    let train = sessions(&list);
    let hits = |conversion: &str| {
        let set = [
            "window=1",
            "window_mode=fixed",
            "sample=0",
            "seed=1",
            conversion,
        ];
        let mut m = build("airbnb", &Params::parse(&set).unwrap()).unwrap();
        m.fit(&train, &NoProgress).unwrap();
        let report = m.fit_report().unwrap();
        let mut hits = 0;
        for x in 0..120usize {
            let xi = train.items().get(&format!("l{x}")).unwrap();
            let recs = m.recommend_for_items(&[xi], train.n_items()).unwrap();
            // Of the market's five bookings, the one x leads to comes first?
            let first = recs
                .iter()
                .map(|&(i, _)| train.items().external(i))
                .find(|e| e.starts_with(&format!("b{}_", x / 30)))
                .unwrap();
            hits += (first == booking(x)) as usize;
        }
        (hits as f64 / 120.0, report)
    };
    let (with, report) = hits("conversion=5");
    assert_eq!(
        report["airbnb"]["sessions_with_conversion"], 3000,
        "{report}"
    );
    let (without, report) = hits("conversion=6");
    assert_eq!(report["airbnb"]["sessions_with_conversion"], 0, "{report}");
    // Chance is one in five.
    eprintln!("booking first among the market's five: with {with}, without {without}");
    assert!(
        with > 0.6 && without < 0.4,
        "with {with}, without {without}"
    );
}

#[test]
fn airbnb_market_negatives_separate_listings_within_a_market() {
    // 16 markets × 8 styles × 10 listings. Sessions stay in one market; 5 of 6 listings
    // are of the session's style. Random negatives seldom come from the same market,
    // so they teach markets; negatives from the market teach style. Five epochs: with
    // twenty both reach 1.0 here; the market's negatives get there in fewer passes
    // (0.996 against 0.617 at five), which is what a log too large for many passes needs.
    use rand::{Rng, SeedableRng};
    let mut rng = rand::rngs::SmallRng::seed_from_u64(5);
    let listing = |m: usize, s: usize, i: usize| format!("m{m}s{s}i{i}");
    let market = |name: &str| name.split('s').next().unwrap().to_string();
    let style = |name: &str| name.split('i').next().unwrap().to_string();
    let mut list = Vec::new();
    for _ in 0..8000 {
        let (m, s) = (rng.random_range(0..16), rng.random_range(0..8));
        let mut items = Vec::new();
        while items.len() < 6 {
            let style = if items.len() < 5 {
                s
            } else {
                (s + rng.random_range(1..8)) % 8
            };
            let y = listing(m, style, rng.random_range(0..10));
            if !items.contains(&y) {
                items.push(y);
            }
        }
        use rand::seq::SliceRandom;
        items.shuffle(&mut rng);
        list.push((items, vec![1.0; 6]));
    }
    let train = sessions(&list);
    let attrs: Vec<Vec<(String, String)>> = (0..train.n_items() as u32)
        .map(|i| {
            vec![(
                "city".to_string(),
                market(train.items().external(i)).to_string(),
            )]
        })
        .collect();
    let style_share = |market_negatives: &str| {
        let set = ["sample=0", "seed=3", market_negatives, "epochs=5"];
        let mut m = build("airbnb", &Params::parse(&set).unwrap()).unwrap();
        m.set_item_attributes(attrs.clone());
        m.fit(&train, &NoProgress).unwrap();
        let report = m.fit_report().unwrap();
        let (mut same, mut total) = (0, 0);
        for i in 0..train.n_items() as u32 {
            let name = train.items().external(i);
            // The top 9 of the 19 other listings of i's market: how many share its style?
            let recs = m.recommend_for_items(&[i], train.n_items()).unwrap();
            for (j, _) in recs
                .iter()
                .filter(|(j, _)| market(train.items().external(*j)) == market(name))
                .take(9)
            {
                same += (style(train.items().external(*j)) == style(name)) as usize;
                total += 1;
            }
        }
        (same as f64 / total as f64, report)
    };
    let (with, report) = style_share("market_negatives=3");
    // `market=auto` found the city column, and sessions keep to one city.
    assert_eq!(report["airbnb"]["markets"], 16, "{report}");
    assert_eq!(report["airbnb"]["market"], "city", "{report}");
    assert_eq!(report["airbnb"]["market_purity"], 1.0, "{report}");
    let (without, _) = style_share("market_negatives=0");
    eprintln!("same style in the market's top 9: with {with}, without {without}");
    assert!(
        with > 0.9 && with > without + 0.2,
        "with {with}, without {without}"
    );

    // A market column no item has is refused, naming what the items have.
    let mut m = build("airbnb", &Params::parse(&["market=region"]).unwrap()).unwrap();
    m.set_item_attributes(attrs);
    let e = m.fit(&train, &NoProgress).unwrap_err().to_string();
    assert!(e.contains("market=region") && e.contains("city"), "{e}");
}

#[test]
fn airbnb_leaves_out_a_found_market_that_sessions_do_not_keep_to() {
    // Sessions alternate between the two kinds: `auto` finds the column and does not use
    // it; naming it uses it.
    let list: Vec<(Vec<String>, Vec<f32>)> = (0..200)
        .map(|s| {
            (
                (0..6).map(|j| format!("i{}", (s + j) % 20)).collect(),
                vec![1.0; 6],
            )
        })
        .collect();
    let train = sessions(&list);
    let attrs: Vec<Vec<(String, String)>> = (0..train.n_items() as u32)
        .map(|i| {
            let n: usize = train.items().external(i)[1..].parse().unwrap();
            vec![("kind".to_string(), format!("k{}", n % 2))]
        })
        .collect();
    for (market, used) in [("auto", false), ("kind", true)] {
        let mut p = Params::parse(&["epochs=2", "dim=8"]).unwrap();
        p.set_default("market", market);
        let mut m = build("airbnb", &p).unwrap();
        m.set_item_attributes(attrs.clone());
        m.fit(&train, &NoProgress).unwrap();
        let r = &m.fit_report().unwrap()["airbnb"];
        assert_eq!(r["market_purity"], 0.0, "{r}");
        assert_eq!(r["market"].is_string(), used, "{market}: {r}");
        assert_eq!(r["market_not_used"].is_string(), !used, "{market}: {r}");
    }
}
