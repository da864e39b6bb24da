#!/usr/bin/env bash
# What a realistic task costs next to a plain GET, side by side in one run (a benchmark, not a
# test): nginx (1 worker, CPU 0) serves a 421-byte JSON document (the embedded target's /json);
# loaddensity (1 worker thread, 50 users, CPU 1) runs
#   plain:    GET /json
#   scripted: GET /json?id=${randint(1,1000000)}&u=${uuid()} with an X-User: ${faker.user_name}
#             header, a status_code and a json_path assertion and one json_path extractor
# alternately, three times each, and prints requests per loader CPU-second (user + system) for
# each run and the median of scripted / plain.
#   bench/checks.sh [seconds=10] [binary=build/release/loaddensity]
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION=${1:-10}
BIN=$(realpath "${2:-build/release/loaddensity}")
ROUNDS=3
dir=$(mktemp -d /tmp/ld-bench-checks.XXXXXX)
port=$(/usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
mkdir -p "$dir/www"
/usr/bin/python3 - "$dir/www/json" <<'PY'
import json, sys
doc = {"slideshow": {"author": "Yours Truly", "date": "date of publication",
       "slides": [{"title": "Wake up to WonderWidgets!", "type": "all"},
                  {"items": ["Why <em>WonderWidgets</em> are great", "Who <em>buys</em> WonderWidgets"],
                   "title": "Overview", "type": "all"}],
       "title": "Sample Slide Show"}}
open(sys.argv[1], "w").write(json.dumps(doc, indent=2, sort_keys=True) + "\n")
PY
chmod a+rx "$dir" "$dir/www" && chmod a+r "$dir/www/json"  # nginx's worker user reads it
cat >"$dir/nginx.conf" <<CONF
worker_processes 1;
daemon on;
pid $dir/nginx.pid;
error_log $dir/error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  keepalive_requests 100000000;
  client_body_temp_path $dir/body;
  server { listen 127.0.0.1:$port backlog=4096;
           location = /json { default_type application/json; root $dir/www; } }
}
CONF
taskset -c 0 nginx -c "$dir/nginx.conf" -e "$dir/error.log"
trap 'kill $(cat "$dir/nginx.pid") 2>/dev/null; rm -rf "$dir"' EXIT
sleep 0.3
URL="http://127.0.0.1:$port/json"
curl -sf "$URL" >/dev/null

doc() {  # name task-json
  cat <<JSON
[["LD_start_test", {"user_detail_dict": {"user": "fast_http_user"}, "user_count": 50,
  "spawn_rate": 1000000, "test_time": $DURATION, "threads": 1, "tasks": [$2]}],
 ["LD_generate_summary_report", {"report_name": "$dir/$1-summary"}]]
JSON
}
doc plain "{\"method\": \"get\", \"request_url\": \"$URL\", \"name\": \"json\"}" >"$dir/plain.json"
doc scripted "{\"method\": \"get\", \"name\": \"json\",
  \"request_url\": \"$URL?id=\${randint(1,1000000)}&u=\${uuid()}\",
  \"headers\": {\"X-User\": \"\${faker.user_name}\"},
  \"assertions\": [{\"type\": \"status_code\", \"value\": 200},
                   {\"type\": \"json_path\", \"path\": \"slideshow.author\", \"value\": \"Yours Truly\"}],
  \"extract\": [{\"var\": \"title\", \"path\": \"slideshow.slides.0.title\"}]}" >"$dir/scripted.json"

run() {  # name -> prints requests/cpu-s; fails loudly if any request failed
  /usr/bin/time -f "%e %U %S" -o "$dir/time" taskset -c 1 "$BIN" -q run "$dir/$1.json" >/dev/null 2>"$dir/err"
  read -r e u s <"$dir/time"
  read -r req fail < <(/usr/bin/python3 -c "import json; t = json.load(open('$dir/$1-summary.json'))['totals']; print(t['requests'], t['failures'])")
  if [ "$fail" != 0 ]; then echo "$1: $fail of $req requests failed" >&2; exit 1; fi
  awk -v n="$1" -v r="$req" -v e="$e" -v u="$u" -v s="$s" 'BEGIN {
    cpu = u + s; printf "%-9s %10.0f %9.0f %7.2f %12.0f\n", n, r, r / e, cpu, r / cpu }' >&2
  awk -v r="$req" -v u="$u" -v s="$s" 'BEGIN { printf "%.0f\n", r / (u + s) }'
}

echo "loaddensity $(basename "$BIN"), 1 thread, 50 users, ${DURATION}s runs, loader on CPU 1" >&2
printf "%-9s %10s %9s %7s %12s\n" "task" "requests" "req/s" "cpu s" "req/cpu-s" >&2
ratios=()
for round in $(seq 1 $ROUNDS); do
  plain=$(run plain)
  scripted=$(run scripted)
  ratios+=("$(awk -v a="$scripted" -v b="$plain" 'BEGIN { printf "%.3f", a / b }')")
  echo "round $round: scripted / plain = ${ratios[-1]}" >&2
done
median=$(printf "%s\n" "${ratios[@]}" | sort -n | sed -n "$(( (ROUNDS + 1) / 2 ))p")
echo "median scripted / plain, requests per loader CPU-second: ${median}x (target >= 0.85x)"
