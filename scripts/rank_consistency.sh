#!/usr/bin/env bash
# Served = trained, on the real binary: start `funnel serve --demo`, wait for its first
# fit, ask POST /api/rank with "explain": true for a user's 100 items, download the
# version's ranker.funnel, score the explained records with `funnel rank predict`, and
# require the same scores to 1e-6. CI runs this; so can anyone: bash scripts/rank_consistency.sh
set -euo pipefail
cd "$(dirname "$0")/.."
PORT=${PORT:-18097}
BIN=${BIN:-target/release/funnel}
[ -x "$BIN" ] || cargo build --release -q -p funnel-cli
DIR=$(mktemp -d)
trap 'kill $PID 2>/dev/null || true; rm -rf "$DIR"' EXIT
printf '[server]\nlisten = "127.0.0.1:%s"\ndata_dir = "%s/data"\napi_key = "check"\n[rank]\ncalibration = "platt"\n' \
  "$PORT" "$DIR" > "$DIR/funnel.toml"
"$BIN" serve --config "$DIR/funnel.toml" --demo > "$DIR/out" 2> "$DIR/err" &
PID=$!
python3 - "$PORT" "$DIR" "$BIN" <<'PY'
import json, subprocess, sys, time, urllib.request
port, d, binary = sys.argv[1], sys.argv[2], sys.argv[3]
base = f"http://127.0.0.1:{port}"
def call(path, body=None):
    req = urllib.request.Request(base + path, headers={"X-API-Key": "check", "Content-Type": "application/json"},
                                 data=None if body is None else json.dumps(body).encode())
    with urllib.request.urlopen(req, timeout=10) as r:
        return r.read()
for _ in range(1200):
    try:
        if json.loads(call("/api/admin/train")).get("last_version"):
            break
    except Exception:
        pass
    time.sleep(0.1)
else:
    raise SystemExit("no fitted version after 120 s")
answer = json.loads(call("/api/rank", {"user_id": "u7", "item_ids": [f"i{i}" for i in range(100)],
                                      "context": {"device": "mobile"}, "explain": True}))
version = answer["model_version"]
open(f"{d}/ranker.funnel", "wb").write(call(f"/api/admin/models/{version}/files/ranker.funnel"))
with open(f"{d}/records.jsonl", "w") as f:
    for item in answer["items"]:
        f.write(json.dumps(item["record"]) + "\n")
out = subprocess.run([binary, "rank", "predict", "--model", f"{d}/ranker.funnel", "--records", f"{d}/records.jsonl"],
                     check=True, capture_output=True, text=True).stdout.split()
served = [item["score"] for item in answer["items"]]
offline = [float(x) for x in out]
assert len(served) == len(offline) == 100, (len(served), len(offline))
worst = max(abs(a - b) for a, b in zip(served, offline))
print(f"version {version}: 100 items, served vs funnel rank predict: max |difference| {worst:.2e} "
      f"(scores {min(served):.4f} .. {max(served):.4f})")
assert worst <= 1e-6, "served scores differ from the offline ones"
PY
