#!/usr/bin/env python3
"""The peers' side of Funnel's benchmarks (scikit-learn, pandas, scipy), timed on the
same files Funnel reads. Each command prints one JSON line; `report` sets them side by side.
Run through bench/run.sh, which builds Funnel and makes the inputs."""
import json
import statistics
import sys
import time
from pathlib import Path

import numpy as np


def timed(runs, f):
    times, out = [], None
    for _ in range(runs):
        t = time.perf_counter()
        out = f()
        times.append(time.perf_counter() - t)
    return statistics.median(times), out


def auc_data(n, out):
    rng = np.random.default_rng(7)
    y = (rng.random(n) < 0.2).astype(np.uint8)
    # Model-like scores: informative, with a share of exact ties (rounded values).
    s = 0.6 * y + rng.random(n)
    s[: n // 10] = np.round(s[: n // 10], 3)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    s.astype("<f8").tofile(out / "auc_scores.f64")
    y.tofile(out / "auc_labels.u8")


def auc(scores, labels, runs):
    from sklearn.metrics import roc_auc_score

    s = np.fromfile(scores, dtype="<f8")
    y = np.fromfile(labels, dtype=np.uint8)
    sec, a = timed(runs, lambda: roc_auc_score(y, s))
    print(json.dumps({"bench": "auc", "peer": "scikit-learn roc_auc_score", "n": len(s), "median_seconds": sec, "auc": a}))


def parse(path, runs):
    import pandas as pd

    sec, df = timed(runs, lambda: pd.read_csv(path))
    print(json.dumps({"bench": "parse", "peer": "pandas.read_csv", "lines": len(df), "median_seconds": sec,
                      "lines_per_second": len(df) / sec}))


def lightgcn(path, users, items, add=True):
    rows = []
    for line in open(path):
        t = line.split()
        if not t:
            continue
        u = users.setdefault(t[0], len(users))
        its = [items.setdefault(x, len(items)) for x in t[1:]]
        rows.append((u, its))
    return rows


def rank(data_dir, sim_dir, runs):
    import scipy.sparse as sp

    users, items = {}, {}
    train = lightgcn(Path(data_dir) / "train.txt", users, items)
    test = lightgcn(Path(data_dir) / "test.txt", users, items)
    nu, ni = len(users), len(items)

    def csr(rows):
        r = [u for u, its in rows for _ in its]
        c = [i for _, its in rows for i in its]
        m = sp.csr_matrix((np.ones(len(c), dtype=np.float32), (r, c)), shape=(nu, ni))
        m.sum_duplicates()
        m.data[:] = 1.0
        return m

    # BM25 weights do not enter scoring (Funnel scores by summed similarity of the user's items).
    tr, te = csr(train), csr(test)
    d = Path(sim_dir)
    sim = sp.csr_matrix((np.fromfile(d / "sim_values.f32", dtype="<f4"), np.fromfile(d / "sim_indices.u32", dtype="<u4"),
                         np.fromfile(d / "sim_indptr.u64", dtype="<u8")), shape=(ni, ni))
    test_users = np.flatnonzero(np.diff(te.indptr) > 0)
    k = 20
    disc = 1.0 / np.log2(np.arange(2, k + 2))

    def evaluate():
        rec = ndcg = 0.0
        for start in range(0, len(test_users), 2048):
            batch = test_users[start:start + 2048]
            scores = (tr[batch] @ sim).toarray()
            scores[tr[batch].nonzero()] = -np.inf
            top = np.argpartition(-scores, k, axis=1)[:, :k]
            order = np.take_along_axis(scores, top, 1).argsort(axis=1)[:, ::-1]
            top = np.take_along_axis(top, order, 1)
            truth = te[batch]
            hits = np.asarray(truth[np.arange(len(batch))[:, None], top].todense()) > 0
            n_rel = np.diff(truth.indptr)
            rec += (hits.sum(1) / n_rel).sum()
            idcg = np.array([disc[: min(k, n)].sum() for n in n_rel])
            ndcg += ((hits * disc).sum(1) / idcg).sum()
        return rec / len(test_users), ndcg / len(test_users)

    sec, (r, n) = timed(runs, evaluate)
    print(json.dumps({"bench": "rank", "peer": "scipy sparse product + numpy argpartition", "users": len(test_users),
                      "median_seconds": sec, "recall@20": r, "ndcg@20": n}))


def ann_synth(n, dim, out):
    rng = np.random.default_rng(11)
    centers = rng.normal(size=(256, dim)).astype(np.float32)
    def draw(m):
        c = rng.integers(0, 256, m)
        return (centers[c] + 0.5 * rng.normal(size=(m, dim)).astype(np.float32)) * rng.uniform(0.5, 1.5, (m, 1)).astype(np.float32)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    draw(n).astype("<f4").tofile(out / "vectors.f32")
    draw(1000).astype("<f4").tofile(out / "queries.f32")


def ann_gowalla(factors_dir, out):
    d = Path(factors_dir)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    items = np.fromfile(d / "items.f32", dtype="<f4").reshape(-1, 64)
    users = np.fromfile(d / "users.f32", dtype="<f4").reshape(-1, 64)
    rng = np.random.default_rng(5)
    items.tofile(out / "vectors.f32")
    users[rng.choice(len(users), 2000, replace=False)].tofile(out / "queries.f32")


def ann_truth(d, dim, metric):
    d = Path(d)
    v = np.fromfile(d / "vectors.f32", dtype="<f4").reshape(-1, dim)
    q = np.fromfile(d / "queries.f32", dtype="<f4").reshape(-1, dim)
    if metric == "cosine":
        v = v / np.linalg.norm(v, axis=1, keepdims=True)
        q = q / np.linalg.norm(q, axis=1, keepdims=True)
    truth = np.zeros((len(q), 10), dtype=np.uint32)
    for s in range(0, len(q), 100):
        sc = q[s:s + 100] @ v.T
        top = np.argpartition(-sc, 10, axis=1)[:, :10]
        truth[s:s + 100] = top
    truth.astype("<u4").tofile(d / "truth.u32")


def ann(d, dim, metric, m, efc, efs, runs, index=None):
    import hnswlib

    d = Path(d)
    v = np.fromfile(d / "vectors.f32", dtype="<f4").reshape(-1, dim)
    q = np.fromfile(d / "queries.f32", dtype="<f4").reshape(-1, dim)
    truth = np.fromfile(d / "truth.u32", dtype="<u4").reshape(-1, 10)
    idx = hnswlib.Index(space=metric, dim=dim)
    t = time.perf_counter()
    if index and Path(index).exists():
        # A cached index (see the Funnel side's --index): build time not reported.
        idx.load_index(index, max_elements=len(v))
        build = float("nan")
    else:
        idx.init_index(max_elements=len(v), M=m, ef_construction=efc, random_seed=0)
        idx.add_items(v, np.arange(len(v)), num_threads=2)
        build = time.perf_counter() - t
        if index:
            idx.save_index(index)
    for ef in efs:
        idx.set_ef(ef)
        # As on the Funnel side: a first pass for recall, then timed runs of enough passes
        # for ~0.3 s each.
        t = time.perf_counter()
        labels, _ = idx.knn_query(q, k=10, num_threads=1)
        passes = min(1000, max(1, int(np.ceil(0.3 / (time.perf_counter() - t)))))

        def run():
            for _ in range(passes):
                idx.knn_query(q, k=10, num_threads=1)

        sec, _ = timed(runs, run)
        sec /= passes
        hits = sum(len(set(labels[i]) & set(truth[i])) for i in range(len(q)))
        print(json.dumps({"bench": "ann", "peer": "hnswlib", "n": len(v), "ef": ef, "recall@10": hits / (10 * len(q)),
                          "qps": len(q) / sec, "build_seconds": build}))


def ann_report(files):
    for f in files:
        rows = [json.loads(l) for l in open(f) if l.startswith("{")]
        def merged(rs):
            # Several rounds of the same ef (run alternately with the peer): median qps.
            build = next((r["build_seconds"] for r in rs if r.get("build_seconds") not in (None, "NaN")
                          and r["build_seconds"] == r["build_seconds"]), float("nan"))
            out = []
            for ef in sorted({r["ef"] for r in rs}):
                same = [r for r in rs if r["ef"] == ef]
                out.append({**same[0], "qps": statistics.median(r["qps"] for r in same),
                            "rounds": len(same), "build_seconds": build})
            return out

        fun = merged([r for r in rows if "peer" not in r])
        peer = merged([r for r in rows if "peer" in r])
        if not fun or not peer:
            continue
        print(f"\nANN on {Path(f).stem} ({fun[0]['n']:,} vectors): build funnel {fun[0]['build_seconds']:.1f}s, "
              f"hnswlib {peer[0]['build_seconds']:.1f}s (2 threads each); queries single-threaded, "
              f"median of {fun[0]['rounds']} alternating rounds")
        print(f"{'ef':>6}{'funnel recall':>15}{'funnel qps':>12}{'hnswlib recall':>16}{'hnswlib qps':>13}")
        for a, b in zip(fun, peer):
            print(f"{a['ef']:>6}{a['recall@10']:>15.4f}{a['qps']:>12,.0f}{b['recall@10']:>16.4f}{b['qps']:>13,.0f}")
        def at(rs):
            ok = [r for r in rs if r["recall@10"] >= 0.95]
            return max(ok, key=lambda r: r["qps"]) if ok else None
        a, b = at(fun), at(peer)
        if a and b:
            print(f"queries/s at recall@10 >= 0.95: funnel {a['qps']:,.0f} (ef {a['ef']}), hnswlib {b['qps']:,.0f} "
                  f"(ef {b['ef']}): {a['qps'] / b['qps']:.2f}x")
        else:
            print("recall@10 >= 0.95 not reached by " + ("funnel" if not a else "hnswlib"))


def ann_build_report(files):
    for f in files:
        rows = [json.loads(l) for l in open(f) if l.startswith("{")]
        fun = [r["build_seconds"] for r in rows if "peer" not in r]
        peer = [r["build_seconds"] for r in rows if "peer" in r]
        if not fun or not peer:
            continue
        a, b = statistics.median(fun), statistics.median(peer)
        runs = lambda xs: " / ".join(f"{x:.1f}" for x in xs)
        print(f"HNSW build on {Path(f).stem} ({rows[0]['n']:,} vectors; M 16, ef_construction 200, 2 threads): "
              f"funnel {runs(fun)} s, hnswlib {runs(peer)} s; medians {a:.1f} vs {b:.1f} s, "
              f"funnel/hnswlib speed {b / a:.2f}x")


def report(files):
    rows = {}
    for f in files:
        for line in open(f):
            line = line.strip()
            if line.startswith("{"):
                j = json.loads(line)
                rows.setdefault(j["bench"], {})["peer" if "peer" in j else "funnel"] = j
    print(f"\n{'benchmark':<34}{'funnel':>14}{'peer':>14}{'speed-up':>10}  peer")
    for bench, r in rows.items():
        f, p = r.get("funnel"), r.get("peer")
        if not f or not p:
            continue
        label = {"auc": lambda: f"AUC over {f['n']:,} scores (s)", "parse": lambda: f"CSV parse {f['lines']:,} lines (s)",
                 "rank": lambda: f"full ranking, {f['users']:,} users (s)"}[bench]()
        print(f"{label:<34}{f['median_seconds']:>14.3f}{p['median_seconds']:>14.3f}{p['median_seconds'] / f['median_seconds']:>9.1f}x  {p['peer']}")
        if bench == "parse":
            print(f"{'  lines/s':<34}{f['lines_per_second']:>14,.0f}{p['lines_per_second']:>14,.0f}")
        if bench == "auc":
            print(f"{'  AUC value':<34}{f['auc']:>14.10f}{p['auc']:>14.10f}   |diff| {abs(f['auc'] - p['auc']):.1e}")
        if bench == "rank":
            print(f"{'  recall@20 / ndcg@20':<34}{f['recall@20']:>7.4f}/{f['ndcg@20']:.4f}{p['recall@20']:>7.4f}/{p['ndcg@20']:.4f}"
                  f"   (funnel fit {f['fit_seconds']:.2f}s)")
    print("(medians; speed-up = peer time / funnel time)")


if __name__ == "__main__":
    cmd, args = sys.argv[1], sys.argv[2:]
    if cmd == "auc-data":
        auc_data(int(float(args[0])), args[1])
    elif cmd == "auc":
        auc(args[0], args[1], int(args[2]))
    elif cmd == "parse":
        parse(args[0], int(args[1]))
    elif cmd == "rank":
        rank(args[0], args[1], int(args[2]))
    elif cmd == "report":
        report(args)
    elif cmd == "ann-synth":
        ann_synth(int(float(args[0])), int(args[1]), args[2])
    elif cmd == "ann-gowalla":
        ann_gowalla(args[0], args[1])
    elif cmd == "ann-truth":
        ann_truth(args[0], int(args[1]), args[2])
    elif cmd == "ann":
        ann(args[0], int(args[1]), args[2], int(args[3]), int(args[4]), [int(x) for x in args[5].split(",")], int(args[6]), args[7] if len(args) > 7 else None)
    elif cmd == "ann-build-report":
        ann_build_report(args)
    elif cmd == "ann-report":
        ann_report(args)
    else:
        sys.exit(f"unknown command {cmd}")
