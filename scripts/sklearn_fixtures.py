#!/usr/bin/env python3
"""Writes crates/metrics/tests/fixtures/sklearn.json: inputs and scikit-learn's answers.

Funnel's metric tests read this file and must agree to 1e-9. Re-run after changing a
case (`python3 scripts/sklearn_fixtures.py`); `--check` regenerates into memory and fails
if the committed file differs (CI runs that to prove the numbers come from scikit-learn).
"""
import json
import sys
from pathlib import Path

import numpy as np
import sklearn
from sklearn.metrics import average_precision_score, log_loss, ndcg_score, roc_auc_score

OUT = Path(__file__).resolve().parent.parent / "crates/metrics/tests/fixtures/sklearn.json"


def pointwise_cases(rng):
    cases = []
    for name, n, decimals, weighted in [
        ("ties", 400, 1, False),
        ("ties_weighted", 400, 1, True),
        ("continuous", 1000, None, False),
        ("continuous_weighted", 1000, None, True),
        ("heavy_ties", 300, 0, True),
    ]:
        y = (rng.random(n) < 0.3).astype(float)
        p = np.clip(0.35 * y + 0.65 * rng.random(n), 0.001, 0.999)
        if decimals is not None:
            p = np.clip(np.round(p * 3, decimals) / 3, 0.001, 0.999)
        w = rng.uniform(0.1, 3.0, n) if weighted else None
        cases.append({
            "name": name,
            "scores": p.tolist(),
            "labels": y.tolist(),
            "weights": None if w is None else w.tolist(),
            "auc": float(roc_auc_score(y, p, sample_weight=w)),
            "logloss": float(log_loss(y, p, sample_weight=w, labels=[0, 1])),
        })
    return cases


def gauc_case(rng):
    users = rng.integers(0, 40, 800)
    y = (rng.random(800) < 0.25).astype(float)
    s = np.round(0.3 * y + rng.random(800), 2)
    num = den = 0.0
    used = skipped = 0
    for u in np.unique(users):
        m = users == u
        if len(np.unique(y[m])) < 2:
            skipped += 1
            continue
        num += roc_auc_score(y[m], s[m]) * m.sum()
        den += m.sum()
        used += 1
    return {"users": users.tolist(), "scores": s.tolist(), "labels": y.tolist(),
            "gauc": num / den, "used": used, "skipped": skipped}


def ranking_cases(rng):
    """Per-user candidate lists with distinct scores; binary and graded relevance."""
    users = []
    n_items = 60
    for u in range(30):
        scores = rng.permutation(n_items).astype(float) + rng.random(n_items) * 0.5
        rel = np.zeros(n_items)
        hits = rng.choice(n_items, size=rng.integers(1, 12), replace=False)
        rel[hits] = rng.integers(1, 4, len(hits))
        users.append({"scores": scores.tolist(), "relevance": rel.tolist()})
    out = {"n_items": n_items, "users": users, "k": {}}
    for k in [1, 5, 10, 20, n_items]:
        binary = [float(ndcg_score([(np.array(x["relevance"]) > 0).astype(float)], [x["scores"]], k=k)) for x in users]
        graded = [float(ndcg_score([2.0 ** np.array(x["relevance"]) - 1.0], [x["scores"]], k=k)) for x in users]
        # Independent numpy versions of the simple list metrics.
        rec, prec, hr, mrr = [], [], [], []
        for x in users:
            order = np.argsort(-np.array(x["scores"]))[:k]
            relevant = np.array(x["relevance"]) > 0
            hits = relevant[order]
            rec.append(hits.sum() / relevant.sum())
            prec.append(hits.sum() / k)
            hr.append(float(hits.any()))
            first = np.flatnonzero(hits)
            mrr.append(1.0 / (first[0] + 1) if len(first) else 0.0)
        out["k"][str(k)] = {
            "ndcg_binary": float(np.mean(binary)),
            "ndcg_graded": float(np.mean(graded)),
            "recall": float(np.mean(rec)),
            "precision": float(np.mean(prec)),
            "hr": float(np.mean(hr)),
            "mrr": float(np.mean(mrr)),
        }
    # MAP over the full list equals the mean of scikit-learn's average precision.
    out["map_full"] = float(np.mean([
        average_precision_score(np.array(x["relevance"]) > 0, x["scores"]) for x in users
    ]))
    return out


def build():
    rng = np.random.default_rng(20261121)
    return {
        "generator": "scripts/sklearn_fixtures.py",
        "sklearn": sklearn.__version__,
        "pointwise": pointwise_cases(rng),
        "gauc": gauc_case(rng),
        "ranking": ranking_cases(rng),
    }


def main():
    data = build()
    text = json.dumps(data, indent=None, separators=(",", ":"))
    if "--check" in sys.argv:
        old = json.loads(OUT.read_text())
        bad = []

        def cmp(a, b, path):
            if isinstance(a, dict):
                for k in a:
                    if k != "sklearn":
                        cmp(a[k], b.get(k), f"{path}.{k}")
            elif isinstance(a, list):
                for i, (x, y) in enumerate(zip(a, b)):
                    cmp(x, y, f"{path}[{i}]")
            elif isinstance(a, float):
                if b is None or abs(a - b) > 1e-12:
                    bad.append(f"{path}: committed {b}, scikit-learn {a}")
            elif a != b:
                bad.append(f"{path}: committed {b}, now {a}")

        cmp(data, old, "")
        if bad:
            print("fixtures differ from scikit-learn:\n" + "\n".join(bad[:20]))
            sys.exit(1)
        print(f"fixtures match scikit-learn {sklearn.__version__}")
        return
    OUT.write_text(text + "\n")
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
