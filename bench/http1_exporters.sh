#!/usr/bin/env bash
# Exporter overhead: bench/http1.sh's loaddensity row (1 worker thread on CPU 1, nginx on
# CPU 0) with every live exporter on (LD_EXPORTERS=1) and off, interleaved with the order
# alternating per round, since the machine is shared and noisy. Prints every run, the medians
# of requests/s and requests per loader CPU-second, and the ratio on/off (target >= 0.95).
#   bench/http1_exporters.sh [rounds=5] [seconds=10] [binary=build/release/loaddensity]
set -euo pipefail
cd "$(dirname "$0")/.."
ROUNDS=${1:-5}
DURATION=${2:-10}
BIN=${3:-build/release/loaddensity}
results=$(mktemp /tmp/ld-bench-exporters.XXXXXX)
trap 'rm -f "$results"' EXIT

one() {  # exporters(0|1) -> "exporters req/s req/cpu-s"
  LD_ONLY=1 LD_EXPORTERS=$1 bench/http1.sh "$DURATION" "$BIN" |
    awk -v x="$1" '/^loaddensity/ { print x, $(NF-2), $NF }'
}

printf "%-6s %-10s %10s %12s\n" round exporters req/s req/cpu-s
for ((i = 1; i <= ROUNDS; i++)); do
  if ((i % 2)); then order="0 1"; else order="1 0"; fi
  for x in $order; do
    line=$(one "$x")
    echo "$line" >>"$results"
    read -r _ rps rpc <<<"$line"
    printf "%-6s %-10s %10s %12s\n" "$i" "$([ "$x" = 1 ] && echo on || echo off)" "$rps" "$rpc"
  done
done
/usr/bin/python3 - "$results" <<'PY'
import statistics, sys
rows = [line.split() for line in open(sys.argv[1]) if line.strip()]
med = {x: [statistics.median(float(r[i]) for r in rows if r[0] == x) for i in (1, 2)]
       for x in ("0", "1")}
print(f"\nmedian req/s: off {med['0'][0]:.0f}, on {med['1'][0]:.0f} -> on/off {med['1'][0] / med['0'][0]:.3f}")
print(f"median req/cpu-s: off {med['0'][1]:.0f}, on {med['1'][1]:.0f} -> on/off "
      f"{med['1'][1] / med['0'][1]:.3f} (target >= 0.95)")
PY
