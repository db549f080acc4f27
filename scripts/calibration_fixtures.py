#!/usr/bin/env python3
"""Writes crates/rank/tests/fixtures/calibration.json: scikit-learn's isotonic regression
and plain Platt scaling on seeded inputs, which Funnel's calibration must reproduce.

Isotonic: `IsotonicRegression(out_of_bounds="clip")` fitted on (p, y), evaluated at query
points. Platt: `LogisticRegression` on the single feature logit(p) with no penalty, which is
Platt scaling with plain 0/1 targets (Funnel's choice; scikit-learn's CalibratedClassifierCV
adds Platt's prior smoothing of the targets). `--check` regenerates in memory and fails if
the committed file differs.
"""
import json
import sys
from pathlib import Path

import numpy as np
from sklearn.isotonic import IsotonicRegression
from sklearn.linear_model import LogisticRegression

OUT = Path(__file__).resolve().parent.parent / "crates/rank/tests/fixtures/calibration.json"


def build():
    rng = np.random.default_rng(11)
    cases = []
    for name, n, decimals in [("continuous", 2000, None), ("ties", 1500, 2)]:
        p = rng.uniform(0.01, 0.99, n)
        if decimals is not None:
            p = np.round(p, decimals)
        true = 1 / (1 + np.exp(-(1.7 * np.log(p / (1 - p)) - 0.4)))
        y = (rng.random(n) < true).astype(float)
        q = np.concatenate([[0.0, 0.005, 0.999, 1.0], rng.uniform(0, 1, 200)])
        iso = IsotonicRegression(out_of_bounds="clip").fit(p, y)
        z = np.log(p / (1 - p)).reshape(-1, 1)
        lr = LogisticRegression(penalty=None, tol=1e-12, max_iter=10_000).fit(z, y)
        cases.append({
            "name": name,
            "probs": p.tolist(),
            "labels": y.tolist(),
            "queries": q.tolist(),
            "isotonic": iso.predict(q).tolist(),
            "platt_a": float(lr.coef_[0][0]),
            "platt_b": float(lr.intercept_[0]),
        })
    return {"cases": cases}


def main():
    text = json.dumps(build(), indent=1) + "\n"
    if "--check" in sys.argv:
        if OUT.read_text() != text:
            sys.exit(f"{OUT} differs from what scikit-learn computes now; re-run this script")
        print(f"{OUT.name}: matches scikit-learn")
        return
    OUT.write_text(text)
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
