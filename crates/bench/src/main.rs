//! `funnel-bench`: times one of Funnel's hot paths several times and prints a JSON line
//! with the median, so `bench/run.sh` can set it beside a peer run on the same data.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};
use funnel_data::{load, DataSource, NoProgress, ReadOptions, Split};
use funnel_metrics::{auc, evaluate_full_ranking};
use funnel_recall::{build, presets, Params};
use serde_json::json;

#[derive(Parser)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
    /// Timed repetitions (the median is reported).
    #[arg(long, global = true, default_value_t = 5)]
    runs: usize,
}

#[derive(Subcommand)]
enum Cmd {
    /// AUC over raw little-endian files: `scores` (f64) and `labels` (u8 0/1).
    Auc { scores: PathBuf, labels: PathBuf },
    /// Scoring latency of a saved ranker (`funnel rank train --out`): the first
    /// `candidates` rows of a sample file scored as one request, `repeats` times on the
    /// calling thread; median and p99 per request.
    RankLatency {
        model: PathBuf,
        data: PathBuf,
        #[arg(long, default_value = "libsvm")]
        format: String,
        #[arg(long, default_value_t = 200)]
        candidates: usize,
        #[arg(long, default_value_t = 2000)]
        repeats: usize,
    },
    /// One training step of a ReLU MLP `256 → 512 → 256 → 1` (forward, BCE, backward,
    /// AdamW) on a batch, `steps` times after 3 warm-up steps; prints the median step and
    /// the median of the step's GEMMs alone (same shapes), in ms.
    MlpStep {
        #[arg(long, default_value_t = 4096)]
        batch: usize,
        #[arg(long, default_value_t = 50)]
        steps: usize,
    },
    /// Read an interaction file into CSR (parse, intern ids, build).
    Parse {
        data: String,
        #[arg(long, default_value = "auto")]
        format: String,
        /// Only read and parse (events go to a counting sink): no interning, no CSR.
        #[arg(long)]
        read_only: bool,
    },
    /// Train iALS (k=64) on a LightGCN directory and write item/user factors as raw f32.
    Factors { data: String, out: PathBuf },
    /// HNSW over raw f32 vectors: build, then recall@10 against `truth` (u32, 10 per
    /// query) and single-thread queries/s for each ef.
    Ann {
        vectors: PathBuf,
        queries: PathBuf,
        truth: PathBuf,
        #[arg(long)]
        dim: usize,
        #[arg(long, default_value = "ip")]
        metric: String,
        #[arg(long, default_value_t = 16)]
        m: usize,
        #[arg(long, default_value_t = 200)]
        ef_construction: usize,
        #[arg(
            long,
            value_delimiter = ',',
            default_value = "10,16,24,32,48,64,96,128,192,256"
        )]
        ef: Vec<usize>,
        /// Load the index from this file when it exists, else build it and save it there
        /// (so repeated query runs skip a long build; the build time is then not reported).
        #[arg(long)]
        index: Option<PathBuf>,
    },
    /// Write a split as LightGCN files (train.txt, test.txt; dense ids), so Funnel and a
    /// peer train and test on identical data.
    Split {
        data: String,
        #[arg(long, default_value = "auto")]
        format: String,
        #[arg(long, default_value = "leave-last-out")]
        split: String,
        out: PathBuf,
    },
    /// Write the sequences `item2vec` trains on (one per line, external item ids, in
    /// Funnel's order: by time, or a seeded shuffle of untimed users), for a word2vec peer.
    Sequences {
        data: String,
        #[arg(long, default_value = "auto")]
        format: String,
        out: PathBuf,
        #[arg(long, default_value_t = 0)]
        seed: u64,
    },
    /// Write the item graph `deepwalk`/`node2vec` build (undirected for untimed data) as a
    /// weighted edge list `a b w`, for a walk peer.
    ItemGraph {
        data: String,
        #[arg(long, default_value = "auto")]
        format: String,
        out: PathBuf,
    },
    /// Time node2vec walk generation (10 walks of 40 per node) on the item graph.
    Walks {
        data: String,
        #[arg(long, default_value = "auto")]
        format: String,
        #[arg(long, default_value_t = 1.0)]
        p: f64,
        #[arg(long, default_value_t = 1.0)]
        q: f64,
    },
    /// Time fits of one model (median of --runs) and report the peak RSS of the process.
    Fit {
        data: String,
        #[arg(long)]
        model: String,
        #[arg(long = "set")]
        set: Vec<String>,
    },
    /// Fit ItemKNN (preset gowalla) on a LightGCN directory, then time full-ranking evaluation.
    Rank {
        data: String,
        /// Also write the similarity matrix (CSR, raw arrays) here for the peer.
        #[arg(long)]
        export: Option<PathBuf>,
    },
}

