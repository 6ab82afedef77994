#!/usr/bin/env bash
# Issue 19: whole echo servers under load, side by side: wsmachine (the mio echo_server and the
# tokio example), tokio-tungstenite, fastwebsockets, tokio-websockets, Node's ws, and a plain
# TCP echo (the kernel's limit). Builds everything, then `load` starts each server for each
# case (one thread, a free loopback port; compression only in the deflate cases, where the
# client offers it), runs the case and kills it by PID.
# Then the broadcast fan-out cases against benches/load/src/fanout.rs and Node's ws (a second table).
# Prints the tables and writes them to target/load/table.md (--quick: target/load/quick.md).
#
#   benches/load/run.sh            # ~4 s per case and server: ~8 min of runs (plus builds)
#   benches/load/run.sh --quick    # smoke test, ~2 min once built: every server answers every
#                                  # case, byte for byte (1 s per case, 1000 idle conns and
#                                  # subscribers); exits 1 on a failure; no performance assertion
# Any further arguments go to `load` (e.g. --secs 8, --rate 20000, --only text32,idle).
set -euo pipefail
cd "$(dirname "$0")/../.."
MODE=()
FANOUT=(--idle 10000)
OUT=target/load/table.md
LIMIT=1500
if [ "${1:-}" = "--quick" ]; then
  shift
  MODE=(--quick)
  FANOUT=()
  OUT=target/load/quick.md
  LIMIT=300
fi
SUDO=""
[ "$(id -u)" = 0 ] || SUDO="sudo"
if ! { command -v node > /dev/null && command -v npm > /dev/null; }; then
  $SUDO apt-get update -qq && $SUDO apt-get install -y -qq nodejs npm > /dev/null
fi
[ -f target/node/node_modules/ws/package.json ] || timeout 300 npm install --prefix target/node --no-audit --no-fund -q ws@8 > /dev/null
export NODE_PATH="$PWD/target/node/node_modules"

# Builds one at a time, niced (the machine may be shared).
timeout 1200 nice -n 10 cargo build --release --example echo_server --example tokio_echo
timeout 900 nice -n 10 cargo build --release --manifest-path benches/load/Cargo.toml --target-dir target/load --bin load --bin fanout
timeout 1200 nice -n 10 cargo build --release --manifest-path benches/load/peers/Cargo.toml --target-dir target/load-peers

# The idle case holds 50 000 connections (issue 19): an fd each, here and in the server (which
# inherits the limit). Where the hard limit is lower (this container: 20 000, and no
# CAP_SYS_RESOURCE to raise it), `load` holds as many as the limit allows and says so.
ulimit -n 65536 2> /dev/null || ulimit -n "$(ulimit -Hn)"
E=target/release/examples
P=target/load-peers/release
mkdir -p target/load/logs
rm -f target/load/logs/*.log
# `timeout` signals the whole process group: no server outlives the run.
L=target/load/release
# A failed case does not stop the fan-out table; the exit status says so at the end.
STATUS=0
nice -n 10 timeout "$LIMIT" $L/load "${MODE[@]}" --only text32,bin16k,bin64m,text32-deflate,bin16k-deflate,latency,idle,connrate \
  --out "$OUT" --logs target/load/logs "$@" \
  "wsmachine (mio)=$E/echo_server {addr}" \
  "wsmachine (tokio)=$E/tokio_echo {addr}" \
  "tokio-tungstenite=$P/tungstenite {addr}" \
  "fastwebsockets=$P/fastwebsockets {addr}" \
  "tokio-websockets=$P/tokio_websockets {addr}" \
  "node ws=node benches/load/node/echo.js {addr}" \
  "TCP echo=raw:$P/tcp_echo {addr}" || STATUS=$?
# Broadcast fan-out (1 publisher, 10 000 subscribers; --quick: 1000; 32 B and 1 KiB JSON-like
# text; subscribers without and with permessage-deflate): wsmachine's Broadcast shared by
# reference count (writev; compressed once for the deflate subscribers), Broadcast copied into
# each output buffer, the message encoded (and compressed) for each subscriber
# (benches/load/src/fanout.rs), Node's ws looping over its clients (node/fanout.js), and
# tokio-websockets with a task per subscriber (peers/src/bin/tokio_websockets_fanout.rs).
echo
nice -n 10 timeout "$LIMIT" $L/load "${MODE[@]}" "${FANOUT[@]}" --only fanout,fanout-deflate,fanout-json,fanout-json-deflate \
  --out "$OUT.fanout" --logs target/load/logs "$@" \
  "Broadcast, shared=fanout:$L/fanout {addr} --shared" \
  "Broadcast, copied=fanout:$L/fanout {addr} --copy" \
  "encoded per subscriber=fanout:$L/fanout {addr} --each" \
  "per subscriber, zlib kept=fanout:$L/fanout {addr} --each-kept" \
  "node ws (forEach send)=fanout:node benches/load/node/fanout.js {addr}" \
  "tokio-websockets (task each)=fanout:$P/tokio_websockets_fanout {addr}" || STATUS=$?
{ echo; cat "$OUT.fanout"; } >> "$OUT"
rm -f "$OUT.fanout"
exit "$STATUS"
