#!/usr/bin/env bash
# Request signing cost, side by side in one run (a benchmark, not a test): loaddensity (1 worker
# thread, CPU 1, 50 users, fast_http_user) against nginx (1 worker, CPU 0, 13-byte body; it does
# not check the headers, so only the loader's work differs) with no auth, with `jwt` (HS256 with
# fixed claims: signed once a second per user; HS256, RS256 and ES256 with a per-request claim:
# signed per request) and with `sigv4` (GET, and POST with a per-request JSON body). Prints
# requests/s, loader CPU seconds, requests per loader CPU-second and the ratio to plain requests.
#   bench/auth.sh [seconds=10] [binary=build/release/loaddensity]
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION=${1:-10}
BIN=$(realpath "${2:-build/release/loaddensity}")
USERS=50
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
dir=$(mktemp -d /tmp/ld-bench-auth.XXXXXX)
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
trap 'kill $(cat "$dir/nginx.pid") 2>/dev/null; rm -rf "$dir"' EXIT
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$dir/rsa.pem" 2>/dev/null
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$dir/ec.pem" 2>/dev/null
URL="http://127.0.0.1:$port/api/items?limit=10"
SIGV4='{"type": "sigv4", "access_key": "AKIDEXAMPLE", "secret_key": "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", "region": "us-east-1", "service": "execute-api"}'
jwt() {  # algorithm key-field key claims
  echo "{\"type\": \"jwt\", \"algorithm\": \"$1\", \"$2\": \"$3\", \"lifetime\": 300, \"claims\": $4}"
}
FIXED='{"sub": "user-1", "iss": "loaddensity"}'
PER_REQUEST='{"sub": "${uuid()}", "iss": "loaddensity"}'

measure() { /usr/bin/time -f "%e %U %S" -o "$dir/time" "$@" >"$dir/out" 2>"$dir/err"; cat "$dir/time"; }

run_case() {  # label task-json
  cat >"$dir/doc.json" <<JSON
[["LD_start_test", {"user_detail_dict": {"user": "fast_http_user"}, "user_count": $USERS,
  "spawn_rate": 1000000, "test_time": $DURATION, "threads": 1, "tasks": [$2]}],
 ["LD_generate_summary_report", {"report_name": "$dir/summary"}]]
JSON
  read -r elapsed user sys < <(measure taskset -c 1 "$BIN" -q run "$dir/doc.json")
  read -r requests failures < <(/usr/bin/python3 -c '
import json, sys
s = json.load(open(sys.argv[1]))
print(s["totals"]["requests"], s["totals"]["failures"])' "$dir/summary.json")
  if [ "$failures" != 0 ]; then echo "$1: $failures failures" >&2; cat "$dir/err" >&2; exit 1; fi
  awk -v n="$1" -v r="$requests" -v e="$elapsed" -v u="$user" -v s="$sys" -v base="${BASE:-0}" 'BEGIN {
    cpu = u + s; per = (cpu > 0 ? r / cpu : 0)
    printf "%-34s %10.0f %9.0f %7.2f %12.0f %7s\n", n, r, r / e, cpu, per,
           (base > 0 ? sprintf("%.2f", per / base) : "1.00") }'
  if [ -z "${BASE:-}" ]; then
    BASE=$(awk -v r="$requests" -v u="$user" -v s="$sys" 'BEGIN { printf "%f", r / (u + s) }')
  fi
}

printf "%-34s %10s %9s %7s %12s %7s\n" "loaddensity (CPU 1)" "requests" "req/s" "cpu s" "req/cpu-s" "ratio"
task() { echo "{\"method\": \"$1\", \"request_url\": \"$URL\", \"name\": \"r\"$2}"; }
run_case "plain GET" "$(task get '')"
run_case "jwt HS256, fixed claims" "$(task get ", \"auth\": $(jwt HS256 secret s3cret "$FIXED")")"
run_case "jwt HS256, per-request claim" "$(task get ", \"auth\": $(jwt HS256 secret s3cret "$PER_REQUEST")")"
run_case "jwt RS256, per-request claim" "$(task get ", \"auth\": $(jwt RS256 key_file "$dir/rsa.pem" "$PER_REQUEST")")"
run_case "jwt ES256, per-request claim" "$(task get ", \"auth\": $(jwt ES256 key_file "$dir/ec.pem" "$PER_REQUEST")")"
run_case "sigv4 GET" "$(task get ", \"auth\": $SIGV4")"
run_case "plain POST, per-request JSON" "$(task post ', "json": {"id": "${uuid()}", "n": 1}')"
run_case "sigv4 POST, per-request JSON" "$(task post ", \"json\": {\"id\": \"\${uuid()}\", \"n\": 1}, \"auth\": $SIGV4")"
