#!/usr/bin/env bash
# HTTP/2 generator cost, side by side in one run (a benchmark, not a test):
#   nginx (1 worker, CPU 0, 13-byte body) over h2c (prior knowledge) and h2 (TLS, ALPN), each
#   loaded by h2load (-t1 -c50 -m10) and by loaddensity (1 worker thread, 50 users,
#   max_streams 10) -- every loader pinned to CPU 1.
# Prints requests/s, loader CPU seconds and requests per loader CPU-second, and the ratio
# loaddensity / h2load per protocol.
#   bench/http2.sh [seconds=15] [binary=build/release/loaddensity]
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION=${1:-15}
BIN=$(realpath "${2:-build/release/loaddensity}")
CONNS=50
STREAMS=10
command -v h2load >/dev/null || { echo "h2load not found (Debian package nghttp2-client)" >&2; exit 1; }
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
dir=$(mktemp -d /tmp/ld-bench-h2.XXXXXX)
free_port() {
  /usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}
h2c_port=$(free_port)
tls_port=$(free_port)
openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=localhost" \
  -keyout "$dir/key.pem" -out "$dir/cert.pem" >/dev/null 2>&1
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
  server { listen 127.0.0.1:$h2c_port http2 backlog=8192;
           location / { default_type text/plain; return 200 "hello, world\n"; } }
  server { listen 127.0.0.1:$tls_port ssl http2 backlog=8192;
           ssl_certificate $dir/cert.pem; ssl_certificate_key $dir/key.pem;
           location / { default_type text/plain; return 200 "hello, world\n"; } }
}
CONF
taskset -c 0 nginx -c "$dir/nginx.conf" -e "$dir/error.log"
trap 'kill $(cat "$dir/nginx.pid") 2>/dev/null; rm -rf "$dir"' EXIT
sleep 0.3

# time(1) prints: elapsed user sys maxrss_kib
measure() { /usr/bin/time -f "%e %U %S %M" -o "$dir/time" "$@" >"$dir/out" 2>"$dir/err"; cat "$dir/time"; }

row() {  # name requests elapsed user sys
  awk -v n="$1" -v r="$2" -v e="$3" -v u="$4" -v s="$5" 'BEGIN {
    cpu = u + s; printf "%-34s %10.0f %9.0f %8.2f %14.0f\n", n, r, r / e, cpu, (cpu > 0 ? r / cpu : 0) }'
}

ld_doc() {  # url
  cat <<JSON
[["LD_start_test", {"user_detail_dict": {"user": "async_http_user"}, "user_count": $CONNS,
  "spawn_rate": 1000000, "test_time": $DURATION, "threads": 1, "max_streams": $STREAMS,
  "tasks": [{"method": "get", "request_url": "$1", "name": "hello", "verify": false}]}],
 ["LD_generate_summary_report", {"report_name": "$dir/ld-summary"}]]
JSON
}

printf "%-34s %10s %9s %8s %14s\n" "loader (CPU 1)" "requests" "req/s" "cpu s" "req/cpu-s"
for proto in h2c h2; do
  if [ "$proto" = h2c ]; then url="http://127.0.0.1:$h2c_port/"; else url="https://127.0.0.1:$tls_port/"; fi

  # --- h2load (h2c with prior knowledge for http URLs, ALPN h2 for https)
  read -r e u s m < <(measure taskset -c 1 h2load -t1 -c$CONNS -m$STREAMS -D "$DURATION" "$url")
  h2_req=$(awk '/^requests:/ {print $8}' "$dir/out")
  row "h2load -c$CONNS -m$STREAMS ($proto)" "$h2_req" "$e" "$u" "$s" | tee "$dir/h2load-$proto.row"

  # --- loaddensity
  ld_doc "$url" >"$dir/ld.json"
  read -r e u s m < <(measure taskset -c 1 "$BIN" -q run "$dir/ld.json")
  ld_req=$(/usr/bin/python3 -c "import json; print(json.load(open('$dir/ld-summary.json'))['totals']['requests'])")
  ld_fail=$(/usr/bin/python3 -c "import json; print(json.load(open('$dir/ld-summary.json'))['totals']['failures'])")
  row "loaddensity 1 thread ($proto)" "$ld_req" "$e" "$u" "$s" | tee "$dir/ld-$proto.row"
  [ "$ld_fail" = 0 ] || echo "  (loaddensity counted $ld_fail failures)"
done

echo
for proto in h2c h2; do
  awk '{print $NF}' "$dir/h2load-$proto.row" "$dir/ld-$proto.row" | paste -sd' ' |
    awk -v p="$proto" '{ printf "loaddensity / h2load (%s), requests per loader CPU-second: %.2fx (target >= 1.0x)\n", p, $2 / $1 }'
done
