#!/usr/bin/env bash
# Memory per open, idle WebSocket user (a benchmark, not a test).
# The embedded target runs as its own process (`loaddensity target`, CPU 0) so the loader's file
# descriptors are all client sockets. The loader (1 worker thread, CPU 1) connects USERS users,
# each does one echo round trip to prove its connection works, then waits in a recv that nothing
# answers (an idle user with its read pending, as a real client idles). RSS is sampled from
# /proc once every user is connected, for USERS users and for a 10-user baseline:
#   KiB per user = (RSS(USERS) - RSS(10)) / (USERS - 10)
#   bench/websocket_idle.sh [users=10000] [binary=build/release/loaddensity]
set -euo pipefail
cd "$(dirname "$0")/.."
USERS=${1:-10000}
BIN=$(realpath "${2:-build/release/loaddensity}")
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
if [ "$(ulimit -n)" -lt $((USERS + 100)) ]; then
  echo "ulimit -n is $(ulimit -n): too low for $USERS users" >&2
  exit 2
fi
dir=$(mktemp -d /tmp/ld-wsbench.XXXXXX)
taskset -c 0 "$BIN" target --port 0 >"$dir/target.out" 2>&1 &
target_pid=$!
trap 'kill $target_pid 2>/dev/null || true; rm -rf "$dir"' EXIT
for _ in $(seq 1 50); do grep -q "listening on" "$dir/target.out" && break; sleep 0.1; done
URL=$(awk '/listening on/ {print $5}' "$dir/target.out" | sed 's|^http://|ws://|')/ws

doc() {  # users
  cat <<JSON
[["LD_start_test", {"user_detail_dict": {"user": "websocket_user"}, "user_count": $1,
  "spawn_rate": 5000, "test_time": 600, "threads": 1,
  "tasks": [{"method": "connect", "request_url": "$URL", "name": "connect"},
            {"method": "sendrecv", "payload": "hello", "expect": "hello", "name": "echo"},
            {"method": "recv", "timeout": 3600, "name": "idle"}]}],
 ["LD_generate_summary_report", {"report_name": "$dir/summary-$1"}]]
JSON
}

# Runs the loader with $1 users until all are connected and idle; prints "rss_kib hwm_kib".
sample() {
  local users=$1
  doc "$users" >"$dir/doc-$users.json"
  taskset -c 1 "$BIN" -q run "$dir/doc-$users.json" >"$dir/out-$users" 2>&1 &
  local pid=$!
  # Connected and idle: established connections to the target reach the user count and stay.
  local port=${URL#ws://127.0.0.1:}
  port=${port%%/*}
  for _ in $(seq 1 300); do
    local n
    n=$(ss -Htn state established "( dport = :$port )" 2>/dev/null | wc -l)
    [ "$n" -ge "$users" ] && break
    sleep 0.1
  done
  sleep 2  # let every user finish its echo and settle in recv
  local rss hwm
  rss=$(awk '/^VmRSS/ {print $2}' "/proc/$pid/status")
  hwm=$(awk '/^VmHWM/ {print $2}' "/proc/$pid/status")
  kill -INT "$pid"
  wait "$pid" || true
  local fail
  fail=$(/usr/bin/python3 -c "import json; s=json.load(open('$dir/summary-$users.json')); print(s['per_name'].get('echo', {}).get('requests', 0), s['totals']['failures'])")
  echo "$rss $hwm $fail"
}

read -r base_rss base_hwm base_echo base_fail < <(sample 10)
read -r big_rss big_hwm big_echo big_fail < <(sample "$USERS")
printf "%-34s %12s %12s %12s\n" "websocket users (ws://, idle)" "RSS KiB" "peak KiB" "echoes ok"
printf "%-34s %12d %12d %12d\n" "10" "$base_rss" "$base_hwm" "$((base_echo - base_fail))"
printf "%-34s %12d %12d %12d\n" "$USERS" "$big_rss" "$big_hwm" "$((big_echo - big_fail))"
awk -v b="$base_rss" -v p="$big_rss" -v n="$USERS" 'BEGIN {
  printf "\nKiB per open idle WebSocket user: %.2f (target <= 10)\n", (p - b) / (n - 10) }'
[ "$big_fail" = 0 ] || echo "  ($big_fail failures with $USERS users)"
