#!/usr/bin/env python3
"""PecanPy's side of the node2vec walk comparison (bench/embed.sh).

  pecanpy_peer.py EDGES P Q    EDGES: `a b w` lines written by `funnel-bench item-graph`

Loads the weighted undirected graph into PecanPy's SparseOTF mode (on-the-fly p/q
transitions from CSR: the mode its `check_mode` picks for a sparse graph this size; PreComp
would need Σ deg² second-order tables), then times `simulate_walks(10, 40)` with 2 workers.
Numba's compile time is excluded by a warm-up walk on the same graph. Prints one JSON line.
"""
import json
import sys
import time

from pecanpy import pecanpy

path, p, q = sys.argv[1], float(sys.argv[2]), float(sys.argv[3])
g = pecanpy.SparseOTF(p=p, q=q, workers=2, verbose=False, extend=False)
g.read_edg(path, weighted=True, directed=False)
g.simulate_walks(num_walks=1, walk_length=3)  # warm-up: numba compiles the walker
t0 = time.perf_counter()
walks = g.simulate_walks(num_walks=10, walk_length=40)
secs = time.perf_counter() - t0
print(json.dumps({"peer": "pecanpy", "walk_seconds": secs, "walks": len(walks)}))
