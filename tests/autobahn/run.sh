#!/usr/bin/env bash
# Autobahn TestSuite (via kosoku) in both roles against the examples.
#   server role: kosoku -m fuzzingclient  ->  examples/echo_server
#   client role: kosoku -m fuzzingserver  <-  examples/autobahn_client
# Writes tests/autobahn/summary-{server,client}.tsv; exits non-zero unless every case
# that is run passes strictly (behavior OK or INFORMATIONAL, and behaviorClose too).
# Exclusions are listed, with the reason, in tests/autobahn/exclude-*.txt and printed.
set -euo pipefail
cd "$(dirname "$0")/../.."
HERE=tests/autobahn
OUT=target/autobahn
SERVER_PORT=${SERVER_PORT:-9301}
CLIENT_PORT=${CLIENT_PORT:-9302}
PARALLEL=${PARALLEL:-2}

if [ ! -x target/venv/bin/kosoku ]; then
  mkdir -p target
  python3 -m venv target/venv
  target/venv/bin/pip install -q kosoku websockets
fi
cargo build --release --example echo_server --example autobahn_client
mkdir -p "$OUT"
rm -rf "$OUT/server" "$OUT/client"

excludes() { # file -> "-x id" args
  grep -v '^\s*#' "$1" | awk 'NF {print "-x"; print $1}'
}
mapfile -t XS < <(excludes "$HERE/exclude-server.txt")
mapfile -t XC < <(excludes "$HERE/exclude-client.txt")
echo "server role exclusions (${#XS[@]}/2 cases; reasons in $HERE/exclude-server.txt): ${XS[*]:-none}"
echo "client role exclusions (${#XC[@]}/2 cases; reasons in $HERE/exclude-client.txt): ${XC[*]:-none}"

pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; }
trap cleanup EXIT

wait_port() { # port
  for _ in $(seq 1 100); do
    if (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; then return 0; fi
    sleep 0.1
  done
  echo "nothing listening on port $1" >&2
  return 1
}

status=0
# --- server role -------------------------------------------------------------------------
t0=$(date +%s)
target/release/examples/echo_server "127.0.0.1:$SERVER_PORT" > "$OUT/echo_server.log" 2>&1 &
pids+=($!)
wait_port "$SERVER_PORT"
timeout 1800 target/venv/bin/kosoku -m fuzzingclient -p "$PARALLEL" "${XS[@]}" -o "$OUT/server" \
  "127.0.0.1:$SERVER_PORT" > "$OUT/kosoku-server.log" 2>&1 || true
kill "${pids[0]}" 2>/dev/null || true
t1=$(date +%s)
echo "server role ran in $((t1 - t0)) s"
python3 "$HERE/summarize.py" server "$OUT/server/index.json" "$HERE/summary-server.tsv" $((${#XS[@]} / 2)) || status=1

# --- client role -------------------------------------------------------------------------
timeout 1800 target/venv/bin/kosoku -m fuzzingserver "${XC[@]}" -o "$OUT/client" "127.0.0.1:$CLIENT_PORT" \
  > "$OUT/kosoku-client.log" 2>&1 &
kpid=$!
pids+=($kpid)
wait_port "$CLIENT_PORT"
timeout 1800 target/release/examples/autobahn_client "ws://127.0.0.1:$CLIENT_PORT" wsmachine \
  > "$OUT/autobahn_client.log" 2>&1 || { echo "autobahn_client failed:"; tail -n 20 "$OUT/autobahn_client.log"; }
timeout 120 tail --pid="$kpid" -f /dev/null || kill "$kpid" 2>/dev/null || true
t2=$(date +%s)
echo "client role ran in $((t2 - t1)) s"
python3 "$HERE/summarize.py" client "$OUT/client/index.json" "$HERE/summary-client.tsv" $((${#XC[@]} / 2)) || status=1
echo "autobahn total: $((t2 - t0)) s"
exit $status
