#!/usr/bin/env bash
# Load benchmark of `funnel serve` on loopback (issue 5):
#   1. start the server on an empty embedded store,
#   2. insert USERS users, ITEMS items and USERS×EVENTS clicks over HTTP (ingest events/s),
#   3. fit the models (POST /api/admin/train), report fit time and metrics,
#   4. wrk: GET /api/recommend/{random user}?n=10 for DURATION — requests/s, p50/p99,
#   5. the server's RSS sampled every SAMPLE seconds during the load (flat = no leak),
#   6. wrk: POST /api/rank, 100 random items for a random user, for RANK_DURATION seconds,
#   7. kill -9 and restart: seconds until the saved model version answers.
# Usage: bash bench/serve.sh [DURATION_SECONDS]   (default 60; the issue's memory check: 600)
# Env: USERS ITEMS EVENTS CONNECTIONS THREADS PORT RANK_DURATION. Needs wrk (apt-get install wrk).
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION=${1:-60}
USERS=${USERS:-100000}; ITEMS=${ITEMS:-100000}; EVENTS=${EVENTS:-10}
CONNECTIONS=${CONNECTIONS:-16}; THREADS=${THREADS:-1}; PORT=${PORT:-8091}; SAMPLE=${SAMPLE:-30}
command -v wrk >/dev/null || { echo "wrk not found: apt-get install wrk" >&2; exit 1; }
cargo build --release -q -p funnel-cli
DIR=$(mktemp -d); trap 'kill $PID 2>/dev/null || true; rm -rf "$DIR"' EXIT
cat > "$DIR/funnel.toml" <<TOML
[server]
listen = "127.0.0.1:$PORT"
data_dir = "$DIR/data"
api_key = "bench"
max_batch = 10000
[train]
on_start = false
TOML
target/release/funnel serve --config "$DIR/funnel.toml" 2> "$DIR/server.log" &
PID=$!
BASE=http://127.0.0.1:$PORT
for _ in $(seq 100); do curl -sf $BASE/health/ready >/dev/null && break; sleep 0.1; done
echo "== load: $USERS users, $ITEMS items, $((USERS * EVENTS)) clicks (2 client threads, batches of 5000)"
python3 bench/serve/load.py --base $BASE --key bench --users $USERS --items $ITEMS --events-per-user $EVENTS
echo "== fit"
curl -sf -X POST -H 'X-API-Key: bench' $BASE/api/admin/train >/dev/null
while [ "$(curl -sf -H 'X-API-Key: bench' $BASE/api/admin/train | python3 -c 'import json,sys; print(json.load(sys.stdin)["running"])')" = "True" ]; do sleep 1; done
curl -sf -H 'X-API-Key: bench' $BASE/api/admin/train | python3 -c 'import json,sys; j=json.load(sys.stdin); print("fit %.1f s, error %s, metrics %s" % (j["last_fit_seconds"] or 0, j["last_error"], {k: round(v, 4) for k, v in j["last_metrics"].items()}))'
rss() { awk '/VmRSS/ {print $2}' /proc/$PID/status; }
echo "== recommend: wrk -t$THREADS -c$CONNECTIONS -d${DURATION}s, random user, n=10 (RSS before: $(( $(rss) / 1024 )) MiB)"
( for _ in $(seq $((DURATION / SAMPLE))); do sleep $SAMPLE; echo "rss_mib $(( $(rss) / 1024 ))"; done ) > "$DIR/rss.txt" &
SAMPLER=$!
USERS=$USERS wrk -t$THREADS -c$CONNECTIONS -d${DURATION}s --latency -s bench/serve/recommend.lua $BASE | tee "$DIR/wrk.txt"
wait $SAMPLER || true
echo "== RSS during the run (MiB): $(awk '{printf "%s ", $2}' "$DIR/rss.txt")"
summary() { python3 - "$1" "$2" <<'PY'
import re, sys
t = open(sys.argv[1]).read()
rps = float(re.search(r"Requests/sec:\s+([\d.]+)", t).group(1))
def ms(p):
    m = re.search(rf"^\s+{p}%\s+([\d.]+)(us|ms|s)", t, re.M)
    v, u = float(m.group(1)), m.group(2)
    return v / 1000 if u == "us" else v * 1000 if u == "s" else v
errs = re.search(r"Non-2xx or 3xx responses: (\d+)", t)
print(f"requests/s {rps:.0f}  p50 {ms(50):.2f} ms  p99 {ms(99):.2f} ms  non-2xx {errs.group(1) if errs else 0}"
      f"  (goal: {sys.argv[2]})")
PY
}
summary "$DIR/wrk.txt" "p99 < 10 ms at >= 2000 requests/s"
RANK_DURATION=${RANK_DURATION:-$(( DURATION < 30 ? DURATION : 30 ))}
echo "== rank: wrk -t$THREADS -c$CONNECTIONS -d${RANK_DURATION}s, POST /api/rank with 100 random items for a random user"
USERS=$USERS ITEMS=$ITEMS wrk -t$THREADS -c$CONNECTIONS -d${RANK_DURATION}s --latency -s bench/serve/rank.lua $BASE > "$DIR/rank.txt"
grep -E "Requests/sec|Latency|50%|99%" "$DIR/rank.txt" || true
summary "$DIR/rank.txt" "p99 < 5 ms for 100 items"
echo "== restart: kill -9, start again, time until the saved version answers"
kill -9 $PID; wait $PID 2>/dev/null || true
T0=$(date +%s.%N)
target/release/funnel serve --config "$DIR/funnel.toml" 2>> "$DIR/server.log" &
PID=$!
until curl -sf -H 'X-API-Key: bench' $BASE/health/ready 2>/dev/null | grep -q '"model_version":[1-9]'; do sleep 0.05; done
T1=$(date +%s.%N)
curl -sf "$BASE/api/recommend/u1?n=10" >/dev/null
python3 -c "print('restart to the first answer on the saved version: %.1f s (%s users, %s items, %s clicks)' % ($T1 - $T0, $USERS, $ITEMS, $USERS * $EVENTS))"
