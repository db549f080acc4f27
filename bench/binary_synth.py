"""Synthetic binary-classification files for bench/gbdt.sh: ROWS rows of FEATURES dense
features (normal, 4 decimals), a click with probability σ(f(x)) where f is non-linear in
ten of them (thresholds, a product, a sine); OUT.train (ROWS rows) and OUT.test (a tenth
as many), libsvm.

    python bench/binary_synth.py OUT ROWS FEATURES
"""
import sys

import numpy as np


def main():
    out, rows, features = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    rng = np.random.default_rng(0)
    w = rng.normal(size=10) * 0.5
    for part, n in [("train", rows), ("test", rows // 10)]:
        with open(f"{out}.{part}", "w") as f:
            for start in range(0, n, 50_000):
                m = min(50_000, n - start)
                x = np.round(rng.normal(size=(m, features)), 4).astype(np.float32)
                z = (x[:, :10] @ w + 1.5 * (x[:, 0] > 0.5) * (x[:, 1] < 0)
                     + np.sin(2 * x[:, 2]) * x[:, 3] + 0.5 * x[:, 4] * x[:, 5] - 0.5)
                y = rng.random(m) < 1 / (1 + np.exp(-z))
                cols = [f"{j}:" for j in range(features)]
                lines = []
                for label, row in zip(y, x):
                    lines.append(("1 " if label else "0 ") + " ".join(c + f"{v:.4f}" for c, v in zip(cols, row)))
                f.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
