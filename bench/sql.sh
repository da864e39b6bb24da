#!/usr/bin/env bash
# sql_user (PostgreSQL) generator cost, side by side in one run (a benchmark, not a test):
#   a throwaway PostgreSQL cluster (CPU 0, fsync off, pgbench -i -s 1) vs loaddensity
#   (sql_user, 1 worker thread) and pgbench (-j 1: one thread), each loader pinned to CPU 1,
#   with the same clients (8, then 50) and the same workload as `pgbench -S -M prepared`:
#   SELECT abalance FROM pgbench_accounts WHERE aid = $1, a random aid, one statement in flight
#   per client, prepared once per connection. Both run for the same time and are compared by
#   queries per loader CPU-second (user + sys). The two loaders alternate RUNS times per client
#   count and the median of each is reported. Then the memory per connected idle user: peak RSS
#   with 200 users (one SELECT each, then a long wait) minus a 1-user baseline. With perf's
#   syscall tracepoints, also the system calls per query of each loader at 8 clients.
#   bench/sql.sh [seconds=10] [binary=build/release/loaddensity] [runs=3]
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION=${1:-10}
BIN=$(realpath "${2:-build/release/loaddensity}")
RUNS=${3:-3}
SCALE=1
ROWS=$((SCALE * 100000))
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
pgbin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)
dir=$(mktemp -d /tmp/ld-bench.XXXXXX)
port=$(/usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
# initdb refuses root: the cluster then runs as `postgres` (as tests/servers.sh does).
as_pg=()
if [ "$(id -u)" = 0 ]; then as_pg=(runuser -u postgres --); chmod 755 "$dir"; fi
mkdir -p "$dir/pg"
[ "$(id -u)" = 0 ] && chown postgres "$dir/pg"
"${as_pg[@]}" "$pgbin/initdb" -D "$dir/pg/data" -A trust -U postgres >/dev/null
trap '"${as_pg[@]}" "$pgbin/pg_ctl" -D "$dir/pg/data" -m immediate stop >/dev/null 2>&1 || true; rm -rf "$dir"' EXIT
taskset -c 0 "${as_pg[@]}" "$pgbin/pg_ctl" -D "$dir/pg/data" -l "$dir/pg/log" -w \
  -o "-p $port -h 127.0.0.1 -k $dir/pg -F -c max_connections=300 -c shared_buffers=64MB" start >/dev/null
"$pgbin/pgbench" -q -i -s $SCALE -h 127.0.0.1 -p "$port" -U postgres postgres >/dev/null 2>&1
URL="postgresql://postgres@127.0.0.1:$port/postgres"

# time(1) prints: elapsed user sys maxrss_kib
measure() { /usr/bin/time -f "%e %U %S %M" -o "$dir/time" "$@" >"$dir/out" 2>"$dir/err"; cat "$dir/time"; }

row() {  # name queries elapsed user sys
  awk -v n="$1" -v r="$2" -v e="$3" -v u="$4" -v s="$5" 'BEGIN {
    cpu = u + s; printf "%-30s %10.0f %9.0f %8.2f %14.0f\n", n, r, r / e, cpu, (cpu > 0 ? r / cpu : 0) }'
}

ld_doc() {  # users seconds [wait_time]
  cat <<JSON
[["LD_start_test", {"user_detail_dict": {"user": "sql_user", "wait_time": ${3:-0}}, "user_count": $1,
  "spawn_rate": 1000000, "test_time": $2, "threads": 1, "connection_string": "$URL",
  "tasks": [{"sql": "SELECT abalance FROM pgbench_accounts WHERE aid = \$1",
             "params": ["\${randint(1,$ROWS)}"], "name": "select"}]}],
 ["LD_generate_summary_report", {"report_name": "$dir/ld-summary"}]]
JSON
}
summary() { /usr/bin/python3 -c "import json; print(json.load(open('$dir/ld-summary.json'))['totals']['$1'])"; }

