#!/usr/bin/env bash
# HTTPS generator cost, side by side (a benchmark, not a test):
#   nginx TLS (1 worker, CPU 0, ECDSA P-256 certificate, TLS 1.3, 13-byte body) vs wrk (1 thread)
#   and loaddensity (1 worker thread) on its epoll path (Asio's TLS stream) and its io_uring path
#   (OpenSSL over the ring's bytes) -- each loader pinned to CPU 1, 50 keep-alive connections,
#   ROUNDS alternating rounds (the loaders' order rotates each round), the median of each.
# Then memory per connected idle TLS user: USERS users (default 1,000) each make one request
# (handshake included) and then wait; RSS once they are all idle, minus a 1-user run.
#   bench/https.sh [seconds=15] [binary=build/release/loaddensity]
# Switches (environment): ROUNDS (3); USERS (1000); MEMORY=0 skips the memory runs; PERF=1 only
# profiles each loaddensity path instead (perf record -e cpu-clock over a 5 s run).
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION=${1:-15}
BIN=$(realpath "${2:-build/release/loaddensity}")
CONNS=50
ROUNDS=${ROUNDS:-3}
USERS=${USERS:-1000}
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
dir=$(mktemp -d /tmp/ld-bench-https.XXXXXX)
port=$(/usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj "/CN=127.0.0.1" \
  -addext "subjectAltName=IP:127.0.0.1" -keyout "$dir/key.pem" -out "$dir/cert.pem" 2>/dev/null
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
  keepalive_timeout 300s;
  client_body_temp_path $dir/body;
  server { listen 127.0.0.1:$port ssl backlog=8192;
           ssl_certificate $dir/cert.pem; ssl_certificate_key $dir/key.pem;
           ssl_protocols TLSv1.2 TLSv1.3;
           location / { default_type text/plain; return 200 "hello, world\n"; } }
}
CONF
taskset -c 0 nginx -c "$dir/nginx.conf" -e "$dir/error.log"
trap 'kill $(cat "$dir/nginx.pid") 2>/dev/null; rm -rf "$dir"' EXIT
sleep 0.3
URL="https://127.0.0.1:$port/"

row() {  # name requests elapsed user sys
  awk -v n="$1" -v r="$2" -v e="$3" -v u="$4" -v s="$5" 'BEGIN {
    cpu = u + s; printf "%-26s %10.0f %9.0f %8.2f %14.0f\n", n, r, r / e, cpu, (cpu > 0 ? r / cpu : 0) }'
}

ld_doc() {  # users seconds io_backend [think_time]
  cat <<JSON
[["LD_start_test", {"user_detail_dict": {"user": "fast_http_user"}, "user_count": $1,
  "spawn_rate": 1000000, "test_time": $2, "threads": 1, "io_backend": "$3",
  "tasks": [{"method": "get", "request_url": "$URL", "name": "hello", "verify": "$dir/cert.pem",
             "think_time": ${4:-0}}]}],
 ["LD_generate_summary_report", {"report_name": "$dir/ld-summary"}]]
JSON
}
ld_total() { /usr/bin/python3 -c "import json; print(json.load(open('$dir/ld-summary.json'))['totals']['$1'])"; }

run_wrk() { $1 wrk -t1 -c$CONNS -d${2}s "$URL" >"$dir/out" 2>&1; awk '/requests in/ {print $1}' "$dir/out"; }
run_ld() {  # prefix seconds backend
  ld_doc $CONNS "$2" "$3" >"$dir/ld.json"
  $1 "$BIN" -q run "$dir/ld.json" >"$dir/out" 2>&1
  ld_total requests
}

timed() {  # id name function argument
  local req e u s m
  req=$($3 "/usr/bin/time -f %e,%U,%S,%M -o $dir/time taskset -c 1" "$DURATION" "$4")
  IFS=, read -r e u s m <"$dir/time"
  row "$2" "${req:-0}" "$e" "$u" "$s" | tee /dev/stderr | awk '{print $NF}' >>"$dir/rpc.$1"
  if [[ $1 != wrk ]]; then
    local f
    f=$(ld_total failures)
    [ "$f" = 0 ] || echo "  (loaddensity counted $f failures)" >&2
  fi
}

