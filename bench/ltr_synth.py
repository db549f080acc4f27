"""Synthetic learning-to-rank files for bench/gbdt.sh: QUERIES queries of DOCS documents
with FEATURES dense features, grades 0-4 from a non-linear function of ten of them plus
noise; OUT.train / OUT.test (libsvm, a fifth of the queries for test) with `.query`
sidecars.

    python bench/ltr_synth.py OUT QUERIES DOCS FEATURES
"""
import sys

import numpy as np


def main():
    out, queries, docs, features = sys.argv[1], *map(int, sys.argv[2:5])
    rng = np.random.default_rng(0)
    w = rng.normal(size=10)
    for part, nq in [("train", queries), ("test", queries // 5)]:
        x = rng.normal(size=(nq * docs, features)).astype(np.float32)
        t = x[:, :10] @ w + np.sin(3 * x[:, 0]) * x[:, 1] + x[:, 2] * x[:, 3]
        t += rng.normal(scale=1.0, size=len(t))
        grade = np.digitize(t, np.quantile(t, [0.5, 0.75, 0.9, 0.97]))
        with open(f"{out}.{part}", "w") as f:
            for row, g in zip(x, grade):
                f.write(f"{g} " + " ".join(f"{j}:{v:.5g}" for j, v in enumerate(row)) + "\n")
        with open(f"{out}.{part}.query", "w") as f:
            f.write(f"{docs}\n" * nq)


if __name__ == "__main__":
    main()
