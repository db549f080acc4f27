#!/usr/bin/env python3
"""FTRL logistic regression, parse + learn, one pass: Funnel beside Vowpal Wabbit on the
same synthetic CTR data (the same lines, written once as libsvm for Funnel and once as VW
text for VW), wall time as the median of --runs, examples/s and peak RSS of each.

  rank_speed.py [--lines 2000000] [--dir target/bench-data] [--runs 3]
                [--funnel target/release/funnel] [--json OUT]

Data (seeded, cached in --dir as ctr_<lines>_s<seed>.{libsvm,vw}): 20 fields, the first 10
one value each and the other 10 two values each (30 one-hot features a line); values drawn
skewed (a few frequent, a long tail) from per-field vocabularies of 7 to 2,000,000; each
(field, value) hashed into 2^22 buckets; label ~ Bernoulli(sigmoid(-1 + sum of per-bucket
weights ~ N(0, 0.25^2))), about 28% positives.

VW:     python -c '... vowpalwabbit.Workspace("--ftrl --loss_function logistic -b 22 -d F.vw
        -f M --quiet").finish()' in its own process; the time is taken inside it around that
        native run (VW's own parser thread and learner thread; no cache, one pass).
Funnel: FUNNEL rank train --train F.libsvm --format libsvm --model lr --set passes=1
        --out M --json OUT; the time is the process's wall time.
Peak RSS: /usr/bin/time -v around each process (else getrusage in a wrapper process);
VW's includes the Python interpreter it runs in (about 20 MB; see python_baseline_rss_mb).
"""
import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

BITS = 22
CARD = [2_000_000, 1_000_000, 300_000, 100_000, 30_000, 10_000, 3_000, 1_000, 300, 100,
        50_000, 20_000, 5_000, 1_000, 200, 60, 24, 12, 7, 500]
SINGLE, DOUBLE = 10, 10  # fields 0..9 one value, 10..19 two values: 30 features a line
CHUNK = 250_000

VW_CHILD = r"""
import json, sys, time
import vowpalwabbit
t = time.perf_counter()
w = vowpalwabbit.Workspace(sys.argv[1])  # -d given: VW's native driver parses and learns here
n, loss = w.get_weighted_examples(), w.get_sum_loss()
w.finish()  # writes -f
print(json.dumps({"seconds": time.perf_counter() - t, "examples": n, "progressive_logloss": loss / max(n, 1)}))
"""


def mix(x):
    """splitmix64 finaliser on uint64 arrays (wraps mod 2^64)."""
    x = x ^ (x >> np.uint64(30))
    x = x * np.uint64(0xBF58476D1CE4E5B9)
    x = x ^ (x >> np.uint64(27))
    x = x * np.uint64(0x94D049BB133111EB)
    return x ^ (x >> np.uint64(31))


def draw(rng, n, weights):
    """n lines: labels (0/1) and sorted bucket indices (n, 30)."""
    cols = []
    for f, card in enumerate(CARD):
        v = np.minimum((card * rng.random(n) ** 3).astype(np.uint64), np.uint64(card - 1))
        vals = [v]
        if f >= SINGLE:  # a second value of the field, never the first one again
            step = 1 + ((card - 1) * rng.random(n) ** 3).astype(np.uint64)
            vals.append((v + step) % np.uint64(card))
        for v in vals:
            cols.append(mix((np.uint64(f + 1) << np.uint64(40)) ^ v) & np.uint64((1 << BITS) - 1))
    idx = np.sort(np.stack(cols, axis=1).astype(np.int64), axis=1)
    z = -1.0 + weights[idx].sum(axis=1)
    y = (rng.random(n) < 1.0 / (1.0 + np.exp(-z))).astype(np.int8)
    return y, idx


