#!/usr/bin/env python3
"""The peers' side of Funnel's ranking (CTR) benchmark: Vowpal Wabbit and LightGBM trained
and scored on the very sample files `funnel rank eval` reads, metrics by scikit-learn.

  rank_peers.py --train F --test F [--format libffm|libsvm] [--json OUT] [--peers a,b,..]
                [--runs 3] [--valid-frac 0.1] [--no-tune] [--work DIR]
      Fits each peer on --train, scores --test, prints AUC / GAUC / LogLoss / fit seconds
      and writes --json OUT: [{"model", "auc", "gauc", "logloss", "fit_seconds", ...}].
  rank_peers.py sample --out DIR [--lines 20000] [--seed 1]
      Writes a synthetic DIR/train.ffm and DIR/test.ffm (qid = user) for smoke tests.
  rank_peers.py table [LABEL=]FILE ...
      One table of Funnel `rank eval --json` objects (LABEL=FILE; repeated LABEL: median
      fit seconds) and of row lists written by --json (FILE).

Peers (all see the same features; hyper-parameters are picked on a held-out tail of the
TRAINING file, never on the test file, then the peer is refitted on the whole training file):
  vw-ftrl    VW --ftrl logistic regression, one namespace per libffm field.
  vw-lrq     VW --lrq over every pair of namespaces, rank 8 (a factorisation machine
             between fields, like Funnel's fm), with --lrqdropout, several passes on a cache.
  vw-lrqfa   VW --lrqfa over all namespaces, rank 4 (field-aware: each feature has one
             latent vector per other field, like Funnel's ffm).
  lightgbm   LightGBM binary classifier on the same sparse one-hot matrix (scipy CSR);
             boosting rounds by early stopping on the tail, then refitted on the whole file.
VW parses and learns natively: vowpalwabbit.Workspace("... -d FILE") runs VW's own driver
(pylibvw.vw.run_parser) when -d/--data/--passes is on the command line.

Metrics (on the test file): AUC = sklearn roc_auc_score; LogLoss = sklearn log_loss of the
probabilities clipped to [1e-7, 1-1e-7]; GAUC = sum_g n_g * AUC_g / sum_g n_g over the groups
g (qid, e.g. the user) that have both a positive and a negative test sample, AUC_g by
roc_auc_score on the group's samples, n_g = the group's number of test samples (groups with
one class only are skipped; no qid -> GAUC is null).
"""
import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

# Before LightGBM's OpenMP starts: on a shared machine busy-waiting threads slow it ~8x.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import numpy as np

THREADS = 2  # the benchmark machine's cores; LightGBM's threads (VW: one learner thread)
EPS = 1e-7
# Namespace letters for libffm fields 0..51 (VW's pair options take one letter per namespace).
NS = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
ALL_PEERS = ["vw-ftrl", "vw-ftrl-q", "vw-lrq", "vw-lrqfa", "lightgbm"]

# Candidate settings tried on the tail of the training file. FTRL: every (alpha, passes),
# one run each (--save_per_pass does nothing under --ftrl). LRQ/LRQFA (VW's default
# adaptive/normalised SGD underneath): every (rank, learning rate), one run of MAX_PASSES
# passes with --save_per_pass, each pass's model scored on the tail.
# --no-tune takes DEFAULT instead (what the search picked on an ml-100k time split).
GRID = {
    "vw-ftrl": [dict(alpha=a, passes=p) for a in (0.03, 0.1, 0.3) for p in (1, 3, 10)],
    "vw-ftrl-q": [dict(alpha=a, passes=p) for a in (0.01, 0.03, 0.1) for p in (1, 3, 10)],
    "vw-lrq": [dict(rank=k, lr=lr) for k in (2, 4, 8) for lr in (0.05, 0.15)],
    "vw-lrqfa": [dict(rank=k, lr=lr) for k in (1, 2, 4) for lr in (0.05, 0.15)],
}
MAX_PASSES = 8
DEFAULT = {"vw-ftrl": dict(alpha=0.1, passes=10), "vw-ftrl-q": dict(alpha=0.03, passes=3),
           "vw-lrq": dict(rank=2, lr=0.05, passes=5), "vw-lrqfa": dict(rank=1, lr=0.05, passes=2)}
