//! Named hyper-parameter presets, so a published figure is reproduced by one command
//! (`funnel eval --model itemknn --preset gowalla …`). User `--set` values override them.

/// `key=value` pairs of one preset.
type Pairs = &'static [(&'static str, &'static str)];

/// `(model, preset, parameters)`.
const PRESETS: &[(&str, &str, Pairs)] = &[
    // Tuned on the LightGCN Gowalla split (see docs/results.md).
    // Recall@20 0.1833, NDCG@20 0.1509 (published ItemCF row: 0.1570 / 0.1214).
    (
        "itemknn",
        "gowalla",
        &[
            ("similarity", "asymmetric"),
            ("alpha", "0.9"),
            ("neighbors", "200"),
            ("weighting", "bm25"),
        ],
    ),
    // Recall@20 0.1754, NDCG@20 0.1448 (published two-tower 0.1754, EASE^R 0.1765); fit
    // 47 s. Rendle et al.'s variant: no confidence scaling, small unobserved weight,
    // ν = 1, and many factors (k = 256 gave 0.1722).
    (
        "ials",
        "gowalla",
        &[
            ("factors", "512"),
            ("alpha", "0"),
            ("unobserved_weight", "0.03"),
            ("reg", "0.002"),
            ("reg_exponent", "1"),
            ("iterations", "15"),
        ],
    ),
    // Recall@20 0.1682, NDCG@20 0.1421 (published MF-BPR row: 0.1627 / 0.1378). Uniform
    // negatives; popularity-proportional ones reached only 0.0879 here. 400 epochs take
    // ~20-35 min on 2 cores.
    (
        "bpr",
        "gowalla",
        &[
            ("factors", "256"),
            ("learning_rate", "0.05"),
            ("reg", "0.001"),
            ("iterations", "400"),
        ],
    ),
    // Recall@20 0.176493, NDCG@20 0.146657 in f64: BARS's published EASE^R run
    // (l2_reg = 80) to every digit. The best of λ = 75…85 in f64, scanned down to
    // steps of 0.125 around 80 (docs/results.md).
    // Fit ≈ 18-25 min and 13.2 GiB on 2 cores.
    ("ease", "gowalla", &[("reg", "80")]),
    // Recall@20 0.1624, NDCG@20 0.1399 (published Item2Vec row: 0.1326, ItemCF 0.1570);
    // fit 695 s while another fit shared the 2 cores, 183 MB peak. Wide windows over sets
    // reshuffled each epoch: 20 epochs gave 0.1561 in 366 s; window 20 gave 0.1467, 100
    // gave 0.1558 in 602 s; 512 dimensions at window 20 gave no more than 256.
    (
        "item2vec",
        "gowalla",
        &[("dim", "256"), ("window", "50"), ("epochs", "30")],
    ),
    // Recall@20 0.1352, NDCG@20 0.1177 (published Item2Vec row: 0.1326); fit 352 s alone,
    // 472 s sharing the cores; 313 MB peak.
    // Gowalla has no times: the graph joins each item to the next 10 of a seeded shuffle
    // of each user's items (10.6·10⁶ edges, 170 MB); a 5-token window over the walks
    // beat 10 (0.1277); 64 dimensions gave 0.1233 (docs/embeddings.md).
    (
        "deepwalk",
        "gowalla",
        &[("dim", "256"), ("graph_window", "10"), ("window", "5")],
    ),
    // Recall@20 0.1344, NDCG@20 0.1173; fit 435 s, 314 MB peak. As deepwalk's preset, with walks kept
    // local (q = 2).
    (
        "node2vec",
        "gowalla",
        &[
            ("dim", "256"),
            ("graph_window", "10"),
            ("window", "5"),
            ("q", "2"),
        ],
    ),
];

/// The parameters of a preset.
pub fn get(model: &str, preset: &str) -> Option<Pairs> {
    PRESETS
        .iter()
        .find(|(m, p, _)| *m == model && *p == preset)
        .map(|(_, _, kv)| *kv)
}

/// `model/preset` names of every preset.
pub fn list() -> Vec<String> {
    PRESETS.iter().map(|(m, p, _)| format!("{m}/{p}")).collect()
}
