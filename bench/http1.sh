#!/usr/bin/env bash
# HTTP/1.1 generator cost, side by side (a benchmark, not a test):
#   nginx (1 worker, CPU 0, 13-byte body) vs wrk (1 thread), loaddensity (1 worker thread) on its
#   epoll and io_uring paths, h2load --h1 (1 thread) and, when installed, Locust FastHttpUser --
#   each loader pinned to CPU 1, 50 connections, ROUNDS alternating rounds (the loaders' order
#   rotates each round) and the median of each loader.
# Prints requests/s, loader CPU seconds and requests per loader CPU-second per run, the medians
# and their ratios; then system calls per request (strace -c -f on a short run of each loader)
# and peak RSS per connected user with 5,000 users (loaddensity on both paths, and wrk).
#   bench/http1.sh [seconds=15] [binary=build/release/loaddensity]
# Switches (environment): ROUNDS (3); SYSCALLS=0 skips the strace runs; PERF=1 adds a perf
# profile of each loader; MEMORY=0 skips the 5,000-user runs. LD_ONLY=1 runs one plain loaddensity row only (on LD_IO_BACKEND, default
# epoll); LD_EXPORTERS=1 runs loaddensity with every live exporter on (Prometheus scraped every
# second, InfluxDB UDP, OTLP/HTTP, DogStatsD; receivers from bench/exporter_sink.py on CPU 0).
# bench/http1_exporters.sh compares the two.
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION=${1:-15}
BIN=$(realpath "${2:-build/release/loaddensity}")
CONNS=50
ROUNDS=${ROUNDS:-3}
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

ld_doc() {  # users seconds [url] [io_backend]
  cat <<JSON
[$EXPORTERS ["LD_start_test", {"user_detail_dict": {"user": "fast_http_user"}, "user_count": $1,
  "spawn_rate": 1000000, "test_time": $2, "threads": 1, "io_backend": "${4:-epoll}",
  "tasks": [{"method": "get", "request_url": "${3:-$URL}", "name": "hello"}]}],
 ["LD_generate_summary_report", {"report_name": "$dir/ld-summary"}]]
JSON
}
ld_total() { /usr/bin/python3 -c "import json; print(json.load(open('$dir/ld-summary.json'))['totals']['$1'])"; }

# Each loader: prefix (to wrap the command: taskset, strace) seconds -> its request count.
run_wrk() { $1 wrk -t1 -c$CONNS -d${2}s "$URL" >"$dir/out" 2>&1; awk '/requests in/ {print $1}' "$dir/out"; }
run_h2load() {
  $1 h2load --h1 -t1 -c$CONNS -D "$2" "$URL" >"$dir/out" 2>&1
  awk '/^requests:/ {print $8}' "$dir/out"
}
run_ld() {  # prefix seconds backend
  ld_doc $CONNS "$2" "$URL" "$3" >"$dir/ld.json"
  $1 "$BIN" -q run "$dir/ld.json" >"$dir/out" 2>&1
  ld_total requests
}

# One timed row of loader `id` (wrk, epoll, io_uring, h2load); its req/cpu-s goes to $dir/rpc.<id>.
timed() {  # id name function argument
  local req e u s m
  req=$($3 "/usr/bin/time -f %e,%U,%S,%M -o $dir/time taskset -c 1" "$DURATION" "$4")
  IFS=, read -r e u s m <"$dir/time"
  row "$2" "${req:-0}" "$e" "$u" "$s" | tee /dev/stderr | awk '{print $NF}' >>"$dir/rpc.$1"
  if [[ $1 != wrk && $1 != h2load ]]; then
    local f
    f=$(ld_total failures)
    [ "$f" = 0 ] || echo "  (loaddensity counted $f failures)" >&2
  fi
}

if [ "${LD_ONLY:-0}" = 1 ]; then
  printf "%-26s %10s %9s %8s %14s\n" "loader (CPU 1)" "requests" "req/s" "cpu s" "req/cpu-s"
  timed ld "loaddensity (1 thread)${EXPORTERS:+, exporters}" run_ld "${LD_IO_BACKEND:-epoll}" 2>&1
  exit 0
fi

LOADERS=(wrk epoll io_uring h2load)
declare -A NAME=([wrk]="wrk -t1 -c$CONNS" [epoll]="loaddensity epoll" [io_uring]="loaddensity io_uring"
                 [h2load]="h2load --h1 -t1 -c$CONNS")
