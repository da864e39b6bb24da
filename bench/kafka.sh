#!/usr/bin/env bash
# kafka_user producer cost, side by side in one run (a benchmark, not a test):
#   librdkafka's mock cluster (`loaddensity target --kafka`, CPU 0) vs loaddensity (1 worker
#   thread, USERS users (default 500) each producing and waiting for its delivery report) and kcat -P fed the
#   same number of 100-byte lines, each loader pinned to CPU 1, same librdkafka defaults
#   (linger.ms 5). loaddensity runs a fixed time, kcat a fixed count; both are compared by
#   delivered messages per loader CPU-second (user + sys).
#   bench/kafka.sh [seconds=10] [binary=build/release/loaddensity]
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION=${1:-10}
BIN=$(realpath "${2:-build/release/loaddensity}")
USERS=${USERS:-500}
dir=$(mktemp -d /tmp/ld-bench.XXXXXX)
taskset -c 0 "$BIN" target --kafka >"$dir/target.out" 2>/dev/null &
target_pid=$!
trap 'kill $target_pid 2>/dev/null; wait $target_pid 2>/dev/null; rm -rf "$dir"' EXIT
for _ in $(seq 100); do grep -q 'kafka ' "$dir/target.out" 2>/dev/null && break; sleep 0.1; done
addr=$(grep -o 'kafka [0-9.:]*' "$dir/target.out" | cut -d' ' -f2)
[ -n "$addr" ] || { echo "the target printed no kafka address" >&2; exit 1; }

# time(1) prints: elapsed user sys maxrss_kib
measure() { /usr/bin/time -f "%e %U %S %M" -o "$dir/time" "$@" >"$dir/out" 2>"$dir/err"; cat "$dir/time"; }

row() {  # name msgs elapsed user sys
  awk -v n="$1" -v r="$2" -v e="$3" -v u="$4" -v s="$5" 'BEGIN {
    cpu = u + s; printf "%-34s %10.0f %9.0f %8.2f %14.0f\n", n, r, r / e, cpu, (cpu > 0 ? r / cpu : 0) }'
}

value=$(head -c 100 /dev/zero | tr '\0' x)
ld_doc() {  # users topic test_time
  cat <<JSON
[["LD_start_test", {"user_detail_dict": {"user": "kafka_user"}, "user_count": $1,
  "spawn_rate": 1000000, "test_time": $3, "threads": 1, "bootstrap_servers": "$addr",
  "tasks": [{"method": "produce", "topic": "$2", "value": "$value", "name": "produce"}]}],
 ["LD_generate_summary_report", {"report_name": "$dir/ld-summary"}]]
JSON
}
summary() { /usr/bin/python3 -c "import json; print(json.load(open('$dir/ld-summary.json'))['totals']['$1'])"; }

printf "%-34s %10s %9s %8s %14s\n" "loader (CPU 1)" "messages" "msg/s" "cpu s" "msg/cpu-s"
ld_doc $USERS ld-bench "$DURATION" >"$dir/ld.json"
read -r e u s m < <(measure taskset -c 1 "$BIN" -q run "$dir/ld.json")
ok=$(summary successes)
fails=$(summary failures)
row "loaddensity produce, $USERS users" "$ok" "$e" "$u" "$s" | tee "$dir/ld.row"
[ "$fails" = 0 ] || echo "  (loaddensity counted $fails failures)"
# kcat: the same number of messages, as fast as it can deliver them.
awk -v n="$ok" -v v="$value" 'BEGIN { for (i = 0; i < n; i++) print v }' >"$dir/lines"
read -r e u s m < <(measure taskset -c 1 kcat -P -b "$addr" -t kcat-bench -l "$dir/lines")
row "kcat -P, same messages" "$ok" "$e" "$u" "$s" | tee "$dir/kcat.row"
# Delivered = the partitions' end offsets (the mock cluster keeps a bounded log, so reading
# the messages back would undercount).
got=0
for p in 0 1 2 3; do
  o=$(kcat -C -b "$addr" -t kcat-bench -p $p -o -1 -c 1 -q -f '%o\n' 2>/dev/null || echo -1)
  got=$((got + o + 1))
done
[ "$got" = "$ok" ] || echo "  (kcat delivered $got of $ok)"
echo
awk '{print $NF}' "$dir/kcat.row" "$dir/ld.row" | paste -sd' ' |
  awk '{ printf "loaddensity / kcat, delivered messages per loader CPU-second: %.2fx\n", $2 / $1 }'

# --- memory per idle user: peak RSS with 2,000 users (one produce a second each) minus a
# 1-user baseline.
MUSERS=2000
mem_doc() {
  cat <<JSON
[["LD_start_test", {"user_detail_dict": {"user": "kafka_user", "wait_time": 1}, "user_count": $1,
  "spawn_rate": 1000000, "test_time": 4, "threads": 1, "bootstrap_servers": "$addr",
  "tasks": [{"method": "produce", "topic": "ld-mem", "value": "x"}]}],
 ["LD_generate_summary_report", {"report_name": "$dir/ld-summary"}]]
JSON
}
mem_doc 1 >"$dir/m1.json"
read -r e u s base_kib < <(measure taskset -c 1 "$BIN" -q run "$dir/m1.json")
mem_doc $MUSERS >"$dir/mbig.json"
read -r e u s big_kib < <(measure taskset -c 1 "$BIN" -q run "$dir/mbig.json")
n=$(summary failures)
echo
awk -v b="$base_kib" -v p="$big_kib" -v n="$MUSERS" 'BEGIN {
  printf "memory, %d users: peak RSS %d KiB, 1 user %d KiB, %.2f KiB per user\n", n, p, b, (p - b) / n }'
[ "$n" = 0 ] || echo "  (loaddensity counted $n failures with $MUSERS users)"