/// Peak resident set size of this process so far, in MB (from /proc/self/status).
fn peak_rss_mb() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse::<f64>().ok())
        })
        .map_or(0.0, |kb| kb / 1024.0)
}

/// Reads `data` in `format` (the train part, when the source has a test part, is `main`).
fn load_source(data: String, format: String) -> Result<funnel_data::Loaded> {
    Ok(load(
        &DataSource {
            path: data,
            format,
            ..Default::default()
        },
        ReadOptions::default(),
    )?)
}

/// The undirected item graph of `deepwalk`'s defaults, from the train part of `data`.
fn item_graph(data: String, format: String) -> Result<funnel_recall::embed::graph::ItemGraph> {
    let l = load_source(data, format)?;
    let (c, _) = funnel_recall::embed::corpus::sequences(
        &l.main,
        &funnel_recall::embed::corpus::SequenceOptions::default(),
    );
    Ok(funnel_recall::embed::graph::ItemGraph::from_sequences(
        &c,
        l.main.n_items(),
        1,
        false,
        1.0,
    ))
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn timed<T>(runs: usize, mut f: impl FnMut() -> Result<T>) -> Result<(f64, T)> {
    let mut times = Vec::new();
    let mut last = None;
    for _ in 0..runs.max(1) {
        let t = Instant::now();
        last = Some(f()?);
        times.push(t.elapsed().as_secs_f64());
    }
    Ok((median(times), last.unwrap()))
}

fn raw_f32(p: &PathBuf) -> Result<Vec<f32>> {
    let b = std::fs::read(p).with_context(|| p.display().to_string())?;
    Ok(b.chunks_exact(4)
        .map(|c| f32::from_le_bytes(c.try_into().unwrap()))
        .collect())
}

fn raw_f64(p: &PathBuf) -> Result<Vec<f64>> {
    let b = std::fs::read(p).with_context(|| p.display().to_string())?;
    Ok(b.chunks_exact(8)
        .map(|c| f64::from_le_bytes(c.try_into().unwrap()))
        .collect())
}

fn main() -> Result<()> {
    funnel_train::alloc::retain_freed_buffers();
    let cli = Cli::parse();
    match cli.cmd {
        Cmd::MlpStep { batch, steps } => {
            let (step, gemm) = mlp_step(batch, steps);
            println!("{step:.3} {gemm:.3}");
        }
        Cmd::Auc { scores, labels } => {
            let s = raw_f64(&scores)?;
            let y: Vec<f64> = std::fs::read(&labels)?.into_iter().map(f64::from).collect();
            let (sec, a) = timed(cli.runs, || Ok(auc(&s, &y, None)?.unwrap()))?;
            println!(
                "{}",
                json!({"bench": "auc", "n": s.len(), "median_seconds": sec, "auc": a})
            );
        }
        Cmd::RankLatency {
            model,
            data,
            format,
            candidates,
            repeats,
        } => {
            let m = funnel_rank::RankModel::load(&model)?;
            let f = funnel_features::TextFormat::from_name(&format)
                .context("--format: libsvm or libffm")?;
            let (all, _) = funnel_features::read(&data, f)?;
            let rows: Vec<usize> = (0..candidates.min(all.len())).collect();
            let batch = all.select(&rows);
            let mut times = Vec::with_capacity(repeats);
            let mut sink = 0.0f32;
            for _ in 0..repeats.max(1) {
                let t = Instant::now();
                sink += m.predict(&batch)[0];
                times.push(t.elapsed().as_secs_f64());
            }
            times.sort_by(f64::total_cmp);
            let p99 = times[(times.len() * 99 / 100).min(times.len() - 1)];
            println!(
                "{}",
                json!({"bench": "rank-latency", "model": m.ranker.name(), "candidates": batch.len(),
                       "median_ms": times[times.len() / 2] * 1e3, "p99_ms": p99 * 1e3,
                       "check": sink.is_finite()})
            );
        }
        Cmd::Parse {
            data,
            format,
            read_only: true,
        } => {
            let fmt =
                funnel_data::Format::from_name(if format == "auto" { "csv" } else { &format })?;
            let (sec, n) = timed(cli.runs, || {
                let mut n = 0u64;
                funnel_data::read::read_events(
                    std::path::Path::new(&data),
                    &fmt,
                    ReadOptions::default(),
                    &mut |_| {
                        n += 1;
                        Ok(())
                    },
                )?;
                Ok(n)
            })?;
            println!(
                "{}",
                json!({"bench": "read_only", "lines": n, "median_seconds": sec, "lines_per_second": n as f64 / sec})
            );
        }
        Cmd::Parse { data, format, .. } => {
            // One untimed pass split into phases: reading + interning, then the CSR build.
            let fmt =
                funnel_data::Format::from_name(if format == "auto" { "csv" } else { &format })?;
            let t = Instant::now();
            let mut b = funnel_data::InteractionsBuilder::new();
            funnel_data::read::read_events(
                std::path::Path::new(&data),
                &fmt,
                ReadOptions::default(),
                &mut |e| {
                    b.push(0, e);
                    Ok(())
                },
            )?;
            let read_intern = t.elapsed().as_secs_f64();
            let t = Instant::now();
            drop(b.build()?);
            eprintln!(
                "phases: read+intern {read_intern:.3}s, build {:.3}s",
                t.elapsed().as_secs_f64()
            );
            let src = DataSource {
                path: data,
                format,
                ..Default::default()
            };
            let (sec, l) = timed(cli.runs, || Ok(load(&src, ReadOptions::default())?))?;
            let lines = l.report.lines;
            println!(
                "{}",
                json!({"bench": "parse", "lines": lines, "median_seconds": sec, "lines_per_second": lines as f64 / sec,
                       "users": l.main.n_users(), "items": l.main.n_items(), "csr_bytes": l.main.csr().memory_bytes()})
            );
        }
        Cmd::Split {
            data,
            format,
            split,
            out,
        } => {
            let l = load_source(data, format)?;
            let s = funnel_data::split(&l.main, &funnel_data::SplitSpec::parse(&split)?, 42)?;
            std::fs::create_dir_all(&out)?;
            for (name, m) in [("train.txt", &s.train), ("test.txt", &s.test)] {
                let mut text = String::new();
                for u in 0..m.n_users() as u32 {
                    let row = m.user_row(u);
                    if name == "test.txt" && row.is_empty() {
                        continue;
                    }
                    text.push_str(&u.to_string());
                    for &i in row.indices {
                        text.push(' ');
                        text.push_str(&i.to_string());
                    }
                    text.push('\n');
                }
                std::fs::write(out.join(name), text)?;
            }
            println!(
                "{}",
                json!({"train": s.train.nnz(), "test": s.test.nnz(), "users": s.train.n_users(), "items": s.train.n_items()})
            );
        }
        Cmd::Sequences {
            data,
            format,
            out,
            seed,
        } => {
            let l = load_source(data, format)?;
            let train = &l.main; // the train part when the source has a test part
            let (c, stats) = funnel_recall::embed::corpus::sequences(
                train,
                &funnel_recall::embed::corpus::SequenceOptions {
                    seed,
                    ..Default::default()
                },
            );
            let mut text = String::new();
            for s in 0..c.len() {
                let names: Vec<&str> = c
                    .seq(s)
                    .iter()
                    .map(|&i| train.items().external(i))
                    .collect();
                text.push_str(&names.join(" "));
                text.push('\n');
            }
            std::fs::write(&out, text)?;
            println!("{}", json!({"sequences": stats}));
        }
        Cmd::ItemGraph { data, format, out } => {
            let g = item_graph(data, format)?;
            let mut text = String::new();
            for v in 0..g.n_nodes() as u32 {
                for (&b, &w) in g.neighbours(v).iter().zip(g.weights(v)) {
                    if v < b {
                        text.push_str(&format!("{v}\t{b}\t{w}\n"));
                    }
                }
            }
            std::fs::write(&out, text)?;
            println!(
                "{}",
                json!({"nodes": g.n_nodes(), "edges": g.n_edges() / 2})
            );
        }
        Cmd::Walks { data, format, p, q } => {
            let g = item_graph(data, format)?;
            let o = funnel_recall::embed::graph::WalkOptions {
                walks_per_node: 10,
                walk_length: 40,
                p,
                q,
                seed: 0,
            };
            let (sec, w) = timed(cli.runs, || Ok(funnel_recall::embed::graph::walks(&g, &o)))?;
            println!(
                "{}",
                json!({"bench": "walks", "walk_seconds": sec, "walks": w.len(), "tokens": w.tokens.len(),
                       "graph_bytes": g.bytes(), "peak_rss_mb": peak_rss_mb()})
            );
        }
        Cmd::Fit { data, model, set } => {
            let l = load_source(data, "auto".into())?;
            let rss_data = peak_rss_mb();
            let p = Params::parse(&set).map_err(anyhow::Error::msg)?;
            let (sec, _) = timed(cli.runs, || {
                let mut m = build(&model, &p)?;
                m.fit(&l.main, &NoProgress)?;
                Ok(())
            })?;
            println!(
                "{}",
                json!({"bench": "fit", "model": model, "params": set, "median_seconds": sec,
                                  "peak_rss_mb_after_load": rss_data, "peak_rss_mb": peak_rss_mb()})
            );
        }
        Cmd::Factors { data, out } => {
            let src = DataSource {
                path: data,
                format: "lightgcn".into(),
                ..Default::default()
            };
            let l = load(&src, ReadOptions::default())?;
            let mut m = funnel_recall::Ials::new(
                &Params::parse(&["factors=64", "iterations=10", "reg=0.1", "alpha=30"])
                    .map_err(anyhow::Error::msg)?,
            )?;
            use funnel_recall::Recaller;
            m.fit(&l.main, &NoProgress)?;
            std::fs::create_dir_all(&out)?;
            let raw = |v: &[f32]| v.iter().flat_map(|x| x.to_le_bytes()).collect::<Vec<u8>>();
            std::fs::write(out.join("items.f32"), raw(&m.item_factors().data))?;
            std::fs::write(out.join("users.f32"), raw(&m.user_factors().data))?;
            println!(
                "{}",
                json!({"items": m.item_factors().n, "users": m.user_factors().n, "dim": 64})
            );
        }
        Cmd::Ann {
            vectors,
            queries,
            truth,
            dim,
            metric,
            m,
            ef_construction,
            ef,
            index,
        } => {
            let (v, q) = (raw_f32(&vectors)?, raw_f32(&queries)?);
            let t_bytes = std::fs::read(&truth)?;
            let truth: Vec<u32> = t_bytes
                .chunks_exact(4)
                .map(|c| u32::from_le_bytes(c.try_into().unwrap()))
                .collect();
            let metric = funnel_ann::Metric::parse(&metric).context("metric: ip or cosine")?;
            let t = Instant::now();
            let cached = index.as_deref().filter(|p| p.exists());
            let idx = match cached {
                Some(p) => funnel_ann::Index::load(p)?,
                None => funnel_ann::Index::build(
                    &v,
                    dim,
                    metric,
                    &funnel_ann::IndexParams {
                        m,
                        ef_construction,
                        seed: 0,
                    },
                ),
            };
            let build = t.elapsed().as_secs_f64();
            if let (Some(p), None) = (&index, cached) {
                idx.save(p)?;
            }
            let build = if cached.is_some() { f64::NAN } else { build };
            let nq = q.len() / dim;
            for &e in &ef {
                // A first pass gives the recall and sets how many passes a timed run makes:
                // enough for ~0.3 s, since one pass of a few thousand queries is too short
                // to time on a shared machine.
                let t = Instant::now();
                let res: Vec<Vec<(u32, f32)>> =
                    q.chunks(dim).map(|x| idx.search(x, 10, e)).collect();
                let passes = (0.3 / t.elapsed().as_secs_f64()).ceil().clamp(1.0, 1000.0) as usize;
                let hits: usize = res
                    .iter()
                    .enumerate()
                    .map(|(i, r)| {
                        r.iter()
                            .filter(|x| truth[i * 10..i * 10 + 10].contains(&x.0))
                            .count()
                    })
                    .sum();
                let mut times = Vec::new();
                for _ in 0..cli.runs.max(1) {
                    let t = Instant::now();
                    for _ in 0..passes {
                        for x in q.chunks(dim) {
                            std::hint::black_box(idx.search(x, 10, e));
                        }
                    }
                    times.push(t.elapsed().as_secs_f64() / passes as f64);
                }
                let sec = median(times);
                println!(
                    "{}",
                    json!({"bench": "ann", "n": idx.len(), "ef": e, "recall@10": hits as f64 / (nq * 10) as f64,
                                      "qps": nq as f64 / sec, "build_seconds": build})
                );
            }
        }
        Cmd::Rank { data, export } => {
            let src = DataSource {
                path: data,
                format: "lightgcn".into(),
                ..Default::default()
            };
            let l = load(&src, ReadOptions::default())?;
            let s = Split::given(
                l.main,
                l.test.context("expected a directory with test.txt")?,
            );
            let mut p = Params::default();
            for (k, v) in presets::get("itemknn", "gowalla").unwrap() {
                p.set_default(k, v);
            }
            let mut m = build("itemknn", &p)?;
            let t = Instant::now();
            m.fit(&s.train, &NoProgress)?;
            let fit = t.elapsed().as_secs_f64();
            let (sec, r) = timed(cli.runs, || {
                Ok(evaluate_full_ranking(&s.train, &s.test, &[20], |u, k| {
                    m.recommend(u, k)
                        .unwrap()
                        .into_iter()
                        .map(|l| l.into_iter().map(|x| x.0).collect())
                        .collect()
                }))
            })?;
            if let Some(dir) = export {
                std::fs::create_dir_all(&dir)?;
                let path = dir.join("itemknn.funnel");
                m.save(&path)?;
                let r = funnel_recall::ModelReader::open(&path)?;
                let sim = r.csr("similarity")?;
                let bytes = |v: Vec<u8>, name: &str| std::fs::write(dir.join(name), v);
                bytes(
                    sim.indptr().iter().flat_map(|x| x.to_le_bytes()).collect(),
                    "sim_indptr.u64",
                )?;
                bytes(
                    sim.indices().iter().flat_map(|x| x.to_le_bytes()).collect(),
                    "sim_indices.u32",
                )?;
                bytes(
                    sim.values()
                        .unwrap()
                        .iter()
                        .flat_map(|x| x.to_le_bytes())
                        .collect(),
                    "sim_values.f32",
                )?;
            }
            println!(
                "{}",
                json!({"bench": "rank", "users": r.users, "fit_seconds": fit, "median_seconds": sec,
                       "recall@20": r.metrics["recall@20"], "ndcg@20": r.metrics["ndcg@20"]})
            );
        }
    }
    Ok(())
}

/// Median ms of an MLP training step and of its GEMMs alone (see `Cmd::MlpStep`).
fn mlp_step(batch: usize, steps: usize) -> (f64, f64) {
    use funnel_train::{loss, Activation, Backend, Cpu, Mlp, Optimizer, Rule, Tensor};
    let sizes = [256usize, 512, 256, 1];
    let x = Tensor::from_fn(batch, sizes[0], |i, j| {
        ((i * 31 + j * 7) % 97) as f32 / 97.0 - 0.5
    });
    let y: Vec<f32> = (0..batch).map(|i| (i % 3 == 0) as u8 as f32).collect();
    let mut mlp = Mlp::new(sizes[0], &sizes[1..3], 1, Activation::Relu, 0.0, 1);
    let mut opt = Optimizer::new(Rule::adamw(), 1e-3, 0.01);
    let mut times = Vec::new();
    for s in 0..steps + 3 {
        let t = Instant::now();
        let z = mlp.forward(x.clone(), true);
        let (_, g) = loss::bce_with_logits(z.data(), &y, None);
        mlp.backward_with(Tensor::from_vec(batch, 1, g).unwrap(), false);
        opt.step(&mut mlp.params_mut());
        if s >= 3 {
            times.push(t.elapsed().as_secs_f64() * 1e3);
        }
    }
    // The same products alone: 3 forward, 3 weight gradients, 2 input gradients.
    let mut gemm_times = Vec::new();
    let mut bufs: Vec<(Vec<f32>, Vec<f32>, Vec<f32>)> = (0..3)
        .map(|l| {
            (
                vec![0.5f32; batch * sizes[l]],
                vec![0.25f32; sizes[l] * sizes[l + 1]],
                vec![0.0f32; batch * sizes[l + 1]],
            )
        })
        .collect();
    let mut scratch: Vec<Vec<f32>> = (0..3)
        .map(|l| vec![0.0f32; sizes[l] * sizes[l + 1]])
        .collect();
    let mut dx: Vec<Vec<f32>> = (0..3).map(|l| vec![0.0f32; batch * sizes[l]]).collect();
    for s in 0..steps + 3 {
        let t = Instant::now();
        for l in 0..3 {
            let (i, o) = (sizes[l], sizes[l + 1]);
            let (a, w, c) = &mut bufs[l];
            Cpu.gemm(batch, i, o, a, false, w, true, 0.0, c);
            Cpu.gemm(o, batch, i, c, true, a, false, 1.0, &mut scratch[l]);
            if l > 0 {
                Cpu.gemm(batch, o, i, c, false, w, false, 0.0, &mut dx[l]);
            }
        }
        if s >= 3 {
            gemm_times.push(t.elapsed().as_secs_f64() * 1e3);
        }
    }
    (median(times), median(gemm_times))
}