if [ "${PERF:-0}" = 1 ]; then
  echo "profile (perf record -e cpu-clock, 5 s runs): share by object, then the top symbols"
  for backend in epoll io_uring; do
    run_ld "perf record -q -e cpu-clock -o $dir/perf.$backend taskset -c 1" 5 $backend >/dev/null
    echo "  loaddensity $backend"
    perf report -i "$dir/perf.$backend" --no-children --sort dso --stdio 2>/dev/null |
      awk '/^ +[0-9]/ && n++ < 6 {printf "    %s %s\n", $1, $2}'
    perf report -i "$dir/perf.$backend" --no-children --sort sym --stdio 2>/dev/null |
      awk '/^ +[0-9]/ && n++ < 20 {printf "      %s %s\n", $1, $NF}'
  done
  exit 0
fi

LOADERS=(wrk epoll io_uring)
declare -A NAME=([wrk]="wrk -t1 -c$CONNS (https)" [epoll]="loaddensity epoll" [io_uring]="loaddensity io_uring")
declare -A FN=([wrk]=run_wrk [epoll]=run_ld [io_uring]=run_ld)
declare -A ARG=([wrk]="" [epoll]=epoll [io_uring]=io_uring)
for ((r = 0; r < ROUNDS; r++)); do
  echo "round $((r + 1)) (load average $(cut -d' ' -f1 /proc/loadavg))"
  printf "%-26s %10s %9s %8s %14s\n" "loader (CPU 1)" "requests" "req/s" "cpu s" "req/cpu-s"
  for ((k = 0; k < ${#LOADERS[@]}; k++)); do
    id=${LOADERS[$(((k + r) % ${#LOADERS[@]}))]}
    timed "$id" "${NAME[$id]}" "${FN[$id]}" "${ARG[$id]}" 2>&1 >/dev/null
  done
done

echo
echo "median requests per loader CPU-second over $ROUNDS rounds:"
/usr/bin/python3 - "$dir" "${LOADERS[@]}" <<'PY'
import statistics, sys
d, ids = sys.argv[1], sys.argv[2:]
med = {i: statistics.median(float(x) for x in open(f"{d}/rpc.{i}")) for i in ids}
for i in ids:
    print(f"  {i:<10} {med[i]:>10.0f}")
def ratio(a, b):
    print(f"  {a} / {b}: {med[a] / med[b]:.2f}x")
ratio("io_uring", "epoll")
ratio("io_uring", "wrk")
ratio("epoll", "wrk")
PY

# --- memory per connected idle TLS user: RSS once every user has made its request and waits
[ "${MEMORY:-1}" = 1 ] || exit 0
idle_rss() {  # users backend -> KiB of resident memory 6 s into a 10 s run
  ld_doc "$1" 10 "$2" 60 >"$dir/idle.json"
  taskset -c 1 "$BIN" -q run "$dir/idle.json" >"$dir/out" 2>&1 &
  local pid=$!
  sleep 6
  awk '/^VmRSS/ {print $2}' "/proc/$pid/status"
  wait "$pid"
}
echo
printf "%-26s %12s %12s %14s\n" "idle TLS users: $USERS" "RSS KiB" "1-user KiB" "KiB per user"
for backend in epoll io_uring; do
  base=$(idle_rss 1 $backend)
  big=$(idle_rss "$USERS" $backend)
  n=$(ld_total requests)
  awk -v b="$base" -v p="$big" -v n="$USERS" -v name="loaddensity $backend" \
    'BEGIN { printf "%-26s %12d %12d %14.2f\n", name, p, b, (p - b) / (n - 1) }'
  [ "$n" = "$USERS" ] || echo "  ($n requests: not every user connected)"
done
