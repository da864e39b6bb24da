#!/usr/bin/env bash
# redis_user generator cost, side by side in one run (a benchmark, not a test):
#   redis-server (CPU 0, no persistence) vs loaddensity (1 worker thread) and redis-benchmark
#   (single-threaded), each loader pinned to CPU 1 with the same 50 connections, for SET and GET
#   without pipelining (-P 1 / "pipeline": 1) and with 16 commands in flight per connection
#   (-P 16 / "pipeline": 16). redis-benchmark runs a fixed count, loaddensity a fixed time; both
#   are compared by operations per loader CPU-second (user + sys).
#   bench/redis.sh [seconds=10] [binary=build/release/loaddensity]
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION=${1:-10}
BIN=$(realpath "${2:-build/release/loaddensity}")
CONNS=50
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
dir=$(mktemp -d /tmp/ld-bench.XXXXXX)
port=$(/usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
taskset -c 0 redis-server --port "$port" --bind 127.0.0.1 --save '' --appendonly no \
  --daemonize yes --pidfile "$dir/redis.pid" --logfile "$dir/redis.log"
trap 'kill $(cat "$dir/redis.pid") 2>/dev/null; rm -rf "$dir"' EXIT
for _ in $(seq 50); do redis-cli -p "$port" ping >/dev/null 2>&1 && break; sleep 0.1; done

# time(1) prints: elapsed user sys maxrss_kib
measure() { /usr/bin/time -f "%e %U %S %M" -o "$dir/time" "$@" >"$dir/out" 2>"$dir/err"; cat "$dir/time"; }

row() {  # name ops elapsed user sys
  awk -v n="$1" -v r="$2" -v e="$3" -v u="$4" -v s="$5" 'BEGIN {
    cpu = u + s; printf "%-30s %10.0f %9.0f %8.2f %14.0f\n", n, r, r / e, cpu, (cpu > 0 ? r / cpu : 0) }'
}

ld_doc() {  # pipeline command...
  local p=$1
  shift
  local args
  args=$(printf '"%s",' "$@")
  cat <<JSON
[["LD_start_test", {"user_detail_dict": {"user": "redis_user"}, "user_count": $CONNS,
  "spawn_rate": 1000000, "test_time": $DURATION, "threads": 1, "pipeline": $p,
  "connection": {"url": "redis://127.0.0.1:$port/0"},
  "tasks": [{"command": [${args%,}], "name": "op"}]}],
 ["LD_generate_summary_report", {"report_name": "$dir/ld-summary"}]]
JSON
}

printf "%-30s %10s %9s %8s %14s\n" "loader (CPU 1)" "ops" "ops/s" "cpu s" "ops/cpu-s"
: >"$dir/ratios"
for p in 1 16; do
  for t in set get; do
    # About DURATION seconds of redis-benchmark at the rate seen on a 2-core machine.
    n=$((DURATION * (p == 1 ? 60000 : 400000)))
    read -r e u s m < <(measure taskset -c 1 redis-benchmark -p "$port" -c $CONNS -n "$n" -P "$p" -t "$t" -q)
    row "redis-benchmark $t -P $p" "$n" "$e" "$u" "$s" | tee "$dir/rb.row"
    if [ "$t" = set ]; then ld_doc "$p" SET "key:__rand_int__" xxx >"$dir/ld.json"; else ld_doc "$p" GET "key:__rand_int__" >"$dir/ld.json"; fi
    read -r e u s m < <(measure taskset -c 1 "$BIN" -q run "$dir/ld.json")
    ops=$(/usr/bin/python3 -c "import json; print(json.load(open('$dir/ld-summary.json'))['totals']['requests'])")
    fails=$(/usr/bin/python3 -c "import json; print(json.load(open('$dir/ld-summary.json'))['totals']['failures'])")
    row "loaddensity $t pipeline $p" "$ops" "$e" "$u" "$s" | tee "$dir/ld.row"
    [ "$fails" = 0 ] || echo "  (loaddensity counted $fails failures)"
    awk '{print $NF}' "$dir/rb.row" "$dir/ld.row" | paste -sd' ' |
      awk -v t="$t" -v p="$p" '{ printf "%s -P %s: %.2fx\n", t, p, $2 / $1 }' >>"$dir/ratios"
  done
done
echo
echo "loaddensity / redis-benchmark, operations per loader CPU-second (target >= 1.0x):"
cat "$dir/ratios"

# --- memory per connected idle user: peak RSS with 5,000 users (one GET a second each) minus
# a 1-user baseline.
USERS=5000
mem_doc() {
  cat <<JSON
[["LD_start_test", {"user_detail_dict": {"user": "redis_user", "wait_time": 1}, "user_count": $1,
  "spawn_rate": 1000000, "test_time": 4, "threads": 1,
  "connection": {"url": "redis://127.0.0.1:$port/0"},
  "tasks": [{"method": "get", "key": "k"}]}],
 ["LD_generate_summary_report", {"report_name": "$dir/ld-summary"}]]
JSON
}
redis-cli -p "$port" config set maxclients 10100 >/dev/null 2>&1 || true
mem_doc 1 >"$dir/m1.json"
read -r e u s base_kib < <(measure taskset -c 1 "$BIN" -q run "$dir/m1.json")
mem_doc $USERS >"$dir/m5k.json"
read -r e u s big_kib < <(measure taskset -c 1 "$BIN" -q run "$dir/m5k.json")
n=$(/usr/bin/python3 -c "import json; print(json.load(open('$dir/ld-summary.json'))['totals']['failures'])")
echo
awk -v b="$base_kib" -v p="$big_kib" -v n="$USERS" 'BEGIN {
  printf "memory, %d connected users: peak RSS %d KiB, 1 user %d KiB, %.2f KiB per user\n", n, p, b, (p - b) / n }'
[ "$n" = 0 ] || echo "  (loaddensity counted $n failures with $USERS users)"
