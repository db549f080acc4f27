#!/usr/bin/env bash
# Position bias: lambdamart trained on simulated click logs (bench/position_sim.py: a
# logging ranker that leans on a feature unrelated to relevance, examination 1/k), scored
# by NDCG@10 against the true grades of fresh queries. Funnel without correction,
# with position_bias=unbiased and =ipw, beside LightGBM 4 (PyPI) without and with its
# position-aware lambdarank, and XGBoost's Unbiased LambdaMART where `xgboost-cpu` is
# installed; all at their defaults, 2 threads.
#   bash bench/position.sh        SEEDS="0 1 2" QUERIES=5000 by default (medians over seeds)
set -euo pipefail
cd "$(dirname "$0")/.."
SEEDS=${SEEDS:-0 1 2}
QUERIES=${QUERIES:-5000}
OUT=bench/out/position
mkdir -p "$OUT"
[ -x .venv/bin/python ] || python3 -m venv .venv
.venv/bin/python -c "import numpy, scipy, sklearn, lightgbm" 2>/dev/null ||
  .venv/bin/pip install -q numpy scipy scikit-learn lightgbm
PY=.venv/bin/python
cargo build --release -q -p funnel-cli
F=target/release/funnel
export RAYON_NUM_THREADS=2
declare -A res
for seed in $SEEDS; do
  sim=$OUT/sim$seed
  $PY bench/position_sim.py "$sim" "$QUERIES" 30 10 1 "$seed"
  for bias in none unbiased ipw; do
    $F rank eval --train "$sim.train" --test "$sim.test" --format libsvm --model lambdamart \
      --set position_bias=$bias --json "$OUT/funnel_$bias$seed.json" 2>"$OUT/funnel_$bias$seed.log" >/dev/null
    res[funnel_$bias]+="$($PY -c "import json,sys; print(json.load(open(sys.argv[1]))['metrics']['ndcg@10'])" "$OUT/funnel_$bias$seed.json") "
  done
  for up in 0 1; do
    $PY bench/lightgbm_peer.py "$sim.train" "$sim.test" objective=lambdarank num_threads=2 use_position=$up >"$OUT/lgb_$up$seed.json"
    res[lightgbm_$up]+="$($PY -c "import json,sys; print(json.load(open(sys.argv[1]))['metrics']['ndcg@10'])" "$OUT/lgb_$up$seed.json") "
  done
  if $PY -c "import xgboost" 2>/dev/null; then
    (cd bench && ../$PY xgboost_peer.py "../$sim.train" "../$sim.test") >"$OUT/xgb$seed.json"
    for k in none unbiased; do
      res[xgboost_$k]+="$($PY -c "import json,sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])" "$OUT/xgb$seed.json" $k) "
    done
  fi
  grep "position propensities" "$OUT/funnel_unbiased$seed.log" || true
done
median() { $PY -c "import statistics,sys; print('%.4f' % statistics.median(float(x) for x in sys.argv[1:]))" "$@"; }
printf '\nNDCG@10 against the true grades (median over seeds %s; %s logged queries each)\n' "$SEEDS" "$QUERIES"
printf '%-34s %s\n' "funnel lambdamart, none" "$(median ${res[funnel_none]})"
printf '%-34s %s\n' "funnel lambdamart, unbiased" "$(median ${res[funnel_unbiased]})"
printf '%-34s %s\n' "funnel lambdamart, ipw (Hu et al.)" "$(median ${res[funnel_ipw]})"
printf '%-34s %s\n' "lightgbm lambdarank" "$(median ${res[lightgbm_0]})"
printf '%-34s %s\n' "lightgbm lambdarank + position" "$(median ${res[lightgbm_1]})"
if [ -n "${res[xgboost_none]:-}" ]; then
  printf '%-34s %s\n' "xgboost rank:ndcg" "$(median ${res[xgboost_none]})"
  printf '%-34s %s\n' "xgboost rank:ndcg, unbiased" "$(median ${res[xgboost_unbiased]})"
else
  echo "(XGBoost beside them: .venv/bin/pip install xgboost-cpu)"
fi
