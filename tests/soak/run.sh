#!/usr/bin/env bash
# Soak / load-and-fault run against examples/echo_server (issue #17): unfinished compressed
# messages, non-readers, header-only frames, slowloris heads, RST storms, fd exhaustion and
# 10 000 idle connections, each with a well-behaved client echoing alongside. About 40 s of
# traffic (plus the builds); `--long` scales the counts by 4 (30 000 idle connections).
# The program starts and stops every server itself (benches/load/src/server.rs); `timeout`
# signals the whole process group, so no server outlives it.
set -euo pipefail
cd "$(dirname "$0")/../.."
ARGS=()
LIMIT=600
if [ "${1:-}" = "--long" ]; then
  ARGS=(--long)
  LIMIT=1800
fi
# The idle pattern needs an fd per connection, here and in the server (which inherits it).
ulimit -n 65536 2> /dev/null || ulimit -n "$(ulimit -Hn)"
timeout 900 cargo build --release --example echo_server
timeout 900 cargo build --release --manifest-path benches/load/Cargo.toml --target-dir target/load
timeout "$LIMIT" target/load/release/soak target/release/examples/echo_server "${ARGS[@]}"
