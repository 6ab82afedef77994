#!/usr/bin/env bash
# Instruction-count A/B of the receive path between two git revisions, with callgrind: noise-free
# on a shared machine where wall-clock medians swing by tens of percent. The three wsmachine rows
# of the peers bench (reads of at most 64 KiB): `recvbuf` = Config::default() + RecvBuffer (the
# default row), `fixed` = `read` on a fixed 64 KiB buffer, `stream` = the same with
# Delivery::Stream. Usage, from the repo root:
#   bash benches/ab/run.sh BASE_REV [HEAD_REV]      # HEAD_REV defaults to the working tree
#   MODES=stream KINDS='ascii mixed' SIZES='16 65536' bash benches/ab/run.sh ...   # a subset
# Prints instructions per pass (one pass = ~256 KiB of masked client frames) for each workload,
# measured as (4 passes - 1 pass) / 3 so that setup cancels out. Needs valgrind (apt). Under
# valgrind no AVX-512 is detected, so both revisions run their AVX2/simdutf8 kernels.
# Instruction counts do not see stalls (a store-forwarding stall once made the 16 B stream row
# 1.8x slower at equal counts), so the same rows can be timed too:
#   METRIC=time bash benches/ab/run.sh BASE_REV     # best of RUNS (15) runs of PASSES (400) passes,
#                                                   # the two builds interleaved, in ms
#   METRIC=time ALIGN=1 bash benches/ab/run.sh ...  # both built with another code layout
# ALIGN=1 aligns every branch target to 64 bytes: a gap that moves with the layout is layout
# noise (on the AMD EPYC host, several percent at 16 B), one that stays is the code's.
set -euo pipefail
cd "$(dirname "$0")/../.."
base=$1; head=${2:-}
command -v valgrind >/dev/null || { apt-get update -qq && apt-get install -y -qq valgrind >/dev/null; }
build() { # $1 = checkout dir -> prints the driver binary path
  # Revisions before API 1.0 (no `Assembly`, e.g. 66286e1): their `drive_recv` takes none.
  if [ -e "$1/src/assembly.rs" ]; then cp benches/ab/recv_counts.rs "$1/examples/ab_recv_counts.rs"
  else sed -e '/Assembly::new()/d' -e 's/, &mut assembly, false)/, false)/' benches/ab/recv_counts.rs > "$1/examples/ab_recv_counts.rs"; fi
  local target="$1/target"
  if [ -n "${ALIGN:-}" ]; then target="$tmp/target-$(basename "$1")"; fi
  (cd "$1" && RUSTFLAGS="${ALIGN:+-C llvm-args=-align-all-nofallthru-blocks=6}" \
    cargo build -q --release --example ab_recv_counts --target-dir "$target" >&2)
  rm "$1/examples/ab_recv_counts.rs"
  echo "$target/release/examples/ab_recv_counts"
}
tmp=$(mktemp -d); trap 'git worktree remove --force "$tmp/base" 2>/dev/null; [ -n "$head" ] && git worktree remove --force "$tmp/head" 2>/dev/null; rm -rf "$tmp"' EXIT
git worktree add -q --detach "$tmp/base" "$base"
a=$(build "$tmp/base")
if [ -n "$head" ]; then git worktree add -q --detach "$tmp/head" "$head"; b=$(build "$tmp/head"); else b=$(build .); fi
ms() { # best wall-clock of RUNS runs of each build, interleaved: "base_ms head_ms"
  local ba=999999999 bb=999999999 s t i
  for i in $(seq "${RUNS:-15}"); do
    s=$(date +%s%N); "$a" "$@" >/dev/null; t=$(( $(date +%s%N) - s )); [ $t -lt $ba ] && ba=$t
    s=$(date +%s%N); "$b" "$@" >/dev/null; t=$(( $(date +%s%N) - s )); [ $t -lt $bb ] && bb=$t
  done
  awk -v x=$ba -v y=$bb 'BEGIN{printf "%.2f %.2f", x/1e6, y/1e6}'
}
ir() { valgrind --tool=callgrind --callgrind-out-file=/dev/null "$@" 2>&1 | grep -oE 'Collected : [0-9]+' | awk '{print $3}'; }
per_pass() { local one four; one=$(ir "$1" "$2" "$3" 1 "$4"); four=$(ir "$1" "$2" "$3" 4 "$4"); echo $(( (four - one) / 3 )); }
printf '%-8s %-8s %9s %14s %14s %8s\n' mode kind size base head head/base
for mode in ${MODES:-recvbuf fixed stream}; do for kind in ${KINDS:-binary ascii mixed}; do for size in ${SIZES:-16 1024 65536 1048576}; do
  if [ "${METRIC:-}" = time ]; then read -r x y <<<"$(ms $kind $size "${PASSES:-400}" $mode)"
  else x=$(per_pass "$a" $kind $size $mode); y=$(per_pass "$b" $kind $size $mode); fi
  printf '%-8s %-8s %9s %14s %14s %8s\n' $mode $kind $size $x $y "$(awk -v x=$x -v y=$y 'BEGIN{printf "%.3f", y/x}')"
done; done; done
