#!/usr/bin/env bash
# Funnel's deep rankers beside DeepCTR-Torch (PyPI) and plain PyTorch, same data, 2 threads.
#   bash bench/deep.sh [quality|mlp|epoch|all]   RUNS=3 by default (medians; sides alternate)
# quality: ml-100k CTR samples exported by `funnel rank export` (examples/ml-100k-ctr.toml)
#          into target/bench-data/ml100k-ctr; for each model (MODELS="deepfm widedeep dcnv2", or
#          fibinet, din: DIN attends over `hist`, linked to item_id by the export's pipeline) and
#          each seed 0..RUNS-1, Funnel `rank eval` and bench/deep_peer.py (DeepCTR-Torch) at
#          the same embedding size, MLP, batch size and learning rate; AUC / GAUC / LogLoss
#          and training examples/s, medians over the seeds.
# mlp:     one training step of a 256 -> 512 -> 256 -> 1 ReLU MLP on a batch of 4096
#          (forward, BCE, backward, AdamW): Funnel (`funnel-bench mlp-step`) beside PyTorch
#          (bench/mlp_step.py, torch.set_num_threads(2)) and beside the step's GEMMs alone;
#          median milliseconds over 50 steps per run, RUNS runs alternating.
# epoch:   one training epoch of deepfm and dcnv2 (wide=true, as DeepCTR-Torch's DCN) on
#          ml-100k CTR and on 10^6 synthetic rows (`funnel rank synth`, 8 fields x 100
#          values): examples/s of the fit alone and peak RSS of the whole process, each side.
set -euo pipefail
cd "$(dirname "$0")/.."
what=${1:-all}
RUNS=${RUNS:-3}
DATA=${FUNNEL_DATA:-$(cd .. && pwd)/shared/datasets}
OUT=bench/out/deep
mkdir -p "$OUT"
VENV=.venv-torch
[ -x $VENV/bin/python ] || python3 -m venv $VENV
$VENV/bin/python -c "import torch, deepctr_torch, sklearn" 2>/dev/null ||
  $VENV/bin/pip install -q torch numpy scikit-learn deepctr-torch requests
PY=$VENV/bin/python
cargo build --release -q -p funnel-cli -p funnel-bench
F=target/release/funnel
export RAYON_NUM_THREADS=2
median() { python3 -c "import statistics,sys; print('%.4f' % statistics.median(float(x) for x in sys.argv[1:]))" "$@"; }

if [[ $what == all || $what == quality ]]; then
  D=target/bench-data/ml100k-ctr
  [ -f $D/train.ffm ] || $F rank export --spec examples/ml-100k-ctr.toml --data "$DATA/ml-100k" --out $D
  printf '\n%-24s %8s %8s %8s %12s\n' "model (median of $RUNS)" AUC GAUC LogLoss "train ex/s"
  for m in ${MODELS:-deepfm widedeep dcnv2}; do
    declare -A fa=() pa=()
    for ((s = 0; s < RUNS; s++)); do
      extra=() peer=()
      [ "$m" = dcnv2 ] && extra=(--set wide=true) # DeepCTR-Torch's DCN always has its linear part
      if [ "$m" = din ]; then # the history links, from the export's pipeline (libffm has no schema)
        peer=(--pipeline $D/pipeline.json)
        extra=(--set "history_links=$($PY bench/deep_peer.py --train $D/train.ffm --test $D/test.ffm --model din "${peer[@]}" --links)")
      fi
      $F rank eval --train $D/train.ffm --test $D/test.ffm --format libffm --model "$m" \
        --set seed=$s --set shuffle_seed=$s "${extra[@]}" --json "$OUT/funnel-$m-$s.json" >/dev/null 2>&1
      $PY bench/deep_peer.py --train $D/train.ffm --test $D/test.ffm --model "$m" --seed $((1024 + s)) \
        "${peer[@]}" --json "$OUT/torch-$m-$s.json" >/dev/null 2>&1
    done
    for side in funnel torch; do
      read -r auc gauc ll eps < <(python3 - "$OUT" "$side" "$m" "$RUNS" <<'PY'
import json, statistics, sys
out, side, m, runs = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
js = [json.load(open(f"{out}/{side}-{m}-{s}.json")) for s in range(runs)]
def get(j, k):
    if side == "funnel":
        return j["metrics"][k] if k in ("auc", "gauc", "logloss") else j["fit"]["examples_per_second"]
    return j[k] if k != "eps" else j["train_examples_per_second"]
med = lambda k: statistics.median(get(j, k) for j in js)
print("%.4f %.4f %.4f %.0f" % (med("auc"), med("gauc"), med("logloss"), med("eps")))
PY
)
      label=$([ $side = funnel ] && echo "Funnel $m" || echo "DeepCTR-Torch $m")
      printf '%-24s %8s %8s %8s %12s\n' "$label" "$auc" "$gauc" "$ll" "$eps"
    done
  done
