#!/usr/bin/env bash
# mongo_user find_one cost, side by side in one run (a benchmark, not a test):
#   the embedded target's MongoDB responder (`loaddensity target`, CPU 0) vs loaddensity (1 worker
#   thread, USERS users (default 50) each running find_one on a 100-document collection) and a
#   python3-pymongo loop doing the same find_one for the same number of operations, each loader
#   pinned to CPU 1; compared by operations per loader CPU-second (user + sys). Then peak RSS
#   per idle connected user: MUSERS users (default 1,000) each doing one find_one per second.
#   bench/mongo.sh [seconds=10] [binary=build/release/loaddensity]
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION=${1:-10}
BIN=$(realpath "${2:-build/release/loaddensity}")
USERS=${USERS:-50}
MUSERS=${MUSERS:-1000}
dir=$(mktemp -d /tmp/ld-bench.XXXXXX)
taskset -c 0 "$BIN" target >"$dir/target.out" 2>/dev/null &
target_pid=$!
trap 'kill $target_pid 2>/dev/null; wait $target_pid 2>/dev/null; rm -rf "$dir"' EXIT
for _ in $(seq 100); do grep -q 'mongo ' "$dir/target.out" 2>/dev/null && break; sleep 0.1; done
url=$(grep -o 'mongo mongodb://[0-9.:]*' "$dir/target.out" | cut -d' ' -f2)
[ -n "$url" ] || { echo "the target printed no mongo URL" >&2; exit 1; }
/usr/bin/python3 - "$url" <<'PY'
import sys, pymongo
c = pymongo.MongoClient(sys.argv[1])["bench"]["docs"]
c.insert_many([{"k": i, "name": f"user {i}", "tags": ["a", "b"]} for i in range(100)])
PY

# time(1) prints: elapsed user sys maxrss_kib
measure() { /usr/bin/time -f "%e %U %S %M" -o "$dir/time" "$@" >"$dir/out" 2>"$dir/err"; cat "$dir/time"; }
row() {  # name ops elapsed user sys
  awk -v n="$1" -v r="$2" -v e="$3" -v u="$4" -v s="$5" 'BEGIN {
    cpu = u + s; printf "%-34s %10.0f %9.0f %8.2f %14.0f\n", n, r, r / e, cpu, (cpu > 0 ? r / cpu : 0) }'
}
ld_doc() {  # users test_time wait
  cat <<JSON
[["LD_start_test", {"user_detail_dict": {"user": "mongo_user"$3}, "user_count": $1,
  "spawn_rate": 1000000, "test_time": $2, "threads": 1, "connection": "$url",
  "tasks": [{"method": "find_one", "database": "bench", "collection": "docs",
             "filter": {"k": 42}, "expect_min": 1, "name": "find_one"}]}],
 ["LD_generate_summary_report", {"report_name": "$dir/ld-summary"}]]
JSON
}
summary() { /usr/bin/python3 -c "import json; print(json.load(open('$dir/ld-summary.json'))['totals']['$1'])"; }

printf "%-34s %10s %9s %8s %14s\n" "loader (CPU 1)" "ops" "ops/s" "cpu s" "ops/cpu-s"
ld_doc $USERS "$DURATION" "" >"$dir/ld.json"
read -r e u s m < <(measure taskset -c 1 "$BIN" -q run "$dir/ld.json")
ok=$(summary successes)
fails=$(summary failures)
row "loaddensity find_one, $USERS users" "$ok" "$e" "$u" "$s" | tee "$dir/ld.row"
[ "$fails" = 0 ] || echo "  (loaddensity counted $fails failures)"
cat >"$dir/loop.py" <<'PY'
import sys, pymongo
c = pymongo.MongoClient(sys.argv[1])["bench"]["docs"]
for _ in range(int(sys.argv[2])):
    assert c.find_one({"k": 42}) is not None
PY
read -r e u s m < <(measure taskset -c 1 /usr/bin/python3 "$dir/loop.py" "$url" "$ok")
row "pymongo loop, same find_ones" "$ok" "$e" "$u" "$s" | tee "$dir/py.row"
echo
awk '{print $NF}' "$dir/py.row" "$dir/ld.row" | paste -sd' ' |
  awk '{ printf "loaddensity / pymongo, find_one per loader CPU-second: %.2fx\n", $2 / $1 }'

# --- memory per idle connected user: peak RSS with MUSERS users (one find_one a second each)
# minus a 1-user baseline.
ld_doc 1 4 ', "wait_time": 1' >"$dir/m1.json"
read -r e u s base_kib < <(measure taskset -c 1 "$BIN" -q run "$dir/m1.json")
ld_doc "$MUSERS" 4 ', "wait_time": 1' >"$dir/mbig.json"
read -r e u s big_kib < <(measure taskset -c 1 "$BIN" -q run "$dir/mbig.json")
n=$(summary failures)
echo
awk -v b="$base_kib" -v p="$big_kib" -v n="$MUSERS" 'BEGIN {
  printf "memory, %d users: peak RSS %d KiB, 1 user %d KiB, %.2f KiB per user\n", n, p, b, (p - b) / n }'
[ "$n" = 0 ] || echo "  (loaddensity counted $n failures with $MUSERS users)"
