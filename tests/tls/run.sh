#!/usr/bin/env bash
# wss:// (and ws://) interop with real peers, one PASS line per cell:
#   Chromium   -> echo_server --tls (self-signed: SPKI pin, then --ignore-certificate-errors)
#   Python websockets client -> echo_server (ws, wss trusting the written certificate)
#   Python websockets server (openssl certificate) <- examples/client (ws, wss --ca)
#   Node ws client -> echo_server, Node ws server <- examples/client; ws and wss, deflate on/off
# Every peer script checks what it received byte for byte and exits non-zero on a difference.
# Also: TLS errors (plaintext on the TLS port, a client refusing the certificate) close only
# that connection, a client that does not read stalls the server's reading (backpressure), and
# the https page at / asks for wss:.
set -euo pipefail
cd "$(dirname "$0")/../.."
OUT=target/tls
mkdir -p "$OUT"
rm -f "$OUT"/*.log

SUDO=""
[ "$(id -u)" = 0 ] || SUDO="sudo"
apt_updated=""
need_apt() {
  [ -n "$apt_updated" ] || { $SUDO apt-get update -qq; apt_updated=1; }
  $SUDO apt-get install -y -qq "$@" > /dev/null
}
command -v chromium > /dev/null || need_apt chromium
command -v openssl > /dev/null || need_apt openssl
command -v curl > /dev/null || need_apt curl
command -v node > /dev/null && command -v npm > /dev/null || need_apt nodejs npm
[ -f target/node/node_modules/ws/package.json ] || npm install --prefix target/node --no-audit --no-fund -q ws@8 > /dev/null
if ! target/venv/bin/python -c 'import websockets' 2> /dev/null; then
  python3 -m venv target/venv
  target/venv/bin/python -m pip install -q websockets
fi
export NODE_PATH="$PWD/target/node/node_modules"
PY=target/venv/bin/python

cargo build --release --example echo_server --example client
SERVER_BIN=target/release/examples/echo_server
CLIENT_BIN=target/release/examples/client

PIDS=()
TMP=$(mktemp -d)
cleanup() {
  for pid in "${PIDS[@]}"; do kill "$pid" 2> /dev/null || true; done
  rm -rf "$TMP"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

# start_server NAME ARGS...: echo_server on a free port; sets PORT and PID, waits for its
# "listening on" line (printed after the certificate is written).
start_server() {
  local name=$1
  shift
  PORT=$(free_port)
  "$SERVER_BIN" "127.0.0.1:$PORT" "$@" > "$OUT/$name.log" 2>&1 &
  PID=$!
  PIDS+=("$PID")
  for _ in $(seq 1 100); do
    grep -q '^listening on' "$OUT/$name.log" && return 0
    sleep 0.1
  done
  echo "echo_server $name did not start:"
  cat "$OUT/$name.log"
  exit 1
}

pass() { echo "interop $1: PASS"; }
check() { echo "check $1: PASS"; }

start_server plain
WS_PORT=$PORT
WS_PID=$PID
CERT="$OUT/echo_server-cert.pem"
rm -f "$CERT"
start_server tls --tls --cert-out "$CERT"
WSS_PORT=$PORT
WSS_PID=$PID

# The printed pin is the certificate's (the same pipeline as TOOLING.md's openssl recipe).
PIN=$(sed -n 's/^SPKI pin (SHA-256, base64): //p' "$OUT/tls.log")
OPENSSL_PIN=$(openssl x509 -in "$CERT" -pubkey -noout | openssl pkey -pubin -outform der | openssl dgst -sha256 -binary | base64)
[ -n "$PIN" ] && [ "$PIN" = "$OPENSSL_PIN" ] || { echo "pin $PIN != openssl's $OPENSSL_PIN"; exit 1; }
grep -q "^wss://127.0.0.1:$WSS_PORT/ (WebSocket), https://127.0.0.1:$WSS_PORT/ (page)" "$OUT/tls.log"
check "SPKI pin printed = openssl's"

# The page at / over https (ALPN http/1.1) builds a wss: URL from location.protocol.
curl -sS --fail --max-time 10 --cacert "$CERT" -o "$OUT/index.html" -w '%{http_version}\n' "https://localhost:$WSS_PORT/" > "$OUT/curl.txt"
grep -qx '1.1' "$OUT/curl.txt"
grep -qF '(location.protocol === "https:" ? "wss://" : "ws://")' "$OUT/index.html"
check "https page"

# chromium_leg NAME SCHEME PORT FLAGS...: tests/browser/test.html at /test; the /gate image
# holds the load event (and --dump-dom) until the page has reported through /done.
chromium_leg() {
  local name=$1 scheme=$2 port=$3 log=$4
  shift 4
  local id="$name-$$" profile
  profile=$(mktemp -d -p "$TMP")
  timeout 120 chromium --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
    --disable-background-networking --disable-component-update --disable-sync \
    --user-data-dir="$profile" "$@" --dump-dom "$scheme://127.0.0.1:$port/test?id=$id" \
    > "$OUT/$name.html" 2> "$OUT/$name-chromium.log" || true
  if grep -q "RESULT: PASS" "$OUT/$name.html" && grep -q "browser result $id: PASS" "$OUT/$log.log" &&
    grep -q "ok extensions: permessage-deflate" "$OUT/$name.html"; then
    return 0
  fi
  sed -n '/<pre id="out">/,/<\/pre>/p' "$OUT/$name.html"
  return 1
}
chromium_leg chromium-ws http "$WS_PORT" plain || { echo "interop chromium ws: FAIL"; exit 1; }
pass "chromium ws deflate"
chromium_leg chromium-wss-pin https "$WSS_PORT" tls --ignore-certificate-errors-spki-list="$PIN" ||
  { echo "interop chromium wss (spki pin): FAIL"; exit 1; }
pass "chromium wss deflate (--ignore-certificate-errors-spki-list)"
chromium_leg chromium-wss-any https "$WSS_PORT" tls --ignore-certificate-errors ||
  { echo "interop chromium wss (ignore errors): FAIL"; exit 1; }
pass "chromium wss deflate (--ignore-certificate-errors)"
# Control: a wrong pin must not load the page (so the pin is what made the first leg work).
WRONG_PIN=$(printf 'not the key' | openssl dgst -sha256 -binary | base64)
if chromium_leg chromium-wss-wrong https "$WSS_PORT" tls --ignore-certificate-errors-spki-list="$WRONG_PIN" > /dev/null; then
  echo "chromium accepted a wrong pin"
  exit 1
fi
check "chromium refuses a wrong pin"

# Python websockets (the client also checks a connection without compression).
timeout 120 "$PY" tests/peers/python_client.py "ws://127.0.0.1:$WS_PORT/"
pass "python client ws deflate"
timeout 120 "$PY" tests/peers/python_client.py "wss://127.0.0.1:$WSS_PORT/" --cafile "$CERT"
pass "python client wss deflate"
# A peer certificate made by openssl (not CA:TRUE: webpki refuses a CA certificate as a leaf).
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj /CN=localhost \
  -addext "subjectAltName=IP:127.0.0.1,DNS:localhost" -addext "basicConstraints=critical,CA:FALSE" \
  -keyout "$OUT/peer-key.pem" -out "$OUT/peer-cert.pem" 2> /dev/null
timeout 120 "$PY" tests/peers/python_server.py "$CLIENT_BIN"
pass "python server ws deflate"
timeout 120 "$PY" tests/peers/python_server.py "$CLIENT_BIN" --tls "$OUT/peer-cert.pem" "$OUT/peer-key.pem"
pass "python server wss deflate"

# Node ws, both roles, ws and wss, permessage-deflate on and off.
for deflate in on off; do
  cell=$([ $deflate = on ] && echo deflate || echo no-deflate)
  timeout 120 node tests/tls/node_client.js "ws://127.0.0.1:$WS_PORT/" --deflate $deflate
  pass "node client ws $cell"
  timeout 120 node tests/tls/node_client.js "wss://127.0.0.1:$WSS_PORT/" --ca "$CERT" --deflate $deflate
  pass "node client wss $cell"
  timeout 120 node tests/tls/node_server.js "$CLIENT_BIN" --deflate $deflate
  pass "node server ws $cell"
  timeout 120 node tests/tls/node_server.js "$CLIENT_BIN" --tls "$OUT/peer-cert.pem" "$OUT/peer-key.pem" --deflate $deflate
  pass "node server wss $cell"
done

# examples/client refuses an untrusted certificate (no --ca) and a fragment in the URL.
if echo x | timeout 10 "$CLIENT_BIN" "wss://127.0.0.1:$WSS_PORT/" 2> "$OUT/untrusted.txt"; then
  echo "examples/client accepted an untrusted certificate"
  exit 1
fi
grep -q "UnknownIssuer" "$OUT/untrusted.txt"
if echo x | timeout 10 "$CLIENT_BIN" "wss://127.0.0.1:$WSS_PORT/#x" --ca "$CERT" 2> /dev/null; then
  echo "examples/client accepted a fragment"
  exit 1
fi
check "client refuses an untrusted certificate and a fragment"

# Backpressure through TLS, on a fresh server (its memory is measured): 48 MiB sent unread.
start_server tls-backpressure --tls --cert-out "$OUT/backpressure-cert.pem"
timeout 120 "$PY" tests/tls/backpressure.py "wss://127.0.0.1:$PORT/" "$OUT/backpressure-cert.pem" "$PID"
kill "$PID"
check "TLS backpressure"

# TLS errors end that connection only: plaintext HTTP on the TLS port gets an alert and EOF,
# and a client that aborts the handshake (curl without the certificate) leaves it running.
timeout 10 python3 - "$WSS_PORT" << 'EOF'
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=5)
s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
data = b""
while True:
    chunk = s.recv(4096)
    if not chunk:
        break
    data += chunk
# A TLS alert record (content type 21), then EOF.
assert data[:1] == b"\x15", data
EOF
if curl -sS --max-time 5 "https://127.0.0.1:$WSS_PORT/" > /dev/null 2>&1; then
  echo "curl accepted the self-signed certificate"
  exit 1
fi
timeout 60 node tests/tls/node_client.js "wss://127.0.0.1:$WSS_PORT/" --ca "$CERT" --deflate on > /dev/null
kill -0 "$WSS_PID" && kill -0 "$WS_PID"
check "TLS errors close one connection, not the server"
echo "tls interop: PASS"
