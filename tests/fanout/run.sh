#!/usr/bin/env bash
# Broadcast fan-out smoke test (issue #19): the fan-out cases of benches/load in --quick mode
# (1 000 subscribers, 1 s per case) against every fan-out server: wsmachine's Broadcast shared
# and copied (compressed once for the permessage-deflate subscribers), the message encoded per
# subscriber, per subscriber with a kept zlib state, and Node's ws. Every delivery is checked
# byte for byte (the first compressed one inflated and compared with the message, and it must
# carry RSV1); any failure exits 1. No performance assertion. About 1 min once built.
# `load` starts and kills every server by PID; `timeout` signals the whole process group.
set -euo pipefail
cd "$(dirname "$0")/../.."
SUDO=""
[ "$(id -u)" = 0 ] || SUDO="sudo"
if ! { command -v node > /dev/null && command -v npm > /dev/null; }; then
  $SUDO apt-get update -qq && $SUDO apt-get install -y -qq nodejs npm > /dev/null
fi
[ -f target/node/node_modules/ws/package.json ] || timeout 300 npm install --prefix target/node --no-audit --no-fund -q ws@8 > /dev/null
export NODE_PATH="$PWD/target/node/node_modules"
timeout 900 cargo build --release --manifest-path benches/load/Cargo.toml --target-dir target/load --bin load --bin fanout
ulimit -n 65536 2> /dev/null || ulimit -n "$(ulimit -Hn)"
mkdir -p target/load/logs-fanout
L=target/load/release
timeout 300 $L/load --quick --only fanout,fanout-deflate,fanout-json,fanout-json-deflate \
  --out target/load/fanout-quick.md --logs target/load/logs-fanout \
  "Broadcast, shared=fanout:$L/fanout {addr} --shared" \
  "Broadcast, copied=fanout:$L/fanout {addr} --copy" \
  "encoded per subscriber=fanout:$L/fanout {addr} --each" \
  "per subscriber, zlib kept=fanout:$L/fanout {addr} --each-kept" \
  "node ws (forEach send)=fanout:node benches/load/node/fanout.js {addr}" 2>&1 | tee target/load/fanout-quick.log
# Every server here negotiates permessage-deflate: a "–" (not negotiated) is a failure too.
if grep -E '^load: fanout.* –' target/load/fanout-quick.log; then
  echo "fanout: FAILED (a server did not negotiate permessage-deflate)"
  exit 1
fi
echo "fanout: PASS"
