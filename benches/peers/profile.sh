#!/usr/bin/env bash
# Where the time of one receive row goes, for wsmachine and the peers beside it: `perf record`
# (cpu-clock sampling, no hardware counters needed) over criterion's `--profile-time`, then the
# share of the top symbols. Used for the large binary rows, where every receiver does the same
# two passes (the read's copy into its buffer, then one unmasking pass) and ties at that floor.
#   bash benches/peers/profile.sh                       # recv/binary/1MiB and 64KiB
#   ROWS='recv/ascii/1MiB' IMPLS='wsmachine yawc' bash benches/peers/profile.sh
set -euo pipefail
cd "$(dirname "$0")"
command -v perf > /dev/null || { apt-get update -qq && apt-get install -y -qq linux-perf > /dev/null; }
bin=$(cargo bench --no-run --message-format=json 2> /dev/null \
  | python3 -c 'import json,sys; print([m["executable"] for m in map(json.loads, sys.stdin) if m.get("executable") and m["target"]["name"] == "peers"][0])')
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
echo "CPU: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)"
for row in ${ROWS:-recv/binary/1MiB recv/binary/64KiB}; do
  for impl in ${IMPLS:-wsmachine tokio-websockets fastwebsockets}; do
    perf record -q -e cpu-clock -o "$tmp/p.data" -- "$bin" --bench --profile-time "${SECONDS_EACH:-4}" "^$row/$impl\$" > /dev/null 2>&1
    echo "== $row/$impl"
    perf report -i "$tmp/p.data" --stdio --sort sym 2> /dev/null | grep -E '^ +[0-9]' | head -"${TOP:-4}" | cut -c1-110 || true
  done
done
