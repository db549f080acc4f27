#!/usr/bin/env bash
# Funnel's ranking stage (click-probability models) beside Vowpal Wabbit and LightGBM.
#   bash bench/rank.sh [quality|speed|all]        RUNS=3 by default
# quality: ml-100k CTR samples exported by Funnel (examples/ml-100k-ctr.toml: label = rating
#          >= 4, qid = user) into target/bench-data/ml100k-ctr/{train,test}.ffm; Funnel's
#          lr / fm / ffm (`funnel rank eval`) and the peers (bench/rank_peers.py: VW FTRL,
#          VW FTRL with all field-pair crosses, VW lrq, VW lrqfa, LightGBM) trained and scored
#          on the same files; AUC, GAUC, LogLoss (peers' by scikit-learn), fit seconds.
#          RANK_DATA=DIR uses DIR/train.ffm and DIR/test.ffm instead of the export (e.g. from
#          `funnel rank synth --out DIR`). LR_SET / FM_SET / FFM_SET="k=v k=v": Funnel params;
#          the defaults below were picked, like the peers' settings, by LogLoss on the newest
#          10% of the training file (never the test file).
# speed:   FTRL logistic regression, one pass, parse + learn, on 2*10^6 synthetic hashed
#          lines (LINES to change): Funnel `rank train` vs VW --ftrl, examples/s, peak RSS.
set -euo pipefail
cd "$(dirname "$0")/.."
what=${1:-all}
RUNS=${RUNS:-3}
DATA=${FUNNEL_DATA:-$(cd .. && pwd)/shared/datasets}
OUT=bench/out
mkdir -p "$OUT"
[ -x .venv/bin/python ] || python3 -m venv .venv
PY=.venv/bin/python
$PY -c "import numpy, scipy, sklearn, vowpalwabbit, lightgbm" 2>/dev/null ||
  .venv/bin/pip install -q numpy scipy scikit-learn vowpalwabbit lightgbm
[ -n "${NO_BUILD:-}" ] || cargo build --release -q -p funnel-cli
F=target/release/funnel

LR_SET=${LR_SET-epochs=3 shuffle=true alpha=0.1}
FM_SET=${FM_SET-learning_rate=0.02}
FFM_SET=${FFM_SET-learning_rate=0.05 reg_factors=1e-4}

if [[ $what == all || $what == quality ]]; then
  D=${RANK_DATA:-target/bench-data/ml100k-ctr}
  ok=1
  if [ -z "${RANK_DATA:-}" ]; then
    if $F rank export --help >/dev/null 2>&1; then
      $F rank export --spec examples/ml-100k-ctr.toml --data "$DATA/ml-100k" --out "$D"
    else
      echo "quality: \`funnel rank export\` is not available yet in $F; nothing exported." >&2
      echo "         (RANK_DATA=DIR with DIR/train.ffm and DIR/test.ffm runs the comparison on other files)" >&2
      ok=0
    fi
  fi
  if (( ok )); then
    labels=()
    for m in lr fm ffm; do
      var=${m^^}_SET; args=(); for kv in ${!var:-}; do args+=(--set "$kv"); done
      for r in $(seq "$RUNS"); do
        $F rank eval --train "$D/train.ffm" --test "$D/test.ffm" --format libffm --model $m "${args[@]}" \
          --json "$OUT/rank_funnel_${m}_$r.json" >/dev/null 2>"$OUT/rank_funnel_$m.log" ||
          { echo "funnel rank eval --model $m failed:"; cat "$OUT/rank_funnel_$m.log"; exit 1; }
        labels+=("funnel-$m=$OUT/rank_funnel_${m}_$r.json")
      done
    done
    $PY bench/rank_peers.py --train "$D/train.ffm" --test "$D/test.ffm" --format libffm --runs "$RUNS" \
      --json "$OUT/rank_peers.json" 2>"$OUT/rank_peers.log" >/dev/null ||
      { cat "$OUT/rank_peers.log"; exit 1; }
    printf '\n%s: train %s lines, test %s lines; fit seconds: medians of %s runs\n' "$D" \
      "$(grep -c . "$D/train.ffm")" "$(grep -c . "$D/test.ffm")" "$RUNS"
    $PY bench/rank_peers.py table "${labels[@]}" "$OUT/rank_peers.json"
    echo "(peers' options and the hyper-parameters they picked on the training tail: $OUT/rank_peers.json)"
  fi
fi

if [[ $what == all || $what == speed ]]; then
  $PY bench/rank_speed.py --lines "${LINES:-2000000}" --runs "$RUNS" --funnel "$F" --json "$OUT/rank_speed.json"
fi
