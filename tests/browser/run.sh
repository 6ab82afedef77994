#!/usr/bin/env bash
# Headless Chromium against examples/echo_server: loads /test (tests/browser/test.html, served
# by the example), whose JS uses only the browser's WebSocket API, and greps the dumped DOM for
# the PASS marker. The page's /gate image is held by the server until the page reports through
# /done, so --dump-dom waits for the result.
set -euo pipefail
cd "$(dirname "$0")/../.."
PORT=${BROWSER_PORT:-9303}
if ! command -v chromium >/dev/null; then
  if [ "$(id -u)" = 0 ]; then SUDO=""; else SUDO="sudo"; fi
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq chromium > /dev/null
fi
cargo build --release --example echo_server
mkdir -p target/browser
target/release/examples/echo_server "127.0.0.1:$PORT" > target/browser/echo_server.log 2>&1 &
SERVER=$!
PROFILE=$(mktemp -d)
trap 'kill $SERVER 2>/dev/null || true; rm -rf "$PROFILE"' EXIT
for _ in $(seq 1 100); do (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null && break; sleep 0.1; done
ID="run$$"
timeout 120 chromium --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
  --disable-background-networking --disable-component-update --disable-sync \
  --user-data-dir="$PROFILE" --dump-dom "http://127.0.0.1:$PORT/test?id=$ID" \
  > target/browser/dom.html 2> target/browser/chromium.log || true
sed -n '/<pre id="out">/,/<\/pre>/p' target/browser/dom.html
if grep -q "RESULT: PASS" target/browser/dom.html && grep -q "browser result $ID: PASS" target/browser/echo_server.log; then
  echo "browser: PASS"
else
  echo "browser: FAIL (see target/browser/)"
  tail -n 5 target/browser/chromium.log
  exit 1
fi
