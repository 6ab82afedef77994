#!/usr/bin/env bash
# Real peers: Python `websockets` as a client of examples/echo_server and as a server for
# examples/client. Each script asserts its results and exits non-zero on failure.
set -euo pipefail
cd "$(dirname "$0")/../.."
PORT=${PEERS_PORT:-9304}
if [ ! -x target/venv/bin/python ] || ! target/venv/bin/python -c 'import websockets' 2>/dev/null; then
  mkdir -p target
  python3 -m venv target/venv
  target/venv/bin/pip install -q kosoku websockets
fi
cargo build --release --example echo_server --example client
mkdir -p target/peers
target/release/examples/echo_server "127.0.0.1:$PORT" > target/peers/echo_server.log 2>&1 &
SERVER=$!
trap 'kill $SERVER 2>/dev/null || true' EXIT
for _ in $(seq 1 100); do (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null && break; sleep 0.1; done
timeout 120 target/venv/bin/python tests/peers/python_client.py "ws://127.0.0.1:$PORT/"
timeout 120 target/venv/bin/python tests/peers/python_server.py target/release/examples/client
# The crate's own client example against its own echo server: lines out, the same lines back.
got=$(printf 'hello\nκόσμε 𝄞\n' | timeout 30 target/release/examples/client "ws://127.0.0.1:$PORT/")
for want in 'hello' 'κόσμε 𝄞'; do
  grep -qxF "$want" <<< "$got" || { echo "client example vs echo_server: missing '$want' in: $got"; exit 1; }
done
echo "client example <-> echo_server: PASS"
echo "peers: PASS"