printf "%-30s %10s %9s %8s %14s\n" "loader (CPU 1)" "queries" "q/s" "cpu s" "q/cpu-s"
: >"$dir/ratios"
for c in 8 50; do
  ld_doc $c "$DURATION" >"$dir/ld.json"
  : >"$dir/pgb.rows"
  : >"$dir/ld.rows"
  for _ in $(seq "$RUNS"); do
    read -r e u s m < <(measure taskset -c 1 "$pgbin/pgbench" -n -S -M prepared -c $c -j 1 \
      -T "$DURATION" -h 127.0.0.1 -p "$port" -U postgres postgres)
    q=$(awk '/number of transactions actually processed/ {print $NF}' "$dir/out")
    row "pgbench -S -M prepared -c $c" "${q%%/*}" "$e" "$u" "$s" | tee -a "$dir/pgb.rows"
    read -r e u s m < <(measure taskset -c 1 "$BIN" -q run "$dir/ld.json")
    row "loaddensity, $c users" "$(summary requests)" "$e" "$u" "$s" | tee -a "$dir/ld.rows"
    fails=$(summary failures)
    [ "$fails" = 0 ] || echo "  (loaddensity counted $fails failures)"
  done
  # Median queries per CPU-second of each loader over the runs.
  pgb=$(awk '{print $NF}' "$dir/pgb.rows" | sort -n | awk '{a[NR] = $1} END {print a[int((NR + 1) / 2)]}')
  ld=$(awk '{print $NF}' "$dir/ld.rows" | sort -n | awk '{a[NR] = $1} END {print a[int((NR + 1) / 2)]}')
  awk -v c=$c -v p="$pgb" -v l="$ld" -v n="$RUNS" 'BEGIN {
    printf "%2d clients: %.2fx (median of %d: %.0f vs %.0f queries per CPU-second)\n", c, l / p, n, l, p }' >>"$dir/ratios"
done
echo
echo "loaddensity / pgbench, queries per loader CPU-second (target >= 1.0x):"
cat "$dir/ratios"

# --- system calls per query at 8 clients (perf's syscall tracepoints; skipped without them):
# every system call of the loader process (raw_syscalls:sys_enter) and the I/O ones.
events=raw_syscalls:sys_enter,syscalls:sys_enter_sendto,syscalls:sys_enter_recvfrom,syscalls:sys_enter_epoll_wait,syscalls:sys_enter_epoll_ctl,syscalls:sys_enter_ppoll
if perf stat -x, -e "$events" -o /dev/null true >/dev/null 2>&1; then
  c=8
  ld_doc $c 5 >"$dir/ld.json"
  perf_row() {  # name queries: per-query counts from $dir/perf
    awk -F, -v n="$1" -v q="$2" '$3 != "" {
      split($3, e, ":"); k = e[2]; sub("sys_enter_?", "", k); if (k == "") k = "all";
      v[k] = $1 / q } END {
      printf "%-30s all %.2f: sendto %.2f, recvfrom %.2f, epoll_wait %.2f, epoll_ctl %.2f, ppoll %.2f\n",
        n, v["all"], v["sendto"], v["recvfrom"], v["epoll_wait"], v["epoll_ctl"], v["ppoll"] }' "$dir/perf"
  }
  echo
  echo "system calls per query, $c clients:"
  perf stat -x, -e "$events" -o "$dir/perf" taskset -c 1 "$pgbin/pgbench" -n -S -M prepared -c $c -j 1 \
    -T 5 -h 127.0.0.1 -p "$port" -U postgres postgres >"$dir/out" 2>&1
  perf_row "pgbench -S -M prepared -c $c" "$(awk '/actually processed/ {print $NF}' "$dir/out")"
  perf stat -x, -e "$events" -o "$dir/perf" taskset -c 1 "$BIN" -q run "$dir/ld.json" >/dev/null 2>&1
  perf_row "loaddensity, $c users" "$(summary requests)"
fi

# --- memory per connected idle user: peak RSS with 200 users (one SELECT each, then a wait
# longer than the run) minus a 1-user baseline.
USERS=200
ld_doc 1 4 3600 >"$dir/m1.json"
read -r e u s base_kib < <(measure taskset -c 1 "$BIN" -q run "$dir/m1.json")
ld_doc $USERS 4 3600 >"$dir/mbig.json"
read -r e u s big_kib < <(measure taskset -c 1 "$BIN" -q run "$dir/mbig.json")
q=$(summary requests)
n=$(summary failures)
echo
awk -v b="$base_kib" -v p="$big_kib" -v n="$USERS" 'BEGIN {
  printf "memory, %d connected users: peak RSS %d KiB, 1 user %d KiB, %.2f KiB per user\n", n, p, b, (p - b) / (n - 1) }'
[ "$q" = "$USERS" ] && [ "$n" = 0 ] || echo "  (loaddensity ran $q queries with $n failures for $USERS users)"
