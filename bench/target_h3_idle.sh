#!/usr/bin/env bash
# Memory of the embedded target per open, idle HTTP/3 connection (a benchmark, not a test).
# The target runs as its own process (`loaddensity target`, CPU 0). CLIENTS copies of ngtcp2's
# gtlsclient (Debian's ngtcp2-client, CPU 1) each open one QUIC connection, make one request
# (/anything/cN, so each has answered once) and then stay connected, idle. The target's RSS is
# read from /proc once every client has its answer, for a 10-client baseline and for CLIENTS:
#   KiB per connection = (RSS(CLIENTS) - RSS(10)) / (CLIENTS - 10)
# Both samples are taken within the target's 30 s idle timeout.
#   bench/target_h3_idle.sh [clients=300] [binary=build/release/loaddensity]
set -euo pipefail
cd "$(dirname "$0")/.."
CLIENTS=${1:-300}
BIN=$(realpath "${2:-build/release/loaddensity}")
dir=$(mktemp -d /tmp/ld-h3bench.XXXXXX)
taskset -c 0 "$BIN" target --port 0 >"$dir/target.out" 2>&1 &
target_pid=$!
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  kill "$target_pid" 2>/dev/null || true
  wait 2>/dev/null || true
  rm -rf "$dir"
}
trap cleanup EXIT
for _ in $(seq 1 50); do grep -q " h3 https://" "$dir/target.out" && break; sleep 0.1; done
PORT=$(grep -o " h3 https://127.0.0.1:[0-9]*" "$dir/target.out" | grep -o "[0-9]*$")

# Opens clients $1..$2 and waits until each has its answer; prints the target's RSS in KiB.
open_clients() {
  mkdir -p "$dir/dl"
  for i in $(seq "$1" "$2"); do
    taskset -c 1 gtlsclient -q --timeout=120s --download "$dir/dl" 127.0.0.1 "$PORT" \
      "https://127.0.0.1:$PORT/anything/c$i" >/dev/null 2>&1 &
    pids+=($!)
  done
  for _ in $(seq 1 600); do
    [ "$(ls "$dir/dl" | wc -l)" -ge "$2" ] && break
    sleep 0.1
  done
  [ "$(ls "$dir/dl" | wc -l)" -ge "$2" ] || { echo "only $(ls "$dir/dl" | wc -l) of $2 answered" >&2; exit 1; }
  sleep 1
  awk '/^VmRSS/ {print $2}' "/proc/$target_pid/status"
}

start=$(date +%s)
base=$(open_clients 1 10)
full=$(open_clients 11 "$CLIENTS")
elapsed=$(( $(date +%s) - start ))
[ "$elapsed" -lt 30 ] || echo "warning: sampling took ${elapsed}s, past the 30 s idle timeout" >&2
echo "clients  rss_10_kib  rss_${CLIENTS}_kib  kib_per_connection"
awk -v n="$CLIENTS" -v b="$base" -v f="$full" \
  'BEGIN { printf "%7d  %10d  %11d  %18.1f\n", n, b, f, (f - b) / (n - 10) }'
