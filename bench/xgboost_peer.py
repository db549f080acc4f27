"""XGBoost (PyPI `xgboost-cpu`) `rank:ndcg` on a libsvm file with `.query` sidecars, without
and with its Unbiased LambdaMART (`lambdarank_unbiased`, which reads the documents of a
query in display order): prints JSON with NDCG@10 on the test file for each, by the same
definition as `funnel rank eval` (bench/lightgbm_peer.py's).

    python bench/xgboost_peer.py TRAIN TEST
"""
import json
import sys

import numpy as np
import xgboost as xgb
from sklearn.datasets import load_svmlight_file

from lightgbm_peer import groups, query_metrics


def main():
    train, test = sys.argv[1], sys.argv[2]
    Xtr, ytr = load_svmlight_file(train, zero_based=True)
    Xte, yte = load_svmlight_file(test, zero_based=True, n_features=Xtr.shape[1])
    qtr, qte = groups(train, len(ytr)), groups(test, len(yte))
    out = {"peer": f"xgboost {xgb.__version__}"}
    for unbiased in [False, True]:
        d = xgb.DMatrix(Xtr, ytr, qid=np.repeat(np.arange(len(qtr)), qtr))
        params = {"objective": "rank:ndcg", "lambdarank_unbiased": unbiased, "nthread": 2,
                  "tree_method": "hist"}
        booster = xgb.train(params, d, 100)
        m = query_metrics(booster.predict(xgb.DMatrix(Xte)), yte, qte, [10])
        out["unbiased" if unbiased else "none"] = m["ndcg@10"]
    print(json.dumps(out))


if __name__ == "__main__":
    main()