def text(y, idx, labels, suffix):
    """Lines `<labels[y]> i:1 i:1 …` (suffix b":1") or `<labels[y]> i i …` (suffix b""),
    built as one byte array with a keep-mask, so no Python loop over lines."""
    n, k = idx.shape
    width = 7  # idx < 2^22 < 10^7
    digits = np.ones(idx.shape, dtype=np.int64)
    for p in range(1, width):
        digits += idx >= 10 ** p
    t = 1 + width + len(suffix)
    tok = np.zeros((n, k, t), dtype=np.uint8)
    keep = np.zeros((n, k, t), dtype=bool)
    tok[:, :, 0], keep[:, :, 0] = ord(" "), True
    for j in range(width):  # j-th digit from the left, present when j < digits
        present = j < digits
        power = 10 ** np.maximum(digits - 1 - j, 0)
        tok[:, :, 1 + j] = 48 + (idx // power) % 10
        keep[:, :, 1 + j] = present
    for j, c in enumerate(suffix):
        tok[:, :, 1 + width + j], keep[:, :, 1 + width + j] = c, True
    w = max(len(s) for s in labels)
    head = np.zeros((n, w), dtype=np.uint8)
    hkeep = np.zeros((n, w), dtype=bool)
    for v, s in enumerate(labels):  # right-aligned label text, padding dropped
        rows = y == v
        head[rows, w - len(s):] = np.frombuffer(s, dtype=np.uint8)
        hkeep[rows, w - len(s):] = True
    nl = np.full((n, 1), ord("\n"), dtype=np.uint8)
    arr = np.hstack([head, tok.reshape(n, -1), nl])
    msk = np.hstack([hkeep, keep.reshape(n, -1), np.ones((n, 1), dtype=bool)])
    return arr[msk].tobytes()


def make_data(d, lines, seed):
    d.mkdir(parents=True, exist_ok=True)
    base = d / f"ctr_{lines}_s{seed}"
    svm, vw = base.with_suffix(".libsvm"), base.with_suffix(".vw")
    if svm.exists() and vw.exists():
        return svm, vw
    t = time.perf_counter()
    rng = np.random.default_rng(seed)
    weights = rng.normal(0, 0.25, 1 << BITS)
    pos = 0
    with open(f"{svm}.tmp", "wb") as fs, open(f"{vw}.tmp", "wb") as fv:
        for start in range(0, lines, CHUNK):
            y, idx = draw(rng, min(CHUNK, lines - start), weights)
            pos += int(y.sum())
            fs.write(text(y, idx, (b"0", b"1"), b":1"))
            fv.write(text(y, idx, (b"-1 |", b"1 |"), b""))
    os.replace(f"{svm}.tmp", svm)
    os.replace(f"{vw}.tmp", vw)
    print(f"wrote {svm} and {vw}: {lines} lines, {pos / lines:.1%} positive, "
          f"in {time.perf_counter() - t:.1f}s", flush=True)
    return svm, vw


TIME_V = Path("/usr/bin/time").exists()
RSS_WRAPPER = ("import resource, subprocess, sys; r = subprocess.run(sys.argv[1:]); "
               "print(f'Maximum resident set size (kbytes): {resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss}',"
               " file=sys.stderr); sys.exit(r.returncode)")


def measured(cmd):
    """Runs cmd; returns (wall seconds, peak RSS MB, stdout, stderr, returncode)."""
    wrap = ["/usr/bin/time", "-v"] if TIME_V else [sys.executable, "-c", RSS_WRAPPER]
    t = time.perf_counter()
    r = subprocess.run(wrap + cmd, capture_output=True, text=True)
    wall = time.perf_counter() - t
    m = re.search(r"Maximum resident set size \(kbytes\): (\d+)", r.stderr)
    return wall, (int(m.group(1)) / 1024 if m else float("nan")), r.stdout, r.stderr, r.returncode


def warm(path):
    with open(path, "rb") as f:
        while f.read(1 << 24):
            pass


def run_vw(vw_file, runs, work):
    args = (f"--ftrl --ftrl_alpha 0.05 --ftrl_beta 1 --loss_function logistic -b {BITS} "
            f"-d {vw_file} -f {work / 'vw.model'} --quiet")
    warm(vw_file)
    secs, walls, rss, last = [], [], [], {}
    for _ in range(runs):
        wall, mb, out, err, rc = measured([sys.executable, "-c", VW_CHILD, args])
        if rc != 0:
            sys.exit(f"VW failed:\n{err[-2000:]}")
        last = json.loads(out.strip().splitlines()[-1])
        secs.append(last["seconds"])
        walls.append(wall)
        rss.append(mb)
    _, base_mb, _, _, _ = measured([sys.executable, "-c", "import vowpalwabbit"])
    return {"tool": "vw", "command": f"vowpalwabbit.Workspace('{args}')", "median_seconds": statistics.median(secs),
            "median_process_seconds": statistics.median(walls), "peak_rss_mb": max(rss),
            "python_baseline_rss_mb": base_mb, "examples": last["examples"],
            "progressive_logloss": last["progressive_logloss"], "runs": secs}


def run_funnel(funnel, svm_file, runs, work):
    if not Path(funnel).exists():
        return None, f"{funnel} not found (build it: cargo build --release -p funnel-cli)"
    probe = subprocess.run([funnel, "rank", "train", "--help"], capture_output=True, text=True)
    if probe.returncode != 0:
        return None, f"`{funnel} rank train` is not available yet: {(probe.stderr or probe.stdout).strip()[:200]}"
    out_json = work / "funnel.json"
    cmd = [funnel, "rank", "train", "--train", str(svm_file), "--format", "libsvm", "--model", "lr",
           "--set", "passes=1", "--out", str(work / "funnel.model"), "--json", str(out_json)]
    warm(svm_file)
    walls, rss, info = [], [], {}
    for _ in range(runs):
        wall, mb, out, err, rc = measured(cmd)
        if rc != 0:
            return None, f"`{' '.join(cmd)}` failed ({rc}):\n{err[-2000:]}"
        walls.append(wall)
        rss.append(mb)
    try:
        info = json.load(open(out_json))
    except (OSError, ValueError):
        pass
    return {"tool": "funnel", "command": " ".join(cmd), "median_seconds": statistics.median(walls),
            "peak_rss_mb": max(rss), "funnel_json": info, "runs": walls}, None


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--lines", type=int, default=2_000_000)
    ap.add_argument("--dir", default="target/bench-data")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--funnel", default="target/release/funnel")
    ap.add_argument("--json", help="write the rows here")
    ap.add_argument("--skip-vw", action="store_true")
    a = ap.parse_args()
    svm, vw = make_data(Path(a.dir), a.lines, a.seed)
    with tempfile.TemporaryDirectory(prefix="rank_speed_") as tmp:
        work = Path(tmp)
        rows = []
        if not a.skip_vw:
            rows.append(run_vw(vw, a.runs, work))
        f, why = run_funnel(a.funnel, svm, a.runs, work)
        if f:
            rows.append(f)
    for r in rows:
        r["lines"] = a.lines
        r["examples_per_second"] = a.lines / r["median_seconds"]

    def mb(p):
        return p.stat().st_size / 2**20

    print(f"\nFTRL logistic regression, parse + learn, one pass: {a.lines:,} lines x 30 hashed one-hot "
          f"features (2^{BITS} buckets); {svm.name} {mb(svm):.0f} MB, {vw.name} {mb(vw):.0f} MB; "
          f"median of {a.runs}, {os.cpu_count()} cores")
    print(f"{'tool':<8} {'seconds':>9} {'examples/s':>12} {'peak_MB':>9}  notes")
    for r in rows:
        note = (f"process {r['median_process_seconds']:.2f}s; progressive logloss {r['progressive_logloss']:.4f}; "
                f"RSS includes Python ({r['python_baseline_rss_mb']:.0f} MB alone)") if r["tool"] == "vw" else ""
        j = r.get("funnel_json") or {}
        if isinstance(j.get("fit_seconds"), (int, float)):
            note = f"its report: fit {j['fit_seconds']:.2f}s" + (
                f", total {j['total_seconds']:.2f}s" if isinstance(j.get("total_seconds"), (int, float)) else "")
        print(f"{r['tool']:<8} {r['median_seconds']:9.2f} {r['examples_per_second']:12,.0f} {r['peak_rss_mb']:9.0f}  {note}")
    by = {r["tool"]: r for r in rows}
    if "funnel" in by and "vw" in by:
        ratio = by["funnel"]["examples_per_second"] / by["vw"]["examples_per_second"]
        print(f"funnel/vw examples/s: {ratio:.2f}x")
        rows.append({"tool": "ratio", "funnel_over_vw_examples_per_second": ratio})
    if why:
        print(f"funnel: {why}")
    if a.json:
        Path(a.json).parent.mkdir(parents=True, exist_ok=True)
        with open(a.json, "w") as f_:
            json.dump(rows, f_, indent=1)


if __name__ == "__main__":
    main()
