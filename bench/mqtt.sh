#!/usr/bin/env bash
# mqtt_user generator cost (a benchmark, not a test):
#   mosquitto (CPU 0, no persistence) vs loaddensity (1 worker thread) and 50 mosquitto_pub
#   processes (libmosquitto, --repeat), each loader pinned
#   to CPU 1 with the same 50 connections, publishing to a topic nobody reads at QoS 0 and
#   QoS 1. mosquitto_pub runs a fixed count, loaddensity a fixed time; both are compared by
#   messages per loader CPU-second (user + sys, children included).
#   Then memory per connected idle user: peak RSS with USERS users (one QoS 0 publish a second
#   each) minus a 1-user baseline.
#   bench/mqtt.sh [seconds=10] [binary=build/release/loaddensity] [users=3000]
#   MEM_SPAWN_RATE (users/s, default: all at once) and MEM_TIME (s, default 6) shape the
#   memory run, e.g. MEM_SPAWN_RATE=1000 MEM_TIME=20 for 10,000 users.
#   BASELINE=path/to/another/loaddensity runs every loaddensity row with that binary too, in
#   the same run (before/after comparisons on a noisy machine).
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION=${1:-10}
BIN=$(realpath "${2:-build/release/loaddensity}")
BINS=("$BIN")
[ -n "${BASELINE:-}" ] && BINS+=("$(realpath "$BASELINE")")
USERS=${3:-3000}
CONNS=50
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
dir=$(mktemp -d /tmp/ld-bench.XXXXXX)
port=$(/usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
cat >"$dir/mosquitto.conf" <<CONF
listener $port 127.0.0.1
allow_anonymous true
persistence false
max_connections -1
user $(id -un)
CONF
taskset -c 0 mosquitto -c "$dir/mosquitto.conf" >"$dir/mosquitto.log" 2>&1 &
broker=$!
trap 'kill $broker 2>/dev/null; wait $broker 2>/dev/null; rm -rf "$dir"' EXIT
for _ in $(seq 50); do mosquitto_pub -p "$port" -t ping -m x 2>/dev/null && break; sleep 0.1; done

# time(1) prints: elapsed user sys maxrss_kib
measure() { /usr/bin/time -f "%e %U %S %M" -o "$dir/time" "$@" >"$dir/out" 2>"$dir/err"; cat "$dir/time"; }

row() {  # name messages elapsed user sys
  awk -v n="$1" -v r="$2" -v e="$3" -v u="$4" -v s="$5" 'BEGIN {
    cpu = u + s; printf "%-30s %10.0f %9.0f %8.2f %14.0f\n", n, r, r / e, cpu, (cpu > 0 ? r / cpu : 0) }'
}

ld_doc() {  # qos users test_time
  cat <<JSON
[["LD_start_test", {"user_detail_dict": {"user": "mqtt_user"}, "user_count": $2,
  "spawn_rate": 1000000, "test_time": $3, "threads": 1, "host": "mqtt://127.0.0.1:$port",
  "tasks": [{"method": "publish", "topic": "bench/load", "payload": "0123456789abcdef", "qos": $1}]}],
 ["LD_generate_summary_report", {"report_name": "$dir/ld-summary"}]]
JSON
}

# 50 mosquitto_pub processes, each publishing its share.
pubs() {  # qos per_process
  for i in $(seq $CONNS); do
    mosquitto_pub -p "$port" -t bench/load -m 0123456789abcdef -q "$1" --repeat "$2" -i "pub$i" &
  done
  wait
}
export -f pubs
export port CONNS

printf "%-30s %10s %9s %8s %14s\n" "loader (CPU 1)" "messages" "msg/s" "cpu s" "msg/cpu-s"
: >"$dir/ratios"
for q in 0 1; do
  per=$((DURATION * (q == 0 ? 4000 : 1000)))
  read -r e u s m < <(measure taskset -c 1 bash -c "pubs $q $per")
  row "mosquitto_pub x$CONNS qos $q" "$((per * CONNS))" "$e" "$u" "$s" | tee "$dir/peer.row"
  ld_doc "$q" $CONNS "$DURATION" >"$dir/ld.json"
  for b in "${BINS[@]}"; do
    label="loaddensity qos $q"
    [ "$b" = "$BIN" ] || label="baseline qos $q"
    read -r e u s m < <(measure taskset -c 1 "$b" -q run "$dir/ld.json")
    msgs=$(/usr/bin/python3 -c "import json; print(json.load(open('$dir/ld-summary.json'))['per_name']['publish']['requests'])")
    fails=$(/usr/bin/python3 -c "import json; print(json.load(open('$dir/ld-summary.json'))['totals']['failures'])")
    row "$label" "$msgs" "$e" "$u" "$s" | tee "$dir/ld.row"
    [ "$fails" = 0 ] || echo "  ($label counted $fails failures)"
    awk '{print $NF}' "$dir/peer.row" "$dir/ld.row" | paste -sd' ' |
      awk -v q="$q" -v l="${label% qos*}" '{ printf "%s qos %s: %.2fx\n", l, q, $2 / $1 }' >>"$dir/ratios"
  done
done
echo
echo "loaddensity / mosquitto_pub, messages per loader CPU-second:"
cat "$dir/ratios"

mem_doc() {  # users
  cat <<JSON
[["LD_start_test", {"user_detail_dict": {"user": "mqtt_user", "wait_time": 1}, "user_count": $1,
  "spawn_rate": ${MEM_SPAWN_RATE:-1000000}, "test_time": ${MEM_TIME:-6}, "threads": 1,
  "host": "mqtt://127.0.0.1:$port",
  "tasks": [{"method": "publish", "topic": "bench/idle", "payload": "x", "qos": 0}]}],
 ["LD_generate_summary_report", {"report_name": "$dir/ld-summary"}]]
JSON
}
mem_doc 1 >"$dir/m1.json"
mem_doc "$USERS" >"$dir/mbig.json"
for b in "${BINS[@]}"; do
  label=loaddensity
  [ "$b" = "$BIN" ] || label=baseline
  read -r e u s base_kib < <(measure taskset -c 1 "$b" -q run "$dir/m1.json")
  read -r e u s big_kib < <(measure taskset -c 1 "$b" -q run "$dir/mbig.json")
  read -r n c < <(/usr/bin/python3 -c "import json; s=json.load(open('$dir/ld-summary.json')); print(s['totals']['failures'], s['per_name']['connect']['requests'])")
  echo
  awk -v l="$label" -v b="$base_kib" -v p="$big_kib" -v n="$USERS" 'BEGIN {
    printf "%s memory, %d connected users: peak RSS %d KiB, 1 user %d KiB, %.2f KiB per user\n", l, n, p, b, (p - b) / n }'
  echo "  ($c connects, $n failures, user+sys $(awk -v u="$u" -v s="$s" 'BEGIN { print u + s }') s)"
done
