#!/usr/bin/env python3
"""The `implicit` library's side of Funnel's MF comparison, on split files written by
`funnel-bench split` (LightGCN format, dense ids), so both sides see identical data.

  quality DIR OUT_PREFIX   fit ALS and BPR on DIR/train.txt, write OUT_PREFIX.{als,bpr}.csv
                           (user,item,score, top 20) and OUT_PREFIX.truth.csv for `funnel metrics`
  speed DIR MODEL FACTORS ITERS RUNS   time fits (median), print seconds per iteration
"""
import json
import os
import resource
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # implicit's advice: its own threads only

import numpy as np
import scipy.sparse as sp

THREADS = 2
# The same hyper-parameters Funnel is given in bench/implicit.sh.
ALS = dict(factors=32, regularization=0.1, alpha=10.0, iterations=15)
BPR = dict(factors=32, learning_rate=0.01, regularization=0.01, iterations=100)


def load(d):
    rows, cols, test = [], [], {}
    n_items = 0
    for name in ["train.txt", "test.txt"]:
        for line in open(Path(d) / name):
            t = [int(x) for x in line.split()]
            if not t:
                continue
            items = t[1:]
            n_items = max([n_items] + [i + 1 for i in items])
            if name == "train.txt":
                rows += [t[0]] * len(items)
                cols += items
            else:
                test[t[0]] = items
    n_users = max(rows + list(test)) + 1
    m = sp.csr_matrix((np.ones(len(rows), dtype=np.float32), (rows, cols)), shape=(n_users, n_items))
    m.sum_duplicates()
    m.data[:] = 1.0
    return m, test


def make(model, **over):
    from implicit.cpu.als import AlternatingLeastSquares
    from implicit.cpu.bpr import BayesianPersonalizedRanking

    if model == "als":
        return AlternatingLeastSquares(**{**ALS, **over}, use_cg=True, num_threads=THREADS, random_state=0)
    return BayesianPersonalizedRanking(**{**BPR, **over}, num_threads=THREADS, random_state=0)


def quality(d, prefix):
    train, test = load(d)
    users = np.array(sorted(test), dtype=np.int32)
    with open(f"{prefix}.truth.csv", "w") as f:
        f.write("user,item\n")
        for u in users:
            for i in test[u]:
                f.write(f"{u},{i}\n")
    for name in ["als", "bpr"]:
        m = make(name)
        t = time.perf_counter()
        m.fit(train, show_progress=False)
        fit = time.perf_counter() - t
        ids, scores = m.recommend(users, train[users], N=20, filter_already_liked_items=True)
        with open(f"{prefix}.{name}.csv", "w") as f:
            f.write("user,item,score\n")
            for u, row_i, row_s in zip(users, ids, scores):
                for i, s in zip(row_i, row_s):
                    if i >= 0:
                        f.write(f"{u},{i},{s}\n")
        print(json.dumps({"peer": f"implicit {name}", "fit_seconds": fit}))


def speed(d, model, factors, iters, runs):
    train, _ = load(d)
    times = []
    for _ in range(runs):
        m = make(model, factors=factors, iterations=iters)
        t = time.perf_counter()
        m.fit(train, show_progress=False)
        times.append(time.perf_counter() - t)
    sec = statistics.median(times)
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"bench": "fit", "peer": f"implicit {model}", "factors": factors, "iterations": iters,
                      "median_seconds": sec, "seconds_per_iteration": sec / iters, "peak_rss_mb": rss}))


if __name__ == "__main__":
    cmd, a = sys.argv[1], sys.argv[2:]
    if cmd == "quality":
        quality(a[0], a[1])
    elif cmd == "speed":
        speed(a[0], a[1], int(a[2]), int(a[3]), int(a[4]))
    else:
        sys.exit(f"unknown command {cmd}")
