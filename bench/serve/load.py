#!/usr/bin/env python3
"""Load a running `funnel serve` with synthetic users, items and feedback over HTTP, and
time the feedback ingest (events/s). Standard library only.

    python3 bench/serve/load.py --base http://127.0.0.1:8090 --key KEY \
        --users 100000 --items 100000 --events-per-user 10
"""
import argparse
import json
import random
import threading
import time
import http.client
from urllib.parse import urlparse


def post(conn, path, key, body):
    conn.request("POST", path, body=body, headers={"Content-Type": "application/json", "X-API-Key": key})
    r = conn.getresponse()
    data = r.read()
    if r.status != 200:
        raise SystemExit(f"POST {path}: {r.status} {data[:300]!r}")
    return json.loads(data)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--base", required=True)
    ap.add_argument("--key", required=True)
    ap.add_argument("--users", type=int, default=100_000)
    ap.add_argument("--items", type=int, default=100_000)
    ap.add_argument("--events-per-user", type=int, default=10)
    ap.add_argument("--batch", type=int, default=5000)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seed", type=int, default=1)
    a = ap.parse_args()
    u = urlparse(a.base)
    rnd = random.Random(a.seed)
    genres = ["action", "comedy", "drama", "news", "sport", "music", "science", "travel"]
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=600)
    t = time.time()
    for s in range(0, a.items, a.batch):
        items = [{"item_id": f"i{i}", "categories": [genres[i % 8]], "timestamp": 1_700_000_000 + i}
                 for i in range(s, min(a.items, s + a.batch))]
        post(conn, "/api/items", a.key, json.dumps(items))
    for s in range(0, a.users, a.batch):
        users = [{"user_id": f"u{i}"} for i in range(s, min(a.users, s + a.batch))]
        post(conn, "/api/users", a.key, json.dumps(users))
    print(f"items and users: {a.items} + {a.users} in {time.time() - t:.1f} s", flush=True)
    # Zipf-like item popularity with per-user taste clusters, so models have signal.
    weights = [1.0 / (r + 10) for r in range(a.items)]
    cum, acc = [], 0.0
    for w in weights:
        acc += w
        cum.append(acc)
    import bisect
    events = []
    for user in range(a.users):
        base = rnd.randrange(a.items)
        for k in range(a.events_per_user):
            if rnd.random() < 0.5:
                item = (base + rnd.randrange(200)) % a.items
            else:
                item = bisect.bisect_left(cum, rnd.random() * acc)
            events.append({"feedback_type": "click", "user_id": f"u{user}", "item_id": f"i{item}",
                           "timestamp": 1_700_000_000 + user * a.events_per_user + k})
    bodies = [json.dumps(events[s:s + a.batch]) for s in range(0, len(events), a.batch)]
    done = [0]
    lock = threading.Lock()

    def worker(chunks):
        c = http.client.HTTPConnection(u.hostname, u.port, timeout=600)
        for b in chunks:
            r = post(c, "/api/feedback", a.key, b)
            with lock:
                done[0] += r["written"] + r["duplicates"]

    t = time.time()
    threads = [threading.Thread(target=worker, args=(bodies[i::a.threads],)) for i in range(a.threads)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    dt = time.time() - t
    print(json.dumps({"ingest_events": done[0], "ingest_seconds": round(dt, 2),
                      "ingest_events_per_s": round(done[0] / dt)}), flush=True)


if __name__ == "__main__":
    main()
