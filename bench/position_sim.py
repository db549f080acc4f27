"""Click logs with a known position bias, for `position_bias=unbiased` (bench/position.sh).

Each query has CANDIDATES documents with 6 features x0..x5 in [-1, 1] and a true grade
0-3 from a non-linear function of x0..x3 (x4 is noise). A logging ranker that leans on
x5 -- a feature unrelated to relevance -- shows its top SHOWN; a document at position k is
examined with probability (1/k)^ETA and, examined, clicked with probability
0.05 + 0.95 (2^grade - 1) / 7 (the cascade-free examination model of Hu et al. 2019).

Writes OUT.train: the shown documents with click labels, `.query` (SHOWN per query) and
`.position` (1 = top) sidecars; OUT.test: fresh queries with every candidate and its
true grade, to measure NDCG against relevance rather than clicks.

    python bench/position_sim.py OUT QUERIES [CANDIDATES=30] [SHOWN=10] [ETA=1] [SEED=0]
"""
import sys

import numpy as np


def candidates(rng, nq, nc):
    x = rng.uniform(-1, 1, size=(nq, nc, 6)).astype(np.float32)
    t = 2 * x[..., 0] - x[..., 1] ** 2 + x[..., 2] * x[..., 3]
    grade = np.clip(np.floor((t + 1.5) / 1.2), 0, 3).astype(int)
    return x, t, grade


def write(path, x, labels):
    with open(path, "w") as f:
        for row, y in zip(x, labels):
            f.write(f"{y} " + " ".join(f"{j}:{v:.6g}" for j, v in enumerate(row)) + "\n")


def main():
    out, nq = sys.argv[1], int(sys.argv[2])
    nc, shown, eta, seed = (list(map(float, sys.argv[3:7])) + [30, 10, 1, 0][len(sys.argv) - 3:])
    nc, shown, seed = int(nc), int(shown), int(seed)
    rng = np.random.default_rng(seed)
    x, t, grade = candidates(rng, nq, nc)
    logged = 0.5 * t + 2.0 * x[..., 5] + rng.uniform(0, 0.5, size=t.shape)
    order = np.argsort(-logged, axis=1, kind="stable")[:, :shown]
    xs = np.take_along_axis(x, order[..., None], axis=1)
    gs = np.take_along_axis(grade, order, axis=1)
    pos = np.arange(1, shown + 1)
    examined = rng.random(gs.shape) < (1.0 / pos) ** eta
    attractive = 0.05 + 0.95 * (2.0 ** gs - 1) / 7
    clicks = (examined & (rng.random(gs.shape) < attractive)).astype(int)
    write(f"{out}.train", xs.reshape(-1, 6), clicks.reshape(-1))
    with open(f"{out}.train.query", "w") as f:
        f.write(f"{shown}\n" * nq)
    with open(f"{out}.train.position", "w") as f:
        f.write("".join(f"{k}\n" for k in np.tile(pos, nq)))
    nt = max(nq // 5, 1)
    x, _, grade = candidates(rng, nt, nc)
    write(f"{out}.test", x.reshape(-1, 6), grade.reshape(-1))
    with open(f"{out}.test.query", "w") as f:
        f.write(f"{nc}\n" * nt)
    print(f"{out}: {nq} logged queries ({clicks.mean():.3f} clicks per shown document), "
          f"{nt} graded test queries of {nc}")


if __name__ == "__main__":
    main()
