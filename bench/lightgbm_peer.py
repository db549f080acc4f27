"""LightGBM (PyPI) on a libsvm file with LightGBM-style `.query` sidecars, at the given
parameters: prints JSON with NDCG@1/3/5/10 and MAP@10 on the test file (queries without a
relevant document skipped, as `funnel rank eval` does), fit seconds and peak RSS.
A `TRAIN.position` sidecar (display positions, 1 = top) is passed to LightGBM's
position-aware lambdarank (4.1+) unless `use_position=0` is given.

    python bench/lightgbm_peer.py TRAIN TEST key=value ...   (LightGBM parameter names)
"""
import json
import resource
import sys
import time

import lightgbm as lgb
import numpy as np
from sklearn.datasets import load_svmlight_file


def groups(path, n):
    try:
        return np.loadtxt(path + ".query", dtype=int, ndmin=1)
    except OSError:
        return np.array([n])


def query_metrics(scores, y, sizes, ks):
    out = {f"ndcg@{k}": [] for k in ks}
    out.update({f"map@{k}": [] for k in ks})
    s = 0
    for n in sizes:
        ys, sc = y[s:s + n], scores[s:s + n]
        s += n
        rel = int((ys > 0).sum())
        if rel == 0:
            continue
        order = np.argsort(-sc, kind="stable")
        ideal = np.sort(ys)[::-1]
        for k in ks:
            d = 1 / np.log2(np.arange(2, 2 + min(k, n)))
            dcg = ((2 ** ys[order][:k] - 1) * d).sum()
            idcg = ((2 ** ideal[:k] - 1) * d).sum()
            out[f"ndcg@{k}"].append(dcg / idcg)
            hits = ys[order][:k] > 0
            prec = np.cumsum(hits) / np.arange(1, len(hits) + 1)
            out[f"map@{k}"].append((prec * hits).sum() / min(k, rel))
    return {k: float(np.mean(v)) for k, v in out.items()}


def main():
    train, test = sys.argv[1], sys.argv[2]
    params = {"verbose": -1, "num_threads": 2}
    rounds = 100
    use_position = True
    for kv in sys.argv[3:]:
        k, v = kv.split("=", 1)
        if k == "num_trees":
            rounds = int(v)
            continue
        if k == "use_position":
            use_position = v not in ("0", "false")
            continue
        try:
            v = int(v)
        except ValueError:
            try:
                v = float(v)
            except ValueError:
                pass
        params[k] = v
    Xtr, ytr = load_svmlight_file(train, zero_based=True)
    Xte, yte = load_svmlight_file(test, zero_based=True, n_features=Xtr.shape[1])
    qtr, qte = groups(train, len(ytr)), groups(test, len(yte))
    position = None
    if use_position:
        try:
            position = np.loadtxt(train + ".position", dtype=int, ndmin=1)
        except OSError:
            pass
    t = time.perf_counter()
    data = lgb.Dataset(Xtr, ytr, group=qtr, position=position)
    booster = lgb.train(params, data, num_boost_round=rounds)
    fit = time.perf_counter() - t
    scores = booster.predict(Xte)
    m = query_metrics(scores, yte, qte, [1, 3, 5, 10])
    print(json.dumps({
        "peer": f"lightgbm {lgb.__version__}",
        "metrics": {k: m[k] for k in ["ndcg@1", "ndcg@3", "ndcg@5", "ndcg@10", "map@10"]},
        "fit_seconds": fit,
        "positions": position is not None,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }))


if __name__ == "__main__":
    main()
