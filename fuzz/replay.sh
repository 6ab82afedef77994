#!/usr/bin/env bash
# Replays the committed seed corpus of every fuzz target once (no fuzzing). Works on stable Rust.
# Exits non-zero as soon as an input makes a target crash (a panic or a failed invariant).
set -euo pipefail
cd "$(dirname "$0")"
TARGETS=(frame_header server_read client_read roundtrip api utf8 mask handshake_server handshake_client deflate)
cargo build --quiet
for t in "${TARGETS[@]}"; do
    echo "== replaying $t ($(ls corpus/"$t" | wc -l) inputs)"
    ./target/debug/"$t" -runs=0 corpus/"$t" 2>&1 | tail -n 1
    # `set -o pipefail` makes a crash (libFuzzer exits non-zero) fail the script here.
done
echo "all corpora replayed without a crash"
