#!/usr/bin/env bash
# Rankers against synthetic click data whose true probabilities are known: each model's
# test LogLoss beside the oracle's (the LogLoss of the true probabilities), plus fit
# speed and peak memory. Usage: bash bench/rank_oracle.sh [SAMPLES]   (default 600000)
# Data: 6 fields of 50 values each (Zipf popularity), true factors 4; the last sixth tests.
set -euo pipefail
cd "$(dirname "$0")/.."
samples=${1:-600000}
cargo build --release -q -p funnel-cli
bin=target/release/funnel
out=target/bench-data/rank-oracle
mkdir -p "$out"
printf '%-6s %-5s %9s %9s %7s %7s %12s %9s\n' truth model logloss oracle ratio auc examples/s peak_MB
for truth in fm ffm; do
  d="$out/$truth-$samples-6x50"
  [ -f "$d/truth.json" ] || "$bin" rank synth --out "$d" --samples "$samples" --truth "$truth" \
    --fields 6 --cardinality 50 >/dev/null
  oracle=$(python3 -c "import json;print(json.load(open('$d/truth.json'))['test_oracle_logloss'])")
  for model in lr fm ffm; do
    case $model in
      lr) set_args=(--set epochs=3 --set alpha=0.1) ;;
      fm) set_args=(--set factors=4 --set learning_rate=0.1) ;;
      ffm) set_args=(--set factors=4 --set learning_rate=0.1 --set normalize=false) ;;
    esac
    /usr/bin/time -f '%M' -o "$d/$model.rss" "$bin" rank eval --train "$d/train.ffm" --test "$d/test.ffm" \
      --format libffm --model "$model" "${set_args[@]}" --json "$d/$model.json" >/dev/null 2>&1
    python3 - "$d/$model.json" "$d/$model.rss" "$oracle" "$truth" "$model" <<'PY'
import json, sys
r = json.load(open(sys.argv[1])); rss = int(open(sys.argv[2]).read().split()[-1]) / 1024
o = float(sys.argv[3]); ll = r["metrics"]["logloss"]
print(f'{sys.argv[4]:<6} {sys.argv[5]:<5} {ll:9.4f} {o:9.4f} {ll/o:7.4f} {r["metrics"]["auc"]:7.4f} {r["examples_per_second"]:12.0f} {rss:9.0f}')
PY
  done
done
