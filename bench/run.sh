#!/usr/bin/env bash
# Funnel's benchmarks, each side by side with a peer on the same data, medians printed.
#   bash bench/run.sh [auc|parse|rank|all]      (RUNS=5 by default)
# auc:   AUC over 10^7 scores vs scikit-learn roc_auc_score (computation only, both in-process)
# parse: reading a 10^7-line interaction CSV vs pandas.read_csv (Funnel also builds the CSR)
# ann:   HNSW queries/s at recall@10 >= 0.95 vs hnswlib, on Gowalla iALS item vectors
#        (queries: user vectors) and on 10^6 synthetic 64-d vectors (ANN_N to change);
#        ROUNDS alternating query rounds (3), median queries/s per ef
# ann-build: HNSW build seconds vs hnswlib on the same two sets, BUILD_RUNS (3) alternating
#        builds per side (M 16, ef_construction 200, 2 threads), medians and their ratio
# rank:  full-ranking Recall@20/NDCG@20 over all Gowalla test users with one ItemKNN
#        similarity matrix vs a scipy sparse product + numpy argpartition on the same matrix
set -euo pipefail
cd "$(dirname "$0")/.."
what=${1:-all}
RUNS=${RUNS:-5}
DATA=${FUNNEL_DATA:-$(cd .. && pwd)/shared/datasets}
OUT=bench/out
mkdir -p "$OUT"
if [ ! -x .venv/bin/python ]; then python3 -m venv .venv; fi
.venv/bin/pip install -q numpy scipy scikit-learn pandas hnswlib
PY=.venv/bin/python
cargo build --release -q -p funnel-bench -p funnel-cli
FB=target/release/funnel-bench
rm -f "$OUT"/*.jsonl

if [[ $what == all || $what == auc ]]; then
  [ -f "$OUT/auc_scores.f64" ] || $PY bench/peers.py auc-data 1e7 "$OUT"
  $FB auc "$OUT/auc_scores.f64" "$OUT/auc_labels.u8" --runs "$RUNS" | tee -a "$OUT/auc.jsonl"
  $PY bench/peers.py auc "$OUT/auc_scores.f64" "$OUT/auc_labels.u8" "$RUNS" | tee -a "$OUT/auc.jsonl"
fi
if [[ $what == all || $what == parse ]]; then
  CSV="$OUT/interactions_1e7.csv"
  [ -f "$CSV" ] || target/release/funnel data synth --spec users=500000,items=100000,interactions=10000000,seed=1 --out "$CSV"
  $FB parse "$CSV" --runs "$RUNS" | tee -a "$OUT/parse.jsonl"
  $PY bench/peers.py parse "$CSV" "$RUNS" | tee -a "$OUT/parse.jsonl"
fi
if [[ $what == all || $what == rank ]]; then
  $FB rank "$DATA/gowalla" --export "$OUT/gowalla_sim" --runs "$RUNS" | tee -a "$OUT/rank.jsonl"
  $PY bench/peers.py rank "$DATA/gowalla" "$OUT/gowalla_sim" "$RUNS" | tee -a "$OUT/rank.jsonl"
fi
N=${ANN_N:-1000000}
# The ANN sets: Gowalla iALS item vectors (queries: user vectors) and N synthetic ones.
ann_data() {
  if [ ! -f "$OUT/ann_gowalla/truth.u32" ]; then
    $FB factors "$DATA/gowalla" "$OUT/gowalla_factors" >/dev/null
    $PY bench/peers.py ann-gowalla "$OUT/gowalla_factors" "$OUT/ann_gowalla"
    $PY bench/peers.py ann-truth "$OUT/ann_gowalla" 64 ip
  fi
  if [ ! -f "$OUT/ann_synth_$N/truth.u32" ]; then
    $PY bench/peers.py ann-synth "$N" 64 "$OUT/ann_synth_$N"
    $PY bench/peers.py ann-truth "$OUT/ann_synth_$N" 64 ip
  fi
}
# One run of each side on set $1 (M 16, ef_construction 200), one JSON line per ef ($2) from
# $3 timed runs; with $4, each side loads its index from $4.<side>.idx, building and saving
# it there the first time.
ann_pair() {
  local d=$1 efs=$2 runs=$3 fidx=() hidx=()
  if [ -n "${4:-}" ]; then fidx=(--index "$4.funnel.idx"); hidx=("$4.hnswlib.idx"); fi
  $FB ann "$OUT/$d/vectors.f32" "$OUT/$d/queries.f32" "$OUT/$d/truth.u32" --dim 64 --metric ip --ef "$efs" --runs "$runs" "${fidx[@]}"
  $PY bench/peers.py ann "$OUT/$d" 64 ip 16 200 "$efs" "$runs" "${hidx[@]}"
}
if [[ $what == all || $what == ann ]]; then
  EFS=10,16,20,24,32,40,48,64,96,128,192
  ann_data
  # Each side builds its index once (timed, then saved); then ROUNDS alternating rounds
  # of queries on the saved indexes, so that a noisy spell on a shared machine hits both.
  for d in ann_gowalla "ann_synth_$N"; do
    rm -f "$OUT/$d.funnel.idx" "$OUT/$d.hnswlib.idx"
    : > "$OUT/$d.ann"
    for r in $(seq "${ROUNDS:-3}"); do
      ann_pair "$d" "$EFS" 3 "$OUT/$d" >> "$OUT/$d.ann"
    done
  done
  $PY bench/peers.py ann-report "$OUT/ann_gowalla.ann" "$OUT/ann_synth_$N.ann"
fi
if [[ $what == ann-build ]]; then
  ann_data
  # Each run builds from scratch (no --index) and answers one ef-10 pass, which the
  # report ignores; the two sides alternate, so a slow spell of the machine hits both.
  for d in ann_gowalla "ann_synth_$N"; do
    : > "$OUT/$d.build"
    for r in $(seq "${BUILD_RUNS:-3}"); do
      ann_pair "$d" 10 1 >> "$OUT/$d.build"
    done
  done
  $PY bench/peers.py ann-build-report "$OUT/ann_gowalla.build" "$OUT/ann_synth_$N.build"
fi
shopt -s nullglob
results=("$OUT"/*.jsonl)
if (( ${#results[@]} )); then $PY bench/peers.py report "${results[@]}"; fi
