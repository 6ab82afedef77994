#!/usr/bin/env bash
# Instruction-count A/B of `send_binary_vec` between two git revisions, with callgrind (see
# run.sh for why counts): the server and client rows of the peers bench's send groups and the
# server copy floor (`floor_header_copy`), per send, measured as (4N - N sends) / 3N so that setup
# cancels out. Usage, from the repo root:
#   bash benches/ab/send.sh BASE_REV [HEAD_REV]      # HEAD_REV defaults to the working tree
#   MODES=server SIZES='16 1024' bash benches/ab/send.sh ...   # a subset
# The working tree builds in target/, the revisions in target/ab-base and target/ab-head (one
# target dir per checkout: cargo names the crate's artifacts alike in every checkout, so a shared
# one mixes the builds up); the first run builds the dev-dependencies there (minutes). Needs
# valgrind (apt).
set -euo pipefail
cd "$(dirname "$0")/../.."
base=$1; head=${2:-}
command -v valgrind >/dev/null || { apt-get update -qq && apt-get install -y -qq valgrind >/dev/null; }
tmp=$(mktemp -d)
cleanup() {
  git worktree remove --force "$tmp/base" 2>/dev/null || true
  if [ -n "$head" ]; then git worktree remove --force "$tmp/head" 2>/dev/null || true; fi
  rm -rf "$tmp"
}
trap cleanup EXIT
build() { # $1 = checkout dir, $2 = target dir -> prints the driver binary path
  cp benches/ab/send_counts.rs "$1/examples/ab_send_counts.rs"
  (cd "$1" && cargo build -q --release --example ab_send_counts --target-dir "$2" >&2)
  rm "$1/examples/ab_send_counts.rs"
  echo "$2/release/examples/ab_send_counts"
}
git worktree add -q --detach "$tmp/base" "$base"
a=$(build "$tmp/base" "$PWD/target/ab-base")
if [ -n "$head" ]; then git worktree add -q --detach "$tmp/head" "$head"; b=$(build "$tmp/head" "$PWD/target/ab-head")
else b=$(build . "$PWD/target"); fi
ir() { valgrind --tool=callgrind --callgrind-out-file=/dev/null "$@" 2>&1 | grep -oE 'Collected : [0-9]+' | awk '{print $3}'; }
per_send() { # binary size mode
  local n=1000 one four
  [ "$2" -ge 65536 ] && n=20
  one=$(ir "$1" "$2" $n "$3"); four=$(ir "$1" "$2" $((4 * n)) "$3")
  echo $(( (four - one) / (3 * n) ))
}
printf '%-7s %9s %10s %10s %9s\n' mode size base head head/base
for mode in ${MODES:-server client floor}; do for size in ${SIZES:-16 1024 65536 1048576}; do
  x=$(per_send "$a" $size $mode); y=$(per_send "$b" $size $mode)
  printf '%-7s %9s %10s %10s %9s\n' $mode $size $x $y "$(awk -v x=$x -v y=$y 'BEGIN{printf "%.3f", y/x}')"
done; done