LGB_PARAMS = dict(objective="binary", learning_rate=0.05, num_leaves=31, min_data_in_leaf=20,
                  feature_fraction=0.8, bagging_fraction=0.8, bagging_freq=1, lambda_l2=1.0,
                  force_col_wise=True, num_threads=THREADS, seed=0, deterministic=True, verbose=-1)
LGB_MAX_ROUNDS = 5000
LGB_PATIENCE = 100


# ---------------------------------------------------------------- reading the sample files

class Samples:
    """Rows of a libffm/libsvm file: labels (0/1), groups (qid or None), and per row the
    slice indptr[i]:indptr[i+1] of fields / indices / values."""

    def __init__(self, labels, groups, indptr, fields, indices, values):
        self.labels, self.groups, self.indptr = labels, groups, indptr
        self.fields, self.indices, self.values = fields, indices, values

    def __len__(self):
        return len(self.labels)

    def rows(self, start, stop):
        a, b = self.indptr[start], self.indptr[stop]
        return Samples(self.labels[start:stop], None if self.groups is None else self.groups[start:stop],
                       self.indptr[start:stop + 1] - a, self.fields[a:b], self.indices[a:b], self.values[a:b])


def read_samples(path, fmt):
    """The same reading rules as Funnel's: `# comment` cut, blank lines skipped, `qid:N`
    anywhere, label > 0 -> 1 else 0, non-finite values dropped."""
    labels, groups, indptr, fields, indices, values = [], [], [0], [], [], []
    ffm = fmt == "libffm"
    with open(path) as f:
        for no, line in enumerate(f, 1):
            line = line.split("#", 1)[0]
            tok = line.split()
            if not tok:
                continue
            labels.append(1 if float(tok[0]) > 0 else 0)
            g = None
            for t in tok[1:]:
                if t.startswith("qid:"):
                    g = int(t[4:])
                    continue
                p = t.split(":")
                if len(p) != (3 if ffm else 2):
                    sys.exit(f"{path}:{no}: `{t}` is not {'field:index:value' if ffm else 'index:value'}"
                             f" (use --format {'libsvm' if ffm else 'libffm'}?)")
                v = float(p[-1])
                if not np.isfinite(v):
                    continue
                fields.append(int(p[0]) if ffm else 0)
                indices.append(int(p[-2]))
                values.append(v)
            groups.append(g)
            indptr.append(len(indices))
    if not labels:
        sys.exit(f"{path}: no samples")
    has = [g is not None for g in groups]
    if any(has) and not all(has):
        sys.exit(f"{path}: qid on some lines only")
    return Samples(np.array(labels, dtype=np.int8), np.array(groups, dtype=np.int64) if all(has) else None,
                   np.array(indptr, dtype=np.int64), np.array(fields, dtype=np.int64),
                   np.array(indices, dtype=np.int64), np.array(values, dtype=np.float64))


# ---------------------------------------------------------------- metrics

def gauc(groups, y, p):
    """Sample-weighted mean of per-group AUC over groups with both classes (None if none)."""
    from sklearn.metrics import roc_auc_score

    if groups is None:
        return None
    order = np.argsort(groups, kind="stable")
    g, y, p = groups[order], y[order], p[order]
    starts = np.flatnonzero(np.r_[True, g[1:] != g[:-1]])
    ends = np.r_[starts[1:], len(g)]
    num = den = 0.0
    for a, b in zip(starts, ends):
        yy = y[a:b]
        if 0 < yy.sum() < len(yy):
            n = b - a
            num += n * roc_auc_score(yy, p[a:b])
            den += n
    return num / den if den > 0 else None


