#!/usr/bin/env bash
# Funnel's matrix factorisation beside the `implicit` library (PyPI), same data, same
# hyper-parameters, same threads (2), same metric code (Funnel's, for both).
#   bash bench/implicit.sh [quality|speed|all]     RUNS=3 by default
# quality: ml-100k, per-user leave-last-out by time; HR/NDCG/Recall@10,20 of iALS, BPR and
#          EASE (Funnel) and ALS, BPR (implicit).
# speed:   Gowalla train set; iALS seconds per iteration (CG, 3 steps) at 64 and 128
#          factors vs implicit ALS (CG); BPR seconds per epoch vs implicit BPR; peak RSS.
set -euo pipefail
cd "$(dirname "$0")/.."
what=${1:-all}
RUNS=${RUNS:-3}
DATA=${FUNNEL_DATA:-$(cd .. && pwd)/shared/datasets}
OUT=bench/out
mkdir -p "$OUT"
[ -x .venv/bin/python ] || python3 -m venv .venv
.venv/bin/pip install -q numpy scipy implicit
PY=.venv/bin/python
cargo build --release -q -p funnel-bench -p funnel-cli
FB=target/release/funnel-bench
F=target/release/funnel

if [[ $what == all || $what == quality ]]; then
  S="$OUT/ml100k_loo"
  $FB split "$DATA/ml-100k" --format recbole --split leave-last-out "$S" >/dev/null
  printf '\nml-100k, leave-last-out by time (943 test users), full ranking\n'
  printf '%-34s %8s %8s %8s %8s %8s\n' model hr@10 ndcg@10 hr@20 ndcg@20 fit_s
  row() { $PY - "$1" "$2" <<'PY'
import json, sys
j = json.load(open(sys.argv[2])); m = j["metrics"]
print(f"{sys.argv[1]:<34} {m['hr@10']:8.4f} {m['ndcg@10']:8.4f} {m['hr@20']:8.4f} {m['ndcg@20']:8.4f} {j.get('fit_seconds', float('nan')):8.2f}")
PY
  }
  # label model key=value… (BPR twice: uniform negatives as in the paper, and
  # popularity-proportional ones as implicit draws them)
  for spec in "ials ials factors=32 reg=0.1 alpha=10 iterations=15" \
              "bpr bpr factors=32 learning_rate=0.01 reg=0.01 iterations=100" \
              "bpr(popularity-negatives) bpr factors=32 learning_rate=0.01 reg=0.01 iterations=100 negative_sampling=popularity" \
              "ease ease reg=250"; do
    set -- $spec; label=$1; model=$2; shift 2
    args=(); for kv in "$@"; do args+=(--set "$kv"); done
    $F eval --data "$S" --format lightgcn --model "$model" "${args[@]}" --k 10,20 --json "$OUT/ml100k_$label.json" >/dev/null 2>&1
    row "funnel $label" "$OUT/ml100k_$label.json"
  done
  $PY bench/implicit_peer.py quality "$S" "$OUT/ml100k_implicit" > "$OUT/ml100k_implicit.fit"
  for m in als bpr; do
    $F metrics --truth "$OUT/ml100k_implicit.truth.csv" --ranked "$OUT/ml100k_implicit.$m.csv" --k 10,20 --json "$OUT/ml100k_implicit_$m.json" >/dev/null
    fit=$(grep "implicit $m" "$OUT/ml100k_implicit.fit" | $PY -c "import json,sys; print(json.load(sys.stdin)['fit_seconds'])")
    $PY -c "import json; j=json.load(open('$OUT/ml100k_implicit_$m.json')); j['fit_seconds']=$fit; json.dump(j, open('$OUT/ml100k_implicit_$m.json','w'))"
    row "implicit $m" "$OUT/ml100k_implicit_$m.json"
  done
fi

if [[ $what == all || $what == speed ]]; then
  G="$DATA/gowalla"
  printf '\nGowalla train (29,858 users, 40,981 items, 810,128 interactions), 2 threads, medians of %s\n' "$RUNS"
  printf '%-28s %14s %14s %8s %12s %12s\n' fit funnel_s/iter implicit_s/iter ratio funnel_MB implicit_MB
  cmp() { # label funnel-json implicit-json
    $PY - "$1" "$2" "$3" <<'PY'
import json, sys
f = json.loads(open(sys.argv[2]).read().strip().splitlines()[-1]); p = json.loads(open(sys.argv[3]).read().strip().splitlines()[-1])
it = p["iterations"]; fs = f["median_seconds"] / it; ps = p["seconds_per_iteration"]
print(f"{sys.argv[1]:<28} {fs:14.3f} {ps:14.3f} {ps / fs:7.2f}x {f['peak_rss_mb']:12.0f} {p['peak_rss_mb']:12.0f}")
PY
  }
  for k in 64 128; do
    $FB fit "$G" --model ials --set factors=$k --set iterations=5 --set cg_steps=3 --set reg=0.1 --set alpha=10 --runs "$RUNS" > "$OUT/speed_ials_$k.f"
    $PY bench/implicit_peer.py speed "$G" als $k 5 "$RUNS" > "$OUT/speed_ials_$k.p"
    cmp "iALS k=$k (CG)" "$OUT/speed_ials_$k.f" "$OUT/speed_ials_$k.p"
  done
  $FB fit "$G" --model bpr --set factors=64 --set iterations=10 --runs "$RUNS" > "$OUT/speed_bpr.f"
  $PY bench/implicit_peer.py speed "$G" bpr 64 10 "$RUNS" > "$OUT/speed_bpr.p"
  cmp "BPR k=64 (per epoch)" "$OUT/speed_bpr.f" "$OUT/speed_bpr.p"
  echo "(ratio = implicit time / funnel time; RSS includes the loaded data)"
fi
