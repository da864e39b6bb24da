#!/usr/bin/env bash
# HTTP/3 generator cost, side by side in one run (a benchmark, not a test):
#   loaddensity's HTTP/3 user (http3_user) against ngtcp2's gtlsserver (-q, CPU 0) and
#   loaddensity's HTTP/2 user over TLS (h2, ALPN) against nginx (1 worker, CPU 0), the same
#   13-byte body, 1 worker thread, USERS users, max_streams STREAMS, the loader pinned to CPU 1.
# Prints requests/s, loader CPU seconds and requests per loader CPU-second, and the ratio
# HTTP/3 / HTTP/2 (QUIC runs in user space: target >= 0.5x). Then memory per connected idle
# HTTP/3 user (peak RSS with MEM_USERS users that made one request, minus 1 user, divided).
# With PERF=1 it records `perf record -e cpu-clock -g` of the HTTP/3 run and prints the top
# symbols (docs/protocols/http3.md).
#   bench/http3.sh [seconds=10] [binary=build/release/loaddensity]
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION=${1:-10}
BIN=$(realpath "${2:-build/release/loaddensity}")
USERS=${USERS:-20}
STREAMS=${STREAMS:-10}
MEM_USERS=${MEM_USERS:-1000}
command -v nginx >/dev/null || { echo "nginx not found" >&2; exit 1; }
[ -x /usr/sbin/gtlsserver ] || { echo "gtlsserver not found (Debian package ngtcp2-server)" >&2; exit 1; }
dir=$(mktemp -d /tmp/ld-bench-h3.XXXXXX)
free_port() {
  /usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}
free_udp_port() {
  /usr/bin/python3 -c 'import socket; s=socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}
tls_port=$(free_port)
h3_port=$(free_udp_port)
openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=localhost" \
  -addext "subjectAltName=DNS:localhost,IP:127.0.0.1" \
  -keyout "$dir/key.pem" -out "$dir/cert.pem" >/dev/null 2>&1
mkdir "$dir/root"
printf 'hello, world\n' >"$dir/root/hello"
cat >"$dir/nginx.conf" <<CONF
worker_processes 1;
daemon on;
pid $dir/nginx.pid;
error_log $dir/error.log warn;
worker_rlimit_nofile 65536;
events { worker_connections 16384; }
http {
  access_log off;
  keepalive_requests 100000000;
  http2_max_concurrent_streams 128;
  client_body_temp_path $dir/body;
  server { listen 127.0.0.1:$tls_port ssl http2 backlog=8192;
           ssl_certificate $dir/cert.pem; ssl_certificate_key $dir/key.pem;
           location / { default_type text/plain; return 200 "hello, world\n"; } }
}
CONF
taskset -c 0 nginx -c "$dir/nginx.conf" -e "$dir/error.log"
taskset -c 0 /usr/sbin/gtlsserver -q -d "$dir/root" --max-streams-bidi=1000 \
  127.0.0.1 "$h3_port" "$dir/key.pem" "$dir/cert.pem" >/dev/null 2>&1 &
gtls_pid=$!
trap 'kill $(cat "$dir/nginx.pid") 2>/dev/null; kill $gtls_pid 2>/dev/null; rm -rf "$dir"' EXIT
sleep 0.5

# time(1) prints: elapsed user sys maxrss_kib
measure() { /usr/bin/time -f "%e %U %S %M" -o "$dir/time" "$@" >"$dir/out" 2>"$dir/err"; cat "$dir/time"; }

row() {  # name requests elapsed user sys
  awk -v n="$1" -v r="$2" -v e="$3" -v u="$4" -v s="$5" 'BEGIN {
    cpu = u + s; printf "%-40s %10.0f %9.0f %8.2f %14.0f\n", n, r, r / e, cpu, (cpu > 0 ? r / cpu : 0) }'
}