fi

if [[ $what == all || $what == mlp ]]; then
  B=target/release/funnel-bench
  declare -a fs=() gs=() ts=()
  for ((r = 0; r < RUNS; r++)); do
    read -r f g < <($B mlp-step --batch 4096 --steps 50)
    t=$($PY bench/mlp_step.py --batch 4096 --steps 50 --threads 2)
    fs+=("$f"); gs+=("$g"); ts+=("$t")
    echo "run $((r + 1)): funnel step ${f} ms (its GEMMs ${g} ms), torch step ${t} ms"
  done
  f=$(median "${fs[@]}"); g=$(median "${gs[@]}"); t=$(median "${ts[@]}")
  python3 -c "f,g,t=$f,$g,$t; print(f'MLP step, batch 4096, 256-512-256-1, AdamW, 2 threads (medians): funnel {f:.1f} ms = {f/g:.2f}x its GEMMs ({g:.1f} ms); torch {t:.1f} ms; funnel is {t/f:.2f}x faster')"
fi

if [[ $what == all || $what == epoch ]]; then
  S=target/bench-data/synth-1m
  [ -f $S/train.ffm ] || $F rank synth --out $S --samples 1200000 --fields 8 --cardinality 100 >/dev/null
  D=target/bench-data/ml100k-ctr
  [ -f $D/train.ffm ] || $F rank export --spec examples/ml-100k-ctr.toml --data "$DATA/ml-100k" --out $D
  printf '\n%-34s %14s %14s %10s\n' "one epoch (median of $RUNS)" "funnel ex/s" "torch ex/s" "ratio"
  for set in "ml-100k:$D" "10^6 synthetic:$S"; do
    name=${set%%:*}; dir=${set#*:}
    for m in deepfm dcnv2; do
      declare -a fe=() te=() fm=() tm=()
      extra=()
      [ "$m" = dcnv2 ] && extra=(--set wide=true)
      for ((r = 0; r < RUNS; r++)); do
        /usr/bin/time -f %M -o "$OUT/rss" $F rank train --train $dir/train.ffm --format libffm --model $m \
          --set epochs=1 --set patience=0 --set validation_fraction=0 --set seed=$r "${extra[@]}" \
          --out "$OUT/epoch.funnel" > "$OUT/epoch.log" 2>&1
        fe+=("$(grep -o '[0-9]* examples/s' "$OUT/epoch.log" | grep -o '^[0-9]*')"); fm+=("$(cat "$OUT/rss")")
        /usr/bin/time -f %M -o "$OUT/rss" $PY bench/deep_peer.py --train $dir/train.ffm --test $dir/test.ffm \
          --model $m --one-epoch --seed $((1024 + r)) --json "$OUT/epoch.json" >/dev/null 2>&1
        te+=("$(python3 -c "import json; print(json.load(open('$OUT/epoch.json'))['train_examples_per_second'])")"); tm+=("$(cat "$OUT/rss")")
      done
      f=$(median "${fe[@]}"); t=$(median "${te[@]}")
      printf '%-34s %14.0f %14.0f %9.2fx   peak RSS funnel %.0f MB, torch %.0f MB\n' "$name $m" "$f" "$t" \
        "$(python3 -c "print($f / $t)")" "$(python3 -c "print($(median "${fm[@]}") / 1024)")" "$(python3 -c "print($(median "${tm[@]}") / 1024)")"
    done
  done
fi
