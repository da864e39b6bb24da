#!/usr/bin/env bash
# Throughput of a loaddensity master over one worker vs two on this machine (a benchmark, not a
# test), against the embedded target; then the master's CPU cost per worker stats message
# (bench/distributed_master_cpu.py).
#   bench/distributed.sh [seconds=10] [binary=build/release/loaddensity]
# USERS (default 20) users over the workers, each worker with WORKER_THREADS (default 1)
# threads, the target with TARGET_THREADS (default 1). Everything shares this machine's cores:
# two workers compete with each other, the target and the master.
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION=${1:-10}
BIN=$(realpath "${2:-build/release/loaddensity}")
USERS=${USERS:-20}
WORKER_THREADS=${WORKER_THREADS:-1}
TARGET_THREADS=${TARGET_THREADS:-1}
dir=$(mktemp -d /tmp/ld-bench-dist.XXXXXX)
pids=()
trap 'kill "${pids[@]}" 2>/dev/null; rm -rf "$dir"' EXIT
"$BIN" target --threads "$TARGET_THREADS" >"$dir/target.out" 2>/dev/null &
pids+=($!)
for _ in $(seq 50); do
  url=$(grep -o 'http://[0-9.:]*' "$dir/target.out" | head -1 || true)
  [ -n "$url" ] && break
  sleep 0.1
done
cat >"$dir/plan.json" <<JSON
[["LD_start_test", {"user_detail_dict": {"user": "fast_http_user"}, "user_count": $USERS,
  "spawn_rate": 1000, "test_time": $DURATION, "threads": $WORKER_THREADS,
  "tasks": [{"method": "get", "request_url": "$url/get", "name": "/get"}]}],
 ["LD_generate_summary_report", {"report_name": "summary"}]]
JSON
run() {  # $1 = workers
  local n=$1 port
  port=$(/usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  mkdir -p "$dir/m$n"
  (cd "$dir/m$n" && "$BIN" master --bind-host 127.0.0.1 --bind-port "$port" \
     --expected-workers "$n" -q "$dir/plan.json" >/dev/null 2>"$dir/m$n/err") &
  local master=$!
  local ws=()
  for i in $(seq "$n"); do
    mkdir -p "$dir/m$n/w$i"
    (cd "$dir/m$n/w$i" && "$BIN" worker --master-port "$port" -q "$dir/plan.json" \
       >/dev/null 2>&1) &
    ws+=($!)
  done
  wait "$master"
  wait "${ws[@]}" || true
  /usr/bin/python3 - "$dir/m$n/summary.json" "$n" <<'PY'
import json, sys
s = json.load(open(sys.argv[1]))
t = s["totals"]
print(f"{sys.argv[2]} worker(s): {t['requests']} requests in {t['duration_s']:.1f} s = "
      f"{t['requests_per_second']:,.0f} requests/s, p99 {s['latency_overall']['p99_ms']} ms, "
      f"{t['failures']} failures")
PY
}
echo "loaddensity master, $USERS users, $DURATION s, GET /get on the embedded target ($(nproc) cores)"
run 1
run 2
/usr/bin/python3 bench/distributed_master_cpu.py "$BIN" 20000 10 2
/usr/bin/python3 bench/distributed_master_cpu.py "$BIN" 2000 100 2
