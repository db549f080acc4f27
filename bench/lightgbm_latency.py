"""LightGBM's scoring latency beside `funnel-bench rank-latency`: trains lambdarank on
TRAIN (100 trees, defaults), then scores the first CANDIDATES rows of TEST as one request,
REPEATS times on one thread; prints JSON with the median and p99 milliseconds per request.
The Python call is included (LightGBM's C API behind it is what a server would call).

    python bench/lightgbm_latency.py TRAIN TEST [CANDIDATES=200] [REPEATS=2000]
"""
import json
import sys
import time

import lightgbm as lgb
import numpy as np
from sklearn.datasets import load_svmlight_file

from lightgbm_peer import groups


def main():
    train, test = sys.argv[1], sys.argv[2]
    candidates = int(sys.argv[3]) if len(sys.argv) > 3 else 200
    repeats = int(sys.argv[4]) if len(sys.argv) > 4 else 2000
    Xtr, ytr = load_svmlight_file(train, zero_based=True)
    Xte, _ = load_svmlight_file(test, zero_based=True, n_features=Xtr.shape[1])
    params = {"objective": "lambdarank", "verbose": -1, "num_threads": 2}
    booster = lgb.train(params, lgb.Dataset(Xtr, ytr, group=groups(train, len(ytr))), 100)
    batch = np.asarray(Xte[:candidates].todense(), dtype=np.float64)
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        booster.predict(batch, num_threads=1)
        times.append(time.perf_counter() - t)
    times.sort()
    print(json.dumps({"peer": f"lightgbm {lgb.__version__}", "candidates": len(batch),
                      "median_ms": times[len(times) // 2] * 1e3,
                      "p99_ms": times[min(len(times) * 99 // 100, len(times) - 1)] * 1e3}))


if __name__ == "__main__":
    main()
