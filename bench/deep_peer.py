#!/usr/bin/env python3
"""The PyTorch side of Funnel's deep-ranker benchmark: DeepCTR-Torch (PyPI `deepctr-torch`)
trained and scored on the very libffm files `funnel rank eval` reads.

  deep_peer.py --train F --test F --model deepfm|widedeep|dcnv2|fibinet|din [--dim 16] [--hidden 256,128]
               [--pipeline pipeline.json (din: which sequence fields are histories)]
               [--batch 256] [--lr 5e-4] [--dropout 0.2] [--cross-layers 3] [--epochs 20]
               [--patience 2] [--threads 2] [--json OUT]

The same model as Funnel's: one shared embedding table over the global feature indices
(`embedding_name` shared by every field), one pooled embedding per field, the linear part
over every feature, DeepFM's FM over the field embeddings, the MLP (ReLU) over them
concatenated (dcnv2: DeepCTR-Torch's DCN with cross_parameterization="matrix", the
cross network beside the MLP, plus its linear part: Funnel's dcnv2 with wide=true;
fibinet: DeepCTR-Torch's FiBiNET, bilinear_type="interaction", reduction_ratio=3, as
Funnel's defaults; din: DeepCTR-Torch's DIN with attention units (64, 16) and ReLU, as
Funnel's defaults, over each sequence field whose vocabulary is a candidate field's,
read from the export's pipeline.json: the history's tokens are shifted into the
candidate field's indices, so both share embeddings, and the other fields are pooled as
usual. `--links` prints Funnel's `history_links` for the same pipeline);
dropout after each hidden layer; Adam at the same learning rate and batch size; L2 1e-5 on embeddings and
linear weights (DeepCTR-Torch's defaults; Funnel's reg_embedding is 1e-5 on touched rows).
One difference the library imposes: a multi-valued field (genres, history, crosses) is
pooled by DeepCTR-Torch's `sum` combiner, which ignores the feature values (Funnel's
pipeline writes 1/sqrt(n) there and Funnel's pooling multiplies by them).

The epoch loop is Funnel's: the newest 10% of the training file is held out, epochs run
until `patience` epochs bring no better validation LogLoss, the best epoch's weights are
restored, and the tail is learnt once. Metrics: AUC and LogLoss by scikit-learn; GAUC per
qid as bench/rank_peers.py computes it. `train_examples_per_second` counts only the time
inside DeepCTR-Torch's fit.
"""
import argparse
import copy
import json
import time

import numpy as np
import torch
from sklearn.metrics import log_loss, roc_auc_score


def read_ffm(path):
    labels, groups, rows = [], [], []
    with open(path) as f:
        for line in f:
            tok = line.split()
            labels.append(1.0 if float(tok[0]) > 0 else 0.0)
            g = None
            feats = []
            for t in tok[1:]:
                if t.startswith("qid:"):
                    g = int(t[4:])
                    continue
                fld, idx, val = t.split(":")
                feats.append((int(fld), int(idx), float(val)))
            groups.append(g)
            rows.append(feats)
    return np.array(labels, dtype=np.float32), groups, rows


def din_links(pipeline):
    """(history field, candidate field, index shift) for each sequence field whose
    vocabulary is a candidate field's, as Funnel's DIN finds them."""
    fields = json.load(open(pipeline))["fields"]
    links = []
    for h, f in enumerate(fields):
        codes = f["encoder"].get("tokens", {}).get("codes")
        if f["kind"] != "sequence" or not isinstance(codes, dict) or "shared_vocab" not in codes:
            continue
        q = codes["shared_vocab"]
        if fields[q]["kind"] != "sequence":
            links.append((h, q, fields[q]["offset"] - f["offset"]))
    return links


