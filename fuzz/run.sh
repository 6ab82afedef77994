#!/usr/bin/env bash
# Fuzzes each target for SECONDS (default 60): `./fuzz/run.sh 600 [TARGET ...]`.
#
# Uses `cargo fuzz run -s none` (works on stable) with `-a` (debug assertions and overflow checks
# on, which catches arithmetic bugs that would otherwise wrap silently). New inputs go to
# fuzz/work/TARGET (ignored by git); the committed seeds in fuzz/corpus/TARGET are only read.
# Crashes land in fuzz/artifacts/TARGET/; the script exits non-zero if any target crashed.
set -uo pipefail
cd "$(dirname "$0")"
SECONDS_PER_TARGET=${1:-60}
shift || true
TARGETS=("$@")
[ ${#TARGETS[@]} -eq 0 ] && TARGETS=(frame_header server_read client_read roundtrip api utf8 mask handshake_server handshake_client deflate)
command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz
failed=0
for t in "${TARGETS[@]}"; do
    mkdir -p "work/$t"
    log="work/$t.log"
    echo "== $t for ${SECONDS_PER_TARGET}s (log: fuzz/$log)"
    if ! cargo fuzz run -s none -a "$t" "work/$t" "corpus/$t" -- -max_total_time="$SECONDS_PER_TARGET" >"$log" 2>&1; then
        echo "!! $t crashed; see fuzz/$log and fuzz/artifacts/$t/"
        failed=1
    fi
    grep -E '^#[0-9]+[[:space:]]+DONE' "$log" | tail -n 1 || tail -n 5 "$log"
done
exit $failed
