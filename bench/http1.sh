#!/usr/bin/env bash
# HTTP/1.1 generator cost, side by side in one run (a benchmark, not a test):
#   nginx (1 worker, CPU 0, 13-byte body) vs loaddensity (1 worker thread), wrk (1 thread) and,
#   when installed, Locust FastHttpUser -- each loader pinned to CPU 1, 50 connections.
# Prints requests/s, loader CPU seconds and requests per loader CPU-second, then peak RSS per
# connected user with 5,000 users (loaddensity and wrk).
#   bench/http1.sh [seconds=15] [binary=build/release/loaddensity]
# Switches (environment): LD_ONLY=1 runs the plain loaddensity row only; LD_EXPORTERS=1 runs
# loaddensity with every live exporter on (Prometheus scraped every second, InfluxDB UDP,
# OTLP/HTTP, DogStatsD; receivers from bench/exporter_sink.py on CPU 0). bench/
# http1_exporters.sh compares the two.
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION=${1:-15}
BIN=$(realpath "${2:-build/release/loaddensity}")
CONNS=50
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
dir=$(mktemp -d /tmp/ld-bench.XXXXXX)
port=$(/usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
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
  client_body_temp_path $dir/body;
  server { listen 127.0.0.1:$port backlog=8192;
           location / { default_type text/plain; return 200 "hello, world\n"; } }
}
CONF
taskset -c 0 nginx -c "$dir/nginx.conf" -e "$dir/error.log"
sink_pid=
trap 'kill $(cat "$dir/nginx.pid") $sink_pid 2>/dev/null; rm -rf "$dir"' EXIT
EXPORTERS=
if [ "${LD_EXPORTERS:-0}" = 1 ]; then
  taskset -c 0 /usr/bin/python3 bench/exporter_sink.py >"$dir/sink.env" &
  sink_pid=$!
  until [ -s "$dir/sink.env" ]; do sleep 0.1; done
  eval "$(head -1 "$dir/sink.env")"
  EXPORTERS="[\"LD_start_prometheus_exporter\", {\"port\": $PROM_PORT}],
 [\"LD_start_influxdb_sink\", {\"port\": $INFLUX_PORT}],
 [\"LD_start_opentelemetry_exporter\", {\"endpoint\": \"http://127.0.0.1:$OTLP_PORT\", \"export_interval_ms\": 1000}],
 [\"LD_start_statsd_sink\", {\"port\": $STATSD_PORT}],"
fi
sleep 0.3
URL="http://127.0.0.1:$port/"

# time(1) prints: elapsed user sys maxrss_kib
measure() { /usr/bin/time -f "%e %U %S %M" -o "$dir/time" "$@" >"$dir/out" 2>"$dir/err"; cat "$dir/time"; }

row() {  # name requests elapsed user sys
  awk -v n="$1" -v r="$2" -v e="$3" -v u="$4" -v s="$5" 'BEGIN {
    cpu = u + s; printf "%-26s %10.0f %9.0f %8.2f %14.0f\n", n, r, r / e, cpu, (cpu > 0 ? r / cpu : 0) }'
}

printf "%-26s %10s %9s %8s %14s\n" "loader (CPU 1)" "requests" "req/s" "cpu s" "req/cpu-s"

# --- wrk
if [ "${LD_ONLY:-0}" != 1 ]; then
read -r e u s m < <(measure taskset -c 1 wrk -t1 -c$CONNS -d${DURATION}s "$URL")
wrk_req=$(awk '/requests in/ {print $1}' "$dir/out")
row "wrk -t1 -c$CONNS" "$wrk_req" "$e" "$u" "$s" | tee "$dir/wrk.row"
fi

# --- loaddensity
ld_doc() {  # users seconds [url]
  cat <<JSON
[$EXPORTERS ["LD_start_test", {"user_detail_dict": {"user": "fast_http_user"}, "user_count": $1,
  "spawn_rate": 1000000, "test_time": $2, "threads": 1,
  "tasks": [{"method": "get", "request_url": "${3:-$URL}", "name": "hello"}]}],
 ["LD_generate_summary_report", {"report_name": "$dir/ld-summary"}]]
JSON
}
ld_doc $CONNS "$DURATION" >"$dir/ld.json"
read -r e u s m < <(measure taskset -c 1 "$BIN" -q run "$dir/ld.json")
ld_req=$(/usr/bin/python3 -c "import json; print(json.load(open('$dir/ld-summary.json'))['totals']['requests'])")
ld_fail=$(/usr/bin/python3 -c "import json; print(json.load(open('$dir/ld-summary.json'))['totals']['failures'])")
row "loaddensity (1 thread)${EXPORTERS:+, exporters}" "$ld_req" "$e" "$u" "$s" | tee "$dir/ld.row"
[ "$ld_fail" = 0 ] || echo "  (loaddensity counted $ld_fail failures)"
[ "${LD_ONLY:-0}" = 1 ] && exit 0

# --- loaddensity with per-request placeholders (the request is rendered for every send)
ld_doc $CONNS "$DURATION" "${URL}?id=\${randint(1,1000000)}&u=\${uuid()}" >"$dir/ld-dyn.json"
read -r e u s m < <(measure taskset -c 1 "$BIN" -q run "$dir/ld-dyn.json")
ld_req=$(/usr/bin/python3 -c "import json; print(json.load(open('$dir/ld-summary.json'))['totals']['requests'])")
row "loaddensity, placeholders" "$ld_req" "$e" "$u" "$s" | tee "$dir/ld-dyn.row"

# --- Locust FastHttpUser, if Debian's python3-locust is installed
if /usr/bin/python3 -c 'import locust' 2>/dev/null; then
  cat >"$dir/locustfile.py" <<PY
from locust import FastHttpUser, task, constant
class U(FastHttpUser):
    wait_time = constant(0)
    @task
    def hello(self):
        self.client.get("/")
PY
  read -r e u s m < <(measure taskset -c 1 /usr/bin/python3 -m locust -f "$dir/locustfile.py" \
    --headless -u $CONNS -r 1000 -t ${DURATION}s -H "http://127.0.0.1:$port" --csv "$dir/locust" --only-summary)
  lc_req=$(awk -F, '$2=="Aggregated" {print $3}' "$dir/locust_stats.csv")
  row "locust FastHttpUser" "$lc_req" "$e" "$u" "$s" | tee "$dir/locust.row"
else
  echo "locust FastHttpUser         (python3-locust not installed: skipped)"
fi

awk '{print $NF}' "$dir/wrk.row" "$dir/ld.row" | paste -sd' ' | awk '{ printf "\nloaddensity / wrk, requests per loader CPU-second: %.2fx (target >= 0.70x)\n", $2 / $1 }'
if [ -f "$dir/locust.row" ]; then
  awk '{print $NF}' "$dir/ld.row" "$dir/locust.row" | paste -sd' ' | awk '{ printf "loaddensity / locust: %.1fx (target >= 10x)\n", $1 / $2 }'
fi

# --- memory per connected user: peak RSS with 5,000 users minus a 1-user baseline
USERS=5000
ld_doc 1 3 >"$dir/ld1.json"
read -r e u s base_kib < <(measure taskset -c 1 "$BIN" -q run "$dir/ld1.json")
ld_doc $USERS 5 >"$dir/ld5k.json"
read -r e u s big_kib < <(measure taskset -c 1 "$BIN" -q run "$dir/ld5k.json")
n=$(/usr/bin/python3 -c "import json; print(json.load(open('$dir/ld-summary.json'))['totals']['failures'])")
read -r e u s wrk1 < <(measure taskset -c 1 wrk -t1 -c1 -d2s "$URL")
read -r e u s wrk5k < <(measure taskset -c 1 wrk -t1 -c$USERS -d3s "$URL")
echo
printf "%-26s %12s %12s %14s\n" "memory, $USERS users" "peak RSS KiB" "1-user KiB" "KiB per user"
awk -v b="$base_kib" -v p="$big_kib" -v n="$USERS" 'BEGIN { printf "%-26s %12d %12d %14.2f\n", "loaddensity", p, b, (p - b) / n }'
awk -v b="$wrk1" -v p="$wrk5k" -v n="$USERS" 'BEGIN { printf "%-26s %12d %12d %14.2f\n", "wrk", p, b, (p - b) / n }'
[ "$n" = 0 ] || echo "  (loaddensity counted $n failures with $USERS users)"
