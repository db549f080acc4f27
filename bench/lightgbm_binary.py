"""LightGBM (PyPI) as a binary classifier on a libsvm or libffm file, at the given
parameters (LightGBM's names; `num_trees` = boosting rounds): prints JSON with AUC and
LogLoss on the test file (scikit-learn), fit seconds and peak RSS. With `gbdt_lr=1`, also
Facebook's GBDT+LR made of the same trees: each tree's leaf one-hot, into scikit-learn's
LogisticRegression (C = 1, lbfgs); its fit seconds include the trees'.

    python bench/lightgbm_binary.py TRAIN TEST key=value ...

libffm's `field:index:value` tokens use `index` as the column (Funnel exports global
indices), so both sides see the same columns.
"""
import json
import resource
import sys
import time

import lightgbm as lgb
import numpy as np
import scipy.sparse as sp
from sklearn.datasets import load_svmlight_file
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import log_loss, roc_auc_score


def read(path, n_features=None):
    with open(path) as f:
        first = f.readline().split()
    tokens = [t for t in first[1:] if not t.startswith("qid:")]
    if tokens and tokens[0].count(":") == 2:
        return read_ffm(path, n_features)
    x, y = load_svmlight_file(path, zero_based=True, n_features=n_features)
    return x.astype(np.float32), y


def read_ffm(path, n_features):
    labels, indptr, cols, vals = [], [0], [], []
    with open(path) as f:
        for line in f:
            parts = line.split()
            labels.append(float(parts[0]))
            for t in parts[1:]:
                if t.startswith("qid:"):
                    continue
                _, j, v = t.split(":")
                cols.append(int(j))
                vals.append(float(v))
            indptr.append(len(cols))
    width = max(n_features or 0, max(cols, default=-1) + 1)
    x = sp.csr_matrix((np.array(vals, np.float32), np.array(cols), np.array(indptr)),
                      shape=(len(labels), width))
    return x, np.array(labels)


def main():
    train, test = sys.argv[1], sys.argv[2]
    params = {"objective": "binary", "verbose": -1, "num_threads": 2}
    rounds, gbdt_lr = 100, False
    for kv in sys.argv[3:]:
        k, v = kv.split("=", 1)
        if k == "num_trees":
            rounds = int(v)
            continue
        if k == "gbdt_lr":
            gbdt_lr = v not in ("0", "false")
            continue
        for cast in (int, float):
            try:
                v = cast(v)
                break
            except ValueError:
                pass
        params[k] = v
    xtr, ytr = read(train)
    xte, yte = read(test, xtr.shape[1])
    xte = xte[:, :xtr.shape[1]]
    ytr, yte = (ytr > 0).astype(int), (yte > 0).astype(int)
    t = time.perf_counter()
    booster = lgb.train(params, lgb.Dataset(xtr, ytr), num_boost_round=rounds)
    fit = time.perf_counter() - t
    p = booster.predict(xte)
    out = {
        "peer": f"lightgbm {lgb.__version__}",
        "metrics": {"auc": roc_auc_score(yte, p), "logloss": log_loss(yte, np.clip(p, 1e-15, 1 - 1e-15))},
        "fit_seconds": fit,
        "trees": booster.num_trees(),
    }
    if gbdt_lr:
        t = time.perf_counter()
        leaves_tr = booster.predict(xtr, pred_leaf=True)
        leaves_te = booster.predict(xte, pred_leaf=True)
        width = int(max(leaves_tr.max(), leaves_te.max())) + 1

        def one_hot(leaves):
            n, k = leaves.shape
            cols = (np.arange(k) * width + leaves).ravel()
            return sp.csr_matrix((np.ones(n * k), cols, np.arange(0, n * k + 1, k)), shape=(n, k * width))

        lr = LogisticRegression(C=1.0, max_iter=1000).fit(one_hot(leaves_tr), ytr)
        q = lr.predict_proba(one_hot(leaves_te))[:, 1]
        out["gbdt_lr"] = {
            "metrics": {"auc": roc_auc_score(yte, q), "logloss": log_loss(yte, q)},
            "fit_seconds": fit + time.perf_counter() - t,
        }
    out["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps(out))


if __name__ == "__main__":
    main()
