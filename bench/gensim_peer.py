#!/usr/bin/env python3
"""gensim's side of Funnel's item2vec comparison (bench/embed.sh).

  gensim_peer.py SPLIT_DIR SEQUENCES OUT_PREFIX key=value...

Trains `gensim.models.Word2Vec` in `corpus_file` mode (its fastest) on the very sequences
Funnel's item2vec trains on (written by `funnel-bench sequences`), with the same dimension,
window, negatives, ns_exponent, sample, min_count, epochs and 2 workers, then scores every
test user exactly as Funnel does (`scoring=context`: the sum of the user's items' input
vectors against every item's output vector, training items excluded) and writes
OUT_PREFIX.csv (user,item,score, top 20) and OUT_PREFIX.truth.csv for `funnel metrics`.
Prints one JSON line: train seconds, words/s (raw words over all epochs / train time) and
peak RSS.
"""
import json
import resource
import sys
import time
from pathlib import Path

import numpy as np
from gensim.models import Word2Vec

THREADS = 2


def read(path):
    d = {}
    for line in open(path):
        t = line.split()
        if len(t) > 1:
            d[t[0]] = t[1:]
    return d


def main():
    split, seqs, prefix = sys.argv[1], sys.argv[2], sys.argv[3]
    p = dict(kv.split("=", 1) for kv in sys.argv[4:])
    dim, window, neg = int(p["dim"]), int(p["window"]), int(p["negatives"])
    epochs, sample, ns = int(p["epochs"]), float(p["sample"]), float(p["ns_exponent"])
    lr, min_lr = float(p.get("learning_rate", 0.025)), float(p.get("min_learning_rate", 0.0001))
    train, test = read(Path(split) / "train.txt"), read(Path(split) / "test.txt")

    m = Word2Vec(vector_size=dim, window=window, negative=neg, hs=0, sg=1, min_count=1,
                 sample=sample, ns_exponent=ns, alpha=lr, min_alpha=min_lr, workers=THREADS,
                 seed=0, shrink_windows=True)
    m.build_vocab(corpus_file=seqs)
    t0 = time.perf_counter()
    _, raw = m.train(corpus_file=seqs, total_words=m.corpus_total_words, epochs=epochs)
    secs = time.perf_counter() - t0

    items = sorted({i for v in train.values() for i in v} | {i for v in test.values() for i in v}, key=int)
    index = {i: n for n, i in enumerate(items)}
    inp = np.zeros((len(items), dim), np.float32)
    out = np.zeros((len(items), dim), np.float32)
    for w, n in m.wv.key_to_index.items():
        inp[index[w]] = m.wv.vectors[n]
        out[index[w]] = m.syn1neg[n]
    users = [u for u in test if u in train]
    with open(f"{prefix}.csv", "w") as f, open(f"{prefix}.truth.csv", "w") as t:
        f.write("user,item,score\n")
        t.write("user,item\n")
        for u in test:
            for i in test[u]:
                t.write(f"{u},{i}\n")
        for b in range(0, len(users), 1024):
            block = users[b:b + 1024]
            q = np.stack([inp[[index[i] for i in train[u]]].sum(0) for u in block])
            s = q @ out.T
            for r, u in enumerate(block):
                s[r, [index[i] for i in train[u]]] = -np.inf
            top = np.argpartition(-s, 20, axis=1)[:, :20]
            for r, u in enumerate(block):
                for j in sorted(top[r], key=lambda j: -s[r, j]):
                    f.write(f"{u},{items[j]},{s[r, j]:.6f}\n")
    print(json.dumps({"peer": "gensim", "train_seconds": secs, "raw_words": raw,
                      "words_per_second": raw / secs,
                      "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))


if __name__ == "__main__":
    main()
