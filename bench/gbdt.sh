#!/usr/bin/env bash
# Funnel's lambdamart beside LightGBM 4 (PyPI): same files, same parameters, 2 threads.
#   bash bench/gbdt.sh [quality|speed|binary|latency|all]   RUNS=3 by default (medians; sides alternate)
# quality: LightGBM's own lambdarank example (../shared/datasets/ltr-lightgbm), at the
#          defaults of both and at the example's train.conf parameters: NDCG@1/3/5/10 and
#          MAP@10 on rank.test by the same definition (queries without a relevant
#          document skipped), fit seconds.
# speed:   10^4 queries x 50 documents x 50 features (synthetic, graded 0-4), 100 trees:
#          fit seconds and peak RSS of each side.
# binary:  binary log-loss at the defaults of both (100 trees, 31 leaves) on ml-100k as CTR
#          (funnel rank export of examples/ml-100k-ctr.toml) and on 10^6 x 50 dense
#          synthetic rows (bench/binary_synth.py): AUC, LogLoss, fit seconds, peak RSS;
#          and GBDT+LR on ml-100k beside LightGBM's leaves into scikit-learn's LR.
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

# binary_side_by_side NAME TRAIN TEST FORMAT MODEL [gbdt_lr=1]
binary_side_by_side() {
  local name=$1 train=$2 test=$3 format=$4 model=$5 extra=${6:-}
  local ft=() lt=() fm=() lm=()
  for r in $(seq "$RUNS"); do
    /usr/bin/time -f '%M' -o "$OUT/$name.funnel.rss" $F rank eval --train "$train" --test "$test" \
      --format "$format" --model "$model" --json "$OUT/$name.funnel.json" >/dev/null 2>&1
    ft+=("$($PY -c "import json; print(json.load(open('$OUT/$name.funnel.json'))['fit_seconds'])")")
    fm+=("$(($(cat "$OUT/$name.funnel.rss") / 1024))")
    $PY bench/lightgbm_binary.py "$train" "$test" $extra > "$OUT/$name.lightgbm.json"
    lt+=("$($PY -c "import json; d=json.load(open('$OUT/$name.lightgbm.json')); print(d.get('gbdt_lr', d)['fit_seconds'] if '$extra' else d['fit_seconds'])")")
    lm+=("$($PY -c "import json; print(int(json.load(open('$OUT/$name.lightgbm.json'))['peak_rss_mb']))")")
  done
  printf '\n%s (%s, %s runs)\n%-9s %8s %8s %9s %8s\n' "$name" "$model" "$RUNS" side auc logloss fit_s peak_MB
  $PY - "$OUT/$name.funnel.json" "$OUT/$name.lightgbm.json" "$(median "${ft[@]}")" "$(median "${lt[@]}")" \
    "$(median "${fm[@]}")" "$(median "${lm[@]}")" "$extra" <<'PY'
import json, sys
f, l = json.load(open(sys.argv[1]))["metrics"], json.load(open(sys.argv[2]))
if sys.argv[7]:
    l = l["gbdt_lr"]
lm = l.get("metrics", l)
print(f"{'funnel':<9} {f['auc']:8.4f} {f['logloss']:8.4f} {float(sys.argv[3]):9.2f} {sys.argv[5]:>8}")
print(f"{'lightgbm':<9} {lm['auc']:8.4f} {lm['logloss']:8.4f} {float(sys.argv[4]):9.2f} {sys.argv[6]:>8}")
print(f"fit time ratio lightgbm/funnel: {float(sys.argv[4]) / float(sys.argv[3]):.2f}x")
PY
}

if [[ $what == all || $what == binary ]]; then
  C=target/bench-data/ml100k-ctr
  [ -f "$C/train.ffm" ] || $F rank export --spec examples/ml-100k-ctr.toml --data "$DATA/ml-100k" --out "$C" >/dev/null
  binary_side_by_side ml100k-gbdt "$C/train.ffm" "$C/test.ffm" libffm gbdt
  binary_side_by_side ml100k-gbdt-lr "$C/train.ffm" "$C/test.ffm" libffm gbdt_lr gbdt_lr=1
  B="$OUT/binary-1m"
  [ -f "$B.test" ] || $PY bench/binary_synth.py "$B" 1000000 50
  binary_side_by_side synthetic-1m "$B.train" "$B.test" libsvm gbdt
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