ld_doc() {  # user url users wait
  cat <<JSON
[["LD_start_test", {"user_detail_dict": {"user": "$1", "wait_time": ${4:-0}}, "user_count": $3,
  "spawn_rate": ${SPAWN_RATE:-1000000}, "test_time": ${TEST_TIME:-$DURATION}, "threads": 1,
  "max_streams": ${MAX_STREAMS:-$STREAMS},
  "tasks": [{"method": "get", "request_url": "$2", "name": "hello", "verify": false}]}],
 ["LD_generate_summary_report", {"report_name": "$dir/ld-summary"}]]
JSON
}
totals() {
  /usr/bin/python3 -c "import json; t=json.load(open('$dir/ld-summary.json'))['totals']; print(t['requests'], t['failures'])"
}

printf "%-40s %10s %9s %8s %14s\n" "loader (CPU 1, 1 thread)" "requests" "req/s" "cpu s" "req/cpu-s"
ld_doc http3_user "https://127.0.0.1:$h3_port/hello" "$USERS" >"$dir/h3.json"
read -r e u s m < <(measure taskset -c 1 "$BIN" -q run "$dir/h3.json")
read -r req fail < <(totals)
row "http3_user -> gtlsserver ($USERS x $STREAMS)" "$req" "$e" "$u" "$s" | tee "$dir/h3.row"
[ "$fail" = 0 ] || echo "  (counted $fail failures)"

ld_doc async_http_user "https://127.0.0.1:$tls_port/" "$USERS" >"$dir/h2.json"
read -r e u s m < <(measure taskset -c 1 "$BIN" -q run "$dir/h2.json")
read -r req fail < <(totals)
row "async_http_user h2 -> nginx ($USERS x $STREAMS)" "$req" "$e" "$u" "$s" | tee "$dir/h2.row"
[ "$fail" = 0 ] || echo "  (counted $fail failures)"

echo
awk '{print $NF}' "$dir/h2.row" "$dir/h3.row" | paste -sd' ' |
  awk '{ printf "HTTP/3 / HTTP/2 over TLS, requests per loader CPU-second: %.2fx (target >= 0.5x)\n", $2 / $1 }'

if [ "${PERF:-0}" = 1 ] && command -v perf >/dev/null; then
  echo
  echo "perf (cpu-clock, HTTP/3 run), top symbols by self time:"
  perf record -q -e cpu-clock -g -o "$dir/perf.data" taskset -c 1 "$BIN" -q run "$dir/h3.json" \
    >/dev/null 2>&1
  perf report -i "$dir/perf.data" --no-children --sort dso,symbol --percent-limit 1.5 --stdio \
    2>/dev/null | grep -E '^ +[0-9]' | head -30
  echo "by library:"
  perf report -i "$dir/perf.data" --no-children --sort dso --stdio 2>/dev/null |
    grep -E '^ +[0-9]' | head -12
fi

# --- memory per connected idle user: every user makes one request, then waits.
TEST_TIME=${MEM_TIME:-8} SPAWN_RATE=${MEM_SPAWN_RATE:-250} MAX_STREAMS=1 \
  ld_doc http3_user "https://127.0.0.1:$h3_port/hello" 1 60 >"$dir/m1.json"
TEST_TIME=${MEM_TIME:-8} SPAWN_RATE=${MEM_SPAWN_RATE:-250} MAX_STREAMS=1 \
  ld_doc http3_user "https://127.0.0.1:$h3_port/hello" "$MEM_USERS" 60 >"$dir/mbig.json"
read -r e u s base_kib < <(measure taskset -c 1 "$BIN" -q run "$dir/m1.json")
read -r e u s big_kib < <(measure taskset -c 1 "$BIN" -q run "$dir/mbig.json")
read -r req fail < <(totals)
echo
awk -v b="$base_kib" -v p="$big_kib" -v n="$MEM_USERS" 'BEGIN {
  printf "HTTP/3 memory, %d connected idle users: peak RSS %d KiB, 1 user %d KiB, %.1f KiB per user\n", n, p, b, (p - b) / n }'
echo "  ($req requests, $fail failures)"