declare -A FN=([wrk]=run_wrk [epoll]=run_ld [io_uring]=run_ld [h2load]=run_h2load)
declare -A ARG=([wrk]="" [epoll]=epoll [io_uring]=io_uring [h2load]="")
for ((r = 0; r < ROUNDS; r++)); do
  echo "round $((r + 1)) (load average $(cut -d' ' -f1 /proc/loadavg))"
  printf "%-26s %10s %9s %8s %14s\n" "loader (CPU 1)" "requests" "req/s" "cpu s" "req/cpu-s"
  for ((k = 0; k < ${#LOADERS[@]}; k++)); do
    id=${LOADERS[$(((k + r) % ${#LOADERS[@]}))]}
    timed "$id" "${NAME[$id]}" "${FN[$id]}" "${ARG[$id]}" 2>&1 >/dev/null
  done
done

# --- loaddensity with per-request placeholders (the request is rendered for every send)
echo
ld_doc $CONNS "$DURATION" "${URL}?id=\${randint(1,1000000)}&u=\${uuid()}" >"$dir/ld-dyn.json"
read -r e u s m < <(measure taskset -c 1 "$BIN" -q run "$dir/ld-dyn.json")
row "loaddensity, placeholders" "$(ld_total requests)" "$e" "$u" "$s"

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
  row "locust FastHttpUser" "$lc_req" "$e" "$u" "$s"
else
  echo "locust FastHttpUser         (python3-locust not installed: skipped)"
fi

echo
echo "median requests per loader CPU-second over $ROUNDS rounds:"
/usr/bin/python3 - "$dir" "${LOADERS[@]}" <<'PY'
import statistics, sys
d, ids = sys.argv[1], sys.argv[2:]
med = {i: statistics.median(float(x) for x in open(f"{d}/rpc.{i}")) for i in ids}
for i in ids:
    print(f"  {i:<10} {med[i]:>10.0f}")
def ratio(a, b, note=""):
    print(f"  {a} / {b}: {med[a] / med[b]:.2f}x{note}")
ratio("io_uring", "wrk", " (target >= 1.5x)")
ratio("epoll", "wrk")
ratio("io_uring", "epoll")
ratio("io_uring", "h2load")
ratio("epoll", "h2load")
PY

# --- system calls per request: strace -c -f over a short run of each loader
if [ "${SYSCALLS:-1}" = 1 ]; then
  echo
  echo "system calls per request (strace -c -f, 3 s runs; strace slows every loader):"
  for id in "${LOADERS[@]}"; do
    req=$(${FN[$id]} "strace -c -f -o $dir/strace.$id taskset -c 1" 3 "${ARG[$id]}")
    calls=$(awk '$NF == "total" {print $4}' "$dir/strace.$id")
    top=$(awk 'NR > 2 && $1 !~ /^-/ && $NF != "total" {print $NF "=" $4}' "$dir/strace.$id" |
      sort -t= -k2 -nr | head -4 | paste -sd' ')
    awk -v n="${NAME[$id]}" -v c="$calls" -v r="$req" -v t="$top" \
      'BEGIN { printf "  %-24s %6.2f  (%d requests; %s)\n", n, c / r, r, t }'
  done
fi

# --- where the time goes: perf record -e cpu-clock over a 5 s run of each loader (PERF=1)
if [ "${PERF:-0}" = 1 ]; then
  echo
  echo "profile (perf record -e cpu-clock, 5 s runs): share by object, then the top symbols"
  for id in "${LOADERS[@]}"; do
    ${FN[$id]} "perf record -q -e cpu-clock -o $dir/perf.$id taskset -c 1" 5 "${ARG[$id]}" >/dev/null
    echo "  ${NAME[$id]}"
    perf report -i "$dir/perf.$id" --no-children --sort dso --stdio 2>/dev/null |
      awk '/^ +[0-9]/ && n++ < 3 {printf "    %s %s\n", $1, $2}'
    perf report -i "$dir/perf.$id" --no-children --sort sym --stdio 2>/dev/null |
      awk '/^ +[0-9]/ && n++ < 15 {printf "      %s %s\n", $1, $NF}'
  done
fi

# --- memory per connected user: peak RSS with 5,000 users minus a 1-user baseline
[ "${MEMORY:-1}" = 1 ] || exit 0
USERS=5000
echo
printf "%-26s %12s %12s %14s\n" "memory, $USERS users" "peak RSS KiB" "1-user KiB" "KiB per user"
for backend in epoll io_uring; do
  ld_doc 1 3 "$URL" $backend >"$dir/ld1.json"
  read -r e u s base_kib < <(measure taskset -c 1 "$BIN" -q run "$dir/ld1.json")
  ld_doc $USERS 5 "$URL" $backend >"$dir/ld5k.json"
  read -r e u s big_kib < <(measure taskset -c 1 "$BIN" -q run "$dir/ld5k.json")
  n=$(ld_total failures)
  awk -v b="$base_kib" -v p="$big_kib" -v n="$USERS" -v name="loaddensity $backend" \
    'BEGIN { printf "%-26s %12d %12d %14.2f\n", name, p, b, (p - b) / n }'
  [ "$n" = 0 ] || echo "  (loaddensity $backend counted $n failures with $USERS users)"
done
read -r e u s wrk1 < <(measure taskset -c 1 wrk -t1 -c1 -d2s "$URL")
read -r e u s wrk5k < <(measure taskset -c 1 wrk -t1 -c$USERS -d3s "$URL")
awk -v b="$wrk1" -v p="$wrk5k" -v n="$USERS" 'BEGIN { printf "%-26s %12d %12d %14.2f\n", "wrk", p, b, (p - b) / n }'
