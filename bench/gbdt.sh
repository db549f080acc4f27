#!/usr/bin/env bash
# Funnel's lambdamart beside LightGBM 4 (PyPI): same files, same parameters, 2 threads.
#   bash bench/gbdt.sh [quality|speed|latency|all]   RUNS=3 by default (medians; sides alternate)
# quality: LightGBM's own lambdarank example (../shared/datasets/ltr-lightgbm), at the
#          defaults of both and at the example's train.conf parameters: NDCG@1/3/5/10 and
#          MAP@10 on rank.test by the same definition (queries without a relevant
#          document skipped), fit seconds.
# speed:   10^4 queries x 50 documents x 50 features (synthetic, graded 0-4), 100 trees:
#          fit seconds and peak RSS of each side.
# latency: 100 lambdarank trees (2,000 synthetic queries), 200 candidates scored as one
#          request on one thread, 2,000 times: median and p99 ms of each side.
set -euo pipefail
cd "$(dirname "$0")/.."
what=${1:-all}
RUNS=${RUNS:-3}
DATA=${FUNNEL_DATA:-$(cd .. && pwd)/shared/datasets}
OUT=bench/out/gbdt
mkdir -p "$OUT"
[ -x .venv/bin/python ] || python3 -m venv .venv
.venv/bin/python -c "import numpy, scipy, sklearn, lightgbm" 2>/dev/null ||
  .venv/bin/pip install -q numpy scipy scikit-learn lightgbm
PY=.venv/bin/python
cargo build --release -q -p funnel-cli
F=target/release/funnel
export RAYON_NUM_THREADS=2

median() { $PY -c "import statistics,sys; print(statistics.median(float(x) for x in sys.argv[1:]))" "$@"; }

# side_by_side NAME TRAIN TEST "funnel and LightGBM parameters (LightGBM's names)"
side_by_side() {
  local name=$1 train=$2 test=$3 params=$4
  local sets=() ft=() lt=() fm=() lm=()
  for kv in $params; do
    k=${kv%%=*}; v=${kv#*=}
    case $k in min_sum_hessian_in_leaf) k=min_sum_hessian;; esac
    sets+=(--set "$k=$v")
  done
  for r in $(seq "$RUNS"); do
    /usr/bin/time -f '%M' -o "$OUT/$name.funnel.rss" $F rank eval --train "$train" --test "$test" \
      --format libsvm --model lambdamart "${sets[@]}" --json "$OUT/$name.funnel.json" >/dev/null 2>&1
    ft+=("$($PY -c "import json; print(json.load(open('$OUT/$name.funnel.json'))['fit_seconds'])")")
    fm+=("$(($(cat "$OUT/$name.funnel.rss") / 1024))")
    $PY bench/lightgbm_peer.py "$train" "$test" objective=lambdarank $params > "$OUT/$name.lightgbm.json"
    lt+=("$($PY -c "import json; print(json.load(open('$OUT/$name.lightgbm.json'))['fit_seconds'])")")
    lm+=("$($PY -c "import json; print(int(json.load(open('$OUT/$name.lightgbm.json'))['peak_rss_mb']))")")
  done
  row() { $PY -c "import json,sys; m=json.load(open(sys.argv[2]))['metrics']; print(f\"{sys.argv[1]:<9}\" + ''.join(f\" {m[k]:8.4f}\" for k in ['ndcg@1','ndcg@3','ndcg@5','ndcg@10','map@10']) + f\" {float(sys.argv[3]):9.3f} {sys.argv[4]:>8}\")" "$@"; }
  printf '\n%s (%s)\n%-9s %8s %8s %8s %8s %8s %9s %8s\n' "$name" "${params:-defaults}" side ndcg@1 ndcg@3 ndcg@5 ndcg@10 map@10 fit_s peak_MB
  row funnel "$OUT/$name.funnel.json" "$(median "${ft[@]}")" "$(median "${fm[@]}")"
  row lightgbm "$OUT/$name.lightgbm.json" "$(median "${lt[@]}")" "$(median "${lm[@]}")"
  $PY -c "import sys; print(f'fit time ratio lightgbm/funnel: {float(sys.argv[2])/float(sys.argv[1]):.2f}x')" "$(median "${ft[@]}")" "$(median "${lt[@]}")"
}

if [[ $what == all || $what == quality ]]; then
  L="$DATA/ltr-lightgbm"
  side_by_side ltr-defaults "$L/rank.train" "$L/rank.test" ""
  side_by_side ltr-example "$L/rank.train" "$L/rank.test" \
    "min_data_in_leaf=50 min_sum_hessian_in_leaf=5.0 bagging_fraction=0.9 bagging_freq=1"
fi

if [[ $what == all || $what == speed ]]; then
  S="$OUT/synthetic"
  [ -f "$S.train.query" ] || $PY bench/ltr_synth.py "$S" 10000 50 50
  side_by_side synthetic-10k "$S.train" "$S.test" "num_trees=100"
fi

if [[ $what == all || $what == latency ]]; then
  cargo build --release -q -p funnel-bench
  L="$OUT/latency"
  [ -f "$L.train.query" ] || $PY bench/ltr_synth.py "$L" 2000 50 50
  $F rank train --train "$L.train" --format libsvm --model lambdamart --set num_trees=100 \
    --set early_stopping_rounds=0 --out "$L.funnel" >/dev/null 2>&1
  for r in $(seq "$RUNS"); do
    RAYON_NUM_THREADS=1 target/release/funnel-bench rank-latency "$L.funnel" "$L.test" --candidates 200
    (cd bench && ../$PY lightgbm_latency.py "../$L.train" "../$L.test" 200)
  done
fi