def logloss(y, p):
    from sklearn.metrics import log_loss

    return float(log_loss(y, np.clip(p, EPS, 1 - EPS), labels=[0, 1]))


def metrics(s, p):
    from sklearn.metrics import roc_auc_score

    y = s.labels.astype(np.int64)
    return {"auc": float(roc_auc_score(y, p)), "gauc": gauc(s.groups, y, p), "logloss": logloss(y, p)}


# ---------------------------------------------------------------- Vowpal Wabbit

def write_vw(s, path):
    """VW text: `±1 |a idx idx:val |b …`, namespace letter = field; value 1 left implicit."""
    if s.fields.size and s.fields.max() >= len(NS):
        sys.exit(f"VW peers: {s.fields.max() + 1} fields; at most {len(NS)} (one namespace letter each)")
    fl, ix, vs, ptr = s.fields.tolist(), s.indices.tolist(), s.values.tolist(), s.indptr.tolist()
    tok = [str(i) if v == 1.0 else f"{i}:{v!r}" for i, v in zip(ix, vs)]
    with open(path, "w") as f:
        for r, y in enumerate(s.labels.tolist()):
            ks = range(ptr[r], ptr[r + 1])
            if any(fl[k] > fl[k + 1] for k in ks[:-1]):
                ks = sorted(ks, key=fl.__getitem__)
            parts, cur = ["1" if y else "-1"], -1
            for k in ks:
                if fl[k] != cur:
                    cur = fl[k]
                    parts.append("|" + NS[cur])
                parts.append(tok[k])
            f.write(" ".join(parts) + "\n")


def vw_bits(n):
    """Hash bits for about n distinct features: >= 16n slots, between 2^18 and 2^26."""
    return int(min(26, max(18, np.ceil(np.log2(max(n, 1))) + 4)))


def vw_args(peer, cfg, n_fields, bits):
    ns = NS[:n_fields]
    pairs = [x + y for i, x in enumerate(ns) for y in ns[i + 1:]] or ["aa"]  # libsvm: one namespace
    common = f"--loss_function logistic -b {bits} --random_seed 0 --holdout_off"
    if peer == "vw-ftrl":
        return f"--ftrl --ftrl_alpha {cfg['alpha']} --ftrl_beta 1 {common}"
    if peer == "vw-ftrl-q":
        q = " ".join(f"-q {p}" for p in pairs)
        return f"--ftrl --ftrl_alpha {cfg['alpha']} --ftrl_beta 1 {q} {common}"
    if peer == "vw-lrq":
        lrq = " ".join(f"--lrq {p}{cfg['rank']}" for p in pairs)
        return f"{lrq} -l {cfg['lr']} {common}"
    if peer == "vw-lrqfa":
        return f"--lrqfa {ns}{cfg['rank']} -l {cfg['lr']} {common}"
    raise ValueError(peer)


def vw_train(args, passes, data, model, work, per_pass=False):
    """VW's native driver on a text file (-d); returns its seconds; the model is written."""
    from vowpalwabbit import Workspace

    cmd = f"{args} -d {data} -f {model} --quiet"
    if passes > 1:
        cmd += f" --passes {passes} --cache_file {work / 'vw.cache'} -k"
    if per_pass:
        cmd += " --save_per_pass"  # MODEL.1 … MODEL.n after each pass (gd-based learners only, not --ftrl)
    t = time.perf_counter()
    w = Workspace(cmd)  # parses and learns the whole file here (pylibvw run_parser)
    w.finish()  # -f is written by finish()
    return time.perf_counter() - t


def vw_predict(model, data, work):
    from vowpalwabbit import Workspace

    preds = work / "vw.preds"
    Workspace(f"-t -i {model} -d {data} -p {preds} --link logistic --quiet").finish()
    return np.loadtxt(preds, usecols=0, ndmin=1)


