#!/usr/bin/env bash
# examples/chat: two chat processes and one Redis on free loopback ports; Python `websockets`
# clients (chat_test.py: fan-out, names, 1009, keepalive, slow member, a process dying, Redis
# restarted mid-run) and two headless Chromium pages, one per process, talking to each other.
set -euo pipefail
cd "$(dirname "$0")/../.."
apt_install() {
  local sudo=""
  [ "$(id -u)" = 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "$@" > /dev/null
}
command -v redis-server > /dev/null || apt_install redis-server
command -v chromium > /dev/null || apt_install chromium
if [ ! -x target/venv/bin/python ] || ! target/venv/bin/python -c 'import websockets' 2> /dev/null; then
  mkdir -p target
  python3 -m venv target/venv
  target/venv/bin/pip install -q websockets
fi
cargo build --release --example chat
CHAT=target/release/examples/chat
LOGS=target/chat
mkdir -p "$LOGS"
free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
REDIS_PORT=$(free_port)
A_PORT=$(free_port)
B_PORT=$(free_port)
REDIS_PIDFILE=$LOGS/redis.pid
PIDS=()
cleanup() {
  for pid in "${PIDS[@]}"; do kill "$pid" 2> /dev/null || true; done
  [ -f "$REDIS_PIDFILE" ] && kill "$(cat "$REDIS_PIDFILE")" 2> /dev/null || true
  rm -f "$REDIS_PIDFILE"
}
trap cleanup EXIT
wait_port() {
  for _ in $(seq 1 100); do (exec 3<> "/dev/tcp/127.0.0.1/$1") 2> /dev/null && return 0; sleep 0.1; done
  echo "nothing listens on port $1"; return 1
}
redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save "" --appendonly no > "$LOGS/redis.log" 2>&1 &
echo $! > "$REDIS_PIDFILE"
disown  # chat_test.py kills and restarts it (by the PID in the file): no job notice
wait_port "$REDIS_PORT"
REDIS="redis://127.0.0.1:$REDIS_PORT"
$CHAT "127.0.0.1:$A_PORT" --redis "$REDIS" --keepalive 2 > "$LOGS/a.log" 2>&1 &
PIDS+=($!)
$CHAT "127.0.0.1:$B_PORT" --redis "$REDIS" > "$LOGS/b.log" 2>&1 &
PIDS+=($!)
wait_port "$A_PORT"
wait_port "$B_PORT"

# Two Chromium pages, one on each process, greet each other through Redis. Each page reports
# to its own server (/done), which lets its /gate image finish, so --dump-dom waits for it.
browser() { # PORT NAME PEER
  timeout 90 chromium --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
    --disable-background-networking --disable-component-update --disable-sync \
    --user-data-dir="$LOGS/profile-$2" --dump-dom \
    "http://127.0.0.1:$1/?auto=1&room=browsers&name=$2&peer=$3&id=$2" > "$LOGS/dom-$2.html" 2> "$LOGS/chromium-$2.log"
}
rm -rf "$LOGS"/profile-*
t0=$(date +%s)
browser "$A_PORT" pa pb &
BA=$!
browser "$B_PORT" pb pa &
BB=$!
PIDS+=("$BA" "$BB")
wait "$BA" || { echo "FAIL: Chromium on A"; exit 1; }
wait "$BB" || { echo "FAIL: Chromium on B"; exit 1; }
for pair in "pa pb a" "pb pa b"; do
  set -- $pair
  want="ok: $2 said 'hello from $2'"
  grep -qF "<pre id=\"result\">$want</pre>" "$LOGS/dom-$1.html" || { echo "FAIL: page $1's verdict, want: $want"; grep -o '<pre id="result">[^<]*' "$LOGS/dom-$1.html" || true; exit 1; }
  grep -qF "browser result $1: $want" "$LOGS/$3.log" || { echo "FAIL: server $3 heard no verdict from $1"; exit 1; }
done
echo "browsers: a page on A and a page on B exchanged greetings through Redis ($(( $(date +%s) - t0 )) s)"

timeout 300 target/venv/bin/python tests/chat/chat_test.py "$A_PORT" "$B_PORT" "$REDIS_PORT" "$REDIS_PIDFILE" "$CHAT"
