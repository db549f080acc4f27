#!/usr/bin/env bash
# Funnel's item2vec beside gensim's Word2Vec (PyPI), and node2vec's walks beside PecanPy:
# same sequences, same hyper-parameters, 2 threads, same metric code (Funnel's).
#   bash bench/embed.sh [quality|walks|all]      RUNS=3 by default (medians; sides alternate)
#   EMBED_DATA=ml100k bash bench/embed.sh quality   (one data set: ml100k or gowalla)
# quality: ml-100k (leave-last-out) and Gowalla: Recall@20 / NDCG@20, training words/s of
#          the SGNS loop and the peak RSS of each fit.
# walks:   node2vec walk generation on the Gowalla item graph (Funnel's rejection sampling
#          beside PecanPy's SparseOTF), seconds and peak RSS.
set -euo pipefail
cd "$(dirname "$0")/.."
what=${1:-all}
RUNS=${RUNS:-3}
DATA=${FUNNEL_DATA:-$(cd .. && pwd)/shared/datasets}
OUT=bench/out/embed
mkdir -p "$OUT"
[ -x .venv/bin/python ] || python3 -m venv .venv
.venv/bin/pip install -q numpy scipy gensim pecanpy
PY=.venv/bin/python
cargo build --release -q -p funnel-bench -p funnel-cli
FB=target/release/funnel-bench
F=target/release/funnel
export RAYON_NUM_THREADS=2
# The same parameters on both sides; `reshuffle=false` makes Funnel read the sequences in
# the written order every epoch, as gensim does (Funnel's default reshuffles untimed sets).
P="dim=64 window=10 negatives=5 ns_exponent=0 sample=0.001 epochs=20"

median() { $PY -c "import statistics,sys; print(statistics.median(float(x) for x in sys.argv[1:]))" "$@"; }

if [[ $what == all || $what == quality ]]; then
  S="$OUT/ml100k_loo"
  $FB split "$DATA/ml-100k" --format recbole --split leave-last-out "$S" >/dev/null
  printf '\n%-9s %-7s %9s %9s %13s %9s\n' data side recall@20 ndcg@20 words/s peak_MB
  for name in ${EMBED_DATA:-ml100k gowalla}; do
    D=$S; [[ $name == gowalla ]] && D="$DATA/gowalla"
    $FB sequences "$D" --format lightgcn "$OUT/$name.seq" >/dev/null
    args=(); for kv in $P min_count=1 reshuffle=false; do args+=(--set "$kv"); done
    fw=(); gw=(); fm=(); gm=()
    for r in $(seq "$RUNS"); do
      /usr/bin/time -f '%M' -o "$OUT/$name.funnel.rss" \
        $F eval --data "$D" --format lightgcn --model item2vec "${args[@]}" --k 20 --json "$OUT/$name.funnel.json" >/dev/null 2>&1
      fw+=("$($PY -c "import json; print(json.load(open('$OUT/$name.funnel.json'))['fit']['sgns']['tokens_per_second'])")")
      fm+=("$(($(cat "$OUT/$name.funnel.rss") / 1024))")
      $PY bench/gensim_peer.py "$D" "$OUT/$name.seq" "$OUT/$name.gensim" $P > "$OUT/$name.gensim.json"
      gw+=("$($PY -c "import json; print(json.load(open('$OUT/$name.gensim.json'))['words_per_second'])")")
      gm+=("$($PY -c "import json; print(int(json.load(open('$OUT/$name.gensim.json'))['peak_rss_mb']))")")
    done
    $F metrics --truth "$OUT/$name.gensim.truth.csv" --ranked "$OUT/$name.gensim.csv" --k 20 --json "$OUT/$name.gensim.metrics.json" >/dev/null
    row() { $PY -c "import json,sys; m=json.load(open(sys.argv[3]))['metrics']; print(f\"{sys.argv[1]:<9} {sys.argv[2]:<7} {m['recall@20']:9.4f} {m['ndcg@20']:9.4f} {float(sys.argv[4]):13,.0f} {sys.argv[5]:>9}\")" "$@"; }
    row "$name" funnel "$OUT/$name.funnel.json" "$(median "${fw[@]}")" "$(median "${fm[@]}")"
    row "$name" gensim "$OUT/$name.gensim.metrics.json" "$(median "${gw[@]}")" "$(median "${gm[@]}")"
    $PY -c "import sys; print(f'{sys.argv[1]:<9} words/s ratio funnel/gensim: {float(sys.argv[2])/float(sys.argv[3]):.2f}x')" "$name" "$(median "${fw[@]}")" "$(median "${gw[@]}")"
  done
fi

if [[ $what == all || $what == walks ]]; then
  G="$DATA/gowalla"
  # The graph node2vec walks on, written once as a weighted edge list for PecanPy.
  $FB item-graph "$G" --format lightgcn "$OUT/gowalla.edg" > "$OUT/graph.json"
  printf '\nnode2vec walks on the Gowalla item graph (%s), p=1 q=0.5, 10 walks x 40, 2 threads, medians of %s\n' \
    "$(cat "$OUT/graph.json")" "$RUNS"
  ft=(); pt=(); fm=(); pm=()
  for r in $(seq "$RUNS"); do
    /usr/bin/time -f '%M' -o "$OUT/walk.funnel.rss" $FB walks "$G" --format lightgcn --p 1 --q 0.5 > "$OUT/walk.funnel.json"
    ft+=("$($PY -c "import json; print(json.load(open('$OUT/walk.funnel.json'))['walk_seconds'])")")
    fm+=("$(($(cat "$OUT/walk.funnel.rss") / 1024))")
    /usr/bin/time -f '%M' -o "$OUT/walk.pecanpy.rss" $PY bench/pecanpy_peer.py "$OUT/gowalla.edg" 1 0.5 > "$OUT/walk.pecanpy.json"
    pt+=("$($PY -c "import json; print(json.load(open('$OUT/walk.pecanpy.json'))['walk_seconds'])")")
    pm+=("$(($(cat "$OUT/walk.pecanpy.rss") / 1024))")
  done
  printf '%-8s %10s %9s\n' side seconds peak_MB
  printf '%-8s %10.3f %9s\n' funnel "$(median "${ft[@]}")" "$(median "${fm[@]}")"
  printf '%-8s %10.3f %9s\n' pecanpy "$(median "${pt[@]}")" "$(median "${pm[@]}")"
  $PY -c "import sys; print(f'walk speed ratio funnel/pecanpy: {float(sys.argv[2])/float(sys.argv[1]):.2f}x')" "$(median "${ft[@]}")" "$(median "${pt[@]}")"
fi
