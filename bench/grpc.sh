#!/usr/bin/env bash
# grpc_user generator cost, side by side in one run (a benchmark, not a test):
#   unary calls (loaddensity.echo.Echo/Unary, examples/proto/echo.proto, the same 12-byte
#   request) against two real servers on CPU 0: the grpcio server of the tests
#   (tests/integration/grpc_server.py, Python) and the embedded target's grpc++ echo service
#   (`loaddensity target`). Each is loaded by h2load sending the same gRPC-framed request
#   (content-type: application/grpc, te: trailers; -t1 -c10 -m10) and by loaddensity (1 worker
#   thread, 10 users, max_streams 10), every loader pinned to CPU 1. Prints calls/s, loader
#   CPU seconds and calls per loader CPU-second, and the ratio loaddensity / h2load per server.
#   bench/grpc.sh [seconds=10] [binary=build/release/loaddensity]
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION=${1:-10}
BIN=$(realpath "${2:-build/release/loaddensity}")
CONNS=10
STREAMS=10
PROTO=$(realpath examples/proto/echo.proto)
command -v h2load >/dev/null || { echo "h2load not found (Debian package nghttp2-client)" >&2; exit 1; }
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
dir=$(mktemp -d /tmp/ld-bench-grpc.XXXXXX)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$dir"; }
trap cleanup EXIT

# grpcio (Python) on CPU 0; it writes its port to a file.
taskset -c 0 /usr/bin/python3 tests/integration/grpc_server.py "$dir/py.port" 2>"$dir/py.log" &
pids+=($!)
# The embedded target's grpc++ server on CPU 0.
tport=$(/usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
taskset -c 0 "$BIN" -q target --grpc-port "$tport" >"$dir/target.log" 2>&1 &
pids+=($!)
for _ in $(seq 100); do [ -s "$dir/py.port" ] && break; sleep 0.1; done
pyport=$(cat "$dir/py.port")
for _ in $(seq 100); do (echo >/dev/tcp/127.0.0.1/"$tport") 2>/dev/null && break; sleep 0.1; done

# The request: EchoRequest{message: "hello world!"} = 0a 0c "hello world!", framed (flag 0,
# 4-byte length).
printf '\x00\x00\x00\x00\x0e\x0a\x0chello world!' >"$dir/request.bin"

# time(1) prints: elapsed user sys maxrss_kib
measure() { /usr/bin/time -f "%e %U %S %M" -o "$dir/time" "$@" >"$dir/out" 2>"$dir/err"; cat "$dir/time"; }

row() {  # name calls elapsed user sys
  awk -v n="$1" -v r="$2" -v e="$3" -v u="$4" -v s="$5" 'BEGIN {
    cpu = u + s; printf "%-36s %10.0f %9.0f %8.2f %14.0f\n", n, r, r / e, cpu, (cpu > 0 ? r / cpu : 0) }'
}

ld_doc() {  # port
  cat <<JSON
[["LD_start_test", {"user_detail_dict": {"user": "grpc_user"}, "user_count": $CONNS,
  "spawn_rate": 1000000, "test_time": $DURATION, "threads": 1, "max_streams": $STREAMS,
  "tasks": [{"target": "127.0.0.1:$1", "proto": "$PROTO", "method": "loaddensity.echo.Echo/Unary",
             "payload": {"message": "hello world!"}, "name": "unary"}]}],
 ["LD_generate_summary_report", {"report_name": "$dir/ld-summary"}]]
JSON
}

printf "%-36s %10s %9s %8s %14s\n" "loader (CPU 1)" "calls" "calls/s" "cpu s" "calls/cpu-s"
: >"$dir/ratios"
for server in grpcio grpc++; do
  if [ "$server" = grpcio ]; then port=$pyport; else port=$tport; fi
  read -r e u s m < <(measure taskset -c 1 h2load -t1 -c$CONNS -m$STREAMS -D "$DURATION" \
    -d "$dir/request.bin" -H 'content-type: application/grpc' -H 'te: trailers' \
    "http://127.0.0.1:$port/loaddensity.echo.Echo/Unary")
  h2_req=$(awk '/^requests:/ {print $8}' "$dir/out")
  row "h2load -c$CONNS -m$STREAMS ($server)" "$h2_req" "$e" "$u" "$s" | tee "$dir/h2.row"

  ld_doc "$port" >"$dir/ld.json"
  read -r e u s m < <(measure taskset -c 1 "$BIN" -q run "$dir/ld.json")
  ld_req=$(/usr/bin/python3 -c "import json; print(json.load(open('$dir/ld-summary.json'))['totals']['requests'])")
  ld_fail=$(/usr/bin/python3 -c "import json; print(json.load(open('$dir/ld-summary.json'))['totals']['failures'])")
  row "loaddensity 1 thread ($server)" "$ld_req" "$e" "$u" "$s" | tee "$dir/ld.row"
  [ "$ld_fail" = 0 ] || echo "  (loaddensity counted $ld_fail failures)"
  awk '{print $NF}' "$dir/h2.row" "$dir/ld.row" | paste -sd' ' |
    awk -v t="$server" '{ printf "%s: %.2fx\n", t, $2 / $1 }' >>"$dir/ratios"
done
echo
echo "loaddensity / h2load, unary calls per loader CPU-second (target >= 0.8x):"
cat "$dir/ratios"

# --- memory per connected idle user: peak RSS with 2,000 users (one call a second each, on the
# grpc++ server) minus a 1-user baseline.
USERS=2000
mem_doc() {
  cat <<JSON
[["LD_start_test", {"user_detail_dict": {"user": "grpc_user", "wait_time": 1}, "user_count": $1,
  "spawn_rate": 1000000, "test_time": 4, "threads": 1,
  "tasks": [{"target": "127.0.0.1:$tport", "proto": "$PROTO", "method": "loaddensity.echo.Echo/Unary",
             "payload": {"message": "hello world!"}}]}],
 ["LD_generate_summary_report", {"report_name": "$dir/ld-summary"}]]
JSON
}
mem_doc 1 >"$dir/m1.json"
read -r e u s base_kib < <(measure taskset -c 1 "$BIN" -q run "$dir/m1.json")
mem_doc $USERS >"$dir/mbig.json"
read -r e u s big_kib < <(measure taskset -c 1 "$BIN" -q run "$dir/mbig.json")
n=$(/usr/bin/python3 -c "import json; print(json.load(open('$dir/ld-summary.json'))['totals']['failures'])")
echo
awk -v b="$base_kib" -v p="$big_kib" -v n="$USERS" 'BEGIN {
  printf "memory, %d connected users: peak RSS %d KiB, 1 user %d KiB, %.2f KiB per user\n", n, p, b, (p - b) / n }'
[ "$n" = 0 ] || echo "  (loaddensity counted $n failures with $USERS users)"