def vw_tune(peer, n_fields, bits, work, y_tail):
    """The setting with the lowest LogLoss on the tail after training on the head."""
    head, tail, model = work / "head.vw", work / "tail.vw", work / "tune.model"
    best = None

    def see(cfg, m):
        nonlocal best
        ll = logloss(y_tail, vw_predict(m, tail, work))
        print(f"    {peer} {cfg}: tail logloss {ll:.5f}", file=sys.stderr)
        if best is None or ll < best[0]:
            best = (ll, cfg)

    if peer.startswith("vw-ftrl"):
        for cfg in GRID[peer]:
            vw_train(vw_args(peer, cfg, n_fields, bits), cfg["passes"], head, model, work)
            see(cfg, model)
    else:
        for cfg in GRID[peer]:
            vw_train(vw_args(peer, cfg, n_fields, bits), MAX_PASSES, head, model, work, per_pass=True)
            for p in range(1, MAX_PASSES + 1):
                m = Path(f"{model}.{p}")
                see({**cfg, "passes": p}, m)
                m.unlink()
    return best[1]


# ---------------------------------------------------------------- LightGBM

def csr(s, columns):
    import scipy.sparse as sp

    key = (s.fields << 32) | s.indices
    return sp.csr_matrix((s.values.astype(np.float32), np.searchsorted(columns, key), s.indptr),
                         shape=(len(s), len(columns)))


def lgb_fit(x, y, rounds):
    import lightgbm as lgb

    return lgb.train(LGB_PARAMS, lgb.Dataset(x, y, free_raw_data=False), num_boost_round=rounds)


def lgb_rounds(x_head, y_head, x_tail, y_tail):
    import lightgbm as lgb

    dh = lgb.Dataset(x_head, y_head, free_raw_data=False)
    dt = lgb.Dataset(x_tail, y_tail, reference=dh, free_raw_data=False)
    b = lgb.train({**LGB_PARAMS, "metric": "binary_logloss"}, dh, num_boost_round=LGB_MAX_ROUNDS, valid_sets=[dt],
                  callbacks=[lgb.early_stopping(LGB_PATIENCE, verbose=False)])
    return max(1, b.best_iteration)


# ---------------------------------------------------------------- main