def gauc(y, p, groups):
    by = {}
    for i, g in enumerate(groups):
        by.setdefault(g, []).append(i)
    num = den = 0.0
    for idx in by.values():
        yy = y[idx]
        if yy.min() == yy.max():
            continue
        num += len(idx) * roc_auc_score(yy, p[idx])
        den += len(idx)
    return num / den if den else None


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--train", required=True)
    ap.add_argument("--test", required=True)
    ap.add_argument("--model", default="deepfm", choices=["deepfm", "widedeep", "dcnv2", "fibinet", "din"])
    ap.add_argument("--pipeline", help="din: the export's pipeline.json")
    ap.add_argument("--links", action="store_true", help="din: print Funnel's history_links and exit")
    ap.add_argument("--dim", type=int, default=16)
    ap.add_argument("--hidden", default="256,128")
    ap.add_argument("--batch", type=int, default=256)
    ap.add_argument("--lr", type=float, default=5e-4)
    ap.add_argument("--dropout", type=float, default=0.2)
    ap.add_argument("--cross-layers", type=int, default=3)
    ap.add_argument("--epochs", type=int, default=20)
    ap.add_argument("--patience", type=int, default=2)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seed", type=int, default=1024)
    ap.add_argument("--json")
    ap.add_argument("--one-epoch", action="store_true",
                    help="speed only: one epoch over the whole training file, no validation, no test")
    a = ap.parse_args()
    links = din_links(a.pipeline) if a.model == "din" else []
    if a.links:
        print(",".join(f"{h}:{q}:{shift}" for h, q, shift in links))
        return
    torch.set_num_threads(a.threads)
    from deepctr_torch.inputs import SparseFeat, VarLenSparseFeat
    from deepctr_torch.models import DCN, DIN, WDL, DeepFM, FiBiNET

    ytr, gtr, rtr = read_ffm(a.train)
    yte, gte, rte = read_ffm(a.test)
    n_fields = 1 + max(f for rows in (rtr, rte) for r in rows for f, _, _ in r)
    vocab = 2 + max(i for rows in (rtr, rte) for r in rows for _, i, _ in r)
    maxlen = [1] * n_fields
    for rows in (rtr, rte):
        for r in rows:
            c = [0] * n_fields
            for f, _, _ in r:
                c[f] += 1
            maxlen = [max(m, x) for m, x in zip(maxlen, c)]

    history = {h: (q, shift) for h, q, shift in links}

    def columns(rows):
        x = {}
        for f in range(n_fields):
            x[f"f{f}"] = np.zeros((len(rows), maxlen[f]), dtype=np.int64)
        lengths = np.zeros((len(rows), 1), dtype=np.int64)
        fill = [0] * n_fields
        for i, r in enumerate(rows):
            fill = [0] * n_fields
            for f, idx, _ in r:
                # 0 is DeepCTR-Torch's padding; a history reads the candidate's indices
                shift = history[f][1] if f in history else 0
                x[f"f{f}"][i, fill[f]] = idx + shift + 1
                fill[f] += 1
            if links:
                lengths[i, 0] = fill[links[0][0]]
        out = {}
        for k, v in x.items():
            f = int(k[1:])
            if f in history:
                out[f"hist_f{history[f][0]}"] = v
            else:
                out[k] = v[:, 0] if maxlen[f] == 1 else v
        if links:
            out["seq_length"] = lengths
        return out

    feats = []
    for f in range(n_fields):
        sf = SparseFeat(f"f{f}", vocab, embedding_dim=a.dim, embedding_name="emb")
        if f in history:
            hist = SparseFeat(f"hist_f{history[f][0]}", vocab, embedding_dim=a.dim, embedding_name="emb")
            feats.append(VarLenSparseFeat(hist, maxlen=maxlen[f], length_name="seq_length"))
        else:
            feats.append(sf if maxlen[f] == 1 else VarLenSparseFeat(sf, maxlen=maxlen[f], combiner="sum"))
    hidden = tuple(int(h) for h in a.hidden.split(",") if h)
    common = dict(dnn_hidden_units=hidden, dnn_dropout=a.dropout, seed=a.seed, task="binary", device="cpu")
    if a.model == "dcnv2":
        model = DCN(feats, feats, cross_num=a.cross_layers, cross_parameterization="matrix", **common)
    elif a.model == "din":
        # DIN's queries must be single-valued fields (DeepCTR-Torch looks them up as SparseFeat)
        queries = [f"f{q}" for _, q, _ in links]
        assert links and all(maxlen[q] == 1 for _, q, _ in links), "din needs single-valued candidate fields"
        model = DIN(feats, queries, att_hidden_size=(64, 16), att_activation="relu",
                    l2_reg_embedding=1e-5, **common)
    elif a.model == "fibinet":
        from deepctr_torch.layers.interaction import BilinearInteraction, SENETLayer
        model = FiBiNET(feats, feats, bilinear_type="interaction", reduction_ratio=3, **common)
        # FiBiNET counts fields by embedding tables, one here (every field shares "emb"):
        # its SENet and bilinear layers are rebuilt over the real fields.
        model.field_size = n_fields
        model.SE = SENETLayer(n_fields, 3, a.seed, "cpu")
        model.Bilinear = BilinearInteraction(n_fields, a.dim, "interaction", a.seed, "cpu")
    else:
        model = (DeepFM if a.model == "deepfm" else WDL)(feats, feats, **common)
    model.compile(torch.optim.Adam(model.parameters(), lr=a.lr), "binary_crossentropy")

    if a.one_epoch:
        x = columns(rtr)
        t = time.perf_counter()
        model.fit(x, ytr, batch_size=a.batch, epochs=1, verbose=0, shuffle=True)
        s = time.perf_counter() - t
        out = {"model": f"deepctr-torch {a.model}", "fit_seconds": s,
               "train_examples_per_second": len(rtr) / s, "torch": torch.__version__}
        print(json.dumps(out))
        if a.json:
            json.dump(out, open(a.json, "w"))
        return

    cut = len(rtr) - len(rtr) // 10
    xtr = columns(rtr)
    xfit = {k: v[:cut] for k, v in xtr.items()}
    xval = {k: v[cut:] for k, v in xtr.items()}
    xte = columns(rte)
    fit_s = 0.0
    seen = 0
    best = None
    losses = []
    for epoch in range(1, a.epochs + 1):
        t = time.perf_counter()
        model.fit(xfit, ytr[:cut], batch_size=a.batch, epochs=1, verbose=0, shuffle=True)
        fit_s += time.perf_counter() - t
        seen += cut
        pv = model.predict(xval, batch_size=4096).ravel()
        loss = log_loss(ytr[cut:], np.clip(pv, 1e-7, 1 - 1e-7))
        losses.append(loss)
        if best is None or loss < best[0]:
            best = (loss, epoch, copy.deepcopy(model.state_dict()))
        elif epoch - best[1] >= a.patience:
            break
    model.load_state_dict(best[2])
    t = time.perf_counter()
    model.fit(xval, ytr[cut:], batch_size=a.batch, epochs=1, verbose=0, shuffle=False)
    fit_s += time.perf_counter() - t
    seen += len(rtr) - cut
    p = model.predict(xte, batch_size=4096).ravel().astype(np.float64)
    out = {
        "model": f"deepctr-torch {a.model}",
        "auc": roc_auc_score(yte, p),
        "gauc": gauc(yte, p, gte),
        "logloss": log_loss(yte, np.clip(p, 1e-7, 1 - 1e-7)),
        "fit_seconds": fit_s,
        "train_examples_per_second": seen / fit_s,
        "epochs": len(losses),
        "best_epoch": best[1],
        "validation_logloss": losses,
        "torch": torch.__version__,
    }
    print(json.dumps(out))
    if a.json:
        json.dump(out, open(a.json, "w"))


if __name__ == "__main__":
    main()