def run(a):
    train = read_samples(a.train, a.format)
    test = read_samples(a.test, a.format)
    n_tail = max(1, int(round(len(train) * a.valid_frac)))
    head, tail = train.rows(0, len(train) - n_tail), train.rows(len(train) - n_tail, len(train))
    n_fields = int(max(train.fields.max(initial=0), test.fields.max(initial=0))) + 1
    peers = a.peers.split(",")
    for p in peers:
        if p not in ALL_PEERS:
            sys.exit(f"unknown peer {p}; known: {','.join(ALL_PEERS)}")
    tmp = None
    if a.work:
        work = Path(a.work)
        work.mkdir(parents=True, exist_ok=True)
    else:
        tmp = tempfile.TemporaryDirectory(prefix="rank_peers_")
        work = Path(tmp.name)
    print(f"train {a.train}: {len(train)} samples ({len(head)} fit + {len(tail)} tail for tuning), "
          f"test {a.test}: {len(test)} samples, {n_fields} field(s), "
          f"groups: {'qid' if test.groups is not None else 'none'}", file=sys.stderr)
    rows = []
    if any(p.startswith("vw-") for p in peers):
        t = time.perf_counter()
        write_vw(head, work / "head.vw")
        write_vw(tail, work / "tail.vw")
        write_vw(train, work / "train.vw")
        write_vw(test, work / "test.vw")
        print(f"VW text written in {time.perf_counter() - t:.1f}s (not counted in fit_seconds)", file=sys.stderr)
    y_tail = tail.labels.astype(np.int64)
    keys = np.unique(np.concatenate([(s.fields << 32) | s.indices for s in (train, test)]))
    n_pairs = max(1, n_fields * (n_fields - 1) // 2)
    for peer in peers:
        # -q crosses: at most (training samples x pairs) distinct ones; 4x that many slots.
        bits = vw_bits(len(train) * n_pairs / 4) if peer == "vw-ftrl-q" else vw_bits(len(keys))
        t_tune = time.perf_counter()
        fits = []
        if peer.startswith("vw-"):
            cfg = vw_tune(peer, n_fields, bits, work, y_tail) if a.tune else DEFAULT[peer]
            tune_s = time.perf_counter() - t_tune
            args, passes = vw_args(peer, cfg, n_fields, bits), cfg["passes"]
            for _ in range(a.runs):
                fits.append(vw_train(args, passes, work / "train.vw", work / "vw.model", work))
            p = vw_predict(work / "vw.model", work / "test.vw", work)
            options = f"{args} --passes {passes}" + (" --cache_file (made in pass 1)" if passes > 1 else "")
        else:
            x_head, x_tail, x_train, x_test = (csr(s, keys) for s in (head, tail, train, test))
            rounds = lgb_rounds(x_head, head.labels, x_tail, tail.labels)
            tune_s = time.perf_counter() - t_tune
            for _ in range(a.runs):
                t = time.perf_counter()
                b = lgb_fit(x_train, train.labels, rounds)
                fits.append(time.perf_counter() - t)
            p = b.predict(x_test)
            cfg = {"rounds": rounds}
            options = " ".join(f"{k}={v}" for k, v in LGB_PARAMS.items() if k != "verbose") + f" rounds={rounds}"
        row = {"model": peer, **metrics(test, p), "fit_seconds": statistics.median(fits),
               "tune_seconds": tune_s, "chosen": cfg, "options": options}
        rows.append(row)
        print(f"  {peer}: {options}", file=sys.stderr)
    print_table(rows, f"peers, medians of {a.runs} fit(s); hyper-parameters picked on the training tail")
    if a.json:
        Path(a.json).parent.mkdir(parents=True, exist_ok=True)
        with open(a.json, "w") as f:
            json.dump(rows, f, indent=1)
    if tmp:
        tmp.cleanup()


def fmt(v, w, d):
    return f"{v:{w}.{d}f}" if isinstance(v, (int, float)) and v is not None else f"{'-':>{w}}"


def print_table(rows, title):
    print(f"\n{title}")
    print(f"{'model':<22} {'auc':>8} {'gauc':>8} {'logloss':>8} {'fit_s':>8}")
    for r in rows:
        print(f"{r['model']:<22} {fmt(r.get('auc'), 8, 4)} {fmt(r.get('gauc'), 8, 4)} "
              f"{fmt(r.get('logloss'), 8, 4)} {fmt(r.get('fit_seconds'), 8, 2)}")


def find(j, *names):
    """A metric from a Funnel JSON object: top level or under "metrics"/"test", any case."""
    for d in (j, j.get("metrics", {}), j.get("test", {})):
        if isinstance(d, dict):
            for k, v in d.items():
                if k.lower() in names and isinstance(v, (int, float)):
                    return v
    return None


def table(args):
    """LABEL=FILE: a Funnel `rank eval --json` object (the same LABEL several times: fit
    seconds are their median); FILE alone: a list of rows written by this script."""
    rows, funnel = [], {}
    for arg in args:
        label, _, path = arg.rpartition("=")
        j = json.load(open(path))
        if isinstance(j, list):
            rows += j
            continue
        label = label or j.get("model", path)
        if label not in funnel:
            funnel[label] = {"model": label, "auc": find(j, "auc"), "gauc": find(j, "gauc"),
                             "logloss": find(j, "logloss", "log_loss"), "fits": []}
            rows.append(funnel[label])
        fs = find(j, "fit_seconds")
        if fs is not None:
            funnel[label]["fits"].append(fs)
    for r in funnel.values():
        r["fit_seconds"] = statistics.median(r["fits"]) if r["fits"] else None
    print_table(rows, "side by side, same train/test files")


def sample(a):
    """Synthetic CTR sample with FFM-like signal: user x item-genre and user x hour
    interactions, a popularity bias, multi-hot genres; qid = user; test = later lines."""
    rng = np.random.default_rng(a.seed)
    n_users, n_items, n_genres = 500, 800, 18
    u_age, u_gender, u_occ = rng.integers(0, 7, n_users), rng.integers(0, 2, n_users), rng.integers(0, 21, n_users)
    i_genres = [rng.choice(n_genres, rng.integers(1, 4), replace=False) for _ in range(n_items)]
    taste = rng.normal(0, 1, (n_users, 4))
    g_vec = rng.normal(0, 1, (n_genres, 4))
    hour_vec = rng.normal(0, 1, (24, 4))
    occ_vec = rng.normal(0, 0.7, (21, 4))
    item_bias = rng.normal(0, 0.8, n_items)
    users = rng.integers(0, n_users, a.lines)
    items = np.minimum((rng.pareto(1.2, a.lines) * 40).astype(int), n_items - 1)
    hours = rng.integers(0, 24, a.lines)
    # Feature offsets: one global index space, field f = block f.
    off = np.cumsum([0, n_users, n_items, 7, 2, 21, n_genres, 24])
    lines = []
    for k in range(a.lines):
        u, i, h = users[k], items[k], hours[k]
        gv = g_vec[i_genres[i]].mean(0)
        z = -0.5 + item_bias[i] + 0.8 * (taste[u] + occ_vec[u_occ[u]]) @ gv + 0.5 * hour_vec[h] @ gv
        y = int(rng.random() < 1 / (1 + np.exp(-z)))
        feats = [f"0:{off[0] + u}:1", f"1:{off[1] + i}:1", f"2:{off[2] + u_age[u]}:1", f"3:{off[3] + u_gender[u]}:1",
                 f"4:{off[4] + u_occ[u]}:1"] + [f"5:{off[5] + g}:{1 / len(i_genres[i]):.4g}" for g in sorted(i_genres[i])]
        feats.append(f"6:{off[6] + h}:1")
        lines.append(f"{y} qid:{u} " + " ".join(feats) + "\n")
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    cut = int(a.lines * 0.8)
    (out / "train.ffm").write_text("".join(lines[:cut]))
    (out / "test.ffm").write_text("".join(lines[cut:]))
    print(f"wrote {out}/train.ffm ({cut} lines) and {out}/test.ffm ({a.lines - cut} lines)")


def main():
    if len(sys.argv) > 1 and sys.argv[1] == "table":
        return table(sys.argv[2:])
    if len(sys.argv) > 1 and sys.argv[1] == "sample":
        ap = argparse.ArgumentParser(prog="rank_peers.py sample")
        ap.add_argument("--out", required=True)
        ap.add_argument("--lines", type=int, default=20000)
        ap.add_argument("--seed", type=int, default=1)
        return sample(ap.parse_args(sys.argv[2:]))
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--train", required=True)
    ap.add_argument("--test", required=True)
    ap.add_argument("--format", choices=["libffm", "libsvm"], default="libffm")
    ap.add_argument("--json", help="write the rows here")
    ap.add_argument("--peers", default=",".join(ALL_PEERS))
    ap.add_argument("--runs", type=int, default=3, help="final fits timed (median); metrics are deterministic")
    ap.add_argument("--valid-frac", type=float, default=0.1, help="tail of the training file held out for tuning")
    ap.add_argument("--no-tune", dest="tune", action="store_false", help="VW: the DEFAULT settings, no search (LightGBM still early-stops on the tail)")
    ap.add_argument("--work", help="keep the VW files here (default: a temporary directory)")
    run(ap.parse_args())


if __name__ == "__main__":
    main()
